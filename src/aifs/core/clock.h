// Wall-clock time as Unix nanoseconds, the one time format stored in records.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace aifs {

inline int64_t NowUnixNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// RFC 3339 UTC with microseconds, e.g. 2026-11-25T18:11:45.123456Z.
std::string FormatUnixNanos(int64_t ns);

}  // namespace aifs
