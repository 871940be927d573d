#include "aifs/engine/asset_writer.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "aifs/core/clock.h"
#include "aifs/core/hex.h"
#include "aifs/core/huge_pages.h"
#include "aifs/core/random.h"
#include "aifs/engine/space.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/storage/byte_grouping.h"
#include "aifs/storage/chunk_sealer.h"

namespace aifs {

// Small writes are hashed inline: a thread is only worth it for big streams.
static constexpr size_t kParallelHashMin = 1 << 20;
// WriteFrom() fills at most this much of a block per call of its source.
static constexpr size_t kFillPiece = 4 << 20;

StreamHasher::~StreamHasher() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StreamHasher::Update(ByteSpan data) {
  if (data.size() < kParallelHashMin && !thread_.joinable()) {
    hasher_.Update(data);
    return;
  }
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  std::lock_guard lock(mu_);
  pending_ = data;
  busy_ = true;
  cv_.notify_all();
}

void StreamHasher::Join() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !busy_; });
}

Digest StreamHasher::Finalize() {
  Join();
  return hasher_.Finalize();
}

void StreamHasher::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return busy_ || stop_; });
    if (!busy_) return;
    ByteSpan data = pending_;
    lock.unlock();
    hasher_.Update(data);
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

// A fixed-capacity byte buffer. Not a vector: inserting through a custom
// allocator copies byte by byte. A put's first block is small and from the
// heap: most assets are small, and mapping a large one per put cost a small
// put a fault on a huge page (zeroing 2 MiB) and an munmap with its TLB
// shootdown (together ~25% of the CPU of `put -r` of small files). Only a
// stream that fills it gets large blocks: whole mappings on huge pages when
// the kernel has them, from the store's pool (a few kept resident) and given
// back to it; from the heap, freed large blocks stayed in the process (glibc
// raises its mmap threshold after a large free), and 4 stalled puts held 114
// MiB instead of 52.
struct EngineAssetWriter::Block {
  Block(size_t cap, MappingPool* large)
      : capacity(cap), pool(large), mapped(large ? RoundUpToHugePage(cap) : 0) {
    data = large ? static_cast<uint8_t*>(large->Take(mapped)) : new uint8_t[cap];
    if (data == nullptr) throw std::bad_alloc();
  }
  ~Block() {
    if (pool)
      pool->Give(data, mapped);
    else
      delete[] data;
  }
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;
  void Append(ByteSpan bytes) {
    std::memcpy(data + size, bytes.data(), bytes.size());
    size += bytes.size();
  }

  uint8_t* data = nullptr;
  size_t size = 0;
  const size_t capacity;
  MappingPool* const pool;  // null: from the heap
  const size_t mapped;
};

EngineAssetWriter::EngineAssetWriter(StoreContext& ctx, PutOptions options, SealPolicy seal,
                                     StageFn stage, std::shared_ptr<PackWriter> packs)
    : ctx_(ctx),
      seal_(std::move(seal)),
      stage_(std::move(stage)),
      packs_(std::move(packs)),
      validator_(NewKindValidator(
          options.kind,
          // Artifacts beyond 1 MiB wait for validation on the data directory's disk, not in RAM.
          ArtifactBuffering{.spill_dir = ctx.data_dir, .max_memory = size_t{1} << 20})) {
  staged_.options = std::move(options);
}

EngineAssetWriter::~EngineAssetWriter() {
  if (!done_) Abort();
}

Status EngineAssetWriter::Write(ByteSpan data) {
  AIFS_RETURN_IF_ERROR(CheckWritable());
  while (!data.empty()) {
    const MutableByteSpan room = Room();
    const size_t n = std::min(data.size(), room.size());
    std::memcpy(room.data(), data.data(), n);
    data = data.subspan(n);
    AIFS_RETURN_IF_ERROR(Accept(n));
  }
  return Status::Ok();
}

Status EngineAssetWriter::WriteFrom(const FillFn& fill) {
  AIFS_RETURN_IF_ERROR(CheckWritable());
  for (;;) {
    // At most a few MiB at a time, so hashing one piece overlaps with
    // reading and chunking the next.
    const MutableByteSpan room = Room().first(std::min(Room().size(), kFillPiece));
    AIFS_ASSIGN_OR_RETURN(const size_t n, fill(room));
    if (n == 0) return Status::Ok();
    if (n > room.size()) return err::Internal("FILL_OVERRUN", "a source wrote past its buffer");
    AIFS_RETURN_IF_ERROR(Accept(n));
  }
}

Status EngineAssetWriter::CheckWritable() {
  if (done_) return err::FailedPrecondition("PUT_FINISHED", "the put was already finished");
  std::lock_guard lock(mu_);
  return first_error_;
}

// A large block holds at least one more chunk than the tail carried into it
// (the uncut rest of the last block, less than a chunk): a third of the
// stream is copied twice on average, where every byte was before (a copy per
// chunk, plus the buffer's compaction: ~11% of a large put's CPU). Larger
// blocks copy less but hold more memory per put in flight (4 stalled puts at
// 4 x the largest chunk held 164 MiB: cli.test_server_limits). The first
// block holds one smallest chunk: a stream that ends in it is one chunk; one
// that does not is carried whole into the first large block (nothing is cut
// before a largest chunk's worth is buffered).
MutableByteSpan EngineAssetWriter::Room() {
  const ChunkerParams& chunking = ctx_.chunker.params();
  if (!block_ || block_->size == block_->capacity) {
    auto next = block_ ? std::make_shared<Block>(2 * chunking.max_size, &ctx_.put_blocks)
                       : std::make_shared<Block>(chunking.min_size, nullptr);
    if (block_) next->Append(ByteSpan(block_->data + block_pos_, block_->size - block_pos_));
    block_ = std::move(next);
    block_pos_ = 0;
  }
  return MutableByteSpan(block_->data + block_->size, block_->capacity - block_->size);
}

Status EngineAssetWriter::Accept(size_t n) {
  const ByteSpan data(block_->data + block_->size, n);
  if (staged_.options.expected_size && staged_.size + n > *staged_.options.expected_size)
    return err::InvalidArgument("SIZE_MISMATCH", "more bytes than the declared size");
  if (validator_) AIFS_RETURN_IF_ERROR(validator_->Update(data));
  hasher_.Update(data);  // in parallel with the chunking below
  staged_.size += n;
  block_->size += n;
  const Status st = CutChunks(/*at_eof=*/false);
  hasher_.Join();  // before the block can be let go
  return st;
}

Status EngineAssetWriter::CutChunks(bool at_eof) {
  const size_t max = ctx_.chunker.params().max_size;
  const size_t size = block_ ? block_->size : 0;
  while (size - block_pos_ >= max || (at_eof && block_pos_ < size)) {
    const size_t cut = ctx_.chunker.NextCut(ByteSpan(block_->data + block_pos_, size - block_pos_));
    if (at_eof && staged_.chunks.empty() && cut == size - block_pos_) {
      // The whole stream is one chunk (most small assets): its hash is the
      // asset's, hashed once, and it is processed here, without a hand-off
      // to the pool and back.
      StagedChunk& slot = staged_.chunks.emplace_back();
      slot.length = cut;
      Bytes object;
      if (SealChunkObject(slot, ByteSpan(block_->data + block_pos_, cut), ChunkGrouping(),
                          hasher_.Finalize(), object))
        StoreChunkObject(slot, object);
    } else {
      Dispatch(block_pos_, cut);
    }
    block_pos_ += cut;
  }
  std::lock_guard lock(mu_);
  return first_error_;
}

void EngineAssetWriter::Dispatch(size_t offset, size_t length) {
  // Enough chunks in flight to keep every pool thread busy while others wait
  // on their objects' writes.
  const size_t max_running = 2 * ctx_.pool->size() + 2 + ctx_.io_pool->size();
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return running_ < max_running; });
  StagedChunk& slot = staged_.chunks.emplace_back();
  slot.length = length;
  ++running_;
  lock.unlock();
  // The block is only appended to while tasks read it, and never moves.
  ctx_.pool->Post([this, &slot, block = std::shared_ptr<const Block>(block_), offset, length,
                   grouping = ChunkGrouping()]() mutable {
    Bytes object;
    const bool store = SealChunkObject(slot, ByteSpan(block->data + offset, length), grouping,
                                       std::nullopt, object);
    block.reset();  // sealed: the plaintext is no longer needed
    if (!store) return TaskDone();
    // Writing an object mostly waits on the disk (or the network): on the
    // I/O threads, while the pool seals the next chunks. On the pool, 2
    // threads spent most of a large put blocked in fdatasync.
    ctx_.io_pool->Post([this, &slot, object = std::move(object)] {
      StoreChunkObject(slot, object);
      TaskDone();
    });
  });
}

void EngineAssetWriter::TaskDone() {
  std::lock_guard guard(mu_);
  --running_;
  cv_.notify_all();
}

uint32_t EngineAssetWriter::ChunkGrouping() const {
  if (seal_.byte_grouping == kNoGrouping) return kNoGrouping;
  if (!validator_) return kGroupingTrial;  // a blob
  const uint32_t width = validator_->ValueWidth();
  return IsGroupingWidth(width) ? width : kNoGrouping;
}

void EngineAssetWriter::Fail(const Status& st) {
  std::lock_guard lock(mu_);
  if (first_error_.ok()) first_error_ = st;
}

bool EngineAssetWriter::SealChunkObject(StagedChunk& slot, ByteSpan chunk, uint32_t grouping,
                                        std::optional<Digest> hash, Bytes& object) {
  slot.hash = hash ? *hash : Blake3::Hash(chunk);
  {
    std::lock_guard lock(mu_);
    if (!first_error_.ok()) return false;
    if (!by_hash_.emplace(slot.hash, &slot).second) return false;  // another slot stores it
    slot.writes_chunk = true;
  }
  auto existing = ctx_.meta->Get(keys::Chunk(staged_.options.ns, slot.hash));
  if (!existing.ok()) {
    Fail(existing.status());
    return false;
  }
  if (existing->has_value()) return false;  // deduplicated: already stored in this namespace

  SealPolicy seal = seal_;
  seal.byte_grouping = grouping;
  Status st = SealChunk(*ctx_.kms, staged_.options.ns, slot.hash, chunk, seal, object, slot.record);
  if (!st.ok()) {
    Fail(st);
    return false;
  }
  if (packs_ && chunk.size() < ctx_.chunker.params().min_size) {
    st = packs_->Add(object, slot.record);  // durable with the transaction's commit
    if (!st.ok()) {
      Fail(st);
      return false;
    }
    slot.wrote_object = true;
    return false;
  }
  return true;
}

void EngineAssetWriter::StoreChunkObject(StagedChunk& slot, const Bytes& object) {
  {
    std::lock_guard lock(mu_);
    if (!first_error_.ok()) return;  // the put failed: writing more is waste
  }
  auto named = ctx_.lease->NewObjectName();
  if (!named.ok()) return Fail(named.status());
  const std::string name = std::move(*named);
  slot.record.set_object(name);
  Status st = CheckSpace(ctx_, SpaceUse::kGrows);
  if (!st.ok()) return Fail(st);
  ctx_.in_flight.Add(name);
  st = ctx_.chunks->Put(name, object);
  if (!st.ok()) {
    ctx_.in_flight.Remove(name);
    return Fail(st.WithContext("storing chunk"));
  }
  slot.wrote_object = true;
}

Status EngineAssetWriter::WaitForTasks() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return running_ == 0; });
  return first_error_;
}

// Ends the stream: the last chunk is cut, every chunk is stored and durable,
// and the declared size, ID and kind encoding are checked.
Status EngineAssetWriter::Finish() {
  Status st = validator_ ? validator_->Finish() : Status::Ok();
  if (st.ok() && validator_) staged_.indexable = validator_->Indexable();
  if (st.ok()) st = CutChunks(/*at_eof=*/true);
  if (st.ok()) st = WaitForTasks();
  if (!st.ok()) return st;
  const PutOptions& opt = staged_.options;
  if (opt.expected_size && staged_.size != *opt.expected_size)
    return err::InvalidArgument("SIZE_MISMATCH", "stream ended after " +
                                                     std::to_string(staged_.size) + " of " +
                                                     std::to_string(*opt.expected_size) +
                                                     " declared bytes");
  staged_.id = AssetId(hasher_.Finalize());
  if (opt.expected_id && *opt.expected_id != staged_.id)
    return err::InvalidArgument("ID_MISMATCH", "content hashes to " + staged_.id.ToHex() +
                                                   ", not the expected " +
                                                   opt.expected_id->ToHex());
  if (!staged_.WrittenObjects().empty()) return ctx_.chunks->Sync();
  return Status::Ok();
}

Result<PutResult> EngineAssetWriter::Commit() {
  if (done_) return err::FailedPrecondition("PUT_FINISHED", "the put was already finished");
  Status st = Finish();
  if (!st.ok()) {
    Abort();
    return st;
  }
  done_ = true;
  if (stage_) {
    PutResult staged;
    staged.staged = true;
    staged.asset.ns = staged_.options.ns;
    staged.asset.id = staged_.id;
    staged.asset.kind = staged_.options.kind;
    staged.asset.size = staged_.size;
    staged.asset.metadata = staged_.options.metadata;
    staged.asset.parents = staged_.options.parents;
    staged.asset.chunk_count = staged_.chunks.size();
    staged.chunks_total = staged_.chunks.size();
    st = stage_(std::move(staged_));  // the transaction owns the objects now
    if (!st.ok()) return st;
    return staged;
  }
  std::vector<PutResult> results;
  std::vector<std::string> unused;
  st = PublishAssets(ctx_, {&staged_}, results, unused);
  const std::vector<std::string> written = staged_.WrittenObjects();
  if (!st.ok()) {
    DiscardObjects(ctx_, written);
    return st;
  }
  DiscardObjects(ctx_, unused);
  for (const auto& name : written) ctx_.in_flight.Remove(name);
  return results.front();
}

void EngineAssetWriter::Abort() {
  done_ = true;
  (void)WaitForTasks();
  DiscardObjects(ctx_, staged_.WrittenObjects());
}

}  // namespace aifs
