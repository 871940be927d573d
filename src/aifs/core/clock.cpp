#include "aifs/core/clock.h"

#include <ctime>

namespace aifs {

std::string FormatUnixNanos(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  long micros = static_cast<long>((ns % 1000000000) / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%06ldZ", micros);
  return buf;
}

}  // namespace aifs
