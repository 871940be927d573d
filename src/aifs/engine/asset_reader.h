// Reading committed assets: chunks are fetched and opened (decrypted,
// decompressed, BLAKE3-checked) by pool threads a few ahead of the consumer
// and delivered in order, so reads are parallel yet memory stays bounded.
#pragma once

#include "aifs/api/types.h"
#include "aifs/engine/store_context.h"

namespace aifs {

// Fetches and opens one chunk of namespace `ns`.
Result<Bytes> LoadChunk(StoreContext& ctx, const std::string& ns, const Digest& hash);

// Streams [range.offset, range.offset + range.length) of the asset, clipped to
// its size. When the range is the whole asset the asset ID is re-checked too.
// `chunks_read` (optional) counts the chunks opened.
Status ReadAssetRange(StoreContext& ctx, const store::v1::AssetRecord& rec,
                      const ReadRange& range, const ByteSink& sink,
                      uint64_t* chunks_read = nullptr);

}  // namespace aifs
