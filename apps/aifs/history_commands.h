// CLI commands about snapshot history: log, merge and revert
// (docs/snapshots.md, "History and merge").
#pragma once

#include <string>

#include "commands.h"

namespace aifs::cli {

Status Checkout(Api& api, const Output& out, const std::string& ns, const std::string& ref);

Status Log(Api& api, const Output& out, const std::string& ns, const std::string& ref,
           size_t limit);

struct MergeArgs {
  std::string ns;
  std::string source;    // merge: the ref merged in; revert: the snapshot undone
  std::string into;      // the branch that moves
  std::string strategy;  // "", "ours" or "theirs"
  std::string message;
};
// Prints the outcome; conflicts (with no strategy) are listed on stdout and
// reported as ABORTED MERGE_CONFLICT.
Status Merge(Api& api, const Output& out, const MergeArgs& args, bool revert);

}  // namespace aifs::cli
