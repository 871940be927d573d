// .npy reader and writer (format description: numpy.lib.format).
#include "aifs/kinds/npy.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aifs {

namespace {

constexpr uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
constexpr size_t kMaxHeader = 1u << 20;

Status BadHeader(std::string msg) { return err::InvalidArgument("NPY_BAD_HEADER", std::move(msg)); }

// The header is a Python dict literal as written by numpy's repr:
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// This is a small recursive-free scanner for exactly that grammar.
class HeaderScanner {
 public:
  explicit HeaderScanner(std::string_view s) : s_(s) {}

  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool Eat(char c) {
    SkipSpace();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool Peek(char c) {
    SkipSpace();
    return i_ < s_.size() && s_[i_] == c;
  }
  bool AtEnd() {
    SkipSpace();
    return i_ == s_.size();
  }
  // '...' or "..." without escapes (numpy never writes any in these keys/values).
  std::optional<std::string> String() {
    SkipSpace();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) return std::nullopt;
    const char q = s_[i_++];
    const size_t start = i_;
    while (i_ < s_.size() && s_[i_] != q) {
      if (s_[i_] == '\\') return std::nullopt;
      ++i_;
    }
    if (i_ >= s_.size()) return std::nullopt;
    return std::string(s_.substr(start, i_++ - start));
  }
  std::optional<bool> Bool() {
    SkipSpace();
    if (s_.substr(i_, 4) == "True") {
      i_ += 4;
      return true;
    }
    if (s_.substr(i_, 5) == "False") {
      i_ += 5;
      return false;
    }
    return std::nullopt;
  }
  // A non-negative decimal integer (an optional Python 2 'L' suffix).
  std::optional<int64_t> Int(bool* overflow) {
    SkipSpace();
    const size_t start = i_;
    int64_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s_[i_] - '0', &v))
        *overflow = true;
      ++i_;
    }
    if (i_ == start) return std::nullopt;
    if (i_ < s_.size() && s_[i_] == 'L') ++i_;
    return v;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

struct NpyDescr {
  DType dtype;
  bool big_endian;
};

Result<NpyDescr> ParseDescr(const std::string& d) {
  auto unsupported = [&] {
    return err::InvalidArgument("NPY_UNSUPPORTED_DTYPE", "unsupported numpy dtype '" + d + "'");
  };
  if (d.size() < 2) return unsupported();
  size_t k = 0;
  bool big = false;
  if (d[0] == '<' || d[0] == '|' || d[0] == '=' || d[0] == '>') {
    big = d[0] == '>';
    k = 1;
  }
  const std::string_view t = std::string_view(d).substr(k);
  static const struct {
    std::string_view code;
    DType dtype;
  } kCodes[] = {{"b1", DType::kBool},    {"i1", DType::kInt8},    {"i2", DType::kInt16},
                {"i4", DType::kInt32},   {"i8", DType::kInt64},   {"u1", DType::kUInt8},
                {"u2", DType::kUInt16},  {"u4", DType::kUInt32},  {"u8", DType::kUInt64},
                {"f2", DType::kFloat16}, {"f4", DType::kFloat32}, {"f8", DType::kFloat64}};
  for (const auto& c : kCodes) {
    if (t == c.code) return NpyDescr{c.dtype, big && DTypeSize(c.dtype) > 1};
  }
  return unsupported();
}

std::string_view NpyDescrOf(DType d) {
  switch (d) {
    case DType::kBool: return "|b1";
    case DType::kInt8: return "|i1";
    case DType::kInt16: return "<i2";
    case DType::kInt32: return "<i4";
    case DType::kInt64: return "<i8";
    case DType::kUInt8: return "|u1";
    case DType::kUInt16: return "<u2";
    case DType::kUInt32: return "<u4";
    case DType::kUInt64: return "<u8";
    case DType::kFloat16: return "<f2";
    case DType::kFloat32: return "<f4";
    case DType::kFloat64: return "<f8";
    case DType::kBFloat16: break;
  }
  return {};
}

}  // namespace

Result<DecodedTensor> ParseNpy(ByteSpan npy) {
  if (npy.size() < 10 || std::memcmp(npy.data(), kMagic, 6) != 0)
    return err::InvalidArgument("NPY_BAD_MAGIC", "not a .npy file");
  const uint8_t major = npy[6], minor = npy[7];
  if (major < 1 || major > 3 || minor != 0) {
    return err::InvalidArgument("NPY_BAD_MAGIC", "unsupported .npy version " +
                                                     std::to_string(major) + "." +
                                                     std::to_string(minor));
  }
  size_t header_len, header_start;
  if (major == 1) {
    header_len = npy[8] | static_cast<size_t>(npy[9]) << 8;
    header_start = 10;
  } else {
    if (npy.size() < 12) return err::InvalidArgument("NPY_TRUNCATED", "truncated .npy header");
    uint32_t v;
    std::memcpy(&v, npy.data() + 8, 4);
    header_len = v;
    header_start = 12;
  }
  if (header_len > kMaxHeader) return BadHeader("header larger than 1 MiB");
  if (npy.size() - header_start < header_len)
    return err::InvalidArgument("NPY_TRUNCATED", "truncated .npy header");
  const std::string_view header(reinterpret_cast<const char*>(npy.data() + header_start),
                                header_len);

  HeaderScanner sc(header);
  std::optional<std::string> descr;
  std::optional<bool> fortran;
  std::optional<std::vector<int64_t>> shape;
  if (!sc.Eat('{')) return BadHeader("header is not a dict");
  while (!sc.Peek('}')) {
    auto key = sc.String();
    if (!key || !sc.Eat(':')) return BadHeader("malformed header dict");
    if (*key == "descr") {
      if (descr) return BadHeader("duplicate 'descr'");
      if (sc.Peek('[')) {
        return err::InvalidArgument("NPY_UNSUPPORTED_DTYPE", "structured dtypes are not tensors");
      }
      descr = sc.String();
      if (!descr) return BadHeader("'descr' is not a string");
    } else if (*key == "fortran_order") {
      if (fortran) return BadHeader("duplicate 'fortran_order'");
      fortran = sc.Bool();
      if (!fortran) return BadHeader("'fortran_order' is not True/False");
    } else if (*key == "shape") {
      if (shape) return BadHeader("duplicate 'shape'");
      if (!sc.Eat('(')) return BadHeader("'shape' is not a tuple");
      shape.emplace();
      bool overflow = false, comma = false;
      while (!sc.Peek(')')) {
        auto d = sc.Int(&overflow);
        if (!d) return BadHeader("'shape' entries must be non-negative integers");
        if (overflow) return err::InvalidArgument("TENSOR_SHAPE_OVERFLOW", "dimension overflows int64");
        if (shape->size() >= kMaxTensorDims) {
          return err::InvalidArgument("TENSOR_TOO_MANY_DIMS",
                                      "more than " + std::to_string(kMaxTensorDims) + " dimensions");
        }
        shape->push_back(*d);
        comma = sc.Eat(',');
        if (!comma) break;
      }
      if (!sc.Eat(')')) return BadHeader("unterminated 'shape' tuple");
      // "(3)" is an int in Python, not a tuple (numpy writes "(3,)").
      if (shape->size() == 1 && !comma) return BadHeader("'shape' is not a tuple");
    } else {
      return BadHeader("unexpected header key '" + *key + "'");
    }
    if (!sc.Eat(',')) break;
  }
  if (!sc.Eat('}') || !sc.AtEnd()) return BadHeader("malformed header dict");
  if (!descr || !fortran || !shape) return BadHeader("header lacks descr, fortran_order or shape");
  AIFS_ASSIGN_OR_RETURN(NpyDescr nd, ParseDescr(*descr));
  if (*fortran) {
    return err::InvalidArgument("NPY_FORTRAN_ORDER",
                                "Fortran-order arrays are not supported; save "
                                "np.ascontiguousarray(a)");
  }
  AIFS_ASSIGN_OR_RETURN(uint64_t bytes, TensorBytes(nd.dtype, *shape, 1));
  const size_t data_start = header_start + header_len;
  const uint64_t have = npy.size() - data_start;
  if (have < bytes) {
    return err::InvalidArgument("NPY_TRUNCATED", "data has " + std::to_string(have) +
                                                     " bytes, the shape needs " +
                                                     std::to_string(bytes));
  }
  if (have > bytes) {
    return err::InvalidArgument("NPY_TRAILING_DATA",
                                std::to_string(have - bytes) + " bytes after the array data");
  }
  DecodedTensor t;
  t.dtype = nd.dtype;
  t.shape = std::move(*shape);
  t.rows = 1;
  const uint8_t* p = npy.data() + data_start;
  const size_t esize = DTypeSize(nd.dtype);
  if (!nd.big_endian && reinterpret_cast<uintptr_t>(p) % esize == 0) {
    t.data = ByteSpan(p, bytes);
    t.zero_copy = true;
    return t;
  }
  t.owned.assign(p, p + bytes);
  if (nd.big_endian) {
    for (size_t off = 0; off < bytes; off += esize) {
      std::reverse(t.owned.begin() + off, t.owned.begin() + off + esize);
    }
  }
  t.data = ByteSpan(t.owned.data(), t.owned.size());
  return t;
}

Status EncodeNpy(DType dtype, std::span<const int64_t> shape, ByteSpan data, Bytes& out) {
  const std::string_view descr = NpyDescrOf(dtype);
  if (descr.empty()) {
    return err::InvalidArgument("TENSOR_UNSUPPORTED_TYPE",
                                std::string(DTypeName(dtype)) + " has no numpy dtype");
  }
  AIFS_ASSIGN_OR_RETURN(uint64_t bytes, TensorBytes(dtype, shape, 1));
  if (data.size() != bytes) {
    return err::InvalidArgument("TENSOR_SIZE_MISMATCH",
                                std::to_string(data.size()) + " data bytes for " +
                                    std::to_string(bytes) + " expected from the shape");
  }
  std::string h = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) h += ", ";
    h += std::to_string(shape[i]);
  }
  if (shape.size() == 1) h += ',';
  h += "), }";
  // magic(6) + version(2) + length(2) + header, padded with spaces, ending in '\n'.
  const size_t total = (10 + h.size() + 1 + 63) / 64 * 64;
  h.append(total - 10 - h.size() - 1, ' ');
  h += '\n';
  out.clear();
  out.reserve(total + data.size());
  out.insert(out.end(), kMagic, kMagic + 6);
  out.push_back(1);
  out.push_back(0);
  out.push_back(static_cast<uint8_t>(h.size() & 0xff));
  out.push_back(static_cast<uint8_t>(h.size() >> 8));
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), data.begin(), data.end());
  return Status::Ok();
}

}  // namespace aifs
