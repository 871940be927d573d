// RateLimiter: a token bucket per caller, for calls that cost the server
// real work (vector search).
//
// Promise: a caller may make `burst` calls at once and `rate` calls per second
// on average; a call beyond that is refused with the time after which it would
// pass. Callers do not share buckets; idle buckets are forgotten (a full
// bucket carries no state worth keeping). Thread-safe. A rate of 0 admits
// everything.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "aifs/core/status.h"

namespace aifs::server {

struct RateLimit {
  double per_second = 0;  // 0: unlimited
  double burst = 0;       // bucket size; 0: max(1, per_second)
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RateLimiter(RateLimit limit);

  // OK, or RESOURCE_EXHAUSTED RATE_LIMITED; `retry_after` gets the wait.
  Status Admit(const std::string& caller, std::chrono::milliseconds* retry_after,
               Clock::time_point now = Clock::now());

 private:
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  void ForgetIdle(Clock::time_point now);  // caller holds mu_

  const RateLimit limit_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  Clock::time_point last_sweep_{};
};

}  // namespace aifs::server
