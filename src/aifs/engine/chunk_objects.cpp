#include "aifs/engine/chunk_objects.h"

#include "aifs/core/hex.h"
#include "aifs/engine/space.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"

namespace aifs {

using store::v1::ChunkRecord;

Result<ChunkRecord> LoadChunkRecord(StoreContext& ctx, const std::string& ns, const Digest& hash) {
  auto rec = LoadRecord<ChunkRecord>(*ctx.meta, keys::Chunk(ns, hash), "CHUNK_MISSING",
                                     "chunk record " + HexEncode(hash));
  if (!rec.ok() && rec.status().code() == Code::kNotFound)
    return err::DataLoss("CHUNK_MISSING", rec.status().message());
  return rec;
}

namespace {

// One read of the chunk's bytes where `rec` says they are: [offset, offset +
// length) of its sealed bytes, or all of them when `length` is unset.
Status ReadAt(ChunkStore& chunks, const ChunkRecord& rec, uint64_t offset,
              std::optional<uint64_t> length, Bytes& out) {
  if (!InPack(rec))
    return length ? chunks.GetRandomRange(rec.object(), offset, *length, out)
                  : chunks.Get(rec.object(), out);
  const uint64_t n = length.value_or(rec.stored_size() - offset);
  if (offset > rec.stored_size() || n > rec.stored_size() - offset)
    return err::DataLoss("CHUNK_CORRUPT", "a read past the end of a packed chunk");
  return chunks.GetRange(rec.object(), rec.pack_offset() + offset, n, out);
}

// A missing object is data loss, unless a repack moved the chunk meanwhile:
// its record then names another place, which is read instead.
Status ReadFollowing(StoreContext& ctx, const std::string& ns, const Digest& hash, ChunkRecord& rec,
                     uint64_t offset, std::optional<uint64_t> length, Bytes& out) {
  Status st = ReadAt(*ctx.chunks, rec, offset, length, out);
  for (int moves = 0; st.code() == Code::kNotFound && InPack(rec) && moves < 3; ++moves) {
    AIFS_ASSIGN_OR_RETURN(ChunkRecord now, LoadChunkRecord(ctx, ns, hash));
    if (now.object() == rec.object() && now.pack_offset() == rec.pack_offset()) break;
    rec = std::move(now);
    st = ReadAt(*ctx.chunks, rec, offset, length, out);
  }
  if (st.code() == Code::kNotFound) return err::DataLoss("CHUNK_MISSING", st.message());
  return st;
}

}  // namespace

Status ReadSealedChunk(StoreContext& ctx, const std::string& ns, const Digest& hash,
                       ChunkRecord& rec, Bytes& out) {
  return ReadFollowing(ctx, ns, hash, rec, 0, std::nullopt, out);
}

Status ReadSealedRange(StoreContext& ctx, const std::string& ns, const Digest& hash,
                       ChunkRecord& rec, uint64_t offset, uint64_t length, Bytes& out) {
  return ReadFollowing(ctx, ns, hash, rec, offset, length, out);
}

Status PackWriter::Add(ByteSpan sealed, ChunkRecord& rec) {
  std::lock_guard lock(mu_);
  if (closed_) return err::FailedPrecondition("TXN_FINISHED", "the transaction already ended");
  if (name_.empty()) {
    AIFS_ASSIGN_OR_RETURN(name_, ctx_.lease->NewObjectName());
    ctx_.in_flight.Add(name_);
    packs_.push_back(name_);
    pending_ = ctx_.pack_buffers.Take();
    // Room for the last chunk that crosses the target (packs hold small ones).
    pending_.reserve(kTargetBytes + std::max(sealed.size(), kTargetBytes / 4));
  }
  rec.set_object(name_);
  rec.set_pack_offset(pending_.size());
  pending_.insert(pending_.end(), sealed.begin(), sealed.end());
  return pending_.size() >= kTargetBytes ? WritePending() : Status::Ok();
}

Status PackWriter::WritePending() {
  if (name_.empty()) return Status::Ok();
  Status st = CheckSpace(ctx_, SpaceUse::kGrows);
  if (st.ok()) st = ctx_.chunks->Put(name_, pending_);
  if (!st.ok()) return st.WithContext("storing a pack of small chunks");
  name_.clear();
  ctx_.pack_buffers.Give(std::move(pending_));
  pending_ = Bytes();
  return Status::Ok();
}

Status PackWriter::Flush() {
  std::lock_guard lock(mu_);
  if (closed_) return err::FailedPrecondition("TXN_FINISHED", "the transaction already ended");
  return WritePending();
}

void PackWriter::Release() {
  std::lock_guard lock(mu_);
  closed_ = true;
  for (const auto& name : packs_) ctx_.in_flight.Remove(name);
  packs_.clear();
}

void PackWriter::Discard() {
  std::lock_guard lock(mu_);
  closed_ = true;
  for (const auto& name : packs_) {
    (void)ctx_.chunks->Delete(name);
    ctx_.in_flight.Remove(name);
  }
  packs_.clear();
  ctx_.pack_buffers.Give(std::move(pending_));
  pending_ = Bytes();
  name_.clear();
}

}  // namespace aifs
