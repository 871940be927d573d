#include "aifs/api/types.h"

namespace aifs {

std::string_view KindName(AssetKind kind) {
  switch (kind) {
    case AssetKind::kBlob: return "blob";
    case AssetKind::kTensor: return "tensor";
    case AssetKind::kEmbed: return "embed";
    case AssetKind::kArtifact: return "artifact";
  }
  return "unknown";
}

Result<AssetKind> ParseKind(std::string_view name) {
  for (AssetKind k : {AssetKind::kBlob, AssetKind::kTensor, AssetKind::kEmbed, AssetKind::kArtifact})
    if (KindName(k) == name) return k;
  return err::InvalidArgument("UNKNOWN_KIND", "unknown asset kind '" + std::string(name) +
                                                  "' (blob, tensor, embed, artifact)");
}

}  // namespace aifs
