// Tensor kind: Arrow IPC stream encoder, incremental parser and decoder.
// Format: docs/tensor-format.md. FlatBuffers types: schemas/arrow/*.fbs.
#include "aifs/kinds/tensor.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <string>

#include <flatbuffers/flatbuffers.h>
#include <nlohmann/json.hpp>

#include "Message_generated.h"
#include "Schema_generated.h"
#include "aifs/kinds/npy.h"

static_assert(std::endian::native == std::endian::little,
              "AIFS tensors assume a little-endian host");

namespace aifs {

namespace fb = org::apache::arrow::flatbuf;

namespace {

constexpr std::string_view kExtNameKey = "ARROW:extension:name";
constexpr std::string_view kExtMetaKey = "ARROW:extension:metadata";
constexpr std::string_view kExtName = "arrow.fixed_shape_tensor";
// Our own field metadata key: the stored Arrow type is uint16, the values are
// bfloat16 bit patterns.
constexpr std::string_view kAifsDTypeKey = "aifs:dtype";
constexpr std::string_view kColumnName = "tensor";
constexpr std::string_view kItemName = "item";
constexpr uint32_t kContinuation = 0xFFFFFFFFu;
constexpr uint64_t kBodyAlign = 64;  // bodies start at 64-byte stream offsets

Status BadIpc(std::string msg) { return err::InvalidArgument("TENSOR_BAD_IPC", std::move(msg)); }
Status NotFixedShape(std::string msg) {
  return err::InvalidArgument("TENSOR_NOT_FIXED_SHAPE", std::move(msg));
}
Status Unsupported(std::string msg) {
  return err::InvalidArgument("TENSOR_UNSUPPORTED_TYPE", std::move(msg));
}
Status ShapeOverflow(std::string msg) {
  return err::InvalidArgument("TENSOR_SHAPE_OVERFLOW", std::move(msg));
}

uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void AppendU32(Bytes& out, uint32_t v) {
  uint8_t b[4];
  std::memcpy(b, &v, 4);
  out.insert(out.end(), b, b + 4);
}

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

std::string_view Str(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : std::string_view(s->c_str(), s->size());
}

// Arrow value type of a dtype (bfloat16 travels as uint16 bit patterns).
flatbuffers::Offset<void> ValueType(flatbuffers::FlatBufferBuilder& b, DType d, fb::Type& type) {
  auto integer = [&](int bits, bool is_signed) {
    type = fb::Type::Int;
    return fb::CreateInt(b, bits, is_signed).Union();
  };
  auto floating = [&](fb::Precision p) {
    type = fb::Type::FloatingPoint;
    return fb::CreateFloatingPoint(b, p).Union();
  };
  switch (d) {
    case DType::kBool:
      type = fb::Type::Bool;
      return fb::CreateBool(b).Union();
    case DType::kInt8: return integer(8, true);
    case DType::kInt16: return integer(16, true);
    case DType::kInt32: return integer(32, true);
    case DType::kInt64: return integer(64, true);
    case DType::kUInt8: return integer(8, false);
    case DType::kUInt16: return integer(16, false);
    case DType::kUInt32: return integer(32, false);
    case DType::kUInt64: return integer(64, false);
    case DType::kBFloat16: return integer(16, false);
    case DType::kFloat16: return floating(fb::Precision::HALF);
    case DType::kFloat32: return floating(fb::Precision::SINGLE);
    case DType::kFloat64: return floating(fb::Precision::DOUBLE);
  }
  type = fb::Type::NONE;
  return 0;
}

std::string ShapeJson(std::span<const int64_t> shape) {
  std::string s = "{\"shape\":[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]}";
}

// Appends one encapsulated message: continuation, metadata length, the
// FlatBuffer, zero padding such that the body (which follows) starts at a
// multiple of kBodyAlign from the start of `out`.
void AppendMessage(Bytes& out, const flatbuffers::FlatBufferBuilder& b) {
  const uint64_t start = out.size() + 8;
  const uint64_t meta = RoundUp(start + b.GetSize(), kBodyAlign) - start;
  AppendU32(out, kContinuation);
  AppendU32(out, static_cast<uint32_t>(meta));
  out.insert(out.end(), b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  out.resize(out.size() + (meta - b.GetSize()), 0);
}

void PackBools(const uint8_t* src, uint64_t n, uint8_t* dst) {
  uint64_t full = n / 8;
  for (uint64_t i = 0; i < full; ++i, src += 8) {
    dst[i] = static_cast<uint8_t>((src[0] != 0) | (src[1] != 0) << 1 | (src[2] != 0) << 2 |
                                  (src[3] != 0) << 3 | (src[4] != 0) << 4 | (src[5] != 0) << 5 |
                                  (src[6] != 0) << 6 | (src[7] != 0) << 7);
  }
  if (n % 8) {
    uint8_t v = 0;
    for (uint64_t k = 0; k < n % 8; ++k) v |= static_cast<uint8_t>((src[k] != 0) << k);
    dst[full] = v;
  }
}

void UnpackBools(const uint8_t* src, uint64_t n, uint8_t* dst) {
  for (uint64_t i = 0; i < n; ++i) dst[i] = (src[i >> 3] >> (i & 7)) & 1;
}

// --- schema checks ---------------------------------------------------------

Result<DType> ValueDType(const fb::Field* child, std::string_view aifs_dtype) {
  if (child == nullptr) return NotFixedShape("the list has no value field");
  if (child->dictionary() != nullptr) return Unsupported("dictionary-encoded tensor values");
  if (child->children() != nullptr && child->children()->size() != 0)
    return Unsupported("tensor values of a nested type");
  DType d;
  switch (child->type_type()) {
    case fb::Type::Bool:
      d = DType::kBool;
      break;
    case fb::Type::Int: {
      const fb::Int* t = child->type_as_Int();
      if (t == nullptr) return BadIpc("Int type without its table");
      const bool s = t->is_signed();
      switch (t->bitWidth()) {
        case 8: d = s ? DType::kInt8 : DType::kUInt8; break;
        case 16: d = s ? DType::kInt16 : DType::kUInt16; break;
        case 32: d = s ? DType::kInt32 : DType::kUInt32; break;
        case 64: d = s ? DType::kInt64 : DType::kUInt64; break;
        default:
          return Unsupported("integer bit width " + std::to_string(t->bitWidth()));
      }
      break;
    }
    case fb::Type::FloatingPoint: {
      const fb::FloatingPoint* t = child->type_as_FloatingPoint();
      if (t == nullptr) return BadIpc("FloatingPoint type without its table");
      switch (t->precision()) {
        case fb::Precision::HALF: d = DType::kFloat16; break;
        case fb::Precision::SINGLE: d = DType::kFloat32; break;
        case fb::Precision::DOUBLE: d = DType::kFloat64; break;
        default:
          return Unsupported("floating point precision " +
                             std::to_string(static_cast<int>(t->precision())));
      }
      break;
    }
    default:
      return Unsupported("tensor value type id " +
                         std::to_string(static_cast<int>(child->type_type())) +
                         " (supported: Bool, Int 8-64, FloatingPoint)");
  }
  if (!aifs_dtype.empty()) {
    if (aifs_dtype != "bfloat16") {
      return Unsupported("unknown " + std::string(kAifsDTypeKey) + " '" + std::string(aifs_dtype) +
                         "'");
    }
    if (d != DType::kUInt16) return Unsupported("bfloat16 values must be stored as uint16");
    d = DType::kBFloat16;
  }
  return d;
}

Result<std::vector<int64_t>> ParseExtensionMetadata(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return NotFixedShape("extension metadata is not a JSON object");
  auto it = j.find("shape");
  if (it == j.end() || !it->is_array())
    return NotFixedShape("extension metadata has no \"shape\" array");
  if (it->size() > kMaxTensorDims) {
    return err::InvalidArgument("TENSOR_TOO_MANY_DIMS", std::to_string(it->size()) +
                                                            " dimensions (at most " +
                                                            std::to_string(kMaxTensorDims) + ")");
  }
  std::vector<int64_t> shape;
  for (const auto& d : *it) {
    if (d.is_number_unsigned()) {
      if (d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return ShapeOverflow("dimension does not fit int64");
      shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
    } else if (d.is_number_integer()) {
      shape.push_back(d.get<int64_t>());
    } else {
      return NotFixedShape("shape entries must be integers");
    }
  }
  auto perm = j.find("permutation");
  if (perm != j.end() && !perm->is_null()) {
    if (!perm->is_array() || perm->size() != shape.size())
      return Unsupported("malformed permutation");
    for (size_t i = 0; i < perm->size(); ++i) {
      const auto& p = (*perm)[i];
      if (!p.is_number_integer() || p.get<int64_t>() != static_cast<int64_t>(i))
        return Unsupported("non-identity permutation (AIFS reads C-order tensors only)");
    }
  }
  // "dim_names" carries names only and is ignored.
  return shape;
}

Result<tensor_detail::IpcSchemaInfo> CheckSchema(const fb::Schema* s) {
  if (s == nullptr) return BadIpc("schema message without its table");
  if (s->endianness() != fb::Endianness::Little) return Unsupported("big-endian stream");
  if (s->fields() == nullptr || s->fields()->size() != 1)
    return NotFixedShape("the schema must have exactly one field");
  const fb::Field* f = s->fields()->Get(0);
  if (f == nullptr) return BadIpc("null field");
  if (f->dictionary() != nullptr) return Unsupported("dictionary-encoded column");
  if (f->type_type() != fb::Type::FixedSizeList)
    return NotFixedShape("the column is not a FixedSizeList");
  const fb::FixedSizeList* fsl = f->type_as_FixedSizeList();
  if (fsl == nullptr) return BadIpc("FixedSizeList type without its table");
  std::string_view ext_name, ext_meta, aifs_dtype;
  bool has_meta = false;
  if (f->custom_metadata() != nullptr) {
    for (const fb::KeyValue* kv : *f->custom_metadata()) {
      if (kv == nullptr) continue;
      std::string_view k = Str(kv->key());
      if (k == kExtNameKey) ext_name = Str(kv->value());
      if (k == kExtMetaKey) ext_meta = Str(kv->value()), has_meta = true;
      if (k == kAifsDTypeKey) aifs_dtype = Str(kv->value());
    }
  }
  if (ext_name != kExtName) {
    return NotFixedShape("the column's " + std::string(kExtNameKey) + " is '" +
                         std::string(ext_name) + "', not " + std::string(kExtName));
  }
  if (!has_meta) return NotFixedShape("no " + std::string(kExtMetaKey));
  tensor_detail::IpcSchemaInfo info;
  AIFS_ASSIGN_OR_RETURN(info.shape, ParseExtensionMetadata(ext_meta));
  AIFS_ASSIGN_OR_RETURN(int64_t n, ShapeElements(info.shape));
  if (fsl->listSize() < 0) return BadIpc("negative list size");
  if (n != fsl->listSize()) {
    return NotFixedShape("list size " + std::to_string(fsl->listSize()) +
                         " != product of shape " + std::to_string(n));
  }
  info.list_size = n;
  if (f->children() == nullptr || f->children()->size() != 1)
    return NotFixedShape("the FixedSizeList must have exactly one child field");
  AIFS_ASSIGN_OR_RETURN(info.dtype, ValueDType(f->children()->Get(0), aifs_dtype));
  return info;
}

}  // namespace

// --- dtypes, shapes ----------------------------------------------------------

std::string_view DTypeName(DType d) {
  switch (d) {
    case DType::kBool: return "bool";
    case DType::kInt8: return "int8";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kUInt8: return "uint8";
    case DType::kUInt16: return "uint16";
    case DType::kUInt32: return "uint32";
    case DType::kUInt64: return "uint64";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
  }
  return "unknown";
}

Result<DType> ParseDType(std::string_view name) {
  for (DType d : kAllDTypes) {
    if (DTypeName(d) == name) return d;
  }
  return Unsupported("unknown dtype '" + std::string(name) + "'");
}

size_t DTypeSize(DType d) {
  switch (d) {
    case DType::kBool:
    case DType::kInt8:
    case DType::kUInt8: return 1;
    case DType::kInt16:
    case DType::kUInt16:
    case DType::kFloat16:
    case DType::kBFloat16: return 2;
    case DType::kInt32:
    case DType::kUInt32:
    case DType::kFloat32: return 4;
    case DType::kInt64:
    case DType::kUInt64:
    case DType::kFloat64: return 8;
  }
  return 1;
}

Result<int64_t> ShapeElements(std::span<const int64_t> shape) {
  if (shape.size() > kMaxTensorDims) {
    return err::InvalidArgument("TENSOR_TOO_MANY_DIMS",
                                std::to_string(shape.size()) + " dimensions (at most " +
                                    std::to_string(kMaxTensorDims) + ")");
  }
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return ShapeOverflow("negative dimension " + std::to_string(d));
    if (__builtin_mul_overflow(n, d, &n)) return ShapeOverflow("element count overflows int64");
  }
  return n;
}

Result<uint64_t> TensorBytes(DType dtype, std::span<const int64_t> shape, int64_t rows) {
  AIFS_ASSIGN_OR_RETURN(int64_t n, ShapeElements(shape));
  if (rows < 0) return ShapeOverflow("negative row count");
  int64_t total;
  if (__builtin_mul_overflow(n, rows, &total) ||
      __builtin_mul_overflow(total, static_cast<int64_t>(DTypeSize(dtype)), &total)) {
    return ShapeOverflow("tensor byte size overflows int64");
  }
  return static_cast<uint64_t>(total);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    // zero or subnormal: mant * 2^-24, exact in float
    float f = static_cast<float>(mant) * (1.0f / 16777216.0f);
    std::memcpy(&bits, &f, 4);
    bits |= sign;
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) return sign | (x > 0x7f800000u ? 0x7e00 : 0x7c00);
  if (x >= 0x477ff000u) return sign | 0x7c00;  // rounds to infinity
  const uint32_t e = x >> 23;
  if (x < 0x38800000u) {  // below the smallest normal half
    if (e < 102) return sign;
    const uint32_t mant = (x & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = ((e - 112) << 10) | ((x & 0x7fffffu) >> 13);
  const uint32_t rem = x & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

// --- DecodedTensor -------------------------------------------------------------

DecodedTensor::DecodedTensor(const DecodedTensor& o)
    : dtype(o.dtype), shape(o.shape), rows(o.rows), data(o.data), owned(o.owned),
      zero_copy(o.zero_copy) {
  if (!o.owned.empty() && o.data.data() >= o.owned.data() &&
      o.data.data() <= o.owned.data() + o.owned.size()) {
    data = ByteSpan(owned.data() + (o.data.data() - o.owned.data()), o.data.size());
  }
}

DecodedTensor& DecodedTensor::operator=(const DecodedTensor& o) {
  if (this != &o) *this = DecodedTensor(o);
  return *this;
}

// --- encoder -------------------------------------------------------------------

Status EncodeTensorIpc(const TensorView& t, int64_t rows, Bytes& out) {
  AIFS_ASSIGN_OR_RETURN(int64_t n, ShapeElements(t.shape));
  if (n > std::numeric_limits<int32_t>::max()) {
    return ShapeOverflow("a row of " + std::to_string(n) +
                         " elements exceeds Arrow's int32 list size; split it into rows");
  }
  AIFS_ASSIGN_OR_RETURN(uint64_t bytes, TensorBytes(t.dtype, t.shape, rows));
  if (t.data.size() != bytes) {
    return err::InvalidArgument("TENSOR_SIZE_MISMATCH",
                                std::to_string(t.data.size()) + " data bytes for " +
                                    std::to_string(bytes) + " expected from shape and rows");
  }
  const int64_t elements = n * rows;  // no overflow: checked by TensorBytes
  const uint64_t values_len = t.dtype == DType::kBool
                                  ? static_cast<uint64_t>(elements / 8 + (elements % 8 != 0))
                                  : bytes;
  const uint64_t body_len = RoundUp(values_len, 8);

  flatbuffers::FlatBufferBuilder sb(1024);
  {
    fb::Type vtype;
    auto vt = ValueType(sb, t.dtype, vtype);
    auto item = fb::CreateField(sb, sb.CreateString(kItemName.data(), kItemName.size()),
                                /*nullable=*/true, vtype, vt, 0,
                                sb.CreateVector(std::vector<flatbuffers::Offset<fb::Field>>{}));
    std::vector<flatbuffers::Offset<fb::KeyValue>> kvs;
    auto kv = [&](std::string_view k, std::string_view v) {
      kvs.push_back(fb::CreateKeyValue(sb, sb.CreateString(k.data(), k.size()),
                                       sb.CreateString(v.data(), v.size())));
    };
    kv(kExtNameKey, kExtName);
    kv(kExtMetaKey, ShapeJson(t.shape));
    if (t.dtype == DType::kBFloat16) kv(kAifsDTypeKey, "bfloat16");
    auto field = fb::CreateField(
        sb, sb.CreateString(kColumnName.data(), kColumnName.size()), /*nullable=*/false,
        fb::Type::FixedSizeList, fb::CreateFixedSizeList(sb, static_cast<int32_t>(n)).Union(), 0,
        sb.CreateVector(&item, 1), sb.CreateVector(kvs));
    auto schema = fb::CreateSchema(sb, fb::Endianness::Little, sb.CreateVector(&field, 1));
    sb.Finish(fb::CreateMessage(sb, fb::MetadataVersion::V5, fb::MessageHeader::Schema,
                                schema.Union(), 0));
  }
  flatbuffers::FlatBufferBuilder rb(512);
  {
    const fb::FieldNode nodes[2] = {fb::FieldNode(rows, 0), fb::FieldNode(elements, 0)};
    const fb::Buffer buffers[3] = {fb::Buffer(0, 0), fb::Buffer(0, 0),
                                   fb::Buffer(0, static_cast<int64_t>(values_len))};
    auto batch = fb::CreateRecordBatch(rb, rows, rb.CreateVectorOfStructs(nodes, 2),
                                       rb.CreateVectorOfStructs(buffers, 3));
    rb.Finish(fb::CreateMessage(rb, fb::MetadataVersion::V5, fb::MessageHeader::RecordBatch,
                                batch.Union(), static_cast<int64_t>(body_len)));
  }

  out.clear();
  out.reserve(2 * (8 + kBodyAlign) + sb.GetSize() + rb.GetSize() + body_len + 8);
  AppendMessage(out, sb);
  AppendMessage(out, rb);
  if (t.dtype == DType::kBool) {
    const size_t at = out.size();
    out.resize(at + body_len, 0);
    PackBools(t.data.data(), static_cast<uint64_t>(elements), out.data() + at);
  } else {
    out.insert(out.end(), t.data.begin(), t.data.end());
    out.resize(out.size() + (body_len - values_len), 0);
  }
  AppendU32(out, kContinuation);
  AppendU32(out, 0);
  return Status::Ok();
}

// --- incremental parser ------------------------------------------------------------

namespace tensor_detail {

IpcStreamParser::IpcStreamParser(uint64_t max_metadata_bytes, BatchFn on_batch)
    : max_metadata_(max_metadata_bytes), on_batch_(std::move(on_batch)) {}

Status IpcStreamParser::Fail(Status s) {
  error_ = s;
  return s;
}

Status IpcStreamParser::Update(ByteSpan data) {
  if (!error_.ok()) return error_;
  size_t i = 0;
  while (i < data.size()) {
    const size_t avail = data.size() - i;
    switch (state_) {
      case State::kDone:
        return Fail(BadIpc("bytes after the end-of-stream marker"));
      case State::kPrefix: {
        const size_t need = prefix_have_ < 4 ? 4 : 8;
        const size_t take = std::min(need - prefix_have_, avail);
        std::memcpy(prefix_ + prefix_have_, data.data() + i, take);
        prefix_have_ += take;
        i += take;
        pos_ += take;
        if (prefix_have_ < need) break;
        uint32_t len;
        if (need == 4) {
          len = LoadU32(prefix_);
          if (len == kContinuation) break;  // the metadata length follows
        } else {
          len = LoadU32(prefix_ + 4);
        }
        prefix_have_ = 0;
        if (len == 0) {
          if (!has_schema_) return Fail(BadIpc("end of stream before the schema"));
          state_ = State::kDone;
          break;
        }
        if (len > static_cast<uint32_t>(std::numeric_limits<int32_t>::max()))
          return Fail(BadIpc("negative metadata length"));
        if (len > max_metadata_) {
          return Fail(err::ResourceExhausted(
              "TENSOR_METADATA_TOO_LARGE", "message metadata of " + std::to_string(len) +
                                               " bytes exceeds the limit of " +
                                               std::to_string(max_metadata_)));
        }
        meta_.clear();
        meta_.reserve(std::min<size_t>(len, 64 * 1024));  // grows as bytes actually arrive
        meta_need_ = len;
        state_ = State::kMetadata;
        break;
      }
      case State::kMetadata: {
        const size_t take = std::min(meta_need_ - meta_.size(), avail);
        meta_.insert(meta_.end(), data.data() + i, data.data() + i + take);
        i += take;
        pos_ += take;
        if (meta_.size() == meta_need_) {
          Status s = OnMetadata();
          if (!s.ok()) return Fail(std::move(s));
        }
        break;
      }
      case State::kBody: {
        const uint64_t take = std::min<uint64_t>(body_left_, avail);
        body_left_ -= take;
        i += take;
        pos_ += take;
        if (body_left_ == 0) state_ = State::kPrefix;
        break;
      }
    }
  }
  return Status::Ok();
}

Status IpcStreamParser::Finish() {
  if (!error_.ok()) return error_;
  if (state_ == State::kDone) return Status::Ok();
  std::string where = state_ == State::kMetadata ? "inside message metadata"
                      : state_ == State::kBody   ? "inside a message body"
                      : prefix_have_ != 0        ? "inside a message prefix"
                                                 : "without the end-of-stream marker";
  return Fail(err::InvalidArgument("TENSOR_TRUNCATED", "tensor stream ends " + where + " (at byte " +
                                                           std::to_string(pos_) + ")"));
}

Status IpcStreamParser::OnMetadata() {
  flatbuffers::Verifier verifier(meta_.data(), meta_.size(), /*max_depth=*/64,
                                 /*max_tables=*/100000);
  if (!fb::VerifyMessageBuffer(verifier)) return BadIpc("message metadata fails verification");
  const fb::Message* m = fb::GetMessage(meta_.data());
  const auto version = static_cast<int>(m->version());
  if (version < static_cast<int>(fb::MetadataVersion::V4) ||
      version > static_cast<int>(fb::MetadataVersion::V5)) {
    return BadIpc("unsupported metadata version " + std::to_string(version));
  }
  const int64_t body_len = m->bodyLength();
  if (body_len < 0) return BadIpc("negative body length");
  body_start_ = pos_;
  switch (m->header_type()) {
    case fb::MessageHeader::Schema: {
      if (has_schema_) return BadIpc("a second schema message");
      if (body_len != 0) return BadIpc("schema message with a body");
      AIFS_ASSIGN_OR_RETURN(schema_, CheckSchema(m->header_as_Schema()));
      has_schema_ = true;
      break;
    }
    case fb::MessageHeader::RecordBatch: {
      if (!has_schema_) return BadIpc("record batch before the schema");
      const fb::RecordBatch* rb = m->header_as_RecordBatch();
      if (rb == nullptr) return BadIpc("record batch message without its table");
      if (rb->compression() != nullptr)
        return err::InvalidArgument("TENSOR_COMPRESSED", "compressed record batches are not supported");
      const int64_t rows = rb->length();
      if (rows < 0) return BadIpc("negative record batch length");
      if (rb->nodes() == nullptr || rb->nodes()->size() != 2)
        return BadIpc("a tensor record batch has exactly 2 field nodes");
      if (rb->buffers() == nullptr || rb->buffers()->size() != 3)
        return BadIpc("a tensor record batch has exactly 3 buffers");
      if (rb->variadicBufferCounts() != nullptr && rb->variadicBufferCounts()->size() != 0)
        return BadIpc("unexpected variadic buffer counts");
      int64_t elements;
      if (__builtin_mul_overflow(rows, schema_.list_size, &elements))
        return ShapeOverflow("rows * list size overflows int64");
      const fb::FieldNode* list = rb->nodes()->Get(0);
      const fb::FieldNode* values = rb->nodes()->Get(1);
      for (const fb::FieldNode* node : {list, values}) {
        if (node->null_count() < 0) return BadIpc("negative null count");
        if (node->null_count() > 0)
          return err::InvalidArgument("TENSOR_HAS_NULLS", "tensor with null values");
      }
      if (list->length() != rows) return BadIpc("list node length != record batch length");
      if (values->length() != elements)
        return BadIpc("value node length " + std::to_string(values->length()) +
                      " != rows * list size " + std::to_string(elements));
      for (const fb::Buffer* b : *rb->buffers()) {
        int64_t end;
        if (b->offset() < 0 || b->length() < 0 ||
            __builtin_add_overflow(b->offset(), b->length(), &end) || end > body_len) {
          return err::InvalidArgument(
              "TENSOR_BAD_OFFSET", "buffer [" + std::to_string(b->offset()) + ", +" +
                                       std::to_string(b->length()) + ") outside the body of " +
                                       std::to_string(body_len) + " bytes");
        }
      }
      int64_t need;
      if (schema_.dtype == DType::kBool) {
        need = elements / 8 + (elements % 8 != 0);
      } else if (__builtin_mul_overflow(elements, static_cast<int64_t>(DTypeSize(schema_.dtype)),
                                        &need)) {
        return ShapeOverflow("value byte count overflows int64");
      }
      const fb::Buffer* vb = rb->buffers()->Get(2);
      if (vb->length() < need) {
        return err::InvalidArgument("TENSOR_BUFFER_SHORT",
                                    "values buffer of " + std::to_string(vb->length()) +
                                        " bytes, the shape needs " + std::to_string(need));
      }
      int64_t total_rows, total_elements;
      if (__builtin_add_overflow(total_rows_, rows, &total_rows) ||
          __builtin_mul_overflow(total_rows, schema_.list_size, &total_elements)) {
        return ShapeOverflow("total rows overflow");
      }
      total_rows_ = total_rows;
      if (on_batch_) {
        on_batch_(IpcBatchInfo{rows, body_start_ + static_cast<uint64_t>(vb->offset()),
                               static_cast<uint64_t>(need)});
      }
      break;
    }
    case fb::MessageHeader::DictionaryBatch:
      return Unsupported("dictionary batches are not supported");
    default:
      return BadIpc("unexpected message type " +
                    std::to_string(static_cast<int>(m->header_type())));
  }
  meta_.clear();
  if (meta_.capacity() > 64 * 1024) meta_.shrink_to_fit();
  body_left_ = static_cast<uint64_t>(body_len);
  state_ = body_left_ ? State::kBody : State::kPrefix;
  return Status::Ok();
}

}  // namespace tensor_detail

// --- decoder -----------------------------------------------------------------------

Status DecodeTensorIpcInto(ByteSpan ipc, DecodedTensor& out) {
  std::vector<tensor_detail::IpcBatchInfo> batches;
  tensor_detail::IpcStreamParser parser(
      kDefaultTensorMetadataLimit,
      [&](const tensor_detail::IpcBatchInfo& b) { batches.push_back(b); });
  AIFS_RETURN_IF_ERROR(parser.Update(ipc));
  AIFS_RETURN_IF_ERROR(parser.Finish());
  out.dtype = parser.schema().dtype;
  out.shape = parser.schema().shape;
  out.rows = parser.total_rows();
  out.owned.clear();  // keeps its capacity
  out.data = {};
  out.zero_copy = false;
  const size_t esize = DTypeSize(out.dtype);
  const bool is_bool = out.dtype == DType::kBool;
  if (batches.size() == 1 && !is_bool) {
    const uint8_t* p = ipc.data() + batches[0].values_pos;
    if (reinterpret_cast<uintptr_t>(p) % esize == 0) {
      out.data = ByteSpan(p, batches[0].values_bytes);
      out.zero_copy = true;
      return Status::Ok();
    }
  }
  AIFS_ASSIGN_OR_RETURN(uint64_t total, TensorBytes(out.dtype, out.shape, out.rows));
  out.owned.reserve(total);  // filled by appending: no zero-fill pass over the values
  for (const auto& b : batches) {
    const uint8_t* src = ipc.data() + b.values_pos;
    if (is_bool) {
      const uint64_t elements = static_cast<uint64_t>(b.rows) * parser.schema().list_size;
      const size_t at = out.owned.size();
      out.owned.resize(at + elements);
      UnpackBools(src, elements, out.owned.data() + at);
    } else {
      out.owned.insert(out.owned.end(), src, src + b.values_bytes);
    }
  }
  out.data = ByteSpan(out.owned.data(), out.owned.size());
  return Status::Ok();
}

Result<DecodedTensor> DecodeTensorIpc(ByteSpan ipc) {
  DecodedTensor out;
  AIFS_RETURN_IF_ERROR(DecodeTensorIpcInto(ipc, out));
  return out;
}

// --- npy bridges ---------------------------------------------------------------------

Status NpyToTensorIpc(ByteSpan npy, Bytes& out) {
  AIFS_ASSIGN_OR_RETURN(DecodedTensor t, ParseNpy(npy));
  TensorView v = t.view();
  int64_t rows = 1;
  AIFS_ASSIGN_OR_RETURN(int64_t n, ShapeElements(v.shape));
  if (n > std::numeric_limits<int32_t>::max() && !v.shape.empty()) {
    rows = v.shape[0];
    v.shape.erase(v.shape.begin());
  }
  return EncodeTensorIpc(v, rows, out);
}

Status TensorIpcToNpy(ByteSpan ipc, Bytes& out) {
  AIFS_ASSIGN_OR_RETURN(DecodedTensor t, DecodeTensorIpc(ipc));
  std::vector<int64_t> shape = t.shape;
  if (t.rows != 1) shape.insert(shape.begin(), t.rows);
  if (t.dtype != DType::kBFloat16) return EncodeNpy(t.dtype, shape, t.data, out);
  Bytes wide(t.data.size() * 2);
  for (size_t i = 0; i < t.data.size() / 2; ++i) {
    uint16_t b;
    std::memcpy(&b, t.data.data() + 2 * i, 2);
    const float f = BFloat16ToFloat(b);
    std::memcpy(wide.data() + 4 * i, &f, 4);
  }
  return EncodeNpy(DType::kFloat32, shape, wide, out);
}

}  // namespace aifs
