// Conversions from stored records to the Api's value types.
#pragma once

#include "aifs/api/types.h"
#include "aifs/store/v1/records.pb.h"

namespace aifs {

// Chunk hashes and offsets only; per-chunk storage details need the chunk records.
AssetInfo ToAssetInfo(const store::v1::AssetRecord& rec, bool with_chunks);
NamespaceInfo ToNamespaceInfo(const store::v1::NamespaceRecord& rec);
// Whether one metadata value (nullptr: the key is absent) passes `f`.
bool MatchesFilter(const MetaFilter& f, const std::string* value);
// Whether the asset's metadata passes every filter.
bool MatchesMetadata(const store::v1::AssetRecord& rec, const std::vector<MetaFilter>& filters);

}  // namespace aifs
