// OperatorParams: reads an operator's `params` map (OperatorSpec::params) for
// MakeOperatorKind, so every kind checks its settings the same way: each
// parameter is read at most once, numbers are range-checked, and any
// parameter no reader asked for is an error (a typo such as `bacth=8` fails
// the add instead of being ignored).
//
// Every error is INVALID_ARGUMENT BAD_OPERATOR_PARAM, its message naming the
// parameter and what is wrong with it.
//
// Thread safety: none (a value used while building one kind).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "aifs/api/types.h"
#include "aifs/core/status.h"

namespace aifs {

class OperatorParams {
 public:
  // `kind` names the operator kind in messages.
  OperatorParams(std::string kind, const std::map<std::string, std::string>& params);

  // The value, or nullopt when absent. Marks the parameter as read.
  std::optional<std::string> Get(const std::string& name);
  // The value, or `fallback` when absent.
  std::string String(const std::string& name, std::string_view fallback);
  // The value; BAD_OPERATOR_PARAM when absent or empty.
  Result<std::string> Required(const std::string& name);
  // A decimal integer in [min, max], or `fallback` when absent.
  Result<uint64_t> Uint(const std::string& name, uint64_t fallback, uint64_t min, uint64_t max);
  // One of `choices`, or `fallback` when absent.
  Result<std::string> Choice(const std::string& name, std::string_view fallback,
                             std::initializer_list<std::string_view> choices);

  // BAD_OPERATOR_PARAM `name`: `what` (for checks a kind makes itself).
  Status Bad(const std::string& name, const std::string& what) const;
  // BAD_OPERATOR_PARAM naming the first parameter nobody read.
  Status CheckAllRead() const;

 private:
  std::string kind_;
  std::map<std::string, std::string> params_;
  std::set<std::string> read_;
};

// The parameters every kind takes.
struct CommonParams {
  std::string version = "1";     // `version`: goes into describe()
  uint64_t max_input_bytes = 0;  // `max_input_bytes`
};
// Reads `version` (1..64 printable ASCII, no spaces) and `max_input_bytes`
// (1 B .. 1 TiB, `default_max_input` when absent).
Result<CommonParams> ReadCommonParams(OperatorParams& p, uint64_t default_max_input);

// The parameters of the kinds that make vectors (http-embed, exec with npy
// output): where the vectors go and how a text is cut into passages.
struct VectorParams {
  EmbeddingSpace space;      // `space` (default: the model), `dim`, `metric`
  uint64_t chunk_bytes = 0;  // 0: one vector per input (text_passages.h)
  uint64_t chunk_overlap = 0;
};
// `space` (default `model`), `dim` (0 = learnt from the first answer; else
// 1..kEmbedMaxDim), `metric` (ParseMetric; cosine), `chunk_bytes` (0 or
// kMinPassageBytes..16 MiB), `chunk_overlap` (below chunk_bytes / 2; only with
// chunk_bytes).
Result<VectorParams> ReadVectorParams(OperatorParams& p, const std::string& model);

}  // namespace aifs
