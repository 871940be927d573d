// `aifs mount` and `aifs umount` (docs/fuse.md): a namespace as a read-only
// file system, embedded (the data directory, opened read-only, so a writer
// may run beside it) or remote (--server).
#pragma once

#include <string>
#include <vector>

#include "commands.h"

namespace aifs::cli {

struct MountArgs {
  std::string mountpoint;
  std::string ns;
  double refresh_s = 2;
  bool daemon = false;
  bool allow_other = false;
  std::string log;  // --daemon: where the mount's messages go ("" : nowhere)
};

// Mounts and serves in the foreground until unmounted or signalled.
Status MountServe(Api& api, const Output& out, const MountArgs& args);
// --daemon: runs `argv` (the same command without --daemon) in a new session
// and returns once the mount is up (or with the child's failure).
Status MountDaemon(const Output& out, const MountArgs& args, const std::vector<std::string>& argv);
Status Umount(const Output& out, const std::string& mountpoint);

}  // namespace aifs::cli
