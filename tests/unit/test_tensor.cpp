// Tensor kind: Arrow IPC encode/decode round trips, malformed streams (built
// with the FlatBuffers API or by mutating valid encodings), the streaming
// validator, .npy against NumPy itself, and .safetensors.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "Message_generated.h"
#include "aifs/kinds/npy.h"
#include "aifs/kinds/safetensors.h"
#include "aifs/kinds/tensor.h"
#include "test_util.h"

namespace aifs {
namespace {

namespace fb = org::apache::arrow::flatbuf;
using test::ReadFileBytes;
using test::TempDir;
using test::WriteFileBytes;

// Values for `count` elements of `d`: random bytes, bools as 0/1.
Bytes MakeValues(DType d, int64_t count, uint64_t seed) {
  Bytes b = test::RandomBytes(static_cast<size_t>(count) * DTypeSize(d), seed);
  if (d == DType::kBool) {
    for (auto& x : b) x &= 1;
  }
  return b;
}

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

// Runs the streaming validator over `data` cut at the given split points.
Status Validate(ByteSpan data, const std::vector<size_t>& cuts,
                uint64_t limit = kDefaultTensorMetadataLimit) {
  auto v = NewTensorValidator(limit);
  size_t prev = 0;
  for (size_t c : cuts) {
    c = std::min(c, data.size());
    if (c < prev) continue;
    AIFS_RETURN_IF_ERROR(v->Update(data.subspan(prev, c - prev)));
    prev = c;
  }
  AIFS_RETURN_IF_ERROR(v->Update(data.subspan(prev)));
  return v->Finish();
}

std::vector<size_t> RandomCuts(size_t size, uint64_t seed, size_t n = 8) {
  std::mt19937_64 rng(seed);
  std::vector<size_t> cuts;
  for (size_t i = 0; i < n && size > 0; ++i) cuts.push_back(rng() % (size + 1));
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

Status ValidateByteByByte(ByteSpan data) {
  std::vector<size_t> cuts(data.size());
  for (size_t i = 0; i < data.size(); ++i) cuts[i] = i;
  return Validate(data, cuts);
}

// ---------------------------------------------------------------------------
// Hand-built streams (valid by default; each knob breaks one thing).

struct SchemaSpec {
  int nfields = 1;
  fb::Type outer_type = fb::Type::FixedSizeList;
  int32_t list_size = 6;
  std::optional<std::string> ext_name = std::string("arrow.fixed_shape_tensor");
  std::optional<std::string> ext_meta = std::string(R"({"shape":[2,3]})");
  std::vector<std::pair<std::string, std::string>> extra_kv;
  fb::Type value_type = fb::Type::FloatingPoint;
  int bit_width = 32;
  bool is_signed = true;
  fb::Precision precision = fb::Precision::SINGLE;
  int nchildren = 1;
  bool dictionary = false;
  bool child_dictionary = false;
  fb::Endianness endianness = fb::Endianness::Little;
  fb::MetadataVersion version = fb::MetadataVersion::V5;
  int64_t body_length = 0;
};

struct BatchSpec {
  int64_t rows = 1;
  std::vector<fb::FieldNode> nodes;
  std::vector<fb::Buffer> buffers;
  int64_t body_length = 0;
  bool compressed = false;
  Bytes body;
  fb::MessageHeader header = fb::MessageHeader::RecordBatch;
};

// A valid float32 batch for SchemaSpec's defaults (list size 6).
BatchSpec ValidBatch(int64_t rows, int64_t list_size = 6, size_t esize = 4, uint64_t seed = 1) {
  BatchSpec b;
  b.rows = rows;
  const int64_t n = rows * list_size;
  b.nodes = {fb::FieldNode(rows, 0), fb::FieldNode(n, 0)};
  b.buffers = {fb::Buffer(0, 0), fb::Buffer(0, 0), fb::Buffer(0, n * static_cast<int64_t>(esize))};
  b.body = test::RandomBytes(static_cast<size_t>(n) * esize, seed);
  b.body.resize((b.body.size() + 7) / 8 * 8, 0);
  b.body_length = static_cast<int64_t>(b.body.size());
  return b;
}

void AppendFrame(Bytes& out, const flatbuffers::FlatBufferBuilder& b, ByteSpan body) {
  const uint32_t cont = 0xFFFFFFFFu;
  const uint32_t len = static_cast<uint32_t>((b.GetSize() + 7) / 8 * 8);
  out.insert(out.end(), reinterpret_cast<const uint8_t*>(&cont),
             reinterpret_cast<const uint8_t*>(&cont) + 4);
  out.insert(out.end(), reinterpret_cast<const uint8_t*>(&len),
             reinterpret_cast<const uint8_t*>(&len) + 4);
  out.insert(out.end(), b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  out.resize(out.size() + (len - b.GetSize()), 0);
  out.insert(out.end(), body.begin(), body.end());
}

void AppendSchema(Bytes& out, const SchemaSpec& s) {
  flatbuffers::FlatBufferBuilder b;
  flatbuffers::Offset<void> vt;
  switch (s.value_type) {
    case fb::Type::Int: vt = fb::CreateInt(b, s.bit_width, s.is_signed).Union(); break;
    case fb::Type::FloatingPoint: vt = fb::CreateFloatingPoint(b, s.precision).Union(); break;
    case fb::Type::Bool: vt = fb::CreateBool(b).Union(); break;
    case fb::Type::Utf8: vt = fb::CreateUtf8(b).Union(); break;
    default: vt = fb::CreateNull(b).Union(); break;
  }
  flatbuffers::Offset<fb::DictionaryEncoding> cdict = 0;
  if (s.child_dictionary) cdict = fb::CreateDictionaryEncoding(b, 1);
  std::vector<flatbuffers::Offset<fb::Field>> children;
  for (int i = 0; i < s.nchildren; ++i) {
    children.push_back(fb::CreateField(b, b.CreateString("item"), true, s.value_type, vt, cdict,
                                       b.CreateVector(std::vector<flatbuffers::Offset<fb::Field>>{})));
  }
  std::vector<flatbuffers::Offset<fb::KeyValue>> kvs;
  if (s.ext_name)
    kvs.push_back(fb::CreateKeyValue(b, b.CreateString("ARROW:extension:name"), b.CreateString(*s.ext_name)));
  if (s.ext_meta)
    kvs.push_back(fb::CreateKeyValue(b, b.CreateString("ARROW:extension:metadata"), b.CreateString(*s.ext_meta)));
  for (const auto& [k, v] : s.extra_kv)
    kvs.push_back(fb::CreateKeyValue(b, b.CreateString(k), b.CreateString(v)));
  flatbuffers::Offset<void> ot;
  if (s.outer_type == fb::Type::FixedSizeList) {
    ot = fb::CreateFixedSizeList(b, s.list_size).Union();
  } else {
    ot = fb::CreateList(b).Union();
  }
  flatbuffers::Offset<fb::DictionaryEncoding> dict = 0;
  if (s.dictionary) dict = fb::CreateDictionaryEncoding(b, 1);
  auto cvec = b.CreateVector(children);
  auto kvec = b.CreateVector(kvs);
  std::vector<flatbuffers::Offset<fb::Field>> fields;
  for (int i = 0; i < s.nfields; ++i)
    fields.push_back(fb::CreateField(b, b.CreateString("tensor"), false, s.outer_type, ot, dict, cvec, kvec));
  auto schema = fb::CreateSchema(b, s.endianness, b.CreateVector(fields));
  b.Finish(fb::CreateMessage(b, s.version, fb::MessageHeader::Schema, schema.Union(), s.body_length));
  Bytes body(static_cast<size_t>(std::max<int64_t>(s.body_length, 0)), 0);
  AppendFrame(out, b, body);
}

void AppendBatch(Bytes& out, const BatchSpec& s) {
  flatbuffers::FlatBufferBuilder b;
  flatbuffers::Offset<fb::BodyCompression> comp = 0;
  if (s.compressed) comp = fb::CreateBodyCompression(b, fb::CompressionType::ZSTD);
  auto rb = fb::CreateRecordBatch(b, s.rows, b.CreateVectorOfStructs(s.nodes),
                                  b.CreateVectorOfStructs(s.buffers), comp);
  flatbuffers::Offset<void> header = rb.Union();
  if (s.header == fb::MessageHeader::DictionaryBatch) header = fb::CreateDictionaryBatch(b, 1, rb).Union();
  b.Finish(fb::CreateMessage(b, fb::MetadataVersion::V5, s.header, header, s.body_length));
  AppendFrame(out, b, s.body);
}

void AppendEos(Bytes& out) {
  const uint8_t eos[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
  out.insert(out.end(), eos, eos + 8);
}

Bytes BuildStream(const SchemaSpec& s, const std::vector<BatchSpec>& batches, bool eos = true) {
  Bytes out;
  AppendSchema(out, s);
  for (const auto& b : batches) AppendBatch(out, b);
  if (eos) AppendEos(out);
  return out;
}

// Decoder and validator must agree on every input: both OK, or the same error.
void ExpectRejected(const Bytes& ipc, const std::string& reason, Code code = Code::kInvalidArgument) {
  auto r = DecodeTensorIpc(ipc);
  ASSERT_FALSE(r.ok()) << "decoded although " << reason << " was expected";
  EXPECT_EQ(r.status().reason(), reason) << r.status().ToString();
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  Status v = Validate(ipc, RandomCuts(ipc.size(), ipc.size()));
  EXPECT_EQ(v.reason(), reason) << "validator: " << v.ToString();
  Status v1 = ValidateByteByByte(ipc);
  EXPECT_EQ(v1.reason(), reason) << "validator (byte by byte): " << v1.ToString();
}

// ---------------------------------------------------------------------------

TEST(TensorDType, NamesSizesParse) {
  EXPECT_EQ(DTypeName(DType::kFloat32), "float32");
  EXPECT_EQ(DTypeName(DType::kBFloat16), "bfloat16");
  EXPECT_EQ(DTypeSize(DType::kBool), 1u);
  EXPECT_EQ(DTypeSize(DType::kFloat16), 2u);
  EXPECT_EQ(DTypeSize(DType::kUInt64), 8u);
  for (DType d : kAllDTypes) {
    auto p = ParseDType(DTypeName(d));
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(*p, d);
  }
  AIFS_EXPECT_STATUS(ParseDType("complex64").status(), kInvalidArgument, "TENSOR_UNSUPPORTED_TYPE");
}

TEST(TensorDType, HalfConversions) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), 5.9604644775390625e-08f);
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 2048), 0x3c00);  // tie -> even
  EXPECT_EQ(FloatToHalf(5.9604644775390625e-08f), 0x0001);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaN payloads
    ASSERT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h) << h;
  }
  EXPECT_EQ(BFloat16ToFloat(0x3f80), 1.0f);
}

TEST(TensorShape, ElementsAndOverflow) {
  EXPECT_EQ(*ShapeElements(std::vector<int64_t>{}), 1);
  EXPECT_EQ(*ShapeElements(std::vector<int64_t>{0, 5}), 0);
  EXPECT_EQ(*ShapeElements(std::vector<int64_t>{4, 5, 6}), 120);
  AIFS_EXPECT_STATUS(ShapeElements(std::vector<int64_t>{1LL << 40, 1LL << 40}).status(),
                     kInvalidArgument, "TENSOR_SHAPE_OVERFLOW");
  AIFS_EXPECT_STATUS(ShapeElements(std::vector<int64_t>{2, -1}).status(), kInvalidArgument,
                     "TENSOR_SHAPE_OVERFLOW");
  AIFS_EXPECT_STATUS(ShapeElements(std::vector<int64_t>(33, 1)).status(), kInvalidArgument,
                     "TENSOR_TOO_MANY_DIMS");
  EXPECT_TRUE(ShapeElements(std::vector<int64_t>(32, 1)).ok());
  AIFS_EXPECT_STATUS(TensorBytes(DType::kFloat64, std::vector<int64_t>{1LL << 31, 1LL << 30}, 4).status(),
                     kInvalidArgument, "TENSOR_SHAPE_OVERFLOW");
}

TEST(TensorIpc, RoundTripEveryDTypeAndShape) {
  const std::vector<std::vector<int64_t>> shapes = {{}, {0}, {1}, {2, 3}, {4, 5, 6}};
  uint64_t seed = 1;
  int cases = 0;
  for (DType d : kAllDTypes) {
    for (const auto& shape : shapes) {
      for (int64_t rows : {1, 3}) {
        SCOPED_TRACE(std::string(DTypeName(d)) + " " + ShapeStr(shape) + " rows " + std::to_string(rows));
        const int64_t n = *ShapeElements(shape) * rows;
        Bytes values = MakeValues(d, n, ++seed);
        Bytes ipc;
        AIFS_ASSERT_OK(EncodeTensorIpc({d, shape, values}, rows, ipc));
        EXPECT_EQ(ipc.size() % 8, 0u);
        auto r = DecodeTensorIpc(ipc);
        AIFS_ASSERT_OK(r.status());
        EXPECT_EQ(r->dtype, d);
        EXPECT_EQ(r->shape, shape);
        EXPECT_EQ(r->rows, rows);
        ASSERT_EQ(r->data.size(), values.size());
        EXPECT_TRUE(std::equal(values.begin(), values.end(), r->data.begin()));
        if (d != DType::kBool) {
          EXPECT_TRUE(r->zero_copy);  // the body starts at a 64-byte stream offset
          if (n > 0) {
            EXPECT_GE(r->data.data(), ipc.data());
            EXPECT_EQ((r->data.data() - ipc.data()) % 64, 0);
          }
        } else {
          EXPECT_FALSE(r->zero_copy);
        }
        AIFS_EXPECT_OK(Validate(ipc, RandomCuts(ipc.size(), seed)));
        AIFS_EXPECT_OK(ValidateByteByByte(ipc));
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 13 * 5 * 2);
}

TEST(TensorIpc, BoolsArePackedAndNormalised) {
  Bytes values = {1, 0, 7, 0, 0, 1, 1, 1, 255, 0};  // 10 bools, nonzero = true
  Bytes ipc;
  AIFS_ASSERT_OK(EncodeTensorIpc({DType::kBool, {10}, values}, 1, ipc));
  auto r = DecodeTensorIpc(ipc);
  AIFS_ASSERT_OK(r.status());
  const Bytes want = {1, 0, 1, 0, 0, 1, 1, 1, 1, 0};
  EXPECT_EQ(Bytes(r->data.begin(), r->data.end()), want);
  // 2 bytes of bits in the body: 0b11100101, 0b00000001
  const uint8_t bits[2] = {0xE5, 0x01};
  EXPECT_NE(std::search(ipc.begin(), ipc.end(), bits, bits + 2), ipc.end());
}

TEST(TensorIpc, WrittenLayout) {
  Bytes values = MakeValues(DType::kFloat32, 6, 3);
  Bytes ipc;
  AIFS_ASSERT_OK(EncodeTensorIpc({DType::kFloat32, {2, 3}, values}, 1, ipc));
  // continuation + length, schema message, batch message, EOS
  uint32_t w[2];
  std::memcpy(w, ipc.data(), 8);
  EXPECT_EQ(w[0], 0xFFFFFFFFu);
  const fb::Message* m = fb::GetMessage(ipc.data() + 8);
  ASSERT_EQ(m->header_type(), fb::MessageHeader::Schema);
  EXPECT_EQ(m->version(), fb::MetadataVersion::V5);
  const fb::Field* f = m->header_as_Schema()->fields()->Get(0);
  EXPECT_EQ(f->name()->str(), "tensor");
  EXPECT_EQ(f->type_type(), fb::Type::FixedSizeList);
  EXPECT_EQ(f->type_as_FixedSizeList()->listSize(), 6);
  ASSERT_EQ(f->custom_metadata()->size(), 2u);
  EXPECT_EQ(f->custom_metadata()->Get(0)->key()->str(), "ARROW:extension:name");
  EXPECT_EQ(f->custom_metadata()->Get(0)->value()->str(), "arrow.fixed_shape_tensor");
  EXPECT_EQ(f->custom_metadata()->Get(1)->key()->str(), "ARROW:extension:metadata");
  EXPECT_EQ(f->custom_metadata()->Get(1)->value()->str(), R"({"shape":[2,3]})");
  const fb::Field* item = f->children()->Get(0);
  EXPECT_EQ(item->name()->str(), "item");
  EXPECT_EQ(item->type_type(), fb::Type::FloatingPoint);
  ASSERT_NE(item->children(), nullptr);
  EXPECT_EQ(item->children()->size(), 0u);
  // the batch body starts at offset 64k, and the stream ends with EOS
  const uint8_t eos[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
  EXPECT_EQ(std::memcmp(ipc.data() + ipc.size() - 8, eos, 8), 0);
  EXPECT_EQ(std::memcmp(ipc.data() + ipc.size() - 8 - 24, values.data(), 24), 0);
  EXPECT_EQ((ipc.size() - 8 - 24) % 64, 0u);

  // bfloat16: uint16 values plus aifs:dtype
  Bytes bf = MakeValues(DType::kBFloat16, 2, 4);
  AIFS_ASSERT_OK(EncodeTensorIpc({DType::kBFloat16, {2}, bf}, 1, ipc));
  f = fb::GetMessage(ipc.data() + 8)->header_as_Schema()->fields()->Get(0);
  ASSERT_EQ(f->custom_metadata()->size(), 3u);
  EXPECT_EQ(f->custom_metadata()->Get(2)->key()->str(), "aifs:dtype");
  EXPECT_EQ(f->custom_metadata()->Get(2)->value()->str(), "bfloat16");
  EXPECT_EQ(f->children()->Get(0)->type_as_Int()->bitWidth(), 16);
  EXPECT_FALSE(f->children()->Get(0)->type_as_Int()->is_signed());
}

TEST(TensorIpc, EncoderRejects) {
  Bytes out;
  Bytes v(24);
  AIFS_EXPECT_STATUS(EncodeTensorIpc({DType::kFloat32, {2, 3}, v}, 2, out), kInvalidArgument,
                     "TENSOR_SIZE_MISMATCH");
  AIFS_EXPECT_STATUS(EncodeTensorIpc({DType::kFloat32, {2, -3}, v}, 1, out), kInvalidArgument,
                     "TENSOR_SHAPE_OVERFLOW");
  AIFS_EXPECT_STATUS(EncodeTensorIpc({DType::kFloat32, std::vector<int64_t>(33, 1), v}, 1, out),
                     kInvalidArgument, "TENSOR_TOO_MANY_DIMS");
  AIFS_EXPECT_STATUS(EncodeTensorIpc({DType::kFloat32, {1LL << 31}, v}, 0, out), kInvalidArgument,
                     "TENSOR_SHAPE_OVERFLOW");  // list size is an int32
  AIFS_EXPECT_STATUS(EncodeTensorIpc({DType::kFloat32, {6}, v}, -1, out), kInvalidArgument,
                     "TENSOR_SHAPE_OVERFLOW");
}

TEST(TensorIpc, HandBuiltValidStreams) {
  // The builder's defaults are valid: one float32 [2,3] batch of 2 rows.
  BatchSpec b = ValidBatch(2);
  Bytes ipc = BuildStream(SchemaSpec{}, {b});
  auto r = DecodeTensorIpc(ipc);
  AIFS_ASSERT_OK(r.status());
  EXPECT_EQ(r->rows, 2);
  EXPECT_TRUE(std::equal(r->data.begin(), r->data.end(), b.body.begin()));

  // Several batches: rows concatenate (copied).
  BatchSpec b2 = ValidBatch(3, 6, 4, 9);
  ipc = BuildStream(SchemaSpec{}, {b, b2});
  r = DecodeTensorIpc(ipc);
  AIFS_ASSERT_OK(r.status());
  EXPECT_EQ(r->rows, 5);
  EXPECT_FALSE(r->zero_copy);
  ASSERT_EQ(r->data.size(), 5u * 24);
  EXPECT_TRUE(std::equal(r->data.begin(), r->data.begin() + 48, b.body.begin()));
  EXPECT_TRUE(std::equal(r->data.begin() + 48, r->data.end(), b2.body.begin()));
  AIFS_EXPECT_OK(ValidateByteByByte(ipc));

  // Zero batches: rows = 0.
  ipc = BuildStream(SchemaSpec{}, {});
  r = DecodeTensorIpc(ipc);
  AIFS_ASSERT_OK(r.status());
  EXPECT_EQ(r->rows, 0);
  EXPECT_TRUE(r->data.empty());

  // Legacy framing (no continuation marker, 4-byte EOS) is still read.
  Bytes modern = BuildStream(SchemaSpec{}, {b}, /*eos=*/false);
  Bytes legacy;
  size_t p = 0;
  while (p < modern.size()) {
    uint32_t len;
    std::memcpy(&len, modern.data() + p + 4, 4);
    const fb::Message* m = fb::GetMessage(modern.data() + p + 8);
    const size_t total = 8 + len + static_cast<size_t>(m->bodyLength());
    legacy.insert(legacy.end(), modern.begin() + p + 4, modern.begin() + p + total);
    p += total;
  }
  legacy.insert(legacy.end(), 4, 0);
  r = DecodeTensorIpc(legacy);
  AIFS_ASSERT_OK(r.status());
  EXPECT_EQ(r->rows, 2);
  AIFS_EXPECT_OK(ValidateByteByByte(legacy));

  // A misaligned body (metadata not padded to 8) decodes by copying.
  Bytes odd;
  {
    Bytes schema_only = BuildStream(SchemaSpec{}, {}, false);
    flatbuffers::FlatBufferBuilder fbb;
    auto rb = fb::CreateRecordBatch(fbb, b.rows, fbb.CreateVectorOfStructs(b.nodes),
                                    fbb.CreateVectorOfStructs(b.buffers));
    fbb.Finish(fb::CreateMessage(fbb, fb::MetadataVersion::V5, fb::MessageHeader::RecordBatch,
                                 rb.Union(), b.body_length));
    odd = schema_only;
    const uint32_t cont = 0xFFFFFFFFu, len = fbb.GetSize() + 1;
    odd.insert(odd.end(), reinterpret_cast<const uint8_t*>(&cont), reinterpret_cast<const uint8_t*>(&cont) + 4);
    odd.insert(odd.end(), reinterpret_cast<const uint8_t*>(&len), reinterpret_cast<const uint8_t*>(&len) + 4);
    odd.insert(odd.end(), fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
    odd.push_back(0);
    odd.insert(odd.end(), b.body.begin(), b.body.end());
    AppendEos(odd);
  }
  r = DecodeTensorIpc(odd);
  AIFS_ASSERT_OK(r.status());
  EXPECT_FALSE(r->zero_copy);
  EXPECT_TRUE(std::equal(r->data.begin(), r->data.end(), b.body.begin()));

  // Extension metadata with dim_names and an identity permutation is fine.
  SchemaSpec s;
  s.ext_meta = R"({"shape":[2,3],"dim_names":["h","w"],"permutation":[0,1]})";
  AIFS_EXPECT_OK(DecodeTensorIpc(BuildStream(s, {b})).status());
}

TEST(TensorIpc, CopiesStayValid) {
  Bytes values = MakeValues(DType::kBool, 6, 5);
  Bytes ipc;
  AIFS_ASSERT_OK(EncodeTensorIpc({DType::kBool, {6}, values}, 1, ipc));
  auto r = DecodeTensorIpc(ipc);
  AIFS_ASSERT_OK(r.status());
  DecodedTensor a = *r;
  DecodedTensor b = std::move(*r);
  EXPECT_EQ(a.data.data(), a.owned.data());
  EXPECT_EQ(b.data.data(), b.owned.data());
  EXPECT_EQ(Bytes(a.data.begin(), a.data.end()), values);
  EXPECT_EQ(Bytes(b.data.begin(), b.data.end()), values);
}

TEST(TensorIpc, DecodeIntoReusesTheBuffer) {
  Bytes values = MakeValues(DType::kInt32, 4 * 1000, 6);
  Bytes ipc;
  AIFS_ASSERT_OK(EncodeTensorIpc({DType::kInt32, {1000}, values}, 4, ipc));
  Bytes shifted(ipc.size() + 1);
  std::memcpy(shifted.data() + 1, ipc.data(), ipc.size());
  const ByteSpan misaligned(shifted.data() + 1, ipc.size());
  DecodedTensor t;
  AIFS_ASSERT_OK(DecodeTensorIpcInto(misaligned, t));
  EXPECT_FALSE(t.zero_copy);
  EXPECT_EQ(Bytes(t.data.begin(), t.data.end()), values);
  const uint8_t* first = t.owned.data();
  AIFS_ASSERT_OK(DecodeTensorIpcInto(misaligned, t));
  EXPECT_EQ(t.owned.data(), first);  // same allocation, no new page faults
  EXPECT_EQ(Bytes(t.data.begin(), t.data.end()), values);
  AIFS_ASSERT_OK(DecodeTensorIpcInto(ipc, t));  // aligned: zero-copy again
  EXPECT_TRUE(t.zero_copy);
  EXPECT_EQ(t.data.data() + t.data.size(), ipc.data() + ipc.size() - 8);
}

TEST(TensorIpcReject, ShapeOverflow) {
  SchemaSpec s;
  s.ext_meta = R"({"shape":[4294967296,4294967296]})";
  ExpectRejected(BuildStream(s, {}), "TENSOR_SHAPE_OVERFLOW");
  s.ext_meta = R"({"shape":[-2,-3]})";
  ExpectRejected(BuildStream(s, {}), "TENSOR_SHAPE_OVERFLOW");
  s.ext_meta = R"({"shape":[18446744073709551615]})";
  ExpectRejected(BuildStream(s, {}), "TENSOR_SHAPE_OVERFLOW");
  // rows * list size overflows int64
  s = SchemaSpec{};
  s.list_size = 1 << 30;
  s.ext_meta = R"({"shape":[1073741824]})";
  BatchSpec b = ValidBatch(1);
  b.rows = 1LL << 40;
  b.nodes = {fb::FieldNode(b.rows, 0), fb::FieldNode(0, 0)};
  ExpectRejected(BuildStream(s, {b}), "TENSOR_SHAPE_OVERFLOW");
  // shape [0]: rows are free, but their sum must not overflow
  s = SchemaSpec{};
  s.list_size = 0;
  s.ext_meta = R"({"shape":[0]})";
  BatchSpec e;
  e.rows = std::numeric_limits<int64_t>::max();
  e.nodes = {fb::FieldNode(e.rows, 0), fb::FieldNode(0, 0)};
  e.buffers = {fb::Buffer(0, 0), fb::Buffer(0, 0), fb::Buffer(0, 0)};
  AIFS_EXPECT_OK(DecodeTensorIpc(BuildStream(s, {e})).status());
  ExpectRejected(BuildStream(s, {e, e}), "TENSOR_SHAPE_OVERFLOW");
}

TEST(TensorIpcReject, TooManyDims) {
  SchemaSpec s;
  std::string meta = R"({"shape":[)";
  for (int i = 0; i < 33; ++i) meta += i ? ",1" : "1";
  s.ext_meta = meta + "]}";
  s.list_size = 1;
  ExpectRejected(BuildStream(s, {}), "TENSOR_TOO_MANY_DIMS");
}

TEST(TensorIpcReject, BufferShortAndBadOffsets) {
  BatchSpec b = ValidBatch(2);
  b.buffers[2] = fb::Buffer(0, 47);  // needs 48
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_BUFFER_SHORT");

  b = ValidBatch(2);
  b.buffers[2] = fb::Buffer(8, 48);  // ends past the 48-byte body
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_BAD_OFFSET");
  b.buffers[2] = fb::Buffer(-8, 48);
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_BAD_OFFSET");
  b.buffers[2] = fb::Buffer(std::numeric_limits<int64_t>::max(), 48);
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_BAD_OFFSET");
  b.buffers[2] = fb::Buffer(0, -1);
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_BAD_OFFSET");
  b = ValidBatch(2);
  b.buffers[0] = fb::Buffer(40, 16);  // a validity buffer out of the body
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_BAD_OFFSET");

  // A body shorter than its bodyLength is a truncated stream.
  b = ValidBatch(2);
  b.body.resize(40);
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_TRUNCATED");  // EOS read as body
  Bytes ipc = BuildStream(SchemaSpec{}, {b}, /*eos=*/false);
  ExpectRejected(ipc, "TENSOR_TRUNCATED");
}

TEST(TensorIpcReject, EveryTruncation) {
  Bytes values = MakeValues(DType::kInt16, 2 * 3 * 5, 7);
  Bytes ipc;
  AIFS_ASSERT_OK(EncodeTensorIpc({DType::kInt16, {2, 3}, values}, 5, ipc));
  for (size_t n = 0; n < ipc.size(); ++n) {
    Bytes cut(ipc.begin(), ipc.begin() + n);
    auto r = DecodeTensorIpc(cut);
    ASSERT_FALSE(r.ok()) << n;
    ASSERT_EQ(r.status().reason(), "TENSOR_TRUNCATED") << n << " " << r.status().ToString();
    ASSERT_EQ(Validate(cut, {n / 3, n / 2}).reason(), "TENSOR_TRUNCATED") << n;
  }
}

TEST(TensorIpcReject, TypesAndSchemaShapes) {
  SchemaSpec s;
  s.value_type = fb::Type::Utf8;
  ExpectRejected(BuildStream(s, {}), "TENSOR_UNSUPPORTED_TYPE");
  s = SchemaSpec{};
  s.value_type = fb::Type::Int;
  s.bit_width = 128;
  ExpectRejected(BuildStream(s, {}), "TENSOR_UNSUPPORTED_TYPE");
  s = SchemaSpec{};
  s.endianness = fb::Endianness::Big;
  ExpectRejected(BuildStream(s, {}), "TENSOR_UNSUPPORTED_TYPE");
  s = SchemaSpec{};
  s.dictionary = true;
  ExpectRejected(BuildStream(s, {}), "TENSOR_UNSUPPORTED_TYPE");
  s = SchemaSpec{};
  s.child_dictionary = true;
  ExpectRejected(BuildStream(s, {}), "TENSOR_UNSUPPORTED_TYPE");
  s = SchemaSpec{};
  s.ext_meta = R"({"shape":[2,3],"permutation":[1,0]})";
  ExpectRejected(BuildStream(s, {}), "TENSOR_UNSUPPORTED_TYPE");
  s = SchemaSpec{};
  s.extra_kv = {{"aifs:dtype", "bfloat16"}};  // but the values are float32
  ExpectRejected(BuildStream(s, {}), "TENSOR_UNSUPPORTED_TYPE");
  s.extra_kv = {{"aifs:dtype", "complex32"}};
  ExpectRejected(BuildStream(s, {}), "TENSOR_UNSUPPORTED_TYPE");

  s = SchemaSpec{};
  s.list_size = 5;  // != 2*3
  ExpectRejected(BuildStream(s, {}), "TENSOR_NOT_FIXED_SHAPE");
  s = SchemaSpec{};
  s.ext_name.reset();
  ExpectRejected(BuildStream(s, {}), "TENSOR_NOT_FIXED_SHAPE");
  s = SchemaSpec{};
  s.ext_name = "arrow.variable_shape_tensor";
  ExpectRejected(BuildStream(s, {}), "TENSOR_NOT_FIXED_SHAPE");
  s = SchemaSpec{};
  s.ext_meta.reset();
  ExpectRejected(BuildStream(s, {}), "TENSOR_NOT_FIXED_SHAPE");
  for (const char* bad : {"{", "[2,3]", R"({"shape":"2x3"})", R"({"shape":[2.5,3]})", R"({})"}) {
    s.ext_meta = bad;
    SCOPED_TRACE(bad);
    ExpectRejected(BuildStream(s, {}), "TENSOR_NOT_FIXED_SHAPE");
  }
  s = SchemaSpec{};
  s.nfields = 2;
  ExpectRejected(BuildStream(s, {}), "TENSOR_NOT_FIXED_SHAPE");
  s = SchemaSpec{};
  s.nfields = 0;
  ExpectRejected(BuildStream(s, {}), "TENSOR_NOT_FIXED_SHAPE");
  s = SchemaSpec{};
  s.outer_type = fb::Type::List;
  ExpectRejected(BuildStream(s, {}), "TENSOR_NOT_FIXED_SHAPE");
  s = SchemaSpec{};
  s.nchildren = 2;
  ExpectRejected(BuildStream(s, {}), "TENSOR_NOT_FIXED_SHAPE");
}

TEST(TensorIpcReject, NullsCompressionNodes) {
  BatchSpec b = ValidBatch(2);
  b.nodes[1] = fb::FieldNode(12, 1);
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_HAS_NULLS");
  b = ValidBatch(2);
  b.nodes[0] = fb::FieldNode(2, 2);
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_HAS_NULLS");
  b = ValidBatch(2);
  b.compressed = true;
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_COMPRESSED");
  b = ValidBatch(2);
  b.nodes[1] = fb::FieldNode(11, 0);  // != rows * list size
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_BAD_IPC");
  b = ValidBatch(2);
  b.nodes.pop_back();
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_BAD_IPC");
  b = ValidBatch(2);
  b.buffers.pop_back();
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_BAD_IPC");
  b = ValidBatch(2);
  b.rows = -2;
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_BAD_IPC");
  b = ValidBatch(2);
  b.header = fb::MessageHeader::DictionaryBatch;
  ExpectRejected(BuildStream(SchemaSpec{}, {b}), "TENSOR_UNSUPPORTED_TYPE");
}

TEST(TensorIpcReject, FramingAndOrder) {
  Bytes values = MakeValues(DType::kUInt8, 6, 8);
  Bytes ipc;
  AIFS_ASSERT_OK(EncodeTensorIpc({DType::kUInt8, {2, 3}, values}, 1, ipc));

  Bytes trailing = ipc;
  trailing.push_back(0);
  ExpectRejected(trailing, "TENSOR_BAD_IPC");

  // batch before schema
  Bytes batch_first;
  AppendBatch(batch_first, ValidBatch(1));
  AppendEos(batch_first);
  ExpectRejected(batch_first, "TENSOR_BAD_IPC");
  // two schemas
  Bytes two;
  AppendSchema(two, SchemaSpec{});
  AppendSchema(two, SchemaSpec{});
  AppendEos(two);
  ExpectRejected(two, "TENSOR_BAD_IPC");
  // EOS only
  Bytes eos;
  AppendEos(eos);
  ExpectRejected(eos, "TENSOR_BAD_IPC");
  // schema with a body, old metadata version
  SchemaSpec s;
  s.body_length = 8;
  ExpectRejected(BuildStream(s, {}), "TENSOR_BAD_IPC");
  s = SchemaSpec{};
  s.version = fb::MetadataVersion::V3;
  ExpectRejected(BuildStream(s, {}), "TENSOR_BAD_IPC");
  // negative metadata length
  Bytes neg = ipc;
  neg[7] = 0x80;
  ExpectRejected(neg, "TENSOR_BAD_IPC");
  // metadata that is not a Message flatbuffer: the root offset points past the end
  Bytes junk = ipc;
  junk[8] = 0xF0;
  junk[9] = 0xFF;
  ExpectRejected(junk, "TENSOR_BAD_IPC");
  // not Arrow at all: a legacy-framed length and junk, or a length over the limit
  ExpectRejected(test::ToBytes(std::string("\x10\0\0\0", 4) + "0123456789abcdef"), "TENSOR_BAD_IPC");
  ExpectRejected(test::ToBytes("PAR1 this is not an arrow stream at all...."),
                 "TENSOR_METADATA_TOO_LARGE", Code::kResourceExhausted);
  // metadata over the validator's limit: RESOURCE_EXHAUSTED
  Status v = Validate(ipc, {}, 64);
  EXPECT_EQ(v.code(), Code::kResourceExhausted);
  EXPECT_EQ(v.reason(), "TENSOR_METADATA_TOO_LARGE");
  AIFS_EXPECT_OK(Validate(ipc, {}, 4096));
  Bytes huge = ipc;
  const uint32_t big = 64u << 20;
  std::memcpy(huge.data() + 4, &big, 4);
  ExpectRejected(huge, "TENSOR_METADATA_TOO_LARGE", Code::kResourceExhausted);
}

// Flip every bit of every byte of small valid encodings: no crash, and the
// decoder and the streaming validator always agree.
TEST(TensorIpcReject, BitFlipsDecoderAndValidatorAgree) {
  std::set<std::string> reasons;
  int accepted = 0, total = 0;
  for (DType d : {DType::kFloat32, DType::kBool, DType::kBFloat16}) {
    Bytes values = MakeValues(d, 12, 11);
    Bytes ipc;
    AIFS_ASSERT_OK(EncodeTensorIpc({d, {2, 3}, values}, 2, ipc));
    for (size_t i = 0; i < ipc.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        Bytes m = ipc;
        m[i] ^= static_cast<uint8_t>(1u << bit);
        auto r = DecodeTensorIpc(m);
        Status v = Validate(m, RandomCuts(m.size(), i * 8 + bit, 3));
        ASSERT_EQ(r.ok(), v.ok()) << i << ":" << bit << " " << r.status().ToString() << " / "
                                  << v.ToString();
        ASSERT_EQ(r.status().reason(), v.reason()) << i << ":" << bit;
        ++total;
        if (r.ok()) {
          ++accepted;
          ASSERT_EQ(r->data.size(), static_cast<size_t>(r->rows * *ShapeElements(r->shape)) *
                                        DTypeSize(r->dtype));
        } else {
          reasons.insert(r.status().reason());
        }
      }
    }
  }
  for (const auto& r : reasons) {
    EXPECT_TRUE(r.rfind("TENSOR_", 0) == 0) << r;
  }
  EXPECT_GT(total - accepted, 0);
  EXPECT_GT(accepted, 0);
  std::printf("bit flips: %d inputs, %d accepted, reasons:", total, accepted);
  for (const auto& r : reasons) std::printf(" %s", r.c_str());
  std::printf("\n");
}

TEST(TensorValidator, LargeBodyStreamsWithoutBuffering) {
  // 64 MiB of float32 in 1 MiB updates: the validator only counts the body.
  const int64_t rows = 4096, per_row = 4096;
  Bytes values(static_cast<size_t>(rows * per_row * 4), 0x3f);
  Bytes ipc;
  AIFS_ASSERT_OK(EncodeTensorIpc({DType::kFloat32, {64, 64}, values}, rows, ipc));
  auto v = NewTensorValidator();
  for (size_t p = 0; p < ipc.size(); p += 1 << 20)
    AIFS_ASSERT_OK(v->Update(ByteSpan(ipc).subspan(p, std::min<size_t>(1 << 20, ipc.size() - p))));
  AIFS_EXPECT_OK(v->Finish());
  // errors are sticky
  AIFS_EXPECT_STATUS(v->Update(ByteSpan(ipc).subspan(0, 1)), kInvalidArgument, "TENSOR_BAD_IPC");
  AIFS_EXPECT_STATUS(v->Finish(), kInvalidArgument, "TENSOR_BAD_IPC");
}

// ---------------------------------------------------------------------------
// .npy against NumPy

// A python3 that has numpy: $AIFS_PYTHON, else python3 on PATH, else /usr/bin/python3.
std::string PythonWithNumpy() {
  std::vector<std::string> candidates;
  if (const char* p = std::getenv("AIFS_PYTHON")) candidates.push_back(p);
  candidates.push_back("python3");
  candidates.push_back("/usr/bin/python3");
  for (const auto& c : candidates) {
    std::string cmd = c + " -c 'import numpy' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return c;
  }
  return {};
}

std::string RunPython(const std::string& py, const std::string& script) {
  std::string cmd = py + " - <<'PYEOF'\n" + script + "\nPYEOF\n";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return "popen failed";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  const int rc = ::pclose(f);
  if (rc != 0) out += "\nexit status " + std::to_string(rc);
  return out;
}

struct NpyCase {
  std::string name;
  std::string numpy_expr;  // an array expression; np is numpy
  DType dtype;
  std::vector<int64_t> shape;
};

const std::vector<NpyCase>& NpyCases() {
  static const std::vector<NpyCase> cases = {
      {"f32_2x3", "np.arange(6, dtype='<f4').reshape(2, 3) / 7", DType::kFloat32, {2, 3}},
      {"f64_4x5x6", "np.linspace(-1, 1, 120).reshape(4, 5, 6)", DType::kFloat64, {4, 5, 6}},
      {"f16_7", "(np.arange(7) * 0.3).astype('<f2')", DType::kFloat16, {7}},
      {"i8_scalar", "np.array(-5, dtype='i1')", DType::kInt8, {}},
      {"u8_3x1", "np.array([[1], [200], [255]], dtype='u1')", DType::kUInt8, {3, 1}},
      {"i16_0x3", "np.zeros((0, 3), dtype='<i2')", DType::kInt16, {0, 3}},
      {"u16_5", "np.arange(5, dtype='<u2') * 1000", DType::kUInt16, {5}},
      {"i32_2x2", "np.array([[-2**31, 2**31 - 1], [0, -1]], dtype='<i4')", DType::kInt32, {2, 2}},
      {"u32_3", "np.array([0, 1, 2**32 - 1], dtype='<u4')", DType::kUInt32, {3}},
      {"i64_2", "np.array([-2**63, 2**63 - 1], dtype='<i8')", DType::kInt64, {2}},
      {"u64_2", "np.array([0, 2**64 - 1], dtype='<u8')", DType::kUInt64, {2}},
      {"bool_2x4", "np.array([[True, False, True, True], [False] * 4])", DType::kBool, {2, 4}},
      {"be_i4", "np.arange(6, dtype='>i4').reshape(3, 2) - 3", DType::kInt32, {3, 2}},
      {"be_f8", "np.arange(4, dtype='>f8') / 3", DType::kFloat64, {4}},
  };
  return cases;
}

TEST(Npy, NumpyFilesParseToTheSameValues) {
  const std::string py = PythonWithNumpy();
  ASSERT_FALSE(py.empty()) << "no python3 with numpy (scripts/install-deps.sh installs python3-numpy)";
  TempDir dir;
  std::string script = "import numpy as np\nd = '" + dir.path() + "'\n";
  for (const auto& c : NpyCases()) {
    script += "a = " + c.numpy_expr + "\nnp.save(d + '/" + c.name + ".npy', a)\n" +
              "open(d + '/" + c.name + ".raw', 'wb').write(a.astype(a.dtype.newbyteorder('<')).tobytes())\n";
  }
  script += "np.save(d + '/fortran.npy', np.asfortranarray(np.arange(6).reshape(2, 3)))\n";
  script += "np.save(d + '/object.npy', np.array([1, 'x'], dtype=object), allow_pickle=True)\n";
  script += "np.save(d + '/complex.npy', np.zeros(3, dtype=np.complex64))\n";
  script += "np.save(d + '/structured.npy', np.zeros(3, dtype=[('a', 'i4'), ('b', 'f4')]))\n";
  script += "np.save(d + '/unicode.npy', np.array(['ab', 'c']))\n";
  script += "print('ok')\n";
  ASSERT_EQ(RunPython(py, script), "ok\n");
  for (const auto& c : NpyCases()) {
    SCOPED_TRACE(c.name);
    Bytes npy = ReadFileBytes(dir.path() + "/" + c.name + ".npy");
    Bytes raw = ReadFileBytes(dir.path() + "/" + c.name + ".raw");
    auto r = ParseNpy(npy);
    AIFS_ASSERT_OK(r.status());
    EXPECT_EQ(r->dtype, c.dtype);
    EXPECT_EQ(r->shape, c.shape);
    EXPECT_EQ(r->rows, 1);
    EXPECT_EQ(Bytes(r->data.begin(), r->data.end()), raw);
    if (c.name.rfind("be_", 0) != 0 && !raw.empty()) {
      EXPECT_TRUE(r->zero_copy);
    }
    // and through the tensor kind and back
    Bytes ipc, back;
    AIFS_ASSERT_OK(NpyToTensorIpc(npy, ipc));
    auto t = DecodeTensorIpc(ipc);
    AIFS_ASSERT_OK(t.status());
    EXPECT_EQ(t->shape, c.shape);
    EXPECT_EQ(Bytes(t->data.begin(), t->data.end()), raw);
    AIFS_ASSERT_OK(TensorIpcToNpy(ipc, back));
    auto r2 = ParseNpy(back);
    AIFS_ASSERT_OK(r2.status());
    EXPECT_EQ(r2->shape, c.shape);
    EXPECT_EQ(Bytes(r2->data.begin(), r2->data.end()), raw);
  }
  auto reason = [&](const char* name) {
    return ParseNpy(ReadFileBytes(dir.path() + "/" + name)).status().reason();
  };
  EXPECT_EQ(reason("fortran.npy"), "NPY_FORTRAN_ORDER");
  EXPECT_EQ(reason("object.npy"), "NPY_UNSUPPORTED_DTYPE");
  EXPECT_EQ(reason("complex.npy"), "NPY_UNSUPPORTED_DTYPE");
  EXPECT_EQ(reason("structured.npy"), "NPY_UNSUPPORTED_DTYPE");
  EXPECT_EQ(reason("unicode.npy"), "NPY_UNSUPPORTED_DTYPE");
}

TEST(Npy, OurFilesLoadInNumpy) {
  const std::string py = PythonWithNumpy();
  ASSERT_FALSE(py.empty()) << "no python3 with numpy (scripts/install-deps.sh installs python3-numpy)";
  TempDir dir;
  struct Case {
    DType dtype;
    std::vector<int64_t> shape;
    const char* numpy_str;
  };
  const std::vector<Case> cases = {
      {DType::kFloat32, {2, 3}, "<f4"}, {DType::kFloat64, {4, 5, 6}, "<f8"},
      {DType::kFloat16, {7}, "<f2"},    {DType::kInt8, {}, "|i1"},
      {DType::kUInt8, {0}, "|u1"},      {DType::kInt16, {1}, "<i2"},
      {DType::kUInt16, {3, 1}, "<u2"},  {DType::kInt32, {2, 2}, "<i4"},
      {DType::kUInt32, {5}, "<u4"},     {DType::kInt64, {2, 1, 2}, "<i8"},
      {DType::kUInt64, {3}, "<u8"},     {DType::kBool, {3, 3}, "|b1"},
  };
  std::string script = "import numpy as np\nd = '" + dir.path() + "'\n";
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    Bytes values = MakeValues(c.dtype, *ShapeElements(c.shape), 100 + i);
    if (c.dtype == DType::kFloat16 || c.dtype == DType::kFloat32 || c.dtype == DType::kFloat64) {
      // finite values, so that numpy and we compare equal numbers
      for (size_t k = 0; k < values.size(); k += DTypeSize(c.dtype)) values[k + DTypeSize(c.dtype) - 1] &= 0x3f;
    }
    Bytes npy;
    AIFS_ASSERT_OK(EncodeNpy(c.dtype, c.shape, values, npy));
    EXPECT_EQ((npy.size() - values.size()) % 64, 0u);
    const std::string p = dir.path() + "/ours" + std::to_string(i);
    WriteFileBytes(p + ".npy", npy);
    WriteFileBytes(p + ".raw", values);
    std::string shape = "(";
    for (int64_t s : c.shape) shape += std::to_string(s) + ",";
    shape += ")";
    script += "a = np.load('" + p + ".npy', allow_pickle=False)\n" +
              "assert a.dtype.str == '" + c.numpy_str + "', a.dtype.str\n" +
              "assert a.shape == " + shape + ", a.shape\n" +
              "assert a.flags['C_CONTIGUOUS']\n" +
              "assert a.tobytes() == open('" + p + ".raw', 'rb').read()\n" +
              "assert np.array_equal(a, np.frombuffer(open('" + p + ".raw', 'rb').read(), dtype='" +
              c.numpy_str + "').reshape(" + shape + "))\n";
  }
  script += "print('ok')\n";
  EXPECT_EQ(RunPython(py, script), "ok\n");

  Bytes npy;
  AIFS_EXPECT_STATUS(EncodeNpy(DType::kBFloat16, std::vector<int64_t>{1}, Bytes(2), npy), kInvalidArgument,
                     "TENSOR_UNSUPPORTED_TYPE");
  AIFS_EXPECT_STATUS(EncodeNpy(DType::kFloat32, std::vector<int64_t>{2}, Bytes(4), npy), kInvalidArgument,
                     "TENSOR_SIZE_MISMATCH");
}

Bytes NpyWithHeader(const std::string& header, size_t data_bytes) {
  Bytes out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  std::string h = header;
  h.append((64 - (10 + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  out.push_back(static_cast<uint8_t>(h.size()));
  out.push_back(static_cast<uint8_t>(h.size() >> 8));
  out.insert(out.end(), h.begin(), h.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}

TEST(Npy, Rejections) {
  auto reason = [](const Bytes& b) { return ParseNpy(b).status().reason(); };
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  ASSERT_TRUE(ParseNpy(NpyWithHeader(ok, 24)).ok());
  EXPECT_EQ(reason(NpyWithHeader(ok, 23)), "NPY_TRUNCATED");
  EXPECT_EQ(reason(NpyWithHeader(ok, 25)), "NPY_TRAILING_DATA");
  EXPECT_EQ(reason(test::ToBytes("\x93NUMPZ\x01\x00\x00\x00")), "NPY_BAD_MAGIC");
  Bytes v9 = NpyWithHeader(ok, 24);
  v9[6] = 9;
  EXPECT_EQ(reason(v9), "NPY_BAD_MAGIC");
  Bytes long_header = NpyWithHeader(ok, 24);
  long_header[8] = 0xff;
  long_header[9] = 0xff;
  EXPECT_EQ(reason(long_header), "NPY_TRUNCATED");
  EXPECT_EQ(reason(NpyWithHeader("{'descr': '<f4', 'shape': (2, 3), }", 24)), "NPY_BAD_HEADER");
  EXPECT_EQ(reason(NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", 24)),
            "NPY_BAD_HEADER");
  EXPECT_EQ(reason(NpyWithHeader("{'descr': '<f4', 'fortran_order': 0, 'shape': (6,), }", 24)),
            "NPY_BAD_HEADER");
  EXPECT_EQ(reason(NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", 24)),
            "NPY_BAD_HEADER");
  EXPECT_EQ(reason(NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-6,), }", 24)),
            "NPY_BAD_HEADER");
  EXPECT_EQ(reason(NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (6,) ", 24)),
            "NPY_BAD_HEADER");
  EXPECT_EQ(reason(NpyWithHeader("{'descr': '|O', 'fortran_order': False, 'shape': (6,), }", 48)),
            "NPY_UNSUPPORTED_DTYPE");
  EXPECT_EQ(reason(NpyWithHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (6,), }", 48)),
            "NPY_UNSUPPORTED_DTYPE");
  EXPECT_EQ(reason(NpyWithHeader(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }", 0)),
            "TENSOR_SHAPE_OVERFLOW");
  EXPECT_EQ(reason(NpyWithHeader(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 0)),
            "TENSOR_SHAPE_OVERFLOW");
  std::string dims33 = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (int i = 0; i < 33; ++i) dims33 += "1,";
  EXPECT_EQ(reason(NpyWithHeader(dims33 + "), }", 4)), "TENSOR_TOO_MANY_DIMS");
  // Python 2 long suffix and double quotes are read like numpy does
  auto r = ParseNpy(NpyWithHeader(R"({"descr": "<i8", "fortran_order": False, "shape": (3L,)})", 24));
  AIFS_ASSERT_OK(r.status());
  EXPECT_EQ(r->shape, std::vector<int64_t>{3});
}

// ---------------------------------------------------------------------------
// .safetensors

Bytes Safetensors(const std::string& header, ByteSpan data) {
  Bytes out(8 + header.size() + data.size());
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  if (!header.empty()) std::memcpy(out.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
  return out;
}

TEST(Safetensors, HandWrittenFileParses) {
  // "b": float32 [2, 2] at [0, 16); "a": bf16 [3] at [16, 22); "c": bool [0] at [22, 22);
  // "d": int64 [1] at [22, 30)
  Bytes data = test::RandomBytes(30, 42);
  const std::string header =
      R"({"__metadata__":{"format":"pt","note":"x"},)"
      R"("a":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},)"
      R"("b":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("c":{"dtype":"BOOL","shape":[0],"data_offsets":[22,22]},)"
      R"("d":{"dtype":"I64","shape":[1],"data_offsets":[22,30]}}   )";
  Bytes file = Safetensors(header, data);
  auto r = ParseSafetensors(file);
  AIFS_ASSERT_OK(r.status());
  ASSERT_EQ(r->tensors.size(), 4u);
  EXPECT_EQ(r->metadata, (Metadata{{"format", "pt"}, {"note", "x"}}));
  const auto& t = r->tensors;
  EXPECT_EQ(t[0].name, "b");
  EXPECT_EQ(t[0].tensor.dtype, DType::kFloat32);
  EXPECT_EQ(t[0].tensor.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(Bytes(t[0].tensor.data.begin(), t[0].tensor.data.end()), Bytes(data.begin(), data.begin() + 16));
  EXPECT_EQ(t[1].name, "a");
  EXPECT_EQ(t[1].tensor.dtype, DType::kBFloat16);
  EXPECT_EQ(Bytes(t[1].tensor.data.begin(), t[1].tensor.data.end()), Bytes(data.begin() + 16, data.begin() + 22));
  EXPECT_EQ(t[2].name, "c");
  EXPECT_TRUE(t[2].tensor.data.empty());
  EXPECT_EQ(t[3].name, "d");
  EXPECT_EQ(t[3].tensor.dtype, DType::kInt64);
  EXPECT_EQ(Bytes(t[3].tensor.data.begin(), t[3].tensor.data.end()), Bytes(data.begin() + 22, data.end()));
  EXPECT_EQ(t[3].tensor.rows, 1);

  Metadata m = SafetensorsAssetMetadata(*r, t[1]);
  EXPECT_EQ(m, (Metadata{{"safetensors.name", "a"},
                         {"safetensors.metadata.format", "pt"},
                         {"safetensors.metadata.note", "x"}}));

  // each tensor becomes a Tensor asset: encode one and read it back
  Bytes ipc;
  AIFS_ASSERT_OK(EncodeTensorIpc(t[1].tensor.view(), 1, ipc));
  auto back = DecodeTensorIpc(ipc);
  AIFS_ASSERT_OK(back.status());
  EXPECT_EQ(back->dtype, DType::kBFloat16);
  EXPECT_EQ(Bytes(back->data.begin(), back->data.end()), Bytes(data.begin() + 16, data.begin() + 22));

  // bfloat16 to npy widens to float32
  Bytes npy;
  AIFS_ASSERT_OK(TensorIpcToNpy(ipc, npy));
  auto wide = ParseNpy(npy);
  AIFS_ASSERT_OK(wide.status());
  EXPECT_EQ(wide->dtype, DType::kFloat32);
  for (int k = 0; k < 3; ++k) {
    uint16_t b;
    float f;
    std::memcpy(&b, data.data() + 16 + 2 * k, 2);
    std::memcpy(&f, wide->data.data() + 4 * k, 4);
    uint32_t fb_bits, want_bits = static_cast<uint32_t>(b) << 16;
    std::memcpy(&fb_bits, &f, 4);
    EXPECT_EQ(fb_bits, want_bits);
  }
}

TEST(Safetensors, EncodeRoundTrip) {
  Bytes a = MakeValues(DType::kFloat16, 6, 1), b = MakeValues(DType::kUInt8, 5, 2);
  Bytes file;
  AIFS_ASSERT_OK(EncodeSafetensors({{"w", {DType::kFloat16, {2, 3}, a}}, {"z", {DType::kUInt8, {5}, b}}},
                                   {{"k", "v"}}, file));
  uint64_t n;
  std::memcpy(&n, file.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  auto r = ParseSafetensors(file);
  AIFS_ASSERT_OK(r.status());
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->tensors[0].name, "w");
  EXPECT_EQ(Bytes(r->tensors[0].tensor.data.begin(), r->tensors[0].tensor.data.end()), a);
  EXPECT_EQ(r->tensors[1].tensor.shape, std::vector<int64_t>{5});
  EXPECT_EQ(r->metadata.at("k"), "v");
  AIFS_EXPECT_STATUS(EncodeSafetensors({{"w", {DType::kFloat16, {2, 3}, b}}}, {}, file),
                     kInvalidArgument, "TENSOR_SIZE_MISMATCH");
  AIFS_EXPECT_STATUS(EncodeSafetensors({{"w", {DType::kUInt8, {5}, b}}, {"w", {DType::kUInt8, {5}, b}}}, {}, file),
                     kInvalidArgument, "SAFETENSORS_BAD_HEADER");
}

TEST(Safetensors, Rejections) {
  Bytes data(16);
  auto reason = [&](const std::string& header, size_t data_size = 16) {
    return ParseSafetensors(Safetensors(header, ByteSpan(data).first(data_size))).status().reason();
  };
  auto one = [](const std::string& dtype, const std::string& shape, const std::string& offs) {
    return R"({"t":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offs + "}}";
  };
  ASSERT_EQ(reason(one("F32", "[4]", "[0,16]")), "");
  // overlapping offsets
  EXPECT_EQ(reason(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                   R"("b":{"dtype":"F32","shape":[3],"data_offsets":[4,16]}})"),
            "SAFETENSORS_BAD_OFFSETS");
  // a hole, and bytes nobody owns
  EXPECT_EQ(reason(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})"),
            "SAFETENSORS_BAD_OFFSETS");
  EXPECT_EQ(reason(one("F32", "[3]", "[0,12]")), "SAFETENSORS_BAD_OFFSETS");
  // out of bounds, inverted, size mismatch, negative
  EXPECT_EQ(reason(one("F32", "[5]", "[0,20]")), "SAFETENSORS_BAD_OFFSETS");
  EXPECT_EQ(reason(one("F32", "[4]", "[0,16]"), 15), "SAFETENSORS_BAD_OFFSETS");
  EXPECT_EQ(reason(one("F32", "[0]", "[16,0]")), "SAFETENSORS_BAD_OFFSETS");
  EXPECT_EQ(reason(one("F64", "[4]", "[0,16]")), "SAFETENSORS_BAD_OFFSETS");
  EXPECT_EQ(reason(one("F32", "[4]", "[-16,16]")), "SAFETENSORS_BAD_OFFSETS");
  EXPECT_EQ(reason(one("F32", "[4]", "[0,18446744073709551615]")), "SAFETENSORS_BAD_OFFSETS");
  EXPECT_EQ(reason(one("F32", "[4]", "[0]")), "SAFETENSORS_BAD_HEADER");
  // shapes
  EXPECT_EQ(reason(one("F32", "[-4]", "[0,16]")), "TENSOR_SHAPE_OVERFLOW");
  EXPECT_EQ(reason(one("F32", "[4294967296,4294967296]", "[0,16]")), "TENSOR_SHAPE_OVERFLOW");
  EXPECT_EQ(reason(one("F32", "[4.0]", "[0,16]")), "SAFETENSORS_BAD_HEADER");
  std::string dims33 = "[";
  for (int i = 0; i < 33; ++i) dims33 += i ? ",1" : "1";
  EXPECT_EQ(reason(one("F32", dims33 + "]", "[0,16]")), "TENSOR_TOO_MANY_DIMS");
  // dtypes
  EXPECT_EQ(reason(one("F8_E4M3", "[16]", "[0,16]")), "SAFETENSORS_UNSUPPORTED_DTYPE");
  EXPECT_EQ(reason(one("C64", "[2]", "[0,16]")), "SAFETENSORS_UNSUPPORTED_DTYPE");
  // bad JSON
  EXPECT_EQ(reason(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})"), "SAFETENSORS_BAD_HEADER");
  EXPECT_EQ(reason(R"(["t"])"), "SAFETENSORS_BAD_HEADER");
  EXPECT_EQ(reason(" {}"), "SAFETENSORS_BAD_HEADER");
  EXPECT_EQ(reason(R"({"t":[1,2]})"), "SAFETENSORS_BAD_HEADER");
  EXPECT_EQ(reason(R"({"__metadata__":{"k":1}})", 0), "SAFETENSORS_BAD_HEADER");
  EXPECT_EQ(reason("{\"t\xff\":1}"), "SAFETENSORS_BAD_HEADER");
  EXPECT_EQ(reason(""), "SAFETENSORS_BAD_HEADER");
  // empty file list is fine
  EXPECT_EQ(reason("{}", 0), "");
  // huge and truncated header sizes
  Bytes huge(8 + 16);
  const uint64_t big = 1ull << 62;
  std::memcpy(huge.data(), &big, 8);
  EXPECT_EQ(ParseSafetensors(huge).status().reason(), "SAFETENSORS_HEADER_TOO_LARGE");
  const uint64_t past = 100;
  std::memcpy(huge.data(), &past, 8);
  EXPECT_EQ(ParseSafetensors(huge).status().reason(), "SAFETENSORS_TRUNCATED");
  EXPECT_EQ(ParseSafetensors(Bytes(7)).status().reason(), "SAFETENSORS_TRUNCATED");
}

}  // namespace
}  // namespace aifs
