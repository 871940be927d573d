#include "aifs/kinds/embed.h"

#include "aifs/kinds/tensor.h"

#include <flatbuffers/flatbuffers.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "embedding_generated.h"

namespace aifs {

static_assert(std::endian::native == std::endian::little,
              "embed decoding copies little-endian FlatBuffers scalars directly");

namespace {

Status BadBuffer(std::string msg) { return err::InvalidArgument("EMBED_BAD_BUFFER", std::move(msg)); }
Status DimMismatch(std::string msg) {
  return err::InvalidArgument("EMBED_DIM_MISMATCH", std::move(msg));
}
Status TooLarge(uint64_t n) {
  return err::ResourceExhausted("EMBED_TOO_LARGE", "embedding encoding of " + std::to_string(n) +
                                                       " bytes exceeds the limit of " +
                                                       std::to_string(kEmbedMaxBytes));
}


Status CheckValues(const float* v, size_t n, size_t which) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) {
      return err::InvalidArgument("EMBED_NAN", "vector " + std::to_string(which) + " element " +
                                                   std::to_string(i) + " is NaN or infinite");
    }
  }
  return Status::Ok();
}

Status CheckHeader(std::string_view model, uint64_t dim) {
  if (model.empty()) return err::InvalidArgument("EMBED_BAD_MODEL", "model name is empty");
  if (dim == 0 || dim > kEmbedMaxDim) {
    return DimMismatch("dimension " + std::to_string(dim) + " is outside 1.." +
                       std::to_string(kEmbedMaxDim));
  }
  return Status::Ok();
}

Status CheckChunkIndex(int64_t chunk_index) {
  if (chunk_index < 0) {
    return err::InvalidArgument("EMBED_BAD_SOURCE",
                                "chunk index " + std::to_string(chunk_index) + " is negative");
  }
  return Status::Ok();
}

}  // namespace

Status CheckEmbedRecord(const EmbedRecord& rec) {
  AIFS_RETURN_IF_ERROR(CheckHeader(rec.model, rec.dim));
  if (rec.vectors.empty()) return err::InvalidArgument("EMBED_NO_VECTORS", "no vectors");
  for (size_t i = 0; i < rec.vectors.size(); ++i) {
    if (rec.vectors[i].size() != rec.dim) {
      return DimMismatch("vector " + std::to_string(i) + " has " +
                         std::to_string(rec.vectors[i].size()) + " values, dimension is " +
                         std::to_string(rec.dim));
    }
    AIFS_RETURN_IF_ERROR(CheckValues(rec.vectors[i].data(), rec.vectors[i].size(), i));
  }
  if (rec.chunk_index) AIFS_RETURN_IF_ERROR(CheckChunkIndex(*rec.chunk_index));
  switch (rec.metric) {
    case Metric::kCosine:
    case Metric::kL2:
    case Metric::kInnerProduct: break;
    default: return err::InvalidArgument("EMBED_BAD_METRIC", "unknown metric value");
  }
  return Status::Ok();
}

Status EncodeEmbed(const EmbedRecord& rec, Bytes& out) {
  AIFS_RETURN_IF_ERROR(CheckEmbedRecord(rec));
  // A lower bound of the encoded size, so that an oversized record is refused
  // before the builder grows towards its 2 GiB hard limit.
  uint64_t estimate = rec.model.size() + rec.model_digest.size();
  estimate += uint64_t{rec.vectors.size()} * (uint64_t{rec.dim} * 4 + 12);
  for (const auto& [k, v] : rec.metadata) estimate += k.size() + v.size() + 8;
  if (estimate > kEmbedMaxBytes) return TooLarge(estimate);

  flatbuffers::FlatBufferBuilder fbb(static_cast<size_t>(estimate) + 256);
  fbb.ForceDefaults(false);
  std::vector<flatbuffers::Offset<fbs::Vector>> vecs;
  vecs.reserve(rec.vectors.size());
  for (const auto& v : rec.vectors) {
    auto values = fbb.CreateVector(v.data(), v.size());
    vecs.push_back(fbs::CreateVector(fbb, values, 0));
  }
  auto vectors = fbb.CreateVector(vecs);
  // std::map iterates in bytewise key order: the order the schema requires
  // (CreateVectorOfSortedTables would compare with strcmp, wrong for NUL bytes).
  std::vector<flatbuffers::Offset<fbs::KeyValue>> kvs;
  kvs.reserve(rec.metadata.size());
  for (const auto& [k, v] : rec.metadata) {
    auto key = fbb.CreateString(k);
    auto value = fbb.CreateString(v);
    kvs.push_back(fbs::CreateKeyValue(fbb, key, value));
  }
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fbs::KeyValue>>> metadata;
  if (!kvs.empty()) metadata = fbb.CreateVector(kvs);
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> source;
  if (rec.source) source = fbb.CreateVector(rec.source->data(), rec.source->size());
  auto model = fbb.CreateString(rec.model);
  flatbuffers::Offset<flatbuffers::String> digest;
  if (!rec.model_digest.empty()) digest = fbb.CreateString(rec.model_digest);

  fbs::EmbeddingBuilder eb(fbb);
  eb.add_model(model);
  if (!digest.IsNull()) eb.add_model_digest(digest);
  eb.add_dimension(rec.dim);
  eb.add_metric(static_cast<fbs::Metric>(rec.metric));
  eb.add_element_type(fbs::ElementType::FLOAT32);
  eb.add_vectors(vectors);
  if (!source.IsNull()) eb.add_source(source);
  eb.add_chunk_index(rec.chunk_index.value_or(-1));
  if (!metadata.IsNull()) eb.add_metadata(metadata);
  fbs::FinishEmbeddingBuffer(fbb, eb.Finish());

  if (fbb.GetSize() > kEmbedMaxBytes) return TooLarge(fbb.GetSize());
  out.assign(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
  return Status::Ok();
}

Result<EmbedRecord> DecodeEmbed(ByteSpan buf) {
  if (buf.size() > kEmbedMaxBytes) return TooLarge(buf.size());
  if (buf.size() < 8 || !fbs::EmbeddingBufferHasIdentifier(buf.data())) {
    return BadBuffer("not an AIFS embedding buffer (file identifier \"AIFE\" missing)");
  }
  // The verifier checks alignment relative to the buffer start; reading is
  // only well-defined when the start itself is 8-byte aligned.
  std::vector<uint64_t> aligned;
  const uint8_t* data = buf.data();
  if (reinterpret_cast<uintptr_t>(data) % alignof(uint64_t) != 0) {
    aligned.resize((buf.size() + 7) / 8);
    std::memcpy(aligned.data(), buf.data(), buf.size());
    data = reinterpret_cast<const uint8_t*>(aligned.data());
  }
  const size_t size = buf.size();
  // Schema depth is 3 (Embedding -> Vector/KeyValue); a table needs at least
  // 8 bytes (its soffset and the offset pointing at it), so size/8 bounds the
  // table count of any buffer whose tables are not shared.
  flatbuffers::Verifier verifier(data, size, /*max_depth=*/8,
                                 /*max_tables=*/static_cast<flatbuffers::uoffset_t>(size / 8 + 16));
  if (!fbs::VerifyEmbeddingBuffer(verifier)) {
    return BadBuffer("embedding buffer fails FlatBuffers verification");
  }
  const fbs::Embedding* e = fbs::GetEmbedding(data);

  const auto metric = static_cast<uint8_t>(e->metric());
  if (metric > static_cast<uint8_t>(fbs::Metric::MAX)) {
    return BadBuffer("unknown metric value " + std::to_string(metric));
  }
  const auto etype = e->element_type();
  if (etype != fbs::ElementType::FLOAT32 && etype != fbs::ElementType::FLOAT16) {
    return BadBuffer("unknown element type " + std::to_string(static_cast<int>(etype)));
  }
  const bool f16 = etype == fbs::ElementType::FLOAT16;

  EmbedRecord rec;
  if (e->model() != nullptr) rec.model = e->model()->str();
  rec.dim = e->dimension();
  AIFS_RETURN_IF_ERROR(CheckHeader(rec.model, rec.dim));
  if (e->model_digest() != nullptr) rec.model_digest = e->model_digest()->str();
  rec.metric = static_cast<Metric>(metric);

  const auto* vectors = e->vectors();
  if (vectors == nullptr || vectors->size() == 0) {
    return err::InvalidArgument("EMBED_NO_VECTORS", "no vectors");
  }
  // Tables and vectors may legally be shared in a FlatBuffer; here that would
  // let a small buffer decode into far more memory than it occupies.
  const uint64_t elem = f16 ? 2 : 4;
  if (uint64_t{vectors->size()} * rec.dim * elem > size) {
    return BadBuffer("vectors declare more data than the buffer holds (shared storage)");
  }
  rec.vectors.resize(vectors->size());
  for (flatbuffers::uoffset_t i = 0; i < vectors->size(); ++i) {
    const fbs::Vector* v = vectors->Get(i);
    const size_t n = f16 ? (v->values_f16() ? v->values_f16()->size() : 0)
                         : (v->values() ? v->values()->size() : 0);
    const bool other = f16 ? v->values() != nullptr : v->values_f16() != nullptr;
    if (other) {
      return DimMismatch("vector " + std::to_string(i) + " has values of the wrong element type");
    }
    if (n != rec.dim) {
      return DimMismatch("vector " + std::to_string(i) + " has " + std::to_string(n) +
                         " values, dimension is " + std::to_string(rec.dim));
    }
    auto& out = rec.vectors[i];
    out.resize(n);
    if (f16) {
      const uint8_t* p = v->values_f16()->Data();
      for (size_t j = 0; j < n; ++j) {
        uint16_t h;
        std::memcpy(&h, p + 2 * j, 2);
        out[j] = HalfToFloat(h);
      }
    } else {
      std::memcpy(out.data(), v->values()->Data(), n * sizeof(float));
    }
    AIFS_RETURN_IF_ERROR(CheckValues(out.data(), n, i));
  }

  if (const auto* src = e->source(); src != nullptr) {
    if (src->size() != 32) {
      return err::InvalidArgument("EMBED_BAD_SOURCE", "source asset ID has " +
                                                          std::to_string(src->size()) +
                                                          " bytes, not 32");
    }
    std::array<uint8_t, 32> id;
    std::memcpy(id.data(), src->Data(), 32);
    rec.source = id;
  }
  if (e->chunk_index() != -1) {
    AIFS_RETURN_IF_ERROR(CheckChunkIndex(e->chunk_index()));
    rec.chunk_index = e->chunk_index();
  }

  if (const auto* md = e->metadata(); md != nullptr) {
    uint64_t total = 0;
    std::string_view prev;
    for (flatbuffers::uoffset_t i = 0; i < md->size(); ++i) {
      const fbs::KeyValue* kv = md->Get(i);
      std::string_view key = kv->key()->string_view();
      std::string_view value = kv->value() ? kv->value()->string_view() : std::string_view();
      total += key.size() + value.size();
      if (total > size) return BadBuffer("metadata declares more data than the buffer holds");
      if (i > 0 && !(prev < key)) {
        return BadBuffer("metadata keys are not strictly ascending (duplicate or unsorted '" +
                         std::string(key.substr(0, 64)) + "')");
      }
      prev = key;
      rec.metadata.emplace_hint(rec.metadata.end(), std::string(key), std::string(value));
    }
  }
  return rec;
}

namespace {
class EmbedValidator : public KindValidator {
 public:
  Status Update(ByteSpan data) override {
    if (data.size() > kEmbedMaxBytes - buf_.size()) return TooLarge(buf_.size() + data.size());
    buf_.insert(buf_.end(), data.begin(), data.end());
    return Status::Ok();
  }
  Status Finish() override {
    Result<EmbedRecord> r = DecodeEmbed(buf_);
    Bytes().swap(buf_);
    if (!r.ok()) return r.status();
    // One vector describes one asset (or chunk) and is indexed in the space
    // named after the model; several are a batch for ingest operators.
    if (r->vectors.size() == 1) {
      indexable_ = IndexableVector{r->model, std::move(r->vectors.front()), std::nullopt};
      if (r->source) indexable_->source = AssetId(*r->source);
    }
    return Status::Ok();
  }
  std::optional<IndexableVector> Indexable() const override { return indexable_; }

 private:
  Bytes buf_;
  std::optional<IndexableVector> indexable_;
};

// --- .npy ---------------------------------------------------------------

Status BadNpy(std::string msg) { return err::InvalidArgument("EMBED_BAD_NPY", std::move(msg)); }

// Finds `'key':` in the header dict and returns the text after the colon.
std::optional<std::string_view> NpyField(std::string_view header, std::string_view key) {
  for (char q : {'\'', '"'}) {
    std::string pat = std::string(1, q) + std::string(key) + std::string(1, q);
    size_t pos = header.find(pat);
    if (pos == std::string_view::npos) continue;
    std::string_view rest = header.substr(pos + pat.size());
    size_t i = rest.find_first_not_of(" \t");
    if (i == std::string_view::npos || rest[i] != ':') return std::nullopt;
    rest = rest.substr(i + 1);
    i = rest.find_first_not_of(" \t");
    if (i == std::string_view::npos) return std::nullopt;
    return rest.substr(i);
  }
  return std::nullopt;
}
}  // namespace

std::unique_ptr<KindValidator> NewEmbedValidator() { return std::make_unique<EmbedValidator>(); }

Result<std::vector<std::vector<float>>> EmbedVectorsFromNpy(ByteSpan npy) {
  static constexpr char kMagic[] = "\x93NUMPY";
  if (npy.size() < 10 || std::memcmp(npy.data(), kMagic, 6) != 0) {
    return BadNpy("not a .npy file (magic missing)");
  }
  const uint8_t major = npy[6];
  size_t header_len, offset;
  if (major == 1) {
    header_len = npy[8] | (size_t{npy[9]} << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (npy.size() < 12) return BadNpy("truncated header");
    header_len = npy[8] | (size_t{npy[9]} << 8) | (size_t{npy[10]} << 16) | (size_t{npy[11]} << 24);
    offset = 12;
  } else {
    return BadNpy("unsupported .npy version " + std::to_string(major));
  }
  if (header_len > npy.size() - offset) return BadNpy("truncated header");
  std::string_view header = AsChars(npy.subspan(offset, header_len));
  const ByteSpan data = npy.subspan(offset + header_len);

  auto descr = NpyField(header, "descr");
  if (!descr || descr->size() < 5) return BadNpy("header has no 'descr'");
  const char q = (*descr)[0];
  size_t end = descr->find(q, 1);
  if ((q != '\'' && q != '"') || end == std::string_view::npos) return BadNpy("bad 'descr'");
  std::string_view dtype = descr->substr(1, end - 1);
  size_t item;
  if (dtype == "<f2") {
    item = 2;
  } else if (dtype == "<f4") {
    item = 4;
  } else if (dtype == "<f8") {
    item = 8;
  } else {
    return BadNpy("dtype '" + std::string(dtype) + "' is not little-endian float16/32/64");
  }
  auto fortran = NpyField(header, "fortran_order");
  bool is_fortran;
  if (fortran && fortran->substr(0, 5) == "False") {
    is_fortran = false;
  } else if (fortran && fortran->substr(0, 4) == "True") {
    is_fortran = true;
  } else {
    return BadNpy("header has no 'fortran_order'");
  }
  auto shape_text = NpyField(header, "shape");
  if (!shape_text || shape_text->empty() || (*shape_text)[0] != '(') return BadNpy("bad 'shape'");
  size_t close = shape_text->find(')');
  if (close == std::string_view::npos) return BadNpy("bad 'shape'");
  std::vector<uint64_t> shape;
  std::string_view dims = shape_text->substr(1, close - 1);
  size_t i = 0;
  while (i < dims.size()) {
    while (i < dims.size() && (dims[i] == ' ' || dims[i] == ',')) ++i;
    if (i >= dims.size()) break;
    uint64_t v = 0;
    size_t start = i;
    while (i < dims.size() && dims[i] >= '0' && dims[i] <= '9') {
      if (v > (uint64_t{1} << 40)) return BadNpy("shape too large");
      v = v * 10 + static_cast<uint64_t>(dims[i] - '0');
      ++i;
    }
    if (i == start) return BadNpy("bad 'shape'");
    shape.push_back(v);
  }
  uint64_t rows, cols;
  if (shape.size() == 1) {
    rows = 1;
    cols = shape[0];
  } else if (shape.size() == 2) {
    rows = shape[0];
    cols = shape[1];
  } else {
    return BadNpy("shape must be (dim,) or (n, dim), got " + std::to_string(shape.size()) +
                  " dimensions");
  }
  // cols >= 1 also bounds rows by the data size below (found by fuzzing: a
  // (41534000, 0) shape with no data would allocate 41 million empty vectors).
  if (cols == 0 || cols > kEmbedMaxDim) {
    return BadNpy("dimension " + std::to_string(cols) + " is outside 1..65536");
  }
  if (rows > (uint64_t{1} << 32) || rows * cols * item != data.size()) {
    return BadNpy("data is " + std::to_string(data.size()) + " bytes, shape needs " +
                  std::to_string(rows * cols * item));
  }
  std::vector<std::vector<float>> out(rows, std::vector<float>(cols));
  for (uint64_t r = 0; r < rows; ++r) {
    for (uint64_t c = 0; c < cols; ++c) {
      // C order: row-major; Fortran order: column-major.
      const uint8_t* p = data.data() + (is_fortran ? c * rows + r : r * cols + c) * item;
      if (item == 2) {
        uint16_t h;
        std::memcpy(&h, p, 2);
        out[r][c] = HalfToFloat(h);
      } else if (item == 4) {
        std::memcpy(&out[r][c], p, 4);
      } else {
        double d;
        std::memcpy(&d, p, 8);
        out[r][c] = static_cast<float>(d);
      }
    }
  }
  return out;
}

}  // namespace aifs
