// Embed assets: vectors from one embedding model, encoded as the FlatBuffers
// table `aifs.fbs.Embedding` (schemas/embedding.fbs, file identifier "AIFE").
// The schema file lists every rule a valid buffer follows and the stable
// reason each violation is rejected with (EMBED_BAD_BUFFER, EMBED_DIM_MISMATCH,
// EMBED_NAN, EMBED_NO_VECTORS, EMBED_BAD_MODEL, EMBED_BAD_SOURCE,
// EMBED_TOO_LARGE).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"
#include "aifs/kinds/kind_validator.h"

namespace aifs {

// Similarity the vectors are meant to be compared with; its values are
// those of aifs.fbs.Metric.
using Metric = VectorMetric;

inline constexpr uint32_t kEmbedMaxDim = 65536;
inline constexpr size_t kEmbedMaxBytes = size_t{64} << 20;  // one encoded buffer

struct EmbedRecord {
  std::string model;         // non-empty
  std::string model_digest;  // may be empty
  uint32_t dim = 0;          // 1..kEmbedMaxDim
  Metric metric = Metric::kCosine;
  std::vector<std::vector<float>> vectors;  // >= 1, each exactly `dim` finite values
  std::optional<std::array<uint8_t, 32>> source;  // AssetID the vectors describe
  std::optional<int64_t> chunk_index;             // >= 0 when set
  std::map<std::string, std::string> metadata;

  bool operator==(const EmbedRecord&) const = default;
};

// The checks DecodeEmbed applies after the FlatBuffers verifier, on a record.
Status CheckEmbedRecord(const EmbedRecord& rec);

// Encodes with the flatc-generated builder. Deterministic: the same record
// always gives the same bytes (and so the same AssetID). Refuses a record that
// DecodeEmbed would reject, with the same reason.
Status EncodeEmbed(const EmbedRecord& rec, Bytes& out);

// Verifies (FlatBuffers Verifier, bounded depth and table count) and decodes.
Result<EmbedRecord> DecodeEmbed(ByteSpan buf);

// KindValidator for AssetKind::kEmbed: buffers up to kEmbedMaxBytes
// (RESOURCE_EXHAUSTED EMBED_TOO_LARGE beyond) and decodes on Finish().
std::unique_ptr<KindValidator> NewEmbedValidator();

// For `aifs put --kind embed --vector v.npy`: reads a NumPy .npy file (format
// 1.0-3.0) of float16/float32/float64, little-endian, C order, shape (dim,) =
// one vector or (n, dim) = n vectors. INVALID_ARGUMENT EMBED_BAD_NPY when it is
// anything else; values are not checked here (EncodeEmbed does).
Result<std::vector<std::vector<float>>> EmbedVectorsFromNpy(ByteSpan npy);

}  // namespace aifs
