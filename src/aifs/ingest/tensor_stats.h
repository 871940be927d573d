// The "tensor-stats" operator kind: summary statistics of tensor inputs, as
// metadata that aggregate queries can read.
//
// Inputs: Tensor assets (Arrow IPC, DecodeTensorIpc), and blobs holding a
// NumPy .npy (ParseNpy) or a tensor IPC stream. Anything else is the
// input's error INVALID_ARGUMENT NOT_A_TENSOR (the message names the
// decoder's reason).
//
// Output metadata (no vectors):
//   tensor.dtype      "float32", ... (tensor.h DTypeName)
//   tensor.shape      "3x224x224" ("scalar" for a 0-dimensional tensor);
//                     for Tensor assets the shape of one row, and
//   tensor.rows       the number of rows (Tensor assets only)
//   tensor.count      elements in all
//   tensor.nan_count, tensor.inf_count   (0 for integer and bool tensors)
//   tensor.min, tensor.max, tensor.mean, tensor.std (population)
//                     over the finite elements only; absent when there is
//                     none (an empty or all-NaN tensor)
// Numbers are printed so that they read back as the same double (shortest
// round-trip form); integer min/max are exact. float16 and bfloat16 are
// widened exactly; bool counts as 0/1. The mean and standard deviation are
// computed in double with compensated sums over two passes, so they stay
// accurate for large tensors with a large mean.
//
// Thread safety: one thread at a time (OperatorKind); ComputeTensorStats is
// pure.
#pragma once

#include <memory>

#include "aifs/ingest/operator_kind.h"
#include "aifs/ingest/operator_params.h"
#include "aifs/kinds/tensor.h"

namespace aifs {

// The metadata above for a decoded tensor (`with_rows`: add tensor.rows).
Metadata ComputeTensorStats(const DecodedTensor& t, bool with_rows);

// Reads version and max_input_bytes (default 1 GiB).
Result<std::unique_ptr<OperatorKind>> MakeTensorStats(OperatorParams& p);

class TensorStats : public OperatorKind {
 public:
  explicit TensorStats(CommonParams common) : common_(std::move(common)) {}

  Result<std::vector<Result<OperatorOutput>>> Run(std::span<const OperatorInput> inputs) override;
  size_t batch_size() const override { return 1; }
  uint64_t max_input_bytes() const override { return common_.max_input_bytes; }
  std::string describe() const override { return "tensor-stats/1 v=" + common_.version; }

 private:
  CommonParams common_;
};

}  // namespace aifs
