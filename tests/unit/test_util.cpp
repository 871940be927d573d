// The out-of-line helpers of test_util.h.
#include "test_util.h"

#include <fcntl.h>
#include <unistd.h>

extern char** environ;

namespace aifs::test {

pid_t SpawnSelfTest(const std::string& test, const std::vector<std::string>& extra_env,
                    int close_in_child) {
  // Everything the child needs is prepared before fork().
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=" + test;
  std::string also = "--gtest_also_run_disabled_tests";
  char* argv[] = {self.data(), filter.data(), also.data(), nullptr};
  const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull < 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (close_in_child >= 0) ::close(close_in_child);
    ::dup2(devnull, STDOUT_FILENO);
    ::execve(self.c_str(), argv, envp.data());
    _exit(127);
  }
  ::close(devnull);
  return pid;
}

}  // namespace aifs::test
