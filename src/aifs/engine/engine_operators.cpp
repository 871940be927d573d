// Engine: ingest operators (docs/operators.md). The books are kept by
// engine/operator_registry.h, the work is done by engine/operator_runner.h.
#include "aifs/engine/engine.h"

namespace aifs {

Result<OperatorInfo> Engine::AddOperator(const OperatorSpec& spec) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  AIFS_ASSIGN_OR_RETURN(
      const StoredOperator op,
      AddOperatorRecord(*ctx_->meta, spec, spec.who.empty() ? "local" : spec.who));
  operators_.Notify();
  return operators_.Info(op);
}

Result<std::vector<OperatorInfo>> Engine::ListOperators(const std::string& ns) {
  AIFS_ASSIGN_OR_RETURN(auto ops, LoadOperators(*ctx_->meta, ns));
  std::vector<OperatorInfo> out;
  for (const StoredOperator& op : ops) {
    out.push_back(operators_.Info(op));
  }
  return out;
}

Status Engine::RemoveOperator(const std::string& ns, const std::string& name) {
  AIFS_RETURN_IF_ERROR(RequireWritable(SpaceUse::kFrees));
  AIFS_RETURN_IF_ERROR(RemoveOperatorRecord(*ctx_->meta, ns, name));
  operators_.Notify();
  return Status::Ok();
}

Result<OperatorInfo> Engine::PauseOperator(const std::string& ns, const std::string& name,
                                           bool paused) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  AIFS_ASSIGN_OR_RETURN(const StoredOperator op, SetOperatorPaused(*ctx_->meta, ns, name, paused));
  operators_.Notify();
  return operators_.Info(op);
}

Result<std::vector<OperatorFailure>> Engine::ListOperatorFailures(const std::string& ns,
                                                                  const std::string& name,
                                                                  size_t limit) {
  return LoadOperatorFailures(*ctx_->meta, ns, name, limit);
}

Result<uint64_t> Engine::ResolveOperatorFailures(const std::string& ns, const std::string& name,
                                                 const std::vector<AssetId>& assets, bool retry) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return aifs::ResolveOperatorFailures(*ctx_->meta, ns, name, assets, retry);
}

Result<OperatorInfo> Engine::DrainOperator(const std::string& ns, const std::string& name,
                                           std::chrono::milliseconds timeout) {
  AIFS_RETURN_IF_ERROR(RequireWritable());
  return operators_.Drain(ns, name, timeout);
}

}  // namespace aifs
