#include "aifs/engine/writer_lease.h"

#include <unistd.h>

#include <array>
#include <limits>

#include "aifs/core/clock.h"
#include "aifs/core/hex.h"
#include "aifs/core/random.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"

namespace aifs {

using store::v1::WriterLeaseRecord;

namespace {

Result<std::string> RandomHex(size_t bytes) {
  std::array<uint8_t, 16> buf{};
  AIFS_RETURN_IF_ERROR(SecureRandom(MutableByteSpan(buf.data(), bytes)));
  return HexEncode(ByteSpan(buf.data(), bytes));
}

std::string HostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) return "";
  return host;
}

bool IsHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

WriterLease::WriterLease(MetaStore& meta, std::chrono::milliseconds ttl)
    : meta_(meta), ttl_(ttl.count() > 0 ? ttl : kDefaultTtl) {}

WriterLease::~WriterLease() {
  std::string id;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    id = id_;
  }
  cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  if (id.empty() || !meta_.shared_writers()) return;
  // Nothing of ours is in flight any more: our leftovers may go at once.
  auto txn = meta_.Begin();
  if (txn->Delete(keys::WriterLease(id)).ok()) (void)txn->Commit();
}

Status WriterLease::TakeLocked() {
  AIFS_ASSIGN_OR_RETURN(std::string id, RandomHex(kIdHex / 2));
  if (!meta_.shared_writers()) {
    // The only writer: nobody else collects while it lives, so the lease
    // needs no record (two synced commits saved per process).
    id_ = id;
    held_.insert(id);
    return Status::Ok();
  }
  WriterLeaseRecord rec;
  const int64_t now = NowUnixNanos();
  rec.set_started_unix_ns(now);
  rec.set_expires_unix_ns(now + std::chrono::nanoseconds(ttl_).count());
  rec.set_host(HostName());
  rec.set_pid(static_cast<int32_t>(::getpid()));
  auto txn = meta_.Begin();
  AIFS_RETURN_IF_ERROR(PutRecord(*txn, keys::WriterLease(id), rec));
  AIFS_RETURN_IF_ERROR(txn->Commit().WithContext("taking a writer lease"));
  id_ = id;
  held_.insert(id);
  if (!renewer_.joinable()) renewer_ = std::thread([this] { RenewLoop(); });
  return Status::Ok();
}

Result<std::string> WriterLease::NewObjectName() {
  std::string lease;
  {
    std::lock_guard lock(mu_);
    if (id_.empty()) AIFS_RETURN_IF_ERROR(TakeLocked());
    lease = id_;
  }
  AIFS_ASSIGN_OR_RETURN(std::string name, RandomHex(kRandomHex / 2));
  return name + lease;
}

std::string_view WriterLease::LeaseOf(std::string_view object) {
  object = object.substr(0, object.find('.'));
  if (object.size() != kRandomHex + kIdHex || !IsHex(object)) return {};
  return object.substr(kRandomHex);
}

Status WriterLease::CheckHeld(MetaTxn& txn, const std::vector<std::string>& objects) {
  std::unordered_set<std::string_view> checked;
  for (const std::string& o : objects) {
    const std::string_view lease = LeaseOf(o);
    if (lease.empty() || !checked.insert(lease).second) continue;
    if (!meta_.shared_writers() && IsOurs(lease)) continue;  // no record, never revoked
    AIFS_ASSIGN_OR_RETURN(auto rec, txn.Get(keys::WriterLease(lease)));
    if (!rec) {
      {
        std::lock_guard lock(mu_);
        if (id_ == lease) id_.clear();
      }
      return err::Aborted("LEASE_LOST",
                          "this server's writer lease " + std::string(lease) +
                              " was revoked (it stalled for longer than the lease's " +
                              std::to_string(ttl_.count() / 1000) +
                              " s), so its chunks may have been collected; retry the put");
    }
  }
  return Status::Ok();
}

bool WriterLease::IsOurs(std::string_view lease_id) const {
  std::lock_guard lock(mu_);
  return held_.count(std::string(lease_id)) > 0;
}

void WriterLease::Renew() {
  std::string id;
  {
    std::lock_guard lock(mu_);
    id = id_;
  }
  if (id.empty()) return;
  bool lost = false;
  Status st = RunTransaction(meta_, [&](MetaTxn& txn) -> Status {
    AIFS_ASSIGN_OR_RETURN(
        auto rec, LoadRecord<WriterLeaseRecord>(txn, keys::WriterLease(id), "writer lease"));
    lost = !rec;
    if (lost) return Status::Ok();
    rec->set_expires_unix_ns(NowUnixNanos() + std::chrono::nanoseconds(ttl_).count());
    return PutRecord(txn, keys::WriterLease(id), *rec);
  });
  // A failed renewal (metadata unreachable) is tried again at the next tick;
  // if the lease expires meanwhile, commits find out through CheckHeld.
  if (st.ok() && lost) {
    std::lock_guard lock(mu_);
    if (id_ == id) id_.clear();  // the next object name takes a new lease
  }
}

void WriterLease::RenewLoop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, ttl_ / 4, [&] { return stop_; });
    if (stop_) break;
    lock.unlock();
    Renew();
    lock.lock();
  }
}

Result<std::unordered_set<std::string>> WriterLease::RevokeExpired(int64_t now_unix_ns,
                                                                   bool dry_run,
                                                                   uint64_t* revoked) {
  if (!meta_.shared_writers()) now_unix_ns = std::numeric_limits<int64_t>::max();
  std::unordered_set<std::string> live;
  std::vector<std::string> expired;
  Status parse;
  const std::string begin(keys::kWriterLeasePrefix);
  AIFS_RETURN_IF_ERROR(
      meta_.Scan(begin, PrefixEnd(begin), [&](std::string_view key, std::string_view value) {
        WriterLeaseRecord rec;
        parse = ParseRecord(value, rec, "writer lease");
        if (!parse.ok()) return false;
        std::string id(key.substr(begin.size()));
        if (rec.expires_unix_ns() < now_unix_ns && !IsOurs(id))
          expired.push_back(std::move(id));
        else
          live.insert(std::move(id));
        return true;
      }));
  AIFS_RETURN_IF_ERROR(parse);
  if (dry_run) {
    if (revoked) *revoked += expired.size();
    return live;
  }
  for (const std::string& id : expired) {
    bool renewed = false;
    AIFS_RETURN_IF_ERROR(RunTransaction(meta_, [&](MetaTxn& txn) -> Status {
      AIFS_ASSIGN_OR_RETURN(
          auto rec, LoadRecord<WriterLeaseRecord>(txn, keys::WriterLease(id), "writer lease"));
      renewed = rec && rec->expires_unix_ns() >= now_unix_ns;
      if (!rec || renewed) return Status::Ok();
      return txn.Delete(keys::WriterLease(id));
    }));
    if (renewed)
      live.insert(id);
    else if (revoked)
      ++*revoked;
  }
  return live;
}

}  // namespace aifs
