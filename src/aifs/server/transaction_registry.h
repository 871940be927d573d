// Open transactions of remote clients. A transaction spans several RPCs
// (begin, puts, commit), so the server keeps it under a random ID until it is
// committed, aborted, or its lease runs out; an expired transaction is
// aborted, which leaves nothing visible (a client that died never commits).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "aifs/api/api.h"

namespace aifs::server {

class TransactionRegistry {
 public:
  explicit TransactionRegistry(std::chrono::seconds lease) : lease_(lease) {}

  struct Opened {
    std::string id;
    int64_t expires_unix_ns;
  };
  Result<Opened> Open(std::unique_ptr<Transaction> txn, const std::string& ns);
  // Starts a put in the transaction (renewing its lease). NOT_FOUND
  // TRANSACTION_NOT_FOUND when it is unknown, finished or expired;
  // INVALID_ARGUMENT TRANSACTION_NAMESPACE when the put names another namespace.
  Result<std::unique_ptr<AssetWriter>> BeginPut(const std::string& id, const PutOptions& options);
  // Removes the transaction and commits (or, with Abort, drops) it.
  Result<std::vector<PutResult>> Commit(const std::string& id);
  Status Abort(const std::string& id);
  size_t open_count();
  // The namespace of an open transaction, so a commit or abort (which names
  // only the transaction) is authorized against it; nullopt when unknown.
  std::optional<std::string> NamespaceOf(const std::string& id);

 private:
  struct Entry {
    std::unique_ptr<Transaction> txn;
    std::string ns;
    std::chrono::steady_clock::time_point deadline;
  };
  using Map = std::map<std::string, std::shared_ptr<Entry>>;
  // Drops expired transactions; caller holds mu_. They are destroyed (aborted)
  // after the lock is released, via `doomed`.
  void Expire(std::vector<std::shared_ptr<Entry>>& doomed);
  Result<std::shared_ptr<Entry>> Take(const std::string& id);

  const std::chrono::seconds lease_;
  std::mutex mu_;
  Map open_;
};

}  // namespace aifs::server
