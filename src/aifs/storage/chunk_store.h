// ChunkStore: where sealed (compressed + encrypted) chunk objects live.
//
// Promise: Put() is atomic: a reader sees the whole object or none of it,
// never a prefix. It is durable only after a later Sync() returns, which
// makes every earlier Put() of this instance durable; the engine calls Sync()
// before committing metadata that references new objects. Objects are
// immutable; names are chosen by the engine (unique, [0-9a-f]).
// Backends: file:// (local directory). Ceph RADOS and S3 are one class each.
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
  // `length`). NOT_FOUND CHUNK_MISSING when absent; DATA_LOSS
  // CHUNK_TRUNCATED when the object is shorter. Backends that cannot read a
  // part read the whole object.
  virtual Status GetRange(const std::string& name, uint64_t offset, uint64_t length, Bytes& out);
  // Deleting a missing object is OK.
  virtual Status Delete(const std::string& name) = 0;
  virtual Status Sync() = 0;
  // Calls fn(name, size) for every object; stops early when fn returns false.
  virtual Status List(const std::function<bool(const std::string&, uint64_t)>& fn) = 0;
  // Room left for objects, when the backend can tell.
  virtual std::optional<DiskSpace> Space() const { return std::nullopt; }
};

// Opens a chunk store by URL, e.g. file:///var/lib/aifs/chunks.
Result<std::unique_ptr<ChunkStore>> OpenChunkStore(const std::string& url, bool create);

}  // namespace aifs
