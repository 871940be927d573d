// EngineAssetWriter: the put pipeline of the embedded engine.
//
// The caller's thread hashes the stream (the asset ID), feeds the kind
// validator and cuts the stream into content-defined chunks; pool threads
// hash, deduplicate, seal and store each chunk, a bounded number at a time so
// memory stays flat for any asset size. Commit() makes the new objects
// durable and then publishes the asset (publish.h), or hands it to the
// transaction it belongs to. Until then nothing is visible; an abort (or a
// crash) leaves only unreferenced objects, which the writer deletes itself or
// garbage collection reclaims.
#pragma once

#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "aifs/api/api.h"
#include "aifs/engine/chunk_objects.h"
#include "aifs/engine/publish.h"
#include "aifs/kinds/kind_validator.h"
#include "aifs/storage/chunk_sealer.h"

namespace aifs {

// Hashes the stream on its own thread while the caller's thread chunks it:
// Update() starts hashing a span, Join() waits until it is done (the span
// must stay valid until then).
class StreamHasher {
 public:
  StreamHasher() = default;
  ~StreamHasher();
  void Update(ByteSpan data);
  void Join();
  Digest Finalize();

 private:
  void Loop();
  Blake3 hasher_;
  std::mutex mu_;
  std::condition_variable cv_;
  ByteSpan pending_;
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;  // started by the first large Update
};

class EngineAssetWriter : public AssetWriter {
 public:
  // Receives the finished, durable asset when the writer belongs to a
  // transaction; without one, Commit() publishes it directly.
  using StageFn = std::function<Status(StagedAsset&&)>;

  // With `packs` (a transaction's, format 5), chunks shorter than the
  // chunker's minimum go to packs (chunk_objects.h), made durable by the
  // transaction's commit.
  EngineAssetWriter(StoreContext& ctx, PutOptions options, SealPolicy seal, StageFn stage = nullptr,
                    std::shared_ptr<PackWriter> packs = nullptr);
  ~EngineAssetWriter() override;

  Status Write(ByteSpan data) override;
  Result<PutResult> Commit() override;

 private:
  Status CutChunks(bool at_eof);
  // Hands chunk [offset, offset + length) of the current block to the pool;
  // the task shares the block instead of copying the chunk.
  void Dispatch(size_t offset, size_t length);
  // SealPolicy::byte_grouping for the next chunk: none, the tensor's value
  // width (once its header is parsed), or a trial for a blob.
  uint32_t ChunkGrouping() const;
  // Hashes (unless `hash` is given), deduplicates, seals and stores a chunk.
  void ProcessChunk(StagedChunk& slot, ByteSpan chunk, uint32_t grouping,
                    std::optional<Digest> hash = std::nullopt);
  Status WaitForTasks();
  Status Finish();
  void Abort();

  StoreContext& ctx_;
  const SealPolicy seal_;  // the namespace's
  StagedAsset staged_;
  StageFn stage_;
  std::shared_ptr<PackWriter> packs_;
  StreamHasher hasher_;
  std::unique_ptr<KindValidator> validator_;  // typed kinds only
  // The stream is copied once, into blocks of a fixed capacity; chunks are
  // cut from the current block and processed in place (tasks keep their
  // block alive). A new block starts with the uncut tail of the last one.
  // Blocks are mapped and unmapped whole: from the heap, the freed ones
  // stayed in the process (glibc raises its mmap threshold after a large
  // free), and 4 stalled puts held 114 MiB instead of 52.
  struct Block;
  std::shared_ptr<Block> block_;
  size_t block_pos_ = 0;  // where the uncut bytes of block_ start
  bool done_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<Digest, StagedChunk*, DigestHash> by_hash_;
  size_t running_ = 0;
  Status first_error_;
};

}  // namespace aifs
