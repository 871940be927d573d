// The Tensor asset kind: an Apache Arrow IPC *stream* holding one column of the
// canonical extension type `arrow.fixed_shape_tensor`, one row per tensor
// (docs/tensor-format.md says byte by byte what is written and accepted).
//
// Element data in memory (TensorView::data, DecodedTensor::data) is C-order,
// little-endian, rows * prod(shape) elements back to back; bool uses one byte
// per element (0 = false, anything else = true; written back as 0/1), while the
// Arrow encoding packs bools into bits.
//
// Every decoder here (DecodeTensorIpc, the streaming validator, ParseNpy in
// npy.h, ParseSafetensors in safetensors.h) takes untrusted bytes: all
// FlatBuffers go through the verifier, all sizes are overflow-checked, and a
// failure is INVALID_ARGUMENT with one of these stable reasons:
//
//   TENSOR_BAD_IPC           framing / FlatBuffers / message order is wrong
//   TENSOR_TRUNCATED         the bytes end inside a message or before end-of-stream
//   TENSOR_NOT_FIXED_SHAPE   the schema is not one arrow.fixed_shape_tensor column
//                            (or list_size != prod(shape))
//   TENSOR_UNSUPPORTED_TYPE  value type, dictionary, big-endian, permutation, ...
//   TENSOR_SHAPE_OVERFLOW    a negative dim, or an element/byte count that overflows
//   TENSOR_TOO_MANY_DIMS     more than kMaxTensorDims dimensions
//   TENSOR_BUFFER_SHORT      a buffer is shorter than its shape needs
//   TENSOR_BAD_OFFSET        a buffer lies (partly) outside its message body
//   TENSOR_HAS_NULLS         a null count > 0 (tensors have no nulls)
//   TENSOR_COMPRESSED        a compressed record batch (not supported)
//   TENSOR_SIZE_MISMATCH     (encoders) data size != rows * prod(shape) * element size
// and RESOURCE_EXHAUSTED TENSOR_METADATA_TOO_LARGE for a metadata FlatBuffer
// over the limit (kDefaultTensorMetadataLimit unless the validator says other).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"
#include "aifs/kinds/kind_validator.h"

namespace aifs {

enum class DType : uint8_t {
  kBool,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kFloat16,   // IEEE 754 binary16 (Arrow FloatingPoint HALF)
  kBFloat16,  // bfloat16: Arrow has no such type; see docs/tensor-format.md
  kFloat32,
  kFloat64,
};
inline constexpr DType kAllDTypes[] = {
    DType::kBool,    DType::kInt8,    DType::kInt16,    DType::kInt32,   DType::kInt64,
    DType::kUInt8,   DType::kUInt16,  DType::kUInt32,   DType::kUInt64,  DType::kFloat16,
    DType::kBFloat16, DType::kFloat32, DType::kFloat64};

// "bool", "int8" ... "uint64", "float16", "bfloat16", "float32", "float64".
std::string_view DTypeName(DType dtype);
Result<DType> ParseDType(std::string_view name);  // INVALID_ARGUMENT TENSOR_UNSUPPORTED_TYPE
// Bytes per element in memory (bool: 1).
size_t DTypeSize(DType dtype);

inline constexpr size_t kMaxTensorDims = 32;
inline constexpr uint64_t kDefaultTensorMetadataLimit = 1u << 20;  // 1 MiB

// prod(shape) after checking ndim <= kMaxTensorDims, dims >= 0 and no overflow
// of int64 (TENSOR_TOO_MANY_DIMS / TENSOR_SHAPE_OVERFLOW).
Result<int64_t> ShapeElements(std::span<const int64_t> shape);
// rows * prod(shape) * DTypeSize(dtype), overflow-checked (TENSOR_SHAPE_OVERFLOW).
Result<uint64_t> TensorBytes(DType dtype, std::span<const int64_t> shape, int64_t rows);

// A borrowed tensor (or batch of `rows` same-shaped tensors).
struct TensorView {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;  // per row; [] is a scalar
  ByteSpan data;               // rows * prod(shape) elements, C-order, little-endian
};

// Writes the Arrow IPC stream (Schema, one RecordBatch of `rows` rows,
// end-of-stream) into `out` (replacing its contents, reusing its capacity).
// prod(shape) must fit Arrow's int32 list_size (TENSOR_SHAPE_OVERFLOW);
// t.data.size() must be exactly rows * prod(shape) * DTypeSize (TENSOR_SIZE_MISMATCH).
Status EncodeTensorIpc(const TensorView& t, int64_t rows, Bytes& out);

// A decoded tensor batch. `data` points either into the decoded input
// (zero_copy) or into `owned`. Moving keeps `data` valid; copying re-points it
// at the copy's own `owned`. A zero-copy result is valid only while the input is.
struct DecodedTensor {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;  // per row
  int64_t rows = 0;
  ByteSpan data;  // rows * prod(shape) elements, C-order, little-endian, bool 1 byte
  Bytes owned;
  bool zero_copy = false;

  DecodedTensor() = default;
  DecodedTensor(DecodedTensor&&) noexcept = default;
  DecodedTensor& operator=(DecodedTensor&&) noexcept = default;
  DecodedTensor(const DecodedTensor& other);
  DecodedTensor& operator=(const DecodedTensor& other);

  TensorView view() const { return {dtype, shape, data}; }
};

// Decodes a tensor IPC stream. Zero-copy when there is exactly one record
// batch, the dtype is not bool and the values buffer is aligned to the element
// size in memory; otherwise the values are copied (and bools unpacked) into
// `owned`. Several record batches are accepted and their rows concatenated;
// zero batches give rows = 0.
Result<DecodedTensor> DecodeTensorIpc(ByteSpan ipc);
// The same, into `out`, reusing the capacity of out.owned when the values must
// be copied: a read loop then pays no allocation or page faults per tensor. On
// error `out` is valid but unspecified.
Status DecodeTensorIpcInto(ByteSpan ipc, DecodedTensor& out);

// Streaming validator for tensor assets (for NewKindValidator(kTensor)): parses
// message framing and metadata as bytes arrive and checks every record batch's
// buffers against its body length and the schema, without buffering bodies.
// Only one metadata FlatBuffer at a time is buffered; one larger than
// `max_buffer_bytes` fails with RESOURCE_EXHAUSTED TENSOR_METADATA_TOO_LARGE.
// Accepts exactly the streams DecodeTensorIpc accepts (same parser).
std::unique_ptr<KindValidator> NewTensorValidator(
    uint64_t max_buffer_bytes = kDefaultTensorMetadataLimit);

// Helpers for the CLI (`put --kind tensor x.npy`, `get --as npy`):
//  - NpyToTensorIpc: a single tensor becomes 1 row of shape = the npy shape,
//    unless prod(shape) exceeds Arrow's int32 list_size, in which case the
//    first dimension becomes the rows (shape[1:] per row).
//  - TensorIpcToNpy: rows == 1 gives the row shape, otherwise [rows] + shape.
//    bfloat16 (which numpy lacks) is widened to float32 (exact).
Status NpyToTensorIpc(ByteSpan npy, Bytes& out);
Status TensorIpcToNpy(ByteSpan ipc, Bytes& out);

// Element conversions (exact for bfloat16 -> float32 and float16 -> float32).
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);  // round to nearest even
inline float BFloat16ToFloat(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

namespace tensor_detail {

// What the schema message of a tensor stream declares.
struct IpcSchemaInfo {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  int64_t list_size = 0;
};

// One validated record batch; positions are absolute offsets in the stream.
struct IpcBatchInfo {
  int64_t rows = 0;
  uint64_t values_pos = 0;    // first byte of the values buffer
  uint64_t values_bytes = 0;  // bytes the values need (bools: ceil(n / 8))
};

// The incremental parser behind DecodeTensorIpc and NewTensorValidator. Body
// bytes are counted, never stored. Errors are sticky.
class IpcStreamParser {
 public:
  using BatchFn = std::function<void(const IpcBatchInfo&)>;
  explicit IpcStreamParser(uint64_t max_metadata_bytes, BatchFn on_batch = nullptr);
  Status Update(ByteSpan data);
  Status Finish();  // TENSOR_TRUNCATED unless the end-of-stream marker was seen

  bool has_schema() const { return has_schema_; }
  const IpcSchemaInfo& schema() const { return schema_; }
  int64_t total_rows() const { return total_rows_; }

 private:
  enum class State { kPrefix, kMetadata, kBody, kDone };
  Status Fail(Status s);
  Status OnMetadata();

  uint64_t max_metadata_;
  BatchFn on_batch_;
  State state_ = State::kPrefix;
  uint8_t prefix_[8] = {};
  size_t prefix_have_ = 0;
  Bytes meta_;
  size_t meta_need_ = 0;
  uint64_t body_left_ = 0;
  uint64_t pos_ = 0;  // bytes consumed so far
  uint64_t body_start_ = 0;
  bool has_schema_ = false;
  IpcSchemaInfo schema_;
  int64_t total_rows_ = 0;
  Status error_;
};

}  // namespace tensor_detail
}  // namespace aifs
