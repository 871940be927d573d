// WriterLease: this process's claim on the chunk objects it has written and
// not yet committed, recorded in the MetaStore so that garbage collection on
// any server sharing the store leaves them alone (docs/scale-out.md).
//
// Object names are 32 random hex digits followed by the 16 hex digits of the
// lease they were written under (NewObjectName). The lease record
// wl/<lease id> holds an expiry that a background thread pushes forward
// every ttl/4 while the process lives. Garbage collection (RevokeExpired,
// then LeaseOf on every unreferenced object) leaves an object alone while
// its lease is live; it revokes (deletes, in a transaction that re-reads it)
// an expired lease before it collects that lease's objects. Every commit
// that references new objects reads their lease in its own transaction
// (CheckHeld), so a server that stalled past its expiry fails that commit
// with ABORTED LEASE_LOST instead of publishing objects that were collected.
// Safety therefore does not depend on clocks; clock skew between servers
// only changes how long a dead server's leftovers wait.
//
// The lease is taken at the first NewObjectName(): opening a store to read
// writes nothing. A lease found revoked is replaced by a fresh one. On a
// store with one writer process (MetaStore::shared_writers() false) the
// lease lives only in memory: no other process collects while it lives, and
// gc in this process spares its own leases, so it writes no record.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "aifs/core/status.h"
#include "aifs/meta/meta_store.h"

namespace aifs {

class WriterLease {
 public:
  static constexpr std::chrono::milliseconds kDefaultTtl{30'000};
  static constexpr size_t kIdHex = 16;      // hex digits of a lease ID
  static constexpr size_t kRandomHex = 32;  // hex digits before it in an object name

  // `meta` must outlive the lease.
  WriterLease(MetaStore& meta, std::chrono::milliseconds ttl);
  ~WriterLease();  // stops renewing; deletes the record (best effort)
  WriterLease(const WriterLease&) = delete;
  WriterLease& operator=(const WriterLease&) = delete;

  // A fresh, unique object name under the current lease (taken or replaced
  // now if needed). Errors: the MetaStore's (UNAVAILABLE METADATA_...).
  Result<std::string> NewObjectName();
  // Joins `txn`'s conflict check on the lease of each of `objects` (names
  // from NewObjectName; others are ignored) and fails with ABORTED
  // LEASE_LOST when one was revoked (the next object name then takes a new
  // lease).
  Status CheckHeld(MetaTxn& txn, const std::vector<std::string>& objects);
  // Whether `lease_id` is a lease this process holds or held.
  bool IsOurs(std::string_view lease_id) const;

  // The lease ID an object name (or a partial object "<name>.<suffix>")
  // carries; empty for names from before leases (32 hex digits).
  static std::string_view LeaseOf(std::string_view object);
  // Deletes the lease records of other processes whose expiry is before
  // `now_unix_ns` (each in a transaction that reads it again, so a renewal
  // in between wins) and returns the IDs of the leases still live. On a
  // store without shared writers (MetaStore::shared_writers) every other
  // process's lease is a dead one's and goes at once. Call it after listing
  // the objects to collect and before reading which ones are referenced.
  // `dry_run` deletes nothing (and counts what it would revoke).
  Result<std::unordered_set<std::string>> RevokeExpired(int64_t now_unix_ns, bool dry_run,
                                                        uint64_t* revoked = nullptr);

 private:
  // Writes a new lease record; mu_ held.
  Status TakeLocked();
  // Pushes the current lease's expiry forward, or notices it was revoked.
  void Renew();
  void RenewLoop();

  MetaStore& meta_;
  const std::chrono::milliseconds ttl_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string id_;                        // the current lease; empty before the first
  std::unordered_set<std::string> held_;  // every lease this process took
  bool stop_ = false;
  std::thread renewer_;
};

}  // namespace aifs
