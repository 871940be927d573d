// Conversions from stored records to the Api's value types.
#pragma once

#include "aifs/api/types.h"
#include "aifs/store/v1/records.pb.h"

namespace aifs {

// Without the chunk list (Engine::StatAsset adds it when asked).
AssetInfo ToAssetInfo(const store::v1::AssetRecord& rec);
NamespaceInfo ToNamespaceInfo(const store::v1::NamespaceRecord& rec);
// A namespace's privacy policy, stored <-> Api.
PrivacyPolicy FromRecord(const store::v1::PrivacyPolicy& rec);
void ToRecord(const PrivacyPolicy& policy, store::v1::PrivacyPolicy* rec);
// Whether one metadata value (nullptr: the key is absent) passes `f`.
bool MatchesFilter(const MetaFilter& f, const std::string* value);
// Whether the asset's metadata passes every filter.
bool MatchesMetadata(const store::v1::AssetRecord& rec, const std::vector<MetaFilter>& filters);

}  // namespace aifs
