// Process-wide settings of the gRPC library, for programs that serve or call
// AIFS over gRPC (the aifs CLI, benchmarks). Not for libraries to make:
// they change every gRPC channel and server of the process.
#pragma once

namespace aifs::rpc {

// gRPC's locks are abseil mutexes, and Debian builds abseil with deadlock
// detection on: every lock updates a process-wide graph of lock order. A
// detector is for debugging; turned off, a small read on an open stream took
// ~12% less time and its server ~10-20% less CPU (bench/README.md, "Issue
// 16: small reads from a separate server"). Call once at start, before any
// thread; not thread-safe.
void SkipMutexDeadlockDetection();

}  // namespace aifs::rpc
