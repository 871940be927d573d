// Reading committed assets.
//
// A whole-asset read streams chunks: pool threads fetch and open whole chunks
// (every segment authenticated, BLAKE3 checked) a few ahead of the consumer,
// delivered in order, and the asset is re-hashed against its ID at the end.
// A partial read fetches, authenticates and decompresses only the segments it
// overlaps, through the store's SegmentCache: a hot 4 KiB read is a lookup
// and a copy. Segments are authenticated with AES-GCM under the chunk's own
// key, bound to the chunk's hash, so nothing unauthenticated is returned; the
// chunk's BLAKE3 is checked only when the whole chunk is opened (a full read,
// `aifs verify`, or a chunk sealed whole before format 3).
#pragma once

#include "aifs/api/types.h"
#include "aifs/engine/store_context.h"

namespace aifs {

// A range clipped to an asset of `size` bytes: where it ends, whether it is
// the whole asset, whether there is nothing to read. An offset beyond the
// end is OUT_OF_RANGE RANGE_OUT_OF_BOUNDS.
struct ClippedRange {
  uint64_t end;
  bool whole;
  bool nothing;
};
Result<ClippedRange> ClipRange(uint64_t size, const ReadRange& range);

// The record's chunk index, for reading it (through the store's cache). A
// table missing or damaged because the asset was deleted (or replaced) since
// `rec` was loaded is NOT_FOUND ASSET_NOT_FOUND, like every read of it.
Result<std::shared_ptr<const ChunkIndex>> IndexOf(StoreContext& ctx,
                                                  const store::v1::AssetRecord& rec);

// Fetches and opens one whole chunk of namespace `ns`.
Result<Bytes> LoadChunk(StoreContext& ctx, const std::string& ns, const Digest& hash);

// Streams [range.offset, range.offset + range.length) of the asset, clipped to
// its size (an offset beyond it is OUT_OF_RANGE RANGE_OUT_OF_BOUNDS). When
// the range is the whole asset the asset ID is re-checked too, and
// `chunks_read` (optional) counts the chunks opened and checked.
Status ReadAssetRange(StoreContext& ctx, const store::v1::AssetRecord& rec,
                      const ReadRange& range, const ByteSink& sink,
                      uint64_t* chunks_read = nullptr);

// The same with the asset's chunk index already loaded (LoadChunkIndex), for
// callers reading many ranges of one asset.
Status ReadAssetRange(StoreContext& ctx, const store::v1::AssetRecord& rec, const ChunkIndex& index,
                      const ReadRange& range, const ByteSink& sink,
                      uint64_t* chunks_read = nullptr);

// Api::ReadAssetStoredAt's read: the range as ReadAssetRange streams it, but
// when it is the whole asset or at least kStoredReadMinBytes, the segments
// wholly inside it come as stored once authenticated and decrypted (zstd
// frames not decompressed), chunks fetched a few ahead by pool threads; the
// BLAKE3 checks of chunks and asset are left to the receiver. Smaller ranges
// go through ReadAssetRange (and the segment cache).
Status ReadAssetRangeStored(StoreContext& ctx, const store::v1::AssetRecord& rec,
                            const ReadRange& range, const StoredPieceSink& sink);

}  // namespace aifs
