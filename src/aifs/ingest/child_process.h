// RunChildProcess: runs a program to completion with bytes on its stdin,
// collecting its stdout (bounded) and the tail of its stderr, for the exec
// operator kind.
//
// The program is executed directly (execve, no shell): argv is passed as
// is, and `env` is its whole environment. argv[0] without a '/' is looked up
// in the PATH of `env` (default /usr/local/bin:/usr/bin:/bin), not in ours.
// The child runs in a process group of its own with RLIMIT_AS =
// memory_bytes (0: unlimited), stdin/stdout/stderr on pipes and every other
// descriptor closed. stdin is fed and stdout/stderr drained together (poll),
// so a program that writes much before it reads cannot deadlock.
// The whole process group is killed (SIGKILL) when the deadline passes, when
// stdout exceeds max_stdout_bytes, and when the program exits (any children
// it left behind).
//
// Safe to call from a multi-threaded process: everything the child runs
// before execve is prepared beforehand, and the child calls only
// async-signal-safe functions. SIGPIPE from writing to a program that
// stopped reading is kept from this process.
//
// Errors (the returned Status) only when the program could not be started
// at all: UNAVAILABLE EXEC_SPAWN_FAILED (pipe, fork: out of processes or
// descriptors). A program that cannot be executed (missing, not
// executable) is a ChildResult with exit_code 127 and exec_error set.
//
// Thread safety: any number of concurrent calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"

namespace aifs {

struct ChildSpec {
  std::vector<std::string> argv;  // non-empty
  std::vector<std::string> env;   // "NAME=value"
  uint64_t timeout_ms = 30000;
  uint64_t memory_bytes = 0;  // RLIMIT_AS; 0: unlimited
  uint64_t max_stdout_bytes = 16u << 20;
  size_t stderr_tail_bytes = 2048;
  // Once set, the program is killed within ~100 ms (ChildResult::cancelled).
  const std::atomic<bool>* cancel = nullptr;
};

struct ChildResult {
  int exit_code = -1;  // when it exited, else -1
  int signal = 0;      // the signal that ended it, else 0
  bool timed_out = false;
  bool cancelled = false;
  bool stdout_too_large = false;
  std::string exec_error;   // why execve failed (then exit_code is 127)
  Bytes out;                // stdout (at most max_stdout_bytes)
  std::string stderr_tail;  // the last stderr_tail_bytes of stderr
};

Result<ChildResult> RunChildProcess(const ChildSpec& spec, ByteSpan input);

}  // namespace aifs
