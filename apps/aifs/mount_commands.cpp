#include "mount_commands.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "aifs/fuse/mount.h"

extern char** environ;

namespace aifs::cli {

Status MountServe(Api& api, const Output& out, const MountArgs& args) {
  fuse::MountOptions o;
  o.mountpoint = args.mountpoint;
  o.ns = NsOrDefault(args.ns);
  o.refresh = std::chrono::milliseconds(static_cast<int64_t>(args.refresh_s * 1000));
  o.allow_other = args.allow_other;
  // The namespace must exist: a typo should fail now, not as empty folders.
  AIFS_RETURN_IF_ERROR(api.GetNamespace(o.ns).status());
  AIFS_ASSIGN_OR_RETURN(auto mount, fuse::Mount::Start(api, o));
  if (!out.quiet) std::cout << "aifs: mounted " << o.ns << " at " << args.mountpoint << std::endl;
  AIFS_RETURN_IF_ERROR(mount->Serve());
  if (!out.quiet) std::cerr << "aifs: unmounted " << args.mountpoint << std::endl;
  return Status::Ok();
}

Status MountDaemon(const Output& out, const MountArgs& args, const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string log = args.log.empty() ? "/dev/null" : args.log;
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &fa, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return err::Internal("SPAWN_FAILED", std::string("cannot start the mount: ") + strerror(rc));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fuse::IsMounted(args.mountpoint)) {
      if (!out.quiet)
        std::cout << "aifs: mounted at " << args.mountpoint << " (pid " << pid << ")\n";
      return Status::Ok();
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid)
      return err::Unavailable("MOUNT_FAILED", "the mount process exited" +
                                                  (args.log.empty() ? std::string(" (see --log)")
                                                                    : " (see " + args.log + ")"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGTERM);
  return Status(Code::kDeadlineExceeded, "MOUNT_TIMEOUT", "the mount did not come up within 30 s");
}

Status Umount(const Output& out, const std::string& mountpoint) {
  AIFS_RETURN_IF_ERROR(fuse::Unmount(mountpoint));
  if (!out.quiet) std::cout << "aifs: unmounted " << mountpoint << "\n";
  return Status::Ok();
}

}  // namespace aifs::cli
