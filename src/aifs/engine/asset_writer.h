// EngineAssetWriter: the put pipeline of the embedded engine.
//
// The caller's thread feeds the kind validator and cuts the stream into
// content-defined chunks while a thread of its own hashes the stream (the
// asset ID); pool threads hash, deduplicate and seal each chunk and I/O
// threads store it, a bounded number at a time so memory stays flat for any
// asset size. Commit() makes the new objects durable and then publishes the
// asset (publish.h), or hands it to the transaction it belongs to. Until
// then nothing is visible; an abort (or a crash) leaves only unreferenced
// objects, which the writer deletes itself or garbage collection reclaims.
//
// Thread safety: one thread at a time calls a writer (AssetWriter's
// contract); its tasks on the pools synchronize with it internally.
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
  // Lends the current block to `fill`: the bytes land where they are chunked.
  Status WriteFrom(const FillFn& fill) override;
  Result<PutResult> Commit() override;

 private:
  Status CheckWritable();
  // The free end of the current block, starting a new block (with the uncut
  // tail of the last) when it is full.
  MutableByteSpan Room();
  // Takes the `n` bytes just placed at the front of Room() into the put:
  // validated, hashed, counted and cut into chunks.
  Status Accept(size_t n);
  Status CutChunks(bool at_eof);
  // Hands chunk [offset, offset + length) of the current block to the pool
  // (sealed there, sharing the block instead of copying the chunk), then its
  // object to the I/O threads.
  void Dispatch(size_t offset, size_t length);
  void TaskDone();
  // SealPolicy::byte_grouping for the next chunk: none, the tensor's value
  // width (once its header is parsed), or a trial for a blob.
  uint32_t ChunkGrouping() const;
  // Records the put's first error.
  void Fail(const Status& st);
  // Hashes (unless `hash` is given), deduplicates and seals a chunk into
  // `object`, or adds it to the transaction's pack. True when `object` is
  // still to be stored as an object of its own (StoreChunkObject); false
  // when nothing is left to do or it failed (first_error_ says).
  bool SealChunkObject(StagedChunk& slot, ByteSpan chunk, uint32_t grouping,
                       std::optional<Digest> hash, Bytes& object);
  void StoreChunkObject(StagedChunk& slot, const Bytes& object);
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
  // The stream lands in blocks of a fixed capacity (copied by Write, read
  // straight in by WriteFrom); chunks are cut from the current block and
  // processed in place (tasks keep their block alive). A new block starts
  // with the uncut tail of the last one. Large blocks come from and go back
  // to StoreContext::put_blocks.
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
