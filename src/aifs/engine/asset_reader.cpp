#include "aifs/engine/asset_reader.h"

#include <algorithm>
#include <deque>
#include <future>

#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/storage/chunk_sealer.h"

namespace aifs {

Result<Bytes> LoadChunk(StoreContext& ctx, const std::string& ns, const Digest& hash) {
  // Missing pieces of an asset being read are data loss (see ReadAssetRange
  // for the asset having been deleted meanwhile).
  auto rec = LoadRecord<store::v1::ChunkRecord>(*ctx.meta, keys::Chunk(ns, hash), "CHUNK_MISSING",
                                                "chunk record " + HexEncode(hash));
  if (!rec.ok() && rec.status().code() == Code::kNotFound)
    return err::DataLoss("CHUNK_MISSING", rec.status().message());
  if (!rec.ok()) return rec.status();
  Bytes object;
  Status st = ctx.chunks->Get(rec->object(), object);
  if (st.code() == Code::kNotFound) return err::DataLoss("CHUNK_MISSING", st.message());
  AIFS_RETURN_IF_ERROR(st);
  Bytes plain;
  AIFS_RETURN_IF_ERROR(OpenChunk(*ctx.kms, ns, hash, *rec, object, plain));
  return plain;
}

Status ReadAssetRange(StoreContext& ctx, const store::v1::AssetRecord& rec,
                      const ReadRange& range, const ByteSink& sink, uint64_t* chunks_read) {
  const uint64_t size = rec.size();
  if (range.offset > size)
    return err::OutOfRange("RANGE_OUT_OF_BOUNDS", "offset " + std::to_string(range.offset) +
                                                      " is beyond the asset size " +
                                                      std::to_string(size));
  const uint64_t end = size - range.offset < range.length ? size : range.offset + range.length;
  const bool whole = range.offset == 0 && end == size;
  if (range.offset == end && !whole) return Status::Ok();

  // Chunk i covers [starts[i], starts[i] + length).
  std::vector<uint64_t> starts(static_cast<size_t>(rec.chunks_size()));
  uint64_t pos = 0;
  for (size_t i = 0; i < starts.size(); ++i) {
    starts[i] = pos;
    pos += rec.chunks(static_cast<int>(i)).length();
  }
  if (pos != size) return err::DataLoss("METADATA_CORRUPT", "chunk lengths do not add up");
  size_t first = static_cast<size_t>(
      std::upper_bound(starts.begin(), starts.end(), range.offset) - starts.begin());
  first = first == 0 ? 0 : first - 1;

  const std::string ns = rec.ns();
  auto hash_of = [&](size_t i) { return FixedBytes<32>(rec.chunks(static_cast<int>(i)).hash()); };
  const size_t window = 2 * ctx.pool->size() + 1;
  std::deque<std::future<Result<Bytes>>> pending;
  size_t next = first;
  auto fill = [&] {
    while (pending.size() < window && next < starts.size() && starts[next] < end) {
      Digest h = hash_of(next++);
      pending.push_back(ctx.pool->Submit([&ctx, ns, h] { return LoadChunk(ctx, ns, h); }));
    }
  };

  Blake3 whole_hash;
  Status st;
  for (size_t i = first; st.ok() && i < starts.size() && starts[i] < end; ++i) {
    fill();
    Result<Bytes> chunk = pending.front().get();
    pending.pop_front();
    if (!chunk.ok()) {
      st = chunk.status();
      break;
    }
    if (chunks_read) ++*chunks_read;
    const uint64_t lo = std::max(range.offset, starts[i]) - starts[i];
    const uint64_t hi = std::min(end, starts[i] + chunk->size()) - starts[i];
    ByteSpan piece(chunk->data() + lo, hi - lo);
    if (whole) whole_hash.Update(piece);
    st = sink(piece);
  }
  for (auto& f : pending) f.wait();  // tasks must not outlive this frame's captures
  if (st.reason() == "CHUNK_MISSING") {
    // A delete that raced this read is not corruption: say what happened.
    auto still = ctx.meta->Get(keys::AssetPrefix(ns) + HexEncode(AsBytes(rec.id())));
    if (still.ok() && !still->has_value())
      return err::NotFound("ASSET_NOT_FOUND", "asset was deleted while being read");
  }
  if (st.ok() && whole && AsChars(whole_hash.Finalize()) != rec.id())
    return err::DataLoss("ASSET_CORRUPT", "asset bytes do not hash to the asset ID");
  return st;
}

}  // namespace aifs
