// Chunk objects: where a chunk's sealed bytes live, how they are read, and
// how small chunks are gathered into packs.
//
// A chunk record (ch/<ns>/<hash>) names either an object of its own, which
// holds the sealed chunk and nothing else, or, from format 5, a span
// [pack_offset, pack_offset + stored_size) of a pack: an object holding
// sealed chunks of one namespace back to back. Small chunks (shorter than
// the chunker's minimum: a small asset whole, or a large one's tail) put in
// a transaction go to packs, so a batch of small files writes a few large
// objects instead of a file (an inode, an fdatasync) per file.
//
// Who deletes what: an object of its own goes with its chunk record (the
// release deletes it after its commit). A pack goes only when no chunk
// record points into it any more: garbage collection's sweep deletes it
// then, and rewrites a pack whose live chunks hold less than half of it
// (engine/repack.h). Sealed bytes do not depend on where they lie (their
// AAD binds the namespace, the chunk and its segments, never the object or
// the offset), so a repack copies them as they are; a reader that meets the
// old pack gone reads the chunk record again and follows it (the read
// functions below).
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "aifs/engine/store_context.h"

namespace aifs {

// Whether the chunk's sealed bytes are a span of a pack (else its object is
// its own).
inline bool InPack(const store::v1::ChunkRecord& rec) { return rec.has_pack_offset(); }

// The chunk record of `hash` in `ns`; a missing one is DATA_LOSS
// CHUNK_MISSING (an asset being read references it).
Result<store::v1::ChunkRecord> LoadChunkRecord(StoreContext& ctx, const std::string& ns,
                                               const Digest& hash);

// The chunk's sealed bytes, whole, into `out`. A missing object is DATA_LOSS
// CHUNK_MISSING, unless the chunk was moved by a repack since `rec` was read:
// then `rec` is read again and the read follows it.
Status ReadSealedChunk(StoreContext& ctx, const std::string& ns, const Digest& hash,
                       store::v1::ChunkRecord& rec, Bytes& out);

// Bytes [offset, offset + length) of the chunk's sealed bytes, the same way.
Status ReadSealedRange(StoreContext& ctx, const std::string& ns, const Digest& hash,
                       store::v1::ChunkRecord& rec, uint64_t offset, uint64_t length, Bytes& out);

// PackWriter: gathers sealed chunks of one namespace into pack objects of
// about kTargetBytes. The Add that fills a pack writes it; Flush() writes
// the last, partial one. A chunk added is durable once Flush() and then the
// chunk store's Sync() returned. Every pack is named by the writer lease and
// counted in flight (so garbage collection leaves it alone) from its first
// chunk until Release() (its chunk records are committed) or Discard()
// (deleted: the transaction was abandoned); after either, Add refuses.
// Thread-safe: chunks of many writers of one transaction arrive at once
// (the Add that writes a full pack holds the others back meanwhile: one
// 4 MiB write per 4 MiB of small chunks).
class PackWriter {
 public:
  static constexpr size_t kTargetBytes = size_t{4} << 20;

  explicit PackWriter(StoreContext& ctx) : ctx_(ctx) {}
  ~PackWriter() { Discard(); }
  PackWriter(const PackWriter&) = delete;
  PackWriter& operator=(const PackWriter&) = delete;

  // Appends `sealed` and points `rec` at it (object, pack_offset; the
  // caller has set stored_size). Errors: those of naming and writing a pack
  // (RESOURCE_EXHAUSTED DISK_FULL ...); FAILED_PRECONDITION TXN_FINISHED
  // after Release or Discard.
  Status Add(ByteSpan sealed, store::v1::ChunkRecord& rec);
  // Writes the partial pack, if any.
  Status Flush();
  // The packs' chunks are committed: they are no longer in flight.
  void Release();
  // Deletes every pack written (best effort: gc takes what is left).
  void Discard();

 private:
  Status WritePending();  // with mu_ held

  StoreContext& ctx_;
  std::mutex mu_;
  std::string name_;  // of the pack being filled; "" when none
  Bytes pending_;
  std::vector<std::string> packs_;  // every pack named, written or not
  bool closed_ = false;
};

}  // namespace aifs
