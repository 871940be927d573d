// Aggregate-query commands: `aifs query count|sum|mean|histogram|quantiles`
// and `aifs query ledger`, plus the privacy half of `aifs ns policy`
// (docs/privacy.md). They translate arguments to Api calls and print the
// answers; the engine decides everything.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "aifs/api/api.h"
#include "commands.h"

namespace aifs::cli {

struct QueryArgs {
  std::string kind;  // count, sum, mean, histogram, quantiles
  std::string field;
  std::string ns;
  std::vector<std::string> where;  // as for ls
  std::string asset_kind;
  std::string as_of;
  std::string epsilon;  // "0.1"; "" spends nothing (exact answers, no policy)
  std::string mechanism;  // "laplace" (""), "gaussian"
  std::string delta;      // the Gaussian's: "1e-6"
  uint32_t bins = 10;
  std::optional<double> lower, upper;
  std::vector<double> quantiles;
  std::string who;
};
Status Query(Api& api, const Output& out, const QueryArgs& args);

Status QueryLedger(Api& api, const Output& out, const std::string& ns, size_t limit);

// `aifs ns policy` privacy options; unset ones keep the policy's values.
struct PrivacyArgs {
  std::optional<std::string> total;      // --dp-epsilon "1"; "0" turns the policy off
  std::optional<std::string> max_query;  // --dp-max-query "0.25"
  std::optional<std::string> total_delta;      // --dp-delta "1e-5"; "0": no Gaussian
  std::optional<std::string> max_query_delta;  // --dp-max-query-delta "1e-6"
  std::optional<std::string> unit_key;   // --dp-unit user_id ("" : an asset)
  std::optional<uint32_t> contributions;
  // --dp-field NAME:LOWER:UPPER[:DECIMALS] (bounds in the field's units,
  // e.g. price:0:99.99:2); replaces the field's bounds, or adds it.
  std::vector<std::string> fields;
};
// Applies `args` to `policy`: INVALID_ARGUMENT BAD_EPSILON, BAD_DELTA,
// BAD_FIELD_SPEC.
Status ApplyPrivacyArgs(const PrivacyArgs& args, PrivacyPolicy& policy);
// The policy as JSON for `aifs ns policy` / `aifs query ledger`.
std::string PrivacyPolicyText(const PrivacyPolicy& policy);

}  // namespace aifs::cli
