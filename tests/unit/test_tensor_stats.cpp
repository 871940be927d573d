// The tensor-stats operator kind against numpy: tensors written by numpy as
// .npy (and re-encoded as Tensor assets), statistics computed by numpy in
// float64 over the finite elements, compared with what the kind reports.
#include <charconv>
#include <cmath>
#include <fstream>

#include "aifs/ingest/tensor_stats.h"
#include "aifs/kinds/npy.h"
#include "ingest_test_util.h"
#include "test_util.h"

namespace aifs {
namespace {

using nlohmann::json;

// Writes DIR/<case>.npy and prints {case: {dtype, shape, count, nan, inf,
// min, max, mean, std}} (the last four absent when nothing is finite).
constexpr const char* kCases = R"PY(
import json, sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(42)
f32 = np.array([[1.5, -2.0, 3.0], [4.0, np.nan, np.inf]], dtype=np.float32)
bits = rng.normal(0, 100, size=(7, 5)).astype(np.float32)
cases = {
  "f32_small": f32,
  "f64_random": rng.normal(3.0, 2.0, size=(10, 20)),
  "f16": np.array([0.1, -65504, 65504, -np.inf, 3.14159, np.nan], dtype=np.float16),
  "i8": np.array([-128, 127, 0, 5], dtype=np.int8),
  "u16": np.arange(1000, dtype=np.uint16).reshape(10, 100),
  "i64": np.array([-2**63, 2**63 - 1, 7], dtype=np.int64),
  "u64": np.array([0, 2**64 - 1, 12345], dtype=np.uint64),
  "bool": np.array([True, False, True, True]),
  "all_nan": np.array([np.nan, np.nan], dtype=np.float32),
  "empty": np.zeros((0, 3), dtype=np.float32),
  "scalar": np.array(2.5),
  "large": rng.normal(1e4, 1.0, size=(1000, 5000)).astype(np.float32),
  "rows": rng.normal(-1, 3, size=(4, 2, 3)).astype(np.float32),
  # bfloat16 has no numpy dtype: its raw bits, and the float32 they mean.
  "bf16_bits": (bits.view(np.uint32) >> 16).astype(np.uint16),
}
out = {}
for name, a in cases.items():
  np.save(f"{d}/{name}.npy", a)
  values = a
  if name == "bf16_bits":
    values = (a.astype(np.uint32) << 16).view(np.float32)
  x = values.astype(np.float64).ravel()
  r = {"dtype": str(a.dtype), "shape": list(a.shape), "count": int(a.size),
       "nan": int(np.isnan(x).sum()), "inf": int(np.isinf(x).sum())}
  fin = x[np.isfinite(x)]
  if fin.size:
    r.update(min=float(fin.min()), max=float(fin.max()), mean=float(fin.mean()),
             std=float(fin.std()))
  if a.dtype.kind in "iu" and name != "bf16_bits":
    r.update(min=str(a.min()), max=str(a.max()))
  out[name] = r
print(json.dumps(out))
)PY";

double Num(const Metadata& m, const std::string& key) {
  const std::string& s = m.at(key);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  EXPECT_TRUE(ec == std::errc() && p == s.data() + s.size()) << key << "=" << s;
  return v;
}

class TensorStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AIFS_NEED_PYTHON("numpy");
    std::ofstream(dir_.Sub("cases.py")) << kCases;
    want_ = json::parse(
        test::Shell(std::string(test::kPython) + " " + dir_.Sub("cases.py") + " " + dir_.path()),
        nullptr, false);
    ASSERT_TRUE(want_.is_object()) << "numpy did not write the cases";
    auto kind = MakeOperatorKind(test::Spec("tensor-stats", {}));
    AIFS_ASSERT_OK(kind.status());
    kind_ = std::move(kind).value();
  }

  Result<OperatorOutput> Stats(Bytes bytes, AssetKind kind = AssetKind::kBlob) {
    OperatorInput in;
    in.kind = kind;
    in.size = bytes.size();
    in.bytes = std::move(bytes);
    auto r = kind_->Run(std::span<const OperatorInput>(&in, 1));
    if (!r.ok()) return r.status();
    return std::move((*r)[0]);
  }

  Bytes Npy(const std::string& name) { return test::ReadFileBytes(dir_.Sub(name + ".npy")); }

  // The kind's metadata against numpy's figures for `name`.
  void Compare(const Metadata& m, const json& w, double rel = 1e-12) {
    std::string shape;
    for (const auto& d : w["shape"]) shape += (shape.empty() ? "" : "x") + std::to_string(int(d));
    EXPECT_EQ(m.at("tensor.shape"), w["shape"].empty() ? "scalar" : shape);
    EXPECT_EQ(m.at("tensor.count"), std::to_string(int64_t(w["count"])));
    EXPECT_EQ(m.at("tensor.nan_count"), std::to_string(int(w["nan"])));
    EXPECT_EQ(m.at("tensor.inf_count"), std::to_string(int(w["inf"])));
    if (!w.contains("mean")) {
      for (const char* k : {"tensor.min", "tensor.max", "tensor.mean", "tensor.std"})
        EXPECT_EQ(m.count(k), 0u) << k;
      return;
    }
    if (w["min"].is_string()) {  // integers: exact
      EXPECT_EQ(m.at("tensor.min"), w["min"].get<std::string>());
      EXPECT_EQ(m.at("tensor.max"), w["max"].get<std::string>());
    } else {  // the extremes are elements: exact, and printed to round-trip
      EXPECT_EQ(Num(m, "tensor.min"), w["min"].get<double>());
      EXPECT_EQ(Num(m, "tensor.max"), w["max"].get<double>());
    }
    const double mean = w["mean"], sd = w["std"];
    EXPECT_NEAR(Num(m, "tensor.mean"), mean, rel * std::max(1.0, std::fabs(mean)));
    EXPECT_NEAR(Num(m, "tensor.std"), sd, rel * std::max(1.0, sd));
  }

  test::TempDir dir_;
  json want_;
  std::unique_ptr<OperatorKind> kind_;
};

TEST_F(TensorStatsTest, NpyBlobsMatchNumpy) {
  for (const char* name : {"f32_small", "f64_random", "f16", "i8", "u16", "i64", "u64", "bool",
                           "all_nan", "empty", "scalar", "large"}) {
    SCOPED_TRACE(name);
    auto out = Stats(Npy(name));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    const json& w = want_[name];
    EXPECT_EQ(out->metadata.at("tensor.dtype"), w["dtype"].get<std::string>());
    EXPECT_EQ(out->metadata.count("tensor.rows"), 0u);
    EXPECT_TRUE(out->vectors.empty());
    // numpy's pairwise float64 sums and ours differ in the last bits only.
    Compare(out->metadata, w, std::string(name) == "large" ? 1e-9 : 1e-12);
  }
}

TEST_F(TensorStatsTest, TensorAssetsReportRows) {
  auto npy = ParseNpy(Npy("rows"));
  AIFS_ASSERT_OK(npy.status());
  Bytes ipc;
  const std::vector<int64_t> row_shape = {2, 3};
  AIFS_ASSERT_OK(EncodeTensorIpc({DType::kFloat32, row_shape, npy->data}, 4, ipc));
  auto out = Stats(ipc, AssetKind::kTensor);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->metadata.at("tensor.rows"), "4");
  json w = want_["rows"];
  w["shape"] = {2, 3};
  Compare(out->metadata, w);

  // A Tensor asset from an .npy (one row), and bfloat16 from its bits.
  Bytes one;
  AIFS_ASSERT_OK(NpyToTensorIpc(Npy("f32_small"), one));
  out = Stats(one, AssetKind::kTensor);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->metadata.at("tensor.rows"), "1");
  Compare(out->metadata, want_["f32_small"]);

  auto bits = ParseNpy(Npy("bf16_bits"));
  AIFS_ASSERT_OK(bits.status());
  Bytes bf16;
  AIFS_ASSERT_OK(EncodeTensorIpc({DType::kBFloat16, bits->shape, bits->data}, 1, bf16));
  out = Stats(bf16, AssetKind::kTensor);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->metadata.at("tensor.dtype"), "bfloat16");
  Compare(out->metadata, want_["bf16_bits"]);
}

TEST_F(TensorStatsTest, AnythingElseIsNotATensor) {
  AIFS_EXPECT_STATUS(Stats(test::ToBytes("just some text")).status(), kInvalidArgument,
                     "NOT_A_TENSOR");
  AIFS_EXPECT_STATUS(Stats(test::ToBytes("garbage"), AssetKind::kTensor).status(), kInvalidArgument,
                     "NOT_A_TENSOR");
  Bytes cut = Npy("f64_random");
  cut.resize(cut.size() - 8);
  auto r = Stats(cut);
  AIFS_EXPECT_STATUS(r.status(), kInvalidArgument, "NOT_A_TENSOR");
  EXPECT_NE(r.status().message().find("NPY_TRUNCATED"), std::string::npos) << r.status().message();
  EXPECT_EQ(kind_->max_input_bytes(), uint64_t{1} << 30);
  EXPECT_EQ(kind_->describe(), "tensor-stats/1 v=1");
  EXPECT_EQ(kind_->space().name, "");
}

}  // namespace
}  // namespace aifs
