#include "aifs/meta/meta_store.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "aifs/core/splitmix64.h"

#include "aifs/meta/postgres/postgres_meta_store.h"
#include "aifs/meta/rocksdb/rocksdb_meta_store.h"

namespace aifs {

Result<std::unique_ptr<MetaStore>> OpenMetaStore(const std::string& url,
                                                 const MetaOpenOptions& options) {
  constexpr std::string_view kRocks = "rocksdb://";
  if (url.starts_with(kRocks)) return RocksDbMetaStore::Open(url.substr(kRocks.size()), options);
  if (url.starts_with("postgresql://") || url.starts_with("postgres://"))
    return PostgresMetaStore::Open(url, options);
  return err::InvalidArgument("UNSUPPORTED_META_STORE", "no metadata backend for '" + url + "'");
}

Result<MetaIntegrity> MetaStore::CheckIntegrity(bool) {
  return err::Unimplemented("NOT_SUPPORTED", Url() + " has no integrity check of its own");
}

Result<uint64_t> MetaStore::Checkpoint(const std::string&) {
  return err::Unimplemented("NOT_SUPPORTED", Url() + " cannot write a checkpoint");
}

Status MetaStore::Compact() {
  return err::Unimplemented("NOT_SUPPORTED", Url() + " cannot compact its files");
}

namespace {

class TxnBatch : public MetaBatch {
 public:
  explicit TxnBatch(MetaStore& store) : store_(store) {}
  Status Put(std::string_view key, std::string_view value) override {
    bytes_ += key.size() + value.size();
    puts_.emplace_back(key, value);
    return Status::Ok();
  }
  size_t buffered_bytes() const override { return bytes_; }
  Status Write() override {
    if (puts_.empty()) return Status::Ok();
    AIFS_RETURN_IF_ERROR(RunTransaction(store_, [&](MetaTxn& txn) -> Status {
      for (const auto& [k, v] : puts_) AIFS_RETURN_IF_ERROR(txn.Put(k, v));
      return Status::Ok();
    }));
    puts_.clear();
    bytes_ = 0;
    return Status::Ok();
  }

 private:
  MetaStore& store_;
  std::vector<std::pair<std::string, std::string>> puts_;
  size_t bytes_ = 0;
};

}  // namespace

std::unique_ptr<MetaBatch> MetaStore::NewBatch() { return std::make_unique<TxnBatch>(*this); }

Status RunTransaction(MetaStore& store, const std::function<Status(MetaTxn&)>& body,
                      std::chrono::milliseconds retry_for) {
  // Conflicts are retried for up to `retry_for`, each pause drawn at random up
  // to a bound that doubles per attempt (from 50 us to 20 ms): writers racing
  // on one record (every put rewrites its namespace's) spread out instead of
  // colliding again in step, which on a database shared by several servers
  // a fixed count of short retries did not survive.
  thread_local uint64_t jitter =
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count() ^
                            std::hash<std::thread::id>()(std::this_thread::get_id()));
  const auto deadline = std::chrono::steady_clock::now() + retry_for;
  Status st;
  for (int attempt = 0;; ++attempt) {
    auto txn = store.Begin();
    st = body(*txn);
    if (st.ok()) st = txn->Commit();
    if (st.ok() || st.reason() != "TXN_CONFLICT") return st;
    if (std::chrono::steady_clock::now() >= deadline) return st;
    store.CountConflictRetried();
    const uint64_t bound_us = std::min<uint64_t>(uint64_t{50} << std::min(attempt, 9), 20'000);
    std::this_thread::sleep_for(std::chrono::microseconds(SplitMix64(jitter) % (bound_us + 1)));
  }
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) != 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return end;  // empty: no upper bound
}

}  // namespace aifs

namespace aifs {

namespace {

class LocalLock : public MetaLock {
 public:
  LocalLock(std::mutex& mu, std::condition_variable& cv, std::set<std::string, std::less<>>& held,
            std::string name)
      : mu_(mu), cv_(cv), held_(held), name_(std::move(name)) {}
  ~LocalLock() override {
    {
      std::lock_guard lock(mu_);
      held_.erase(name_);
    }
    cv_.notify_all();
  }

 private:
  std::mutex& mu_;
  std::condition_variable& cv_;
  std::set<std::string, std::less<>>& held_;
  const std::string name_;
};

}  // namespace

Result<std::unique_ptr<MetaLock>> MetaStore::Lock(std::string_view name,
                                                  std::chrono::milliseconds timeout) {
  std::unique_lock lock(local_locks_mu_);
  if (!local_locks_cv_.wait_for(lock, timeout, [&] { return !local_locks_.count(name); }))
    return err::Aborted("LOCK_TIMEOUT", "the store lock '" + std::string(name) +
                                            "' is still held by another caller");
  local_locks_.emplace(name);
  return std::unique_ptr<MetaLock>(
      new LocalLock(local_locks_mu_, local_locks_cv_, local_locks_, std::string(name)));
}

}  // namespace aifs
