#include "aifs/ingest/child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace aifs {

namespace {

using Clock = std::chrono::steady_clock;

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// A pipe whose both ends are close-on-exec and above 2 (so the child's
// dup2 onto 0..2 always copies, and clears close-on-exec).
Status MakePipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return err::Unavailable("EXEC_SPAWN_FAILED", std::string("pipe: ") + std::strerror(errno));
  for (int i = 0; i < 2; ++i) {
    if (fds[i] > 2) continue;
    const int moved = ::fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
    ::close(fds[i]);
    fds[i] = moved;
  }
  if (fds[0] < 0 || fds[1] < 0)
    return err::Unavailable("EXEC_SPAWN_FAILED", std::string("fcntl: ") + std::strerror(errno));
  return Status::Ok();
}

// The program to execve: argv[0] itself when it holds a '/', else the first
// executable file of that name on the child's PATH.
std::string Resolve(const ChildSpec& spec) {
  const std::string& name = spec.argv[0];
  if (name.find('/') != std::string::npos) return name;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& e : spec.env)
    if (e.starts_with("PATH=")) path = e.substr(5);
  for (size_t b = 0; b <= path.size();) {
    size_t e = path.find(':', b);
    if (e == std::string::npos) e = path.size();
    const std::string dir = e > b ? path.substr(b, e - b) : ".";
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    b = e + 1;
  }
  return name;  // execve fails with ENOENT: exit 127
}

// Reads what `fd` has now into `out` (at most `limit` bytes more); false at
// end of file or on an error other than EAGAIN.
bool ReadSome(int fd, std::string& out, size_t limit) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, std::min(sizeof buf, limit + 1));
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      if (static_cast<size_t>(n) > limit) return true;
      limit -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN;
  }
}

// After fork, in the child: only async-signal-safe calls until execve.
[[noreturn]] void ChildMain(const char* path, char* const* argv, char* const* envp, int in, int out,
                            int errfd, int status, const rlimit* mem, const sigset_t* empty) {
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, nullptr);  // an ignored SIGPIPE would be inherited by execve
  ::sigprocmask(SIG_SETMASK, empty, nullptr);
  ::setpgid(0, 0);
  if (mem) ::setrlimit(RLIMIT_AS, mem);
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(errfd, 2) < 0 || ::dup2(status, 3) < 0)
    ::_exit(127);
  ::fcntl(3, F_SETFD, FD_CLOEXEC);  // closed by a successful execve
  if (::syscall(SYS_close_range, 4u, ~0u, 0u) != 0)
    for (int fd = 4; fd < 65536; ++fd) ::close(fd);
  ::execve(path, argv, envp);
  const int e = errno;
  [[maybe_unused]] ssize_t w = ::write(3, &e, sizeof e);
  ::_exit(127);
}

}  // namespace

Result<ChildResult> RunChildProcess(const ChildSpec& spec, ByteSpan input) {
  if (spec.argv.empty() || spec.argv[0].empty())
    return err::InvalidArgument("EXEC_SPAWN_FAILED", "no program to run");
  // Everything the child needs, made before fork.
  const std::string path = Resolve(spec);
  std::vector<char*> argv, envp;
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  for (const std::string& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  rlimit mem{spec.memory_bytes, spec.memory_bytes};
  sigset_t empty, pipe_only, old_mask;
  sigemptyset(&empty);
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1}, st[2] = {-1, -1};
  auto close_all = [&] {
    for (int* p : {in, out, errp, st}) CloseFd(p[0]), CloseFd(p[1]);
  };
  for (int* p : {in, out, errp, st}) {
    Status s = MakePipe(p);
    if (!s.ok()) {
      close_all();
      return s;
    }
  }
  // Writing to a program that stopped reading must not raise SIGPIPE here.
  ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
  const pid_t pid = ::fork();
  if (pid == 0)
    ChildMain(path.c_str(), argv.data(), envp.data(), in[0], out[1], errp[1], st[1],
              spec.memory_bytes ? &mem : nullptr, &empty);
  const int fork_errno = errno;
  CloseFd(in[0]), CloseFd(out[1]), CloseFd(errp[1]), CloseFd(st[1]);
  if (pid < 0) {
    close_all();
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    return err::Unavailable("EXEC_SPAWN_FAILED", std::string("fork: ") + std::strerror(fork_errno));
  }
  ::setpgid(pid, pid);  // also here, so a kill below never misses the group

  ChildResult result;
  int exec_errno = 0;  // EOF at once when execve succeeded (close-on-exec)
  while (::read(st[0], &exec_errno, sizeof exec_errno) < 0 && errno == EINTR) {
  }
  if (exec_errno != 0) result.exec_error = std::strerror(exec_errno);
  CloseFd(st[0]);

  for (int fd : {in[1], out[0], errp[0]}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  const auto deadline = Clock::now() + std::chrono::milliseconds(spec.timeout_ms);
  std::string out_buf, err_buf;
  size_t written = 0;
  bool exited = false;
  if (input.empty()) CloseFd(in[1]);
  auto drain_err = [&] {
    const bool open = ReadSome(errp[0], err_buf, 1 << 20);
    if (err_buf.size() > 2 * spec.stderr_tail_bytes)
      err_buf.erase(0, err_buf.size() - spec.stderr_tail_bytes);
    if (!open) CloseFd(errp[0]);
  };
  auto drain_out = [&] {
    if (result.stdout_too_large) return;
    const bool open = ReadSome(out[0], out_buf, spec.max_stdout_bytes - out_buf.size());
    if (out_buf.size() > spec.max_stdout_bytes) result.stdout_too_large = true;
    if (!open) CloseFd(out[0]);
  };
  while (!result.stdout_too_large) {
    if (exited || (out[0] < 0 && errp[0] < 0 && pidfd < 0)) break;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    if (spec.cancel && spec.cancel->load()) {
      result.cancelled = true;
      break;
    }
    pollfd fds[4];
    nfds_t n = 0;
    if (in[1] >= 0) fds[n++] = {in[1], POLLOUT, 0};
    if (out[0] >= 0) fds[n++] = {out[0], POLLIN, 0};
    if (errp[0] >= 0) fds[n++] = {errp[0], POLLIN, 0};
    if (pidfd >= 0) fds[n++] = {pidfd, POLLIN, 0};
    // Without a pidfd (Linux < 5.3) look for the exit now and then.
    // Without a pidfd (Linux < 5.3) look for the exit now and then; with a
    // cancel flag, look at it now and then.
    const int wait_ms = static_cast<int>(
        std::min<int64_t>(left.count(), pidfd >= 0 && !spec.cancel ? 1 << 30 : 50));
    if (::poll(fds, n, wait_ms) < 0 && errno != EINTR) break;
    if (in[1] >= 0) {
      const ssize_t w =
          ::write(in[1], input.data() + written, std::min<size_t>(input.size() - written, 1 << 16));
      if (w > 0) written += static_cast<size_t>(w);
      if (written == input.size() || (w < 0 && errno != EAGAIN && errno != EINTR)) CloseFd(in[1]);
    }
    if (out[0] >= 0) drain_out();
    if (errp[0] >= 0) drain_err();
    if (pidfd >= 0) {
      pollfd p = {pidfd, POLLIN, 0};
      exited = ::poll(&p, 1, 0) > 0;
    } else {
      siginfo_t info = {};
      exited = ::waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
    }
    if (exited) {  // what it wrote before it exited is in the pipes now
      if (out[0] >= 0) drain_out();
      if (errp[0] >= 0) drain_err();
    }
  }
  ::kill(-pid, SIGKILL);  // a timeout, too much output, or children left behind
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  CloseFd(pidfd);
  close_all();
  // A SIGPIPE our writes raised is pending on this thread: take it.
  if (!sigismember(&old_mask, SIGPIPE)) {
    sigset_t pending;
    sigpending(&pending);
    const timespec zero = {0, 0};
    if (sigismember(&pending, SIGPIPE)) ::sigtimedwait(&pipe_only, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);

  if (WIFEXITED(wstatus)) result.exit_code = WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) result.signal = WTERMSIG(wstatus);
  out_buf.resize(std::min(out_buf.size(), spec.max_stdout_bytes));
  result.out.assign(out_buf.begin(), out_buf.end());
  if (err_buf.size() > spec.stderr_tail_bytes) {
    size_t cut = err_buf.size() - spec.stderr_tail_bytes;
    while (cut < err_buf.size() && (static_cast<unsigned char>(err_buf[cut]) & 0xc0) == 0x80) ++cut;
    err_buf.erase(0, cut);
  }
  result.stderr_tail = std::move(err_buf);
  return result;
}

}  // namespace aifs
