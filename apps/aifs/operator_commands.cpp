#include "operator_commands.h"

#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "aifs/core/clock.h"

namespace aifs::cli {

namespace {

nlohmann::json ToJson(const OperatorInfo& op) {
  return {{"ns", op.spec.ns},
          {"name", op.spec.name},
          {"kind", op.spec.kind},
          {"match", op.spec.match},
          {"params", op.spec.params},
          {"paused", op.paused},
          {"created", FormatUnixNanos(op.created_unix_ns)},
          {"who", op.who},
          {"state", op.state},
          {"cursor", op.cursor},
          {"log_head", op.log_head},
          {"backfilling", op.backfilling},
          {"processed", op.processed},
          {"produced", op.produced},
          {"failed", op.failed},
          {"retries", op.retries},
          {"last_error", op.last_error}};
}

void PrintLine(const OperatorInfo& op) {
  std::cout << op.spec.name << "\t" << op.spec.kind << "\t" << op.state << "\tprocessed "
            << op.processed << "\tmade " << op.produced << "\tfailed " << op.failed << "\tlag "
            << (op.log_head > op.cursor ? op.log_head - op.cursor : 0) << " events"
            << (op.backfilling ? "\tbackfilling" : "") << "\n";
}

Status Print(const Output& out, const OperatorInfo& op, const std::string& verb) {
  if (out.json)
    std::cout << ToJson(op).dump(2) << "\n";
  else if (!out.quiet)
    std::cout << verb << " operator " << op.spec.name << " (" << op.spec.kind << ", " << op.state
              << ")\n";
  return Status::Ok();
}

Result<std::vector<AssetId>> ParseIds(const std::vector<std::string>& ids) {
  std::vector<AssetId> out;
  for (const std::string& s : ids) {
    AIFS_ASSIGN_OR_RETURN(AssetId id, AssetId::Parse(s));
    out.push_back(id);
  }
  return out;
}

}  // namespace

Status OperatorAdd(Api& api, const Output& out, const OperatorArgs& args) {
  OperatorSpec spec{.ns = NsOrDefault(args.ns),
                    .name = args.name,
                    .kind = args.kind,
                    .match = args.match,
                    .backfill = args.backfill};
  for (const std::string& p : args.params) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0)
      return err::InvalidArgument("BAD_OPERATOR_PARAM",
                                  "--param takes KEY=VALUE, got '" + err::Echo(p) + "'");
    spec.params[p.substr(0, eq)] = p.substr(eq + 1);
  }
  AIFS_ASSIGN_OR_RETURN(OperatorInfo op, api.AddOperator(spec));
  return Print(out, op, "added");
}

Status OperatorList(Api& api, const Output& out, const std::string& ns) {
  AIFS_ASSIGN_OR_RETURN(auto ops, api.ListOperators(NsOrDefault(ns)));
  if (out.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const OperatorInfo& op : ops) j.push_back(ToJson(op));
    std::cout << j.dump(2) << "\n";
    return Status::Ok();
  }
  for (const OperatorInfo& op : ops) PrintLine(op);
  return Status::Ok();
}

Status OperatorStatus(Api& api, const Output& out, const OperatorArgs& args) {
  AIFS_ASSIGN_OR_RETURN(auto ops, api.ListOperators(NsOrDefault(args.ns)));
  for (const OperatorInfo& op : ops) {
    if (op.spec.name != args.name) continue;
    if (out.json) {
      std::cout << ToJson(op).dump(2) << "\n";
      return Status::Ok();
    }
    PrintLine(op);
    std::cout << "  match\t" << (op.spec.match.empty() ? "(every asset)" : op.spec.match) << "\n";
    for (const auto& [k, v] : op.spec.params) std::cout << "  " << k << "\t" << v << "\n";
    std::cout << "  cursor\t" << op.cursor << " of " << op.log_head << "\n";
    if (!op.last_error.empty()) std::cout << "  last error\t" << op.last_error << "\n";
    return Status::Ok();
  }
  return err::NotFound("OPERATOR_NOT_FOUND", "operator '" + err::Echo(args.name) +
                                                 "' of namespace '" + NsOrDefault(args.ns) +
                                                 "' does not exist");
}

Status OperatorRemove(Api& api, const Output& out, const OperatorArgs& args) {
  AIFS_RETURN_IF_ERROR(api.RemoveOperator(NsOrDefault(args.ns), args.name));
  if (out.json)
    std::cout << nlohmann::json{{"removed", args.name}}.dump(2) << "\n";
  else if (!out.quiet)
    std::cout << "removed operator " << args.name << " (what it made stays)\n";
  return Status::Ok();
}

Status OperatorPause(Api& api, const Output& out, const OperatorArgs& args, bool paused) {
  AIFS_ASSIGN_OR_RETURN(OperatorInfo op,
                        api.PauseOperator(NsOrDefault(args.ns), args.name, paused));
  return Print(out, op, paused ? "paused" : "resumed");
}

Status OperatorFailures(Api& api, const Output& out, const OperatorArgs& args) {
  AIFS_ASSIGN_OR_RETURN(auto failures,
                        api.ListOperatorFailures(NsOrDefault(args.ns), args.name, args.limit));
  if (out.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const OperatorFailure& f : failures)
      j.push_back({{"asset", f.asset.ToHex()},
                   {"attempts", f.attempts},
                   {"reason", f.reason},
                   {"message", f.message},
                   {"time", FormatUnixNanos(f.unix_ns)}});
    std::cout << j.dump(2) << "\n";
    return Status::Ok();
  }
  for (const OperatorFailure& f : failures)
    std::cout << f.asset.ToHex() << "\t" << f.reason << "\t" << f.attempts << " attempts\t"
              << f.message << "\n";
  return Status::Ok();
}

Status OperatorResolve(Api& api, const Output& out, const OperatorArgs& args, bool retry) {
  AIFS_ASSIGN_OR_RETURN(auto ids, ParseIds(args.ids));
  AIFS_ASSIGN_OR_RETURN(uint64_t n,
                        api.ResolveOperatorFailures(NsOrDefault(args.ns), args.name, ids, retry));
  if (out.json)
    std::cout << nlohmann::json{{retry ? "retried" : "skipped", n}}.dump(2) << "\n";
  else if (!out.quiet)
    std::cout << (retry ? "queued " : "skipped ") << n << " failed inputs\n";
  return Status::Ok();
}

Status OperatorDrain(Api& api, const Output& out, const OperatorArgs& args) {
  if (!(args.timeout_s >= 0) || args.timeout_s > 86400)
    return err::InvalidArgument("BAD_TIMEOUT", "--timeout takes 0 to 86400 seconds");
  const auto timeout = std::chrono::milliseconds(std::llround(args.timeout_s * 1000));
  AIFS_ASSIGN_OR_RETURN(OperatorInfo op,
                        api.DrainOperator(NsOrDefault(args.ns), args.name, timeout));
  if (out.json)
    std::cout << ToJson(op).dump(2) << "\n";
  else if (!out.quiet)
    PrintLine(op);
  return Status::Ok();
}

}  // namespace aifs::cli
