// StoreContext: the open backends and shared machinery of one data store,
// handed to the engine's parts (writer, reader, collector). Internal.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "aifs/core/buffer_pool.h"
#include "aifs/core/mapping_pool.h"
#include "aifs/core/thread_pool.h"
#include "aifs/engine/asset_record_cache.h"
#include "aifs/engine/chunk_index.h"
#include "aifs/engine/record_keys.h"
#include "aifs/engine/segment_cache.h"
#include "aifs/engine/writer_lease.h"
#include "aifs/meta/meta_store.h"
#include "aifs/storage/chunk_store.h"
#include "aifs/storage/chunker.h"
#include "aifs/storage/compression.h"
#include "aifs/storage/kms.h"
#include "aifs/store/v1/records.pb.h"

namespace aifs {

// Chunk objects this process wrote for puts that have not finished yet. The
// garbage collector must not take them for orphans (other servers' objects
// in flight are protected by their writer leases).
class InFlightObjects {
 public:
  void Add(const std::string& name) {
    std::lock_guard lock(mu_);
    names_.insert(name);
  }
  void Remove(const std::string& name) {
    std::lock_guard lock(mu_);
    names_.erase(name);
  }
  std::unordered_set<std::string> Copy() const {
    std::lock_guard lock(mu_);
    return names_;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_set<std::string> names_;
};

// Commits that rewrite one namespace's record (every put's) take turns
// within this process: run together they would conflict on that record and
// all but one would retry, which under a burst (put -r -j 16 on PostgreSQL)
// could retry past RunTransaction's patience. Other processes' commits still
// conflict and retry. Thread-safe.
class NamespaceTurns {
 public:
  std::unique_lock<std::mutex> Take(const std::string& ns) {
    std::mutex* turn;
    {
      std::lock_guard lock(mu_);
      auto& slot = turns_[ns];
      if (!slot) slot = std::make_unique<std::mutex>();
      turn = slot.get();  // never freed: one per namespace ever committed to
    }
    return std::unique_lock<std::mutex>(*turn);
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<std::mutex>> turns_;
};

struct StoreContext {
  std::string data_dir;
  store::v1::StoreConfig config;
  std::unique_ptr<MetaStore> meta;
  std::unique_ptr<ChunkStore> chunks;
  std::unique_ptr<WriterLease> lease;  // names new chunk objects (over meta)
  std::unique_ptr<Kms> kms;
  std::unique_ptr<RecordKeys> record_keys;  // over meta and kms
  Chunker chunker{ChunkerParams{}};
  CompressionPolicy compression;
  bool byte_grouping = true;  // EngineOptions::byte_grouping
  // Declared before `pool`, whose tasks post to it, so it is destroyed after.
  std::unique_ptr<ThreadPool> io_pool;  // writes of chunk objects: they wait on the disk
  std::unique_ptr<ThreadPool> pool;     // CPU work: one thread per core
  std::unique_ptr<SegmentCache> segments;  // opened segments of recent reads
  ChunkIndexCache chunk_indexes{size_t{64} << 20};
  AssetRecordCache asset_records{4096};  // live records read for their bytes
  InFlightObjects in_flight;
  NamespaceTurns commit_turns;  // for PublishAssets
  // Buffers of packs being filled (PackWriter): a few kept resident.
  BufferPool pack_buffers{4, size_t{8} << 20};
  // Large blocks of puts being written (asset_writer.cpp), kept resident:
  // on these VMs a fresh 8 MiB block costs ~25 ms of page faults and
  // zeroing. A 512 MiB put mapped 8-13 fresh blocks with one kept (0.77-0.94
  // system CPU s), 4 with four (0.46-0.52 s); a server frees them when its
  // puts end (Engine::ReleaseIdleMemory).
  MappingPool put_blocks{4};
};

// Forgets every cached read (segments, chunk indexes, asset records), so the
// next reads start cold: for benchmarks and tests.
inline void DropReadCaches(StoreContext& ctx) {
  if (ctx.segments) ctx.segments->Clear();
  ctx.chunk_indexes.Clear();
  ctx.asset_records.Clear();
}

}  // namespace aifs
