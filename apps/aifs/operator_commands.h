// Ingest-operator commands: `aifs operator add|ls|status|rm|pause|resume|
// failures|retry|skip|drain` (docs/operators.md). They translate arguments
// to Api calls and print the answers; the engine decides everything.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "aifs/api/api.h"
#include "commands.h"

namespace aifs::cli {

struct OperatorArgs {
  std::string ns;
  std::string name;
  std::string kind;
  std::string match;
  std::vector<std::string> params;  // KEY=VALUE
  bool backfill = false;
  std::vector<std::string> ids;  // retry / skip
  bool all = false;
  size_t limit = 100;
  double timeout_s = 60;
};

Status OperatorAdd(Api& api, const Output& out, const OperatorArgs& args);
Status OperatorList(Api& api, const Output& out, const std::string& ns);
Status OperatorStatus(Api& api, const Output& out, const OperatorArgs& args);
Status OperatorRemove(Api& api, const Output& out, const OperatorArgs& args);
Status OperatorPause(Api& api, const Output& out, const OperatorArgs& args, bool paused);
Status OperatorFailures(Api& api, const Output& out, const OperatorArgs& args);
// Takes failures off the dead-letter list: run again (`retry`) or dropped.
Status OperatorResolve(Api& api, const Output& out, const OperatorArgs& args, bool retry);
Status OperatorDrain(Api& api, const Output& out, const OperatorArgs& args);

}  // namespace aifs::cli
