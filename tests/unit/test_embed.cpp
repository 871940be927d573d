// Embed kind: FlatBuffers encoding round trips, every rejection reason of
// DecodeEmbed (on buffers built here with the generated builder, so each test
// breaks exactly one rule), the KindValidator, and the .npy reader.
#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "aifs/core/hex.h"
#include "aifs/kinds/embed.h"
#include "embedding_generated.h"

namespace aifs {
namespace {

EmbedRecord FullRecord() {
  EmbedRecord r;
  r.model = "sentence-transformers/all-MiniLM-L6-v2";
  r.model_digest = "blake3:0123abcd";
  r.dim = 3;
  r.metric = Metric::kInnerProduct;
  r.vectors = {{0.25f, -1.5f, 3.0e-7f}, {1.0f, -0.0f, std::numeric_limits<float>::max()}};
  std::array<uint8_t, 32> src{};
  for (size_t i = 0; i < 32; ++i) src[i] = static_cast<uint8_t>(255 - i);
  r.source = src;
  r.chunk_index = 12;
  r.metadata = {{"a", "1"}, {"b", ""}, {std::string("k\0z", 3), "nul-in-key"}};
  return r;
}

void ExpectReject(ByteSpan buf, Code code, const std::string& reason) {
  auto r = DecodeEmbed(buf);
  ASSERT_FALSE(r.ok()) << "accepted, expected " << reason;
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_EQ(r.status().reason(), reason) << r.status().ToString();
}
void ExpectReject(ByteSpan buf, const std::string& reason) {
  ExpectReject(buf, Code::kInvalidArgument, reason);
}

// Builds an Embedding buffer field by field, so tests can break one rule.
struct Spec {
  std::optional<std::string> model = "m";
  uint32_t dim = 2;
  uint8_t metric = 0;
  uint8_t element_type = 0;
  std::optional<std::vector<std::vector<float>>> vectors = std::vector<std::vector<float>>{{1, 2}};
  std::vector<std::vector<uint16_t>> f16;  // used when element_type == 1
  bool both_fields = false;                // a vector carrying values and values_f16
  bool alias_vectors = false;              // every entry points at one Vector table
  size_t alias_count = 0;
  std::optional<std::vector<uint8_t>> source;
  int64_t chunk_index = -1;
  std::vector<std::pair<std::string, std::string>> metadata;  // in buffer order
  const char* identifier = "AIFE";
};

Bytes Build(const Spec& s) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fbs::Vector>> vecs;
  if (s.alias_vectors) {
    std::vector<float> big(s.dim, 1.0f);
    auto one = fbs::CreateVector(b, b.CreateVector(big));
    vecs.assign(s.alias_count, one);
  } else if (s.element_type == 1) {
    for (const auto& v : s.f16) {
      flatbuffers::Offset<flatbuffers::Vector<float>> vals;
      if (s.both_fields) vals = b.CreateVector(std::vector<float>(v.size(), 1.0f));
      vecs.push_back(fbs::CreateVector(b, vals, b.CreateVector(v)));
    }
  } else if (s.vectors) {
    for (const auto& v : *s.vectors) {
      flatbuffers::Offset<flatbuffers::Vector<uint16_t>> halves;
      if (s.both_fields) halves = b.CreateVector(std::vector<uint16_t>(v.size(), 0));
      vecs.push_back(fbs::CreateVector(b, b.CreateVector(v), halves));
    }
  }
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fbs::Vector>>> vectors;
  if (s.vectors || s.alias_vectors || s.element_type == 1) vectors = b.CreateVector(vecs);
  std::vector<flatbuffers::Offset<fbs::KeyValue>> kvs;
  for (const auto& [k, v] : s.metadata) {
    auto ko = b.CreateString(k);
    auto vo = b.CreateString(v);
    kvs.push_back(fbs::CreateKeyValue(b, ko, vo));
  }
  auto md = kvs.empty() ? 0 : b.CreateVector(kvs);
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> source;
  if (s.source) source = b.CreateVector(*s.source);
  flatbuffers::Offset<flatbuffers::String> model;
  if (s.model) model = b.CreateString(*s.model);
  fbs::EmbeddingBuilder eb(b);
  if (s.model) eb.add_model(model);
  eb.add_dimension(s.dim);
  eb.add_metric(static_cast<fbs::Metric>(s.metric));
  eb.add_element_type(static_cast<fbs::ElementType>(s.element_type));
  if (!vectors.IsNull()) eb.add_vectors(vectors);
  if (!source.IsNull()) eb.add_source(source);
  eb.add_chunk_index(s.chunk_index);
  if (!md.IsNull()) eb.add_metadata(md);
  b.Finish(eb.Finish(), s.identifier);
  return Bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

TEST(Embed, RoundTripFullRecord) {
  EmbedRecord rec = FullRecord();
  Bytes buf;
  ASSERT_TRUE(EncodeEmbed(rec, buf).ok());
  EXPECT_TRUE(fbs::EmbeddingBufferHasIdentifier(buf.data()));
  auto back = DecodeEmbed(buf);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, rec);
  EXPECT_TRUE(std::signbit(back->vectors[1][1]));  // -0.0 survives bit for bit
}

TEST(Embed, RoundTripMinimalRecord) {
  EmbedRecord rec;
  rec.model = "m";
  rec.dim = 1;
  rec.vectors = {{42.0f}};
  Bytes buf;
  ASSERT_TRUE(EncodeEmbed(rec, buf).ok());
  auto back = DecodeEmbed(buf);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, rec);
  EXPECT_FALSE(back->source.has_value());
  EXPECT_FALSE(back->chunk_index.has_value());
  EXPECT_EQ(back->metric, Metric::kCosine);
}

TEST(Embed, EncodingIsDeterministic) {
  Bytes a, b;
  ASSERT_TRUE(EncodeEmbed(FullRecord(), a).ok());
  ASSERT_TRUE(EncodeEmbed(FullRecord(), b).ok());
  EXPECT_EQ(a, b);
  EmbedRecord other = FullRecord();
  other.vectors[0][0] = 0.5f;
  ASSERT_TRUE(EncodeEmbed(other, b).ok());
  EXPECT_NE(a, b);
}

TEST(Embed, DecodesFromUnalignedMemory) {
  Bytes buf;
  ASSERT_TRUE(EncodeEmbed(FullRecord(), buf).ok());
  Bytes shifted(buf.size() + 1);
  std::memcpy(shifted.data() + 1, buf.data(), buf.size());
  auto back = DecodeEmbed(ByteSpan(shifted).subspan(1));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, FullRecord());
}

TEST(Embed, ManyVectorsAndMaxDimension) {
  EmbedRecord rec;
  rec.model = "wide";
  rec.dim = kEmbedMaxDim;
  rec.vectors.assign(3, std::vector<float>(kEmbedMaxDim, 0.5f));
  Bytes buf;
  ASSERT_TRUE(EncodeEmbed(rec, buf).ok());
  auto back = DecodeEmbed(buf);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, rec);

  EmbedRecord many;
  many.model = "narrow";
  many.dim = 1;
  for (int i = 0; i < 200000; ++i) many.vectors.push_back({static_cast<float>(i)});
  ASSERT_TRUE(EncodeEmbed(many, buf).ok());
  back = DecodeEmbed(buf);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->vectors.size(), 200000u);
  EXPECT_EQ(back->vectors[199999][0], 199999.0f);
}

TEST(Embed, EncodeRefusesInvalidRecords) {
  auto expect = [](EmbedRecord r, Code code, const std::string& reason) {
    Bytes buf;
    Status st = EncodeEmbed(r, buf);
    EXPECT_EQ(st.code(), code) << reason << ": " << st.ToString();
    EXPECT_EQ(st.reason(), reason) << st.ToString();
  };
  const Code kInv = Code::kInvalidArgument;
  EmbedRecord r = FullRecord();
  r.model.clear();
  expect(r, kInv, "EMBED_BAD_MODEL");
  r = FullRecord();
  r.dim = 0;
  expect(r, kInv, "EMBED_DIM_MISMATCH");
  r = FullRecord();
  r.dim = kEmbedMaxDim + 1;
  r.vectors = {std::vector<float>(kEmbedMaxDim + 1, 1.0f)};
  expect(r, kInv, "EMBED_DIM_MISMATCH");
  r = FullRecord();
  r.vectors[1].pop_back();
  expect(r, kInv, "EMBED_DIM_MISMATCH");
  r = FullRecord();
  r.vectors.clear();
  expect(r, kInv, "EMBED_NO_VECTORS");
  r = FullRecord();
  r.vectors[1][2] = std::nanf("");
  expect(r, kInv, "EMBED_NAN");
  r = FullRecord();
  r.vectors[0][0] = -std::numeric_limits<float>::infinity();
  expect(r, kInv, "EMBED_NAN");
  r = FullRecord();
  r.chunk_index = -1;
  expect(r, kInv, "EMBED_BAD_SOURCE");
  // Over 64 MiB of floats.
  r = FullRecord();
  r.dim = kEmbedMaxDim;
  r.vectors.assign(257, std::vector<float>(kEmbedMaxDim, 1.0f));
  expect(r, Code::kResourceExhausted, "EMBED_TOO_LARGE");
}

TEST(Embed, BuilderBaselineDecodes) {
  // The Spec defaults are valid, so each rejection below breaks one rule.
  auto r = DecodeEmbed(Build(Spec{}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->vectors, (std::vector<std::vector<float>>{{1, 2}}));
}

TEST(Embed, RejectsBadBuffers) {
  ExpectReject(Bytes{}, "EMBED_BAD_BUFFER");
  ExpectReject(AsBytes("hello, this is not a flatbuffer"), "EMBED_BAD_BUFFER");
  Spec s;
  s.identifier = "AIFX";
  ExpectReject(Build(s), "EMBED_BAD_BUFFER");
  Bytes good = Build(Spec{});
  for (size_t cut : {size_t{8}, good.size() / 2, good.size() - 1}) {
    ExpectReject(ByteSpan(good).first(cut), "EMBED_BAD_BUFFER");
  }
  // An offset pointing outside the buffer.
  Bytes bad = good;
  bad[0] = 0xff;
  bad[1] = 0xff;
  ExpectReject(bad, "EMBED_BAD_BUFFER");
  s = Spec{};
  s.metric = 3;
  ExpectReject(Build(s), "EMBED_BAD_BUFFER");
  s = Spec{};
  s.element_type = 2;
  ExpectReject(Build(s), "EMBED_BAD_BUFFER");
}

TEST(Embed, RejectsUnsortedOrDuplicateMetadata) {
  Spec s;
  s.metadata = {{"a", "1"}, {"b", "2"}};
  EXPECT_TRUE(DecodeEmbed(Build(s)).ok());
  s.metadata = {{"b", "1"}, {"a", "2"}};
  ExpectReject(Build(s), "EMBED_BAD_BUFFER");
  s.metadata = {{"a", "1"}, {"a", "2"}};
  ExpectReject(Build(s), "EMBED_BAD_BUFFER");
}

TEST(Embed, RejectsSharedVectorStorage) {
  // 5000 entries that all point at one 1000-float table: a 4 KiB buffer that
  // would decode into 20 MB.
  Spec s;
  s.dim = 1000;
  s.alias_vectors = true;
  s.alias_count = 5000;
  ExpectReject(Build(s), "EMBED_BAD_BUFFER");
  s.alias_count = 1;  // one reference is fine
  EXPECT_TRUE(DecodeEmbed(Build(s)).ok());
}

TEST(Embed, RejectsDimensionProblems) {
  Spec s;
  s.vectors = std::vector<std::vector<float>>{{1, 2}, {1, 2, 3}};
  ExpectReject(Build(s), "EMBED_DIM_MISMATCH");
  s = Spec{};
  s.vectors = std::vector<std::vector<float>>{{1}};
  ExpectReject(Build(s), "EMBED_DIM_MISMATCH");
  s = Spec{};
  s.dim = 0;
  s.vectors = std::vector<std::vector<float>>{{}};
  ExpectReject(Build(s), "EMBED_DIM_MISMATCH");
  s = Spec{};
  s.dim = kEmbedMaxDim + 1;
  s.vectors = std::vector<std::vector<float>>{std::vector<float>(kEmbedMaxDim + 1, 0.0f)};
  ExpectReject(Build(s), "EMBED_DIM_MISMATCH");
  s = Spec{};
  s.both_fields = true;  // float32 vector that also carries float16 values
  ExpectReject(Build(s), "EMBED_DIM_MISMATCH");
  {
    // FLOAT16 declared, but the vector holds only float32 `values`.
    flatbuffers::FlatBufferBuilder b;
    auto v = fbs::CreateVector(b, b.CreateVector(std::vector<float>{1, 2}));
    auto vecs = b.CreateVector(std::vector<flatbuffers::Offset<fbs::Vector>>{v});
    auto model = b.CreateString("m");
    fbs::EmbeddingBuilder eb(b);
    eb.add_model(model);
    eb.add_dimension(2);
    eb.add_element_type(fbs::ElementType::FLOAT16);
    eb.add_vectors(vecs);
    fbs::FinishEmbeddingBuffer(b, eb.Finish());
    ExpectReject(ByteSpan(b.GetBufferPointer(), b.GetSize()), "EMBED_DIM_MISMATCH");
  }
}

TEST(Embed, RejectsNanAndInfinity) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::signaling_NaN(),
                    std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
    Spec s;
    s.vectors = std::vector<std::vector<float>>{{1, 2}, {3, bad}};
    ExpectReject(Build(s), "EMBED_NAN");
  }
  Spec s;
  s.element_type = 1;
  s.f16 = {{0x3c00, 0x7e00}};  // 1.0, NaN
  ExpectReject(Build(s), "EMBED_NAN");
  s.f16 = {{0xfc00, 0x3c00}};  // -inf
  ExpectReject(Build(s), "EMBED_NAN");
}

TEST(Embed, RejectsMissingVectorsAndModel) {
  Spec s;
  s.vectors.reset();
  ExpectReject(Build(s), "EMBED_NO_VECTORS");
  s.vectors = std::vector<std::vector<float>>{};
  ExpectReject(Build(s), "EMBED_NO_VECTORS");
  s = Spec{};
  s.model.reset();
  ExpectReject(Build(s), "EMBED_BAD_MODEL");
  s.model = "";
  ExpectReject(Build(s), "EMBED_BAD_MODEL");
}

TEST(Embed, RejectsBadSource) {
  Spec s;
  s.source = std::vector<uint8_t>(32, 7);
  s.chunk_index = 0;
  auto ok = DecodeEmbed(Build(s));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->chunk_index, 0);
  s.source = std::vector<uint8_t>(31, 7);
  ExpectReject(Build(s), "EMBED_BAD_SOURCE");
  s.source = std::vector<uint8_t>(33, 7);
  ExpectReject(Build(s), "EMBED_BAD_SOURCE");
  s.source.reset();
  s.chunk_index = -2;
  ExpectReject(Build(s), "EMBED_BAD_SOURCE");
}

TEST(Embed, Float16IsReadAsFloat32) {
  Spec s;
  s.dim = 6;
  s.element_type = 1;
  // 1.0, -2.5, 65504 (max), smallest subnormal, -0.0, 0.099975586
  s.f16 = {{0x3c00, 0xc100, 0x7bff, 0x0001, 0x8000, 0x2e66}};
  auto r = DecodeEmbed(Build(s));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& v = r->vectors[0];
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.5f);
  EXPECT_EQ(v[2], 65504.0f);
  EXPECT_EQ(v[3], std::ldexp(1.0f, -24));
  EXPECT_EQ(v[4], 0.0f);
  EXPECT_TRUE(std::signbit(v[4]));
  EXPECT_EQ(v[5], 0.099975586f);
}

TEST(Embed, TooLargeBuffer) {
  Bytes big(kEmbedMaxBytes + 1, 0);
  ExpectReject(big, Code::kResourceExhausted, "EMBED_TOO_LARGE");
}

TEST(Embed, ValidatorStreamsAndBounds) {
  Bytes buf;
  ASSERT_TRUE(EncodeEmbed(FullRecord(), buf).ok());
  auto v = NewEmbedValidator();
  for (size_t i = 0; i < buf.size(); i += 7) {
    ASSERT_TRUE(v->Update(ByteSpan(buf).subspan(i, std::min<size_t>(7, buf.size() - i))).ok());
  }
  EXPECT_TRUE(v->Finish().ok());

  v = NewEmbedValidator();
  ASSERT_TRUE(v->Update(ByteSpan(buf).first(buf.size() - 3)).ok());
  EXPECT_EQ(v->Finish().reason(), "EMBED_BAD_BUFFER");

  Spec s;
  s.vectors = std::vector<std::vector<float>>{{1, std::nanf("")}};
  Bytes nan = Build(s);
  v = NewEmbedValidator();
  ASSERT_TRUE(v->Update(nan).ok());
  EXPECT_EQ(v->Finish().reason(), "EMBED_NAN");

  v = NewEmbedValidator();
  Bytes mib(size_t{1} << 20, 0);
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(v->Update(mib).ok());
  Status st = v->Update(Bytes(1, 0));
  EXPECT_EQ(st.code(), Code::kResourceExhausted);
  EXPECT_EQ(st.reason(), "EMBED_TOO_LARGE");
}

TEST(Embed, Metrics) {
  for (Metric m : {Metric::kCosine, Metric::kL2, Metric::kInnerProduct}) {
    auto p = ParseMetric(MetricName(m));
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(*p, m);
  }
  EXPECT_EQ(*ParseMetric("dot"), Metric::kInnerProduct);
  EXPECT_EQ(ParseMetric("manhattan").status().reason(), "UNKNOWN_METRIC");
}

// --- .npy ----------------------------------------------------------------

Bytes Npy(const std::string& descr, const std::string& shape, ByteSpan data, bool fortran = false,
          int version = 1) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                       ", 'shape': " + shape + ", }";
  const size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  Bytes out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(version), 0};
  const size_t n = header.size();
  out.push_back(static_cast<uint8_t>(n));
  out.push_back(static_cast<uint8_t>(n >> 8));
  if (version != 1) {
    out.push_back(static_cast<uint8_t>(n >> 16));
    out.push_back(static_cast<uint8_t>(n >> 24));
  }
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

template <typename T>
ByteSpan Raw(const std::vector<T>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(T)};
}

TEST(Embed, NpyFloat32Matrix) {
  std::vector<float> data = {1, 2, 3, 4, 5, 6};
  auto r = EmbedVectorsFromNpy(Npy("<f4", "(2, 3)", Raw(data)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::vector<std::vector<float>>{{1, 2, 3}, {4, 5, 6}}));
  // Fortran order: column-major data for the same matrix.
  std::vector<float> cols = {1, 4, 2, 5, 3, 6};
  r = EmbedVectorsFromNpy(Npy("<f4", "(2, 3)", Raw(cols), /*fortran=*/true));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::vector<std::vector<float>>{{1, 2, 3}, {4, 5, 6}}));
}

TEST(Embed, NpyOtherDtypesAndVersions) {
  std::vector<double> d = {0.5, -1.0, 2.25};
  auto r = EmbedVectorsFromNpy(Npy("<f8", "(3,)", Raw(d), false, 2));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::vector<std::vector<float>>{{0.5f, -1.0f, 2.25f}}));
  std::vector<uint16_t> h = {0x3c00, 0xc100};
  r = EmbedVectorsFromNpy(Npy("<f2", "(1, 2)", Raw(h), false, 3));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::vector<std::vector<float>>{{1.0f, -2.5f}}));
  // The vectors then encode as an embedding.
  EmbedRecord rec;
  rec.model = "m";
  rec.dim = 2;
  rec.vectors = *r;
  Bytes buf;
  EXPECT_TRUE(EncodeEmbed(rec, buf).ok());
}

TEST(Embed, NpyRejects) {
  std::vector<float> data = {1, 2, 3, 4};
  auto reason = [](const Bytes& npy) { return EmbedVectorsFromNpy(npy).status().reason(); };
  EXPECT_EQ(reason(Bytes{1, 2, 3}), "EMBED_BAD_NPY");
  EXPECT_EQ(reason(Npy("<i4", "(4,)", Raw(data))), "EMBED_BAD_NPY");
  EXPECT_EQ(reason(Npy(">f4", "(4,)", Raw(data))), "EMBED_BAD_NPY");
  EXPECT_EQ(reason(Npy("<f4", "(1, 2, 2)", Raw(data))), "EMBED_BAD_NPY");
  EXPECT_EQ(reason(Npy("<f4", "()", Raw(data))), "EMBED_BAD_NPY");
  EXPECT_EQ(reason(Npy("<f4", "(5,)", Raw(data))), "EMBED_BAD_NPY");
  EXPECT_EQ(reason(Npy("<f4", "(3,)", Raw(data))), "EMBED_BAD_NPY");
  // Zero-width rows: found by fuzzing (would allocate one empty vector per row).
  EXPECT_EQ(reason(Npy("<f4", "(41534000, 0)", {})), "EMBED_BAD_NPY");
  EXPECT_EQ(reason(Npy("<f4", "(0,)", {})), "EMBED_BAD_NPY");
  Bytes truncated = Npy("<f4", "(4,)", Raw(data));
  truncated.resize(20);
  EXPECT_EQ(reason(truncated), "EMBED_BAD_NPY");
}

}  // namespace
}  // namespace aifs
