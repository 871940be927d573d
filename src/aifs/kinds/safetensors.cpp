// .safetensors reader and writer.
#include "aifs/kinds/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

namespace aifs {

namespace {

using nlohmann::json;

Status BadHeader(std::string msg) {
  return err::InvalidArgument("SAFETENSORS_BAD_HEADER", std::move(msg));
}
Status BadOffsets(std::string msg) {
  return err::InvalidArgument("SAFETENSORS_BAD_OFFSETS", std::move(msg));
}

constexpr struct {
  std::string_view name;
  DType dtype;
} kDTypes[] = {{"BOOL", DType::kBool},    {"U8", DType::kUInt8},    {"I8", DType::kInt8},
               {"U16", DType::kUInt16},   {"I16", DType::kInt16},   {"U32", DType::kUInt32},
               {"I32", DType::kInt32},    {"U64", DType::kUInt64},  {"I64", DType::kInt64},
               {"F16", DType::kFloat16},  {"BF16", DType::kBFloat16}, {"F32", DType::kFloat32},
               {"F64", DType::kFloat64}};

std::string_view SafetensorsDTypeName(DType d) {
  for (const auto& e : kDTypes) {
    if (e.dtype == d) return e.name;
  }
  return {};
}

// A non-negative JSON integer that fits int64.
bool GetNonNegative(const json& j, int64_t& out) {
  if (j.is_number_unsigned()) {
    const uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    out = static_cast<int64_t>(v);
    return true;
  }
  if (j.is_number_integer()) {
    out = j.get<int64_t>();
    return out >= 0;
  }
  return false;
}

struct Pending {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  int64_t begin, end;
};

}  // namespace

Result<SafetensorsFile> ParseSafetensors(ByteSpan file) {
  if (file.size() < 8) return err::InvalidArgument("SAFETENSORS_TRUNCATED", "file shorter than 8 bytes");
  uint64_t n;
  std::memcpy(&n, file.data(), 8);
  if (n > kMaxSafetensorsHeader) {
    return err::InvalidArgument("SAFETENSORS_HEADER_TOO_LARGE",
                                "header of " + std::to_string(n) + " bytes exceeds " +
                                    std::to_string(kMaxSafetensorsHeader));
  }
  if (n > file.size() - 8) {
    return err::InvalidArgument("SAFETENSORS_TRUNCATED",
                                "header of " + std::to_string(n) + " bytes, file has " +
                                    std::to_string(file.size() - 8) + " after the size");
  }
  const uint8_t* hp = file.data() + 8;
  if (n == 0 || hp[0] != '{') return BadHeader("header does not start with '{'");
  json header = json::parse(hp, hp + n, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) return BadHeader("header is not a JSON object");

  SafetensorsFile out;
  std::vector<Pending> pending;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) return BadHeader("__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) return BadHeader("__metadata__ values must be strings");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) return BadHeader("entry '" + key + "' is not an object");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string() || sh == v.end() || !sh->is_array() ||
        off == v.end() || !off->is_array() || off->size() != 2) {
      return BadHeader("entry '" + key + "' lacks dtype, shape or data_offsets");
    }
    Pending p;
    p.name = key;
    const std::string dname = dt->get<std::string>();
    bool known = false;
    for (const auto& e : kDTypes) {
      if (e.name == dname) p.dtype = e.dtype, known = true;
    }
    if (!known) {
      return err::InvalidArgument("SAFETENSORS_UNSUPPORTED_DTYPE",
                                  "tensor '" + key + "' has unsupported dtype '" + dname + "'");
    }
    if (sh->size() > kMaxTensorDims) {
      return err::InvalidArgument("TENSOR_TOO_MANY_DIMS", "tensor '" + key + "' has " +
                                                              std::to_string(sh->size()) +
                                                              " dimensions");
    }
    for (const json& d : *sh) {
      int64_t dim;
      if (!GetNonNegative(d, dim)) {
        if (d.is_number_integer()) {
          return err::InvalidArgument("TENSOR_SHAPE_OVERFLOW",
                                      "tensor '" + key + "' has a negative dimension");
        }
        return BadHeader("tensor '" + key + "' has a non-integer dimension");
      }
      p.shape.push_back(dim);
    }
    if (!GetNonNegative((*off)[0], p.begin) || !GetNonNegative((*off)[1], p.end))
      return BadOffsets("tensor '" + key + "' has invalid data_offsets");
    if (p.begin > p.end) return BadOffsets("tensor '" + key + "' ends before it begins");
    pending.push_back(std::move(p));
  }

  const uint64_t data_size = file.size() - 8 - n;
  const uint8_t* data = file.data() + 8 + n;
  std::sort(pending.begin(), pending.end(), [](const Pending& a, const Pending& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  for (Pending& p : pending) {
    AIFS_ASSIGN_OR_RETURN(uint64_t bytes, TensorBytes(p.dtype, p.shape, 1));
    const uint64_t b = static_cast<uint64_t>(p.begin), e = static_cast<uint64_t>(p.end);
    if (e > data_size) {
      return BadOffsets("tensor '" + p.name + "' ends at " + std::to_string(e) +
                        ", past the data buffer of " + std::to_string(data_size) + " bytes");
    }
    if (b < cursor) return BadOffsets("tensor '" + p.name + "' overlaps the previous tensor");
    if (b > cursor) {
      return BadOffsets("hole in the data buffer at " + std::to_string(cursor) +
                        " before tensor '" + p.name + "'");
    }
    if (e - b != bytes) {
      return BadOffsets("tensor '" + p.name + "' has " + std::to_string(e - b) +
                        " bytes, its shape and dtype need " + std::to_string(bytes));
    }
    cursor = e;
    SafetensorsEntry entry;
    entry.name = std::move(p.name);
    DecodedTensor& t = entry.tensor;
    t.dtype = p.dtype;
    t.shape = std::move(p.shape);
    t.rows = 1;
    const uint8_t* ptr = data + b;
    if (reinterpret_cast<uintptr_t>(ptr) % DTypeSize(t.dtype) == 0) {
      t.data = ByteSpan(ptr, bytes);
      t.zero_copy = true;
    } else {
      t.owned.assign(ptr, ptr + bytes);
      t.data = ByteSpan(t.owned.data(), t.owned.size());
    }
    out.tensors.push_back(std::move(entry));
  }
  if (cursor != data_size) {
    return BadOffsets(std::to_string(data_size - cursor) +
                      " bytes at the end of the data buffer belong to no tensor");
  }
  return out;
}

Status EncodeSafetensors(const std::vector<std::pair<std::string, TensorView>>& tensors,
                         const Metadata& metadata, Bytes& out) {
  json header = json::object();
  if (!metadata.empty()) {
    json m = json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || header.contains(name)) {
      return err::InvalidArgument("SAFETENSORS_BAD_HEADER", "duplicate or reserved name '" + name + "'");
    }
    const std::string_view dname = SafetensorsDTypeName(t.dtype);
    AIFS_ASSIGN_OR_RETURN(uint64_t bytes, TensorBytes(t.dtype, t.shape, 1));
    if (t.data.size() != bytes) {
      return err::InvalidArgument("TENSOR_SIZE_MISMATCH", "tensor '" + name + "' has " +
                                                              std::to_string(t.data.size()) +
                                                              " bytes, expected " +
                                                              std::to_string(bytes));
    }
    header[name] = {{"dtype", std::string(dname)},
                    {"shape", t.shape},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h;
  try {
    h = header.dump();  // throws on names or metadata that are not valid UTF-8
  } catch (const json::exception& e) {
    return BadHeader(std::string("cannot encode the header: ") + e.what());
  }
  h.append((8 - h.size() % 8) % 8, ' ');
  out.clear();
  out.reserve(8 + h.size() + offset);
  const uint64_t n = h.size();
  uint8_t len[8];
  std::memcpy(len, &n, 8);
  out.insert(out.end(), len, len + 8);
  out.insert(out.end(), h.begin(), h.end());
  for (const auto& [name, t] : tensors) out.insert(out.end(), t.data.begin(), t.data.end());
  return Status::Ok();
}

Metadata SafetensorsAssetMetadata(const SafetensorsFile& file, const SafetensorsEntry& entry) {
  Metadata m;
  m["safetensors.name"] = entry.name;
  for (const auto& [k, v] : file.metadata) m["safetensors.metadata." + k] = v;
  return m;
}

}  // namespace aifs
