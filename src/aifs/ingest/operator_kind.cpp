#include "aifs/ingest/operator_kind.h"

#include "aifs/ingest/content_sniff.h"
#include "aifs/ingest/exec_operator.h"
#include "aifs/ingest/http_embedder.h"
#include "aifs/ingest/operator_params.h"
#include "aifs/ingest/tensor_stats.h"

namespace aifs {

namespace {

struct KindEntry {
  const char* name;
  Result<std::unique_ptr<OperatorKind>> (*make)(OperatorParams&);
};

constexpr KindEntry kKinds[] = {
    {"http-embed", MakeHttpEmbedder},
    {"exec", MakeExecOperator},
    {"tensor-stats", MakeTensorStats},
    {"sniff", MakeContentSniff},
};

}  // namespace

Result<std::unique_ptr<OperatorKind>> MakeOperatorKind(const OperatorSpec& spec) {
  for (const KindEntry& k : kKinds) {
    if (spec.kind != k.name) continue;
    OperatorParams params(k.name, spec.params);
    return k.make(params);
  }
  std::string names;
  for (const std::string& n : OperatorKindNames()) names += (names.empty() ? "" : ", ") + n;
  return err::InvalidArgument(
      "UNKNOWN_OPERATOR_KIND",
      "no operator kind \"" + err::Echo(spec.kind) + "\" (known: " + names + ")");
}

std::vector<std::string> OperatorKindNames() {
  std::vector<std::string> names;
  for (const KindEntry& k : kKinds) names.push_back(k.name);
  return names;
}

}  // namespace aifs
