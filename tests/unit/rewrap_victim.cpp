// KillRewrapMidway (test_util.h): the victim runs in a fresh process image
// (SpawnSelfTest), so it inherits no RocksDB or pool threads; it reports
// each committed batch on a pipe and is SIGKILLed after the asked number,
// while it works on the next.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

namespace aifs::test {
namespace {

constexpr const char* kVictimDirEnv = "AIFS_TEST_REWRAP_DIR";
constexpr const char* kVictimFdEnv = "AIFS_TEST_REWRAP_FD";

TEST(RewrapVictim, DISABLED_RewrapUntilKilled) {
  const char* dir = std::getenv(kVictimDirEnv);
  if (dir == nullptr) GTEST_SKIP() << "only run by KillRewrapMidway";
  const int fd = std::atoi(std::getenv(kVictimFdEnv));
  auto engine = Engine::Open(EngineOptions{.data_dir = dir, .threads = 1});
  if (!engine.ok()) _exit(3);
  auto r = (*engine)->RewrapKeys({.batch_size = 1}, [&](const RewrapReport&) {
    const char c = 'b';
    if (::write(fd, &c, 1) != 1) _exit(4);
  });
  _exit(r.ok() ? 0 : 5);
}

}  // namespace

KilledRewrap KillRewrapMidway(const std::string& dir, int batches) {
  KilledRewrap out;
  int pipefd[2];
  if (::pipe(pipefd) != 0) {
    ADD_FAILURE() << "pipe";
    return out;
  }
  const pid_t pid = SpawnSelfTest("RewrapVictim.DISABLED_RewrapUntilKilled",
                                  {std::string(kVictimDirEnv) + "=" + dir,
                                   std::string(kVictimFdEnv) + "=" + std::to_string(pipefd[1])},
                                  pipefd[0]);
  if (pid < 0) {
    ADD_FAILURE() << "cannot start the victim";
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return out;
  }
  ::close(pipefd[1]);
  while (out.batches_seen < batches) {
    struct pollfd p = {pipefd[0], POLLIN, 0};
    char c;
    if (::poll(&p, 1, 120000) != 1 || ::read(pipefd[0], &c, 1) != 1) break;
    ++out.batches_seen;
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &out.wait_status, 0);
  ::close(pipefd[0]);
  return out;
}

}  // namespace aifs::test
