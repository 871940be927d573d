// CLI commands that read asset bytes: get / cat (one asset or one range of
// it) and read-ranges (a list of ranges, e.g. a data loader's samples).
#pragma once

#include <string>
#include <string_view>

#include "commands.h"

namespace aifs::cli {

struct GetArgs {
  std::string ref;  // asset ID or aifs:// URI
  std::string ns;
  std::string output;  // empty or "-": stdout
  std::string range;   // "A-B" (inclusive) or "A-"
  std::string as_of;   // a path is resolved in this snapshot
};
Status Get(Api& api, const Output& out, const GetArgs& args);

// Parses "A-B" (inclusive) / "A-" into a ReadRange.
Result<ReadRange> ParseRange(std::string_view text);

struct ReadRangesArgs {
  std::string list;  // file of "ID OFFSET LENGTH" lines; "-": stdin
  std::string ns;
  std::string index;  // when set: one "OUTPUT_OFFSET LENGTH" line per range
  std::string as_of;  // read the assets of this snapshot, branch or tag ("": the head)
};
// Writes the bytes of every listed range to stdout, concatenated in list
// order (each range clipped to its asset's end), through batched reads of at
// most kMaxBatchRanges ranges / kMaxBatchBytes bytes. Errors name the line.
Status ReadRanges(Api& api, const Output& out, const ReadRangesArgs& args);

}  // namespace aifs::cli
