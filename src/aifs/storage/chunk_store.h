// ChunkStore: where sealed (compressed + encrypted) chunk objects live.
//
// Promise, for every backend: Put() is atomic: a reader sees the whole object
// or none of it, never a prefix. It is durable only after a later Sync()
// returns, which makes every earlier Put() of this instance durable (a backend
// whose acknowledged writes are already durable makes Sync() a no-op); the
// engine calls Sync() before committing metadata that references new objects.
// Objects are immutable; names are chosen by the engine (unique, [0-9a-f],
// 32-64 characters). Putting a name again with the same bytes (a retry) is OK;
// what putting other bytes under a taken name does is the backend's (file://
// replaces the object, rados:// refuses).
// Thread safety: every method may be called from many threads at once.
// Backends, one class each in its own file: file:// (FileChunkStore, a local
// directory), rados:// (RadosChunkStore, a Ceph RADOS pool).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "aifs/core/bytes.h"
#include "aifs/core/disk_space.h"
#include "aifs/core/status.h"

namespace aifs {

class ChunkStore {
 public:
  virtual ~ChunkStore() = default;

  virtual std::string Url() const = 0;
  virtual Status Put(const std::string& name, ByteSpan data) = 0;
  // NOT_FOUND/CHUNK_MISSING when absent.
  virtual Status Get(const std::string& name, Bytes& out) = 0;
  // Bytes [offset, offset + length) of an object into `out` (resized to
  // `length`; length 0 at offset == size is an empty read). NOT_FOUND
  // CHUNK_MISSING when absent; DATA_LOSS CHUNK_TRUNCATED when the object is
  // shorter than offset + length. Backends that cannot read a part read the
  // whole object.
  virtual Status GetRange(const std::string& name, uint64_t offset, uint64_t length, Bytes& out);
  // GetRange of a part read at random (a segment of a chunk's own object):
  // backends may skip read-ahead around it. Packs, read in the order their
  // small chunks were written, take GetRange.
  virtual Status GetRandomRange(const std::string& name, uint64_t offset, uint64_t length,
                                Bytes& out) {
    return GetRange(name, offset, length, out);
  }
  // Deleting a missing object is OK.
  virtual Status Delete(const std::string& name) = 0;
  virtual Status Sync() = 0;
  // Calls fn(name, size) for every object (in no particular order); stops
  // early when fn returns false. An object put or deleted while the listing
  // runs may be listed or not, but never with a size it never had.
  virtual Status List(const std::function<bool(const std::string&, uint64_t)>& fn) = 0;
  // Room left for objects, when the backend can tell.
  virtual std::optional<DiskSpace> Space() const { return std::nullopt; }
};

// Opens a chunk store by URL, e.g. file:///var/lib/aifs/chunks or
// rados://aifs?conf=/etc/ceph/ceph.conf&id=aifs (see each backend's header).
// INVALID_ARGUMENT UNSUPPORTED_CHUNK_STORE for an unknown scheme.
Result<std::unique_ptr<ChunkStore>> OpenChunkStore(const std::string& url, bool create);

}  // namespace aifs
