// RadosChunkStore: chunk objects in a Ceph RADOS pool, through librados.
//
// URL: rados://POOL?conf=/etc/ceph/ceph.conf&id=CLIENT[&namespace=NS]
//      [&keyring=PATH][&timeout=SECONDS]
//   conf      the cluster's ceph.conf (default: librados' search, $CEPH_CONF
//             then /etc/ceph/ceph.conf)
//   id        the client name without "client." (default admin)
//   namespace the RADOS namespace of the objects (default "aifs"), so one
//             pool can hold several stores
//   keyring   the keyring with the client's key (default: ceph.conf's)
//   timeout   seconds any cluster operation may take, connecting included
//             (default 30, 1-3600); past it the call fails UNAVAILABLE
//             CHUNK_STORE_UNAVAILABLE, so a stopped cluster never hangs a put
// Values may be percent-encoded. The URL holds no secret (a keyring is a path).
//
// Open connects and probes the pool, so a cluster that cannot be reached
// (UNAVAILABLE CHUNK_STORE_UNAVAILABLE), a wrong key (PERMISSION_DENIED
// CHUNK_STORE_DENIED) or a missing pool (NOT_FOUND CHUNK_STORE_NOT_FOUND)
// fail at open, with a message naming the pool and conf. Pools are the
// operator's (their size, placement groups and caps are deployment choices):
// `create` never creates one; namespaces need no creating.
//
// Put is one write op: exclusive create + write_full, so an object appears
// whole or not at all and is never overwritten. A Put that finds its name
// taken compares the stored object: the same bytes (a retried Put) are OK,
// other bytes ALREADY_EXISTS CHUNK_NAME_TAKEN. An acknowledged write is
// durable on every replica of the pool's acting set, so Sync() has nothing
// left to do. Get reads with the object's stat in one round trip; GetRange
// reads just the range. List walks the namespace and stats the objects with
// up to 64 asynchronous stats in flight. Space() comes from the cluster's
// statistics (raw space divided by the pool's replica count), refreshed at
// most every 5 s; without a ceph-mgr the cluster has none and Space() is
// nullopt.
//
// Errors: -ENOENT NOT_FOUND CHUNK_MISSING; a short object DATA_LOSS
// CHUNK_TRUNCATED; timeouts and lost connections UNAVAILABLE
// CHUNK_STORE_UNAVAILABLE; -ENOSPC/-EDQUOT RESOURCE_EXHAUSTED STORAGE_FULL;
// -EACCES/-EPERM PERMISSION_DENIED CHUNK_STORE_DENIED; a bad URL
// INVALID_ARGUMENT BAD_CHUNK_STORE_URL; a name that is not 32-64 lowercase
// hex digits INVALID_ARGUMENT BAD_OBJECT_NAME.
//
// Thread safety: one cluster handle and I/O context shared by all threads
// (librados is thread-safe); every method may be called concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "aifs/storage/chunk_store.h"

namespace aifs {

class RadosChunkStore : public ChunkStore {
 public:
  // `url` as above. `create` changes nothing (see the header comment).
  static Result<std::unique_ptr<ChunkStore>> Open(const std::string& url, bool create);
  ~RadosChunkStore() override;

  std::string Url() const override { return url_; }
  std::optional<DiskSpace> Space() const override;
  Status Put(const std::string& name, ByteSpan data) override;
  Status Get(const std::string& name, Bytes& out) override;
  Status GetRange(const std::string& name, uint64_t offset, uint64_t length, Bytes& out) override;
  Status Delete(const std::string& name) override;
  Status Sync() override { return Status::Ok(); }  // acknowledged writes are durable
  Status List(const std::function<bool(const std::string&, uint64_t)>& fn) override;

 private:
  struct Handles;  // librados' cluster and I/O context
  RadosChunkStore(std::string url, std::string where, std::unique_ptr<Handles> h);
  // Maps a librados error (negative errno) on `what` to a Status.
  Status Error(int rc, const std::string& what) const;
  // Whether the stored object `name` holds exactly `data`.
  Result<bool> Holds(const std::string& name, ByteSpan data);
  Status ReadAt(const std::string& name, uint64_t offset, uint64_t length, Bytes& out,
                size_t out_offset, size_t& got);

  const std::string url_;
  const std::string where_;  // "RADOS pool P namespace N (conf C)" for messages
  std::unique_ptr<Handles> h_;
  std::atomic<uint64_t> read_hint_{256 << 10};  // size of the last object Get read
  mutable std::mutex space_mu_;                 // guards the three below
  mutable bool space_refreshing_ = false;
  mutable std::optional<DiskSpace> space_;
  mutable std::chrono::steady_clock::time_point space_at_{};
};

}  // namespace aifs
