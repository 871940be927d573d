#include "aifs/kinds/kind_validator.h"

#include "aifs/kinds/artifact.h"
#include "aifs/kinds/embed.h"
#include "aifs/kinds/tensor.h"

namespace aifs {

// Artifacts are validated whole (a ZIP's directory sits at its end), so their
// size is bounded; tensors stream and embeddings are small by construction.
inline constexpr uint64_t kMaxArtifactBytes = uint64_t{4} << 30;

std::unique_ptr<KindValidator> NewKindValidator(AssetKind kind, const ArtifactBuffering& buffering) {
  switch (kind) {
    case AssetKind::kBlob: return nullptr;
    case AssetKind::kTensor: return NewTensorValidator();
    case AssetKind::kEmbed: return NewEmbedValidator();
    case AssetKind::kArtifact: return NewArtifactValidator(kMaxArtifactBytes, buffering);
  }
  return nullptr;
}

}  // namespace aifs
