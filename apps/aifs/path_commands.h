// CLI commands about paths (docs/paths.md): put -r of a directory tree, ls of
// a path prefix, and renaming, binding and removing paths.
#pragma once

#include <string>

#include "commands.h"

namespace aifs::cli {

struct PutTreeArgs {
  std::string dir;
  std::string ns;
  std::string prefix;  // prepended to each file's path under `dir`
  int jobs = 8;        // files put at once
};
// Puts every regular file under `dir` (symbolic links are not followed), each
// bound to the path `prefix` + its path relative to `dir`, several at once,
// and prints a summary. Stops at the first failure, saying which file.
Status PutTree(Api& api, const Output& out, const PutTreeArgs& args);

struct PathListArgs {
  std::string ns;
  std::string prefix;
  std::string as_of;
  size_t limit = 0;  // 0: all
};
Status ListPaths(Api& api, const Output& out, const PathListArgs& args);

Status PathMove(Api& api, const Output& out, const std::string& ns, const std::string& from,
                const std::string& to);
Status PathRemove(Api& api, const Output& out, const std::string& ns,
                  const std::vector<std::string>& paths);
Status PathBind(Api& api, const Output& out, const std::string& ns, const std::string& path,
                const std::string& ref);

}  // namespace aifs::cli
