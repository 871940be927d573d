// .safetensors files -> tensors.
//
// Layout: u64 little-endian N, N bytes of JSON header (UTF-8, may be padded
// with trailing spaces), then the data buffer. The header maps each tensor
// name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative
// to the data buffer) and may hold "__metadata__": {string: string}.
//
// Checked (INVALID_ARGUMENT):
//   SAFETENSORS_TRUNCATED         file shorter than 8 + N
//   SAFETENSORS_HEADER_TOO_LARGE  N > kMaxSafetensorsHeader (100,000,000, as
//                                 the reference implementation)
//   SAFETENSORS_BAD_HEADER        not a JSON object, missing/ill-typed fields,
//                                 non-string metadata
//   SAFETENSORS_UNSUPPORTED_DTYPE dtypes other than BOOL U8 I8 U16 I16 U32 I32
//                                 U64 I64 F16 BF16 F32 F64 (e.g. F8_*, C64)
//   SAFETENSORS_BAD_OFFSETS       begin > end, end out of bounds, overlapping
//                                 tensors, holes in the buffer, a byte size that
//                                 differs from prod(shape) * element size
//   TENSOR_SHAPE_OVERFLOW, TENSOR_TOO_MANY_DIMS as in tensor.h
//
// Decision (how a safetensors file becomes assets): each tensor of the file
// becomes one Tensor asset (1 row, shape = the tensor's shape, encoded with
// EncodeTensorIpc) whose asset metadata records `safetensors.name` = the
// tensor's name and, for every `__metadata__` entry K: V of the file,
// `safetensors.metadata.K` = V (SafetensorsAssetMetadata builds it). A
// file-level bundle (all tensors as one asset) is the Artifact kind's job.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "aifs/api/types.h"
#include "aifs/kinds/tensor.h"

namespace aifs {

inline constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

struct SafetensorsEntry {
  std::string name;
  DecodedTensor tensor;  // rows = 1; zero-copy into the file bytes when aligned
};

struct SafetensorsFile {
  std::vector<SafetensorsEntry> tensors;  // in data-buffer order
  Metadata metadata;                      // the file's __metadata__
};

Result<SafetensorsFile> ParseSafetensors(ByteSpan file);

// Writes a safetensors file with the tensors in the given order (each view's
// data is one tensor: rows = 1). The header is padded with spaces to a
// multiple of 8 bytes. `out` is replaced.
Status EncodeSafetensors(const std::vector<std::pair<std::string, TensorView>>& tensors,
                         const Metadata& metadata, Bytes& out);

// "safetensors.name" = entry name, "safetensors.metadata.<k>" = v for the
// file's __metadata__.
Metadata SafetensorsAssetMetadata(const SafetensorsFile& file, const SafetensorsEntry& entry);

}  // namespace aifs
