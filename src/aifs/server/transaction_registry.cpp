#include "aifs/server/transaction_registry.h"

#include "aifs/core/clock.h"
#include "aifs/core/hex.h"
#include "aifs/core/random.h"

namespace aifs::server {

namespace {
Status Unknown(const std::string& id) {
  return err::NotFound("TRANSACTION_NOT_FOUND",
                       "transaction '" + id + "' is not open (committed, aborted or expired)");
}
}  // namespace

void TransactionRegistry::Expire(std::vector<std::shared_ptr<Entry>>& doomed) {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = open_.begin(); it != open_.end();) {
    if (it->second->deadline <= now) {
      doomed.push_back(std::move(it->second));
      it = open_.erase(it);
    } else {
      ++it;
    }
  }
}

Result<TransactionRegistry::Opened> TransactionRegistry::Open(std::unique_ptr<Transaction> txn,
                                                              const std::string& ns) {
  std::array<uint8_t, 16> raw{};
  AIFS_RETURN_IF_ERROR(SecureRandom(raw));
  auto entry = std::make_shared<Entry>();
  entry->txn = std::move(txn);
  entry->ns = ns;
  entry->deadline = std::chrono::steady_clock::now() + lease_;
  Opened opened{HexEncode(raw), NowUnixNanos() + std::chrono::nanoseconds(lease_).count()};
  std::vector<std::shared_ptr<Entry>> doomed;
  std::lock_guard lock(mu_);
  Expire(doomed);
  open_[opened.id] = std::move(entry);
  return opened;
}

Result<std::unique_ptr<AssetWriter>> TransactionRegistry::BeginPut(const std::string& id,
                                                                   const PutOptions& options) {
  std::shared_ptr<Entry> entry;
  std::vector<std::shared_ptr<Entry>> doomed;
  {
    std::lock_guard lock(mu_);
    Expire(doomed);
    auto it = open_.find(id);
    if (it == open_.end()) return Unknown(id);
    entry = it->second;
    entry->deadline = std::chrono::steady_clock::now() + lease_;
  }
  if (options.ns != entry->ns)
    return err::InvalidArgument("TRANSACTION_NAMESPACE",
                                "transaction '" + id + "' is in namespace '" + entry->ns + "'");
  return entry->txn->BeginPut(options);
}

Result<std::shared_ptr<TransactionRegistry::Entry>> TransactionRegistry::Take(
    const std::string& id) {
  std::vector<std::shared_ptr<Entry>> doomed;
  std::lock_guard lock(mu_);
  Expire(doomed);
  auto it = open_.find(id);
  if (it == open_.end()) return Unknown(id);
  auto entry = std::move(it->second);
  open_.erase(it);
  return entry;
}

Result<std::vector<PutResult>> TransactionRegistry::Commit(const std::string& id) {
  AIFS_ASSIGN_OR_RETURN(auto entry, Take(id));
  return entry->txn->Commit();
}

Status TransactionRegistry::Abort(const std::string& id) { return Take(id).status(); }

size_t TransactionRegistry::open_count() {
  std::lock_guard lock(mu_);
  return open_.size();
}

std::optional<std::string> TransactionRegistry::NamespaceOf(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = open_.find(id);
  if (it == open_.end()) return std::nullopt;
  return it->second->ns;
}

}  // namespace aifs::server
