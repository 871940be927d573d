#include "aifs/engine/asset_reader.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <future>

#include "aifs/engine/chunk_index.h"
#include "aifs/engine/chunk_objects.h"
#include "aifs/engine/store_config.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/storage/chunk_sealer.h"

namespace aifs {

namespace {

// The part [lo, hi) of one chunk, in cache units (the store's segment size):
// cached units are copied out; the missing ones are read, authenticated and
// cached. A segmented chunk reads only the segments it needs (a run of them
// in one read); a chunk sealed whole is opened whole and cached in units.
class ChunkPartReader {
 public:
  ChunkPartReader(StoreContext& ctx, const std::string& ns, const ChunkIndex::Chunk& chunk)
      : ctx_(ctx), ns_(ns), chunk_(chunk), unit_(SegmentSizeOf(ctx.config)) {}

  Status Read(uint64_t lo, uint64_t hi, const ByteSink& sink) {
    const uint64_t first = lo / unit_, last = (hi - 1) / unit_;
    std::vector<SegmentCache::Value> units(last - first + 1);
    size_t missing = 0;
    for (uint64_t u = first; u <= last; ++u) {
      units[u - first] = ctx_.segments->Get(KeyOf(u));
      if (!units[u - first]) ++missing;
    }
    if (missing) AIFS_RETURN_IF_ERROR(Fill(first, units));
    for (uint64_t u = first; u <= last; ++u) {
      const SegmentCache::Buffer& b = *units[u - first];
      const uint64_t start = u * unit_;
      const uint64_t from = std::max(lo, start) - start;
      const uint64_t to = std::min(hi, start + b.size()) - start;
      if (to <= from) return err::DataLoss("CHUNK_CORRUPT", "segment shorter than its chunk says");
      AIFS_RETURN_IF_ERROR(sink(ByteSpan(b.data() + from, to - from)));
    }
    return Status::Ok();
  }

 private:
  SegmentCache::Key KeyOf(uint64_t unit) const { return {ns_, chunk_.hash, unit_, unit}; }

  Status Fill(uint64_t first, std::vector<SegmentCache::Value>& units) {
    AIFS_ASSIGN_OR_RETURN(store::v1::ChunkRecord rec, LoadChunkRecord(ctx_, ns_, chunk_.hash));
    if (rec.plain_size() != chunk_.length)
      return err::DataLoss("METADATA_CORRUPT", "chunk record size differs from the asset's");
    AIFS_ASSIGN_OR_RETURN(ChunkOpener opener, ChunkOpener::Open(*ctx_.kms, ns_, chunk_.hash, rec));
    if (opener.segment_size() != unit_ || opener.segment_count() == 1) {
      // Sealed whole (or in other units): open it all, keep it in units.
      Bytes object, plain;
      AIFS_RETURN_IF_ERROR(ReadSealedChunk(ctx_, ns_, chunk_.hash, rec, object));
      AIFS_RETURN_IF_ERROR(opener.OpenAll(object, plain));
      for (uint64_t u = 0; u * unit_ < std::max<uint64_t>(plain.size(), 1); ++u) {
        const uint64_t start = u * unit_, n = std::min<uint64_t>(unit_, plain.size() - start);
        std::shared_ptr<SegmentCache::Buffer> value = ctx_.segments->NewBuffer(n);
        if (n) std::memcpy(value->writable().data(), plain.data() + start, n);
        if (u >= first && u - first < units.size()) units[u - first] = value;
        ctx_.segments->Put(KeyOf(u), std::move(value));
      }
      return Status::Ok();
    }
    // Runs of missing segments, each fetched with one read.
    for (size_t i = 0; i < units.size();) {
      if (units[i]) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j + 1 < units.size() && !units[j + 1]) ++j;
      const ChunkOpener::Span a = opener.Location(first + i), b = opener.Location(first + j);
      Bytes stored;
      AIFS_RETURN_IF_ERROR(ReadSealedRange(ctx_, ns_, chunk_.hash, rec, a.offset,
                                           b.offset + b.length - a.offset, stored));
      Bytes scratch;
      for (size_t k = i; k <= j; ++k) {
        const ChunkOpener::Span at = opener.Location(first + k);
        std::shared_ptr<SegmentCache::Buffer> plain =
            ctx_.segments->NewBuffer(opener.PlainLength(first + k));
        AIFS_RETURN_IF_ERROR(opener.OpenSegmentTo(
            first + k, ByteSpan(stored.data() + (at.offset - a.offset), at.length),
            plain->writable(), scratch));
        units[k] = std::move(plain);
        ctx_.segments->Put(KeyOf(first + k), units[k]);
      }
      i = j + 1;
    }
    return Status::Ok();
  }

  StoreContext& ctx_;
  const std::string& ns_;
  const ChunkIndex::Chunk chunk_;
  const uint64_t unit_;
};

// Runs load(i) for every i < n on pool threads a few ahead of the consumer
// and hands the results to consume(i, T&) in order; stops at the first error.
template <class T, class Load, class Consume>
Status InOrder(StoreContext& ctx, size_t n, const Load& load, const Consume& consume) {
  const size_t window = 2 * ctx.pool->size() + 1;
  std::deque<std::future<Result<T>>> pending;
  size_t next = 0;
  Status st;
  for (size_t i = 0; st.ok() && i < n; ++i) {
    while (pending.size() < window && next < n)
      pending.push_back(ctx.pool->Submit([&load, k = next++] { return load(k); }));
    Result<T> r = pending.front().get();
    pending.pop_front();
    st = r.ok() ? consume(i, *r) : r.status();
  }
  for (auto& f : pending) f.wait();  // tasks must not outlive this frame's captures
  return st;
}

Status SizeDiffers() {
  return err::DataLoss("METADATA_CORRUPT", "chunk record size differs from the asset's");
}

// The whole asset: whole chunks opened by pool threads a few ahead, in order,
// then the asset's hash.
Status ReadWhole(StoreContext& ctx, const store::v1::AssetRecord& rec, const ChunkIndex& index,
                 const ByteSink& sink, uint64_t* chunks_read) {
  const std::string& ns = rec.ns();
  Blake3 whole_hash;
  AIFS_RETURN_IF_ERROR(InOrder<Bytes>(
      ctx, index.size(), [&](size_t i) { return LoadChunk(ctx, ns, index.at(i).hash); },
      [&](size_t i, const Bytes& chunk) -> Status {
        if (chunk.size() != index.at(i).length) return SizeDiffers();
        if (chunks_read) ++*chunks_read;
        whole_hash.Update(chunk);
        return sink(chunk);
      }));
  if (AsChars(whole_hash.Finalize()) != rec.id())
    return err::DataLoss("ASSET_CORRUPT", "asset bytes do not hash to the asset ID");
  return Status::Ok();
}

// The part [lo, hi) of one chunk as StoredPieces: segments wholly inside it
// that OpenInPlace serves are decrypted where they were read (zstd frames
// stay compressed); the others (cut by the range, byte-grouped, sealed
// whole) are opened and trimmed.
struct StoredPart {
  Bytes stored;
  std::vector<Bytes> opened;
  // Spans into the buffers of `stored` and `opened`'s elements, which stay
  // where they are when the vectors grow or the part is moved.
  std::vector<StoredPiece> pieces;
};

Result<StoredPart> LoadStoredPart(StoreContext& ctx, const std::string& ns,
                                  const ChunkIndex::Chunk& chunk, uint64_t lo, uint64_t hi) {
  AIFS_ASSIGN_OR_RETURN(store::v1::ChunkRecord rec, LoadChunkRecord(ctx, ns, chunk.hash));
  if (rec.plain_size() != chunk.length) return SizeDiffers();
  AIFS_ASSIGN_OR_RETURN(ChunkOpener opener, ChunkOpener::Open(*ctx.kms, ns, chunk.hash, rec));
  const uint64_t unit = opener.segment_size();
  const size_t first = lo / unit, last = (hi - 1) / unit;
  const ChunkOpener::Span a = opener.Location(first), b = opener.Location(last);
  StoredPart part;
  AIFS_RETURN_IF_ERROR(ReadSealedRange(ctx, ns, chunk.hash, rec, a.offset,
                                       b.offset + b.length - a.offset, part.stored));
  for (size_t i = first; i <= last; ++i) {
    const ChunkOpener::Span at = opener.Location(i);
    std::span<uint8_t> sealed(part.stored.data() + (at.offset - a.offset), at.length);
    const uint64_t start = i * unit, length = opener.PlainLength(i);
    if (opener.OpensInPlace(i) && lo <= start && start + length <= hi) {
      AIFS_ASSIGN_OR_RETURN(ByteSpan data, opener.OpenInPlace(i, sealed));
      part.pieces.push_back({data, opener.IsCompressed(i), length});
      continue;
    }
    Bytes& plain = part.opened.emplace_back();
    AIFS_RETURN_IF_ERROR(opener.OpenSegment(i, sealed, plain));
    const uint64_t from = std::max(lo, start) - start, to = std::min(hi, start + length) - start;
    part.pieces.push_back({ByteSpan(plain.data() + from, to - from), false, to - from});
  }
  return part;
}

// Missing data (a chunk, the chunk table) under a read whose asset was
// deleted meanwhile (and perhaps put again: another record) is not
// corruption: say what happened.
Status ExplainMissing(StoreContext& ctx, const store::v1::AssetRecord& rec, Status st) {
  if (st.code() != Code::kDataLoss) return st;
  auto now = ctx.meta->Get(keys::Asset(rec.ns(), FixedBytes<32>(rec.id())));
  if (!now.ok()) return st;
  store::v1::AssetRecord current;
  if (now->has_value() &&
      (!current.ParseFromString(**now) || current.created_unix_ns() == rec.created_unix_ns()))
    return st;
  return err::NotFound("ASSET_NOT_FOUND", "asset was deleted while being read");
}

}  // namespace

Result<std::shared_ptr<const ChunkIndex>> IndexOf(StoreContext& ctx,
                                                  const store::v1::AssetRecord& rec) {
  auto index = ctx.chunk_indexes.Get(*ctx.meta, rec);
  if (!index.ok()) return ExplainMissing(ctx, rec, index.status());
  return index;
}

Result<ClippedRange> ClipRange(uint64_t size, const ReadRange& range) {
  if (range.offset > size)
    return err::OutOfRange("RANGE_OUT_OF_BOUNDS", "offset " + std::to_string(range.offset) +
                                                      " is beyond the asset size " +
                                                      std::to_string(size));
  const uint64_t end = size - range.offset < range.length ? size : range.offset + range.length;
  const bool whole = range.offset == 0 && end == size;
  return ClippedRange{end, whole, range.offset == end && !whole};
}

Result<Bytes> LoadChunk(StoreContext& ctx, const std::string& ns, const Digest& hash) {
  AIFS_ASSIGN_OR_RETURN(store::v1::ChunkRecord rec, LoadChunkRecord(ctx, ns, hash));
  Bytes object;
  AIFS_RETURN_IF_ERROR(ReadSealedChunk(ctx, ns, hash, rec, object));
  Bytes plain;
  AIFS_RETURN_IF_ERROR(OpenChunk(*ctx.kms, ns, hash, rec, object, plain));
  return plain;
}

Status ReadAssetRange(StoreContext& ctx, const store::v1::AssetRecord& rec, const ReadRange& range,
                      const ByteSink& sink, uint64_t* chunks_read) {
  AIFS_ASSIGN_OR_RETURN(const ClippedRange c, ClipRange(rec.size(), range));
  if (c.nothing) return Status::Ok();
  AIFS_ASSIGN_OR_RETURN(auto index, IndexOf(ctx, rec));
  return ReadAssetRange(ctx, rec, *index, range, sink, chunks_read);
}

Status ReadAssetRange(StoreContext& ctx, const store::v1::AssetRecord& rec, const ChunkIndex& index,
                      const ReadRange& range, const ByteSink& sink, uint64_t* chunks_read) {
  AIFS_ASSIGN_OR_RETURN(const ClippedRange clipped, ClipRange(rec.size(), range));
  if (clipped.nothing) return Status::Ok();
  const uint64_t end = clipped.end;
  Status st;
  if (clipped.whole) {
    st = ReadWhole(ctx, rec, index, sink, chunks_read);
  } else {
    const std::string& ns = rec.ns();
    for (size_t i = index.Find(range.offset); st.ok() && i < index.size(); ++i) {
      const ChunkIndex::Chunk c = index.at(i);
      if (c.offset >= end) break;
      const uint64_t lo = std::max(range.offset, c.offset) - c.offset;
      const uint64_t hi = std::min(end, c.offset + c.length) - c.offset;
      st = ChunkPartReader(ctx, ns, c).Read(lo, hi, sink);
    }
  }
  return ExplainMissing(ctx, rec, std::move(st));
}

Status ReadAssetRangeStored(StoreContext& ctx, const store::v1::AssetRecord& rec,
                            const ReadRange& range, const StoredPieceSink& sink) {
  AIFS_ASSIGN_OR_RETURN(const ClippedRange c, ClipRange(rec.size(), range));
  if (c.nothing) return Status::Ok();
  if (!c.whole && c.end - range.offset < kStoredReadMinBytes)
    return ReadAssetRange(ctx, rec, range, [&](ByteSpan data) {
      return sink(StoredPiece{data, false, data.size()});
    });
  AIFS_ASSIGN_OR_RETURN(const std::shared_ptr<const ChunkIndex> index, IndexOf(ctx, rec));
  const size_t first = index->size() ? index->Find(range.offset) : 0;
  size_t n = 0;
  while (first + n < index->size() && index->at(first + n).offset < c.end) ++n;
  Status st = InOrder<StoredPart>(
      ctx, n,
      [&](size_t k) {
        const ChunkIndex::Chunk chunk = index->at(first + k);
        const uint64_t lo = std::max(range.offset, chunk.offset) - chunk.offset;
        const uint64_t hi = std::min(c.end, chunk.offset + chunk.length) - chunk.offset;
        return LoadStoredPart(ctx, rec.ns(), chunk, lo, hi);
      },
      [&](size_t, const StoredPart& part) -> Status {
        for (const StoredPiece& piece : part.pieces) AIFS_RETURN_IF_ERROR(sink(piece));
        return Status::Ok();
      });
  return ExplainMissing(ctx, rec, std::move(st));
}

}  // namespace aifs
