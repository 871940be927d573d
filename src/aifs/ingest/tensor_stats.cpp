#include "aifs/ingest/tensor_stats.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "aifs/kinds/npy.h"

namespace aifs {

namespace {

std::string Number(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

// Neumaier's compensated sum.
struct Sum {
  double sum = 0, carry = 0;
  void Add(double x) {
    const double t = sum + x;
    carry += std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  double Value() const { return sum + carry; }
};

struct Summary {
  uint64_t finite = 0, nan = 0, inf = 0;
  std::string min, max;
  double mean = 0, std = 0;
};

// Two passes over `n` elements of storage type T; `value` widens one to
// double. Integer types (kExact) keep min/max in T.
template <typename T, bool kExact, typename ToDouble>
Summary Summarize(const uint8_t* data, size_t n, ToDouble value) {
  Summary s;
  Sum sum;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  T exact_lo{}, exact_hi{};
  for (size_t i = 0; i < n; ++i) {
    T raw;
    std::memcpy(&raw, data + i * sizeof(T), sizeof(T));
    const double x = value(raw);
    if (!kExact && std::isnan(x)) {
      ++s.nan;
      continue;
    }
    if (!kExact && std::isinf(x)) {
      ++s.inf;
      continue;
    }
    if constexpr (kExact) {
      if (s.finite == 0 || raw < exact_lo) exact_lo = raw;
      if (s.finite == 0 || raw > exact_hi) exact_hi = raw;
    }
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    sum.Add(x);
    ++s.finite;
  }
  if (s.finite == 0) return s;
  s.mean = sum.Value() / static_cast<double>(s.finite);
  // The corrected two-pass formula: sum(d^2) - (sum d)^2 / n, d = x - mean.
  Sum sq, dev;
  for (size_t i = 0; i < n; ++i) {
    T raw;
    std::memcpy(&raw, data + i * sizeof(T), sizeof(T));
    const double x = value(raw);
    if (!std::isfinite(x)) continue;
    sq.Add((x - s.mean) * (x - s.mean));
    dev.Add(x - s.mean);
  }
  const double nf = static_cast<double>(s.finite);
  s.std = std::sqrt(std::max(0.0, (sq.Value() - dev.Value() * dev.Value() / nf) / nf));
  if constexpr (kExact) {
    s.min = std::to_string(exact_lo);
    s.max = std::to_string(exact_hi);
  } else {
    s.min = Number(lo);
    s.max = Number(hi);
  }
  return s;
}

template <typename T>
Summary Plain(const uint8_t* p, size_t n) {
  return Summarize<T, std::is_integral_v<T>>(p, n, [](T v) { return static_cast<double>(v); });
}

Summary SummarizeAny(DType dtype, const uint8_t* p, size_t n) {
  switch (dtype) {
    case DType::kBool:
      return Summarize<uint8_t, false>(p, n, [](uint8_t v) { return v ? 1.0 : 0.0; });
    case DType::kInt8:
      return Plain<int8_t>(p, n);
    case DType::kInt16:
      return Plain<int16_t>(p, n);
    case DType::kInt32:
      return Plain<int32_t>(p, n);
    case DType::kInt64:
      return Plain<int64_t>(p, n);
    case DType::kUInt8:
      return Plain<uint8_t>(p, n);
    case DType::kUInt16:
      return Plain<uint16_t>(p, n);
    case DType::kUInt32:
      return Plain<uint32_t>(p, n);
    case DType::kUInt64:
      return Plain<uint64_t>(p, n);
    case DType::kFloat16:
      return Summarize<uint16_t, false>(p, n, [](uint16_t v) { return double(HalfToFloat(v)); });
    case DType::kBFloat16:
      return Summarize<uint16_t, false>(p, n,
                                        [](uint16_t v) { return double(BFloat16ToFloat(v)); });
    case DType::kFloat32:
      return Plain<float>(p, n);
    case DType::kFloat64:
      return Plain<double>(p, n);
  }
  return {};
}

}  // namespace

Metadata ComputeTensorStats(const DecodedTensor& t, bool with_rows) {
  Metadata m;
  m["tensor.dtype"] = std::string(DTypeName(t.dtype));
  std::string shape;
  for (int64_t d : t.shape) shape += (shape.empty() ? "" : "x") + std::to_string(d);
  m["tensor.shape"] = t.shape.empty() ? "scalar" : shape;
  if (with_rows) m["tensor.rows"] = std::to_string(t.rows);
  const size_t count = t.data.size() / DTypeSize(t.dtype);
  m["tensor.count"] = std::to_string(count);
  // The bool case of Summarize reads bytes: bools are one byte in memory.
  const Summary s = SummarizeAny(t.dtype, t.data.data(), count);
  m["tensor.nan_count"] = std::to_string(s.nan);
  m["tensor.inf_count"] = std::to_string(s.inf);
  if (s.finite > 0) {
    m["tensor.min"] = s.min;
    m["tensor.max"] = s.max;
    m["tensor.mean"] = Number(s.mean);
    m["tensor.std"] = Number(s.std);
  }
  return m;
}

Result<std::unique_ptr<OperatorKind>> MakeTensorStats(OperatorParams& p) {
  AIFS_ASSIGN_OR_RETURN(CommonParams common, ReadCommonParams(p, uint64_t{1} << 30));
  AIFS_RETURN_IF_ERROR(p.CheckAllRead());
  return std::unique_ptr<OperatorKind>(new TensorStats(std::move(common)));
}

Result<std::vector<Result<OperatorOutput>>> TensorStats::Run(
    std::span<const OperatorInput> inputs) {
  std::vector<Result<OperatorOutput>> results;
  for (const OperatorInput& in : inputs) {
    const bool npy = in.kind != AssetKind::kTensor && in.bytes.size() >= 6 &&
                     std::memcmp(in.bytes.data(), "\x93NUMPY", 6) == 0;
    auto t = npy ? ParseNpy(in.bytes) : DecodeTensorIpc(in.bytes);
    if (!t.ok()) {
      results.push_back(err::InvalidArgument(
          "NOT_A_TENSOR", "asset " + in.id.ToHex() + " is no tensor" +
                              (in.kind == AssetKind::kTensor || npy
                                   ? ": " + t.status().ToString()
                                   : " (neither a Tensor asset, an .npy nor an Arrow tensor)")));
      continue;
    }
    OperatorOutput out;
    out.metadata = ComputeTensorStats(*t, !npy);
    results.push_back(std::move(out));
  }
  return results;
}

}  // namespace aifs
