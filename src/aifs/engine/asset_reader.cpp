#include "aifs/engine/asset_reader.h"

#include <algorithm>
#include <deque>
#include <future>

#include "aifs/engine/chunk_index.h"
#include "aifs/engine/chunk_objects.h"
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
      : ctx_(ctx), ns_(ns), chunk_(chunk), unit_(ctx.config.segment_size()) {
    if (unit_ == 0) unit_ = kDefaultSegmentSize;  // a format-2 store opened read-only
  }

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
      const Bytes& b = *units[u - first];
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
        auto value =
            std::make_shared<const Bytes>(plain.begin() + static_cast<ptrdiff_t>(start),
                                          plain.begin() + static_cast<ptrdiff_t>(start + n));
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
      for (size_t k = i; k <= j; ++k) {
        const ChunkOpener::Span at = opener.Location(first + k);
        Bytes plain;
        AIFS_RETURN_IF_ERROR(opener.OpenSegment(
            first + k, ByteSpan(stored.data() + (at.offset - a.offset), at.length), plain));
        units[k] = std::make_shared<const Bytes>(std::move(plain));
        ctx_.segments->Put(KeyOf(first + k), units[k]);
      }
      i = j + 1;
    }
    return Status::Ok();
  }

  StoreContext& ctx_;
  const std::string& ns_;
  const ChunkIndex::Chunk chunk_;
  uint64_t unit_;
};

// The whole asset: whole chunks opened by pool threads a few ahead, in order,
// then the asset's hash.
Status ReadWhole(StoreContext& ctx, const store::v1::AssetRecord& rec, const ChunkIndex& index,
                 const ByteSink& sink, uint64_t* chunks_read) {
  const std::string ns = rec.ns();
  const size_t window = 2 * ctx.pool->size() + 1;
  std::deque<std::future<Result<Bytes>>> pending;
  size_t next = 0;
  Blake3 whole_hash;
  Status st;
  for (size_t i = 0; st.ok() && i < index.size(); ++i) {
    while (pending.size() < window && next < index.size()) {
      const Digest h = index.at(next++).hash;
      pending.push_back(ctx.pool->Submit([&ctx, ns, h] { return LoadChunk(ctx, ns, h); }));
    }
    Result<Bytes> chunk = pending.front().get();
    pending.pop_front();
    if (!chunk.ok()) {
      st = chunk.status();
      break;
    }
    if (chunk->size() != index.at(i).length) {
      st = err::DataLoss("METADATA_CORRUPT", "chunk record size differs from the asset's");
      break;
    }
    if (chunks_read) ++*chunks_read;
    whole_hash.Update(*chunk);
    st = sink(*chunk);
  }
  for (auto& f : pending) f.wait();  // tasks must not outlive this frame's captures
  if (st.ok() && AsChars(whole_hash.Finalize()) != rec.id())
    return err::DataLoss("ASSET_CORRUPT", "asset bytes do not hash to the asset ID");
  return st;
}

}  // namespace

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
  AIFS_ASSIGN_OR_RETURN(auto index, ctx.chunk_indexes.Get(*ctx.meta, rec));
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
  if (st.reason() == "CHUNK_MISSING") {
    // A delete that raced this read is not corruption: say what happened.
    auto still = ctx.meta->Get(keys::Asset(rec.ns(), FixedBytes<32>(rec.id())));
    if (still.ok() && !still->has_value())
      return err::NotFound("ASSET_NOT_FOUND", "asset was deleted while being read");
  }
  return st;
}

}  // namespace aifs
