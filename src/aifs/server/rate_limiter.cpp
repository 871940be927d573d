#include "aifs/server/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace aifs::server {

namespace {

double Seconds(RateLimiter::Clock::duration d) { return std::chrono::duration<double>(d).count(); }

RateLimit WithBurst(RateLimit limit) {
  if (limit.burst <= 0) limit.burst = std::max(1.0, limit.per_second);
  return limit;
}

}  // namespace

RateLimiter::RateLimiter(RateLimit limit) : limit_(WithBurst(limit)) {}

Status RateLimiter::Admit(const std::string& caller, std::chrono::milliseconds* retry_after,
                          Clock::time_point now) {
  if (limit_.per_second <= 0) return Status::Ok();
  std::lock_guard lock(mu_);
  ForgetIdle(now);
  auto [it, fresh] = buckets_.try_emplace(caller, Bucket{limit_.burst, now});
  Bucket& b = it->second;
  if (!fresh) {
    b.tokens = std::min(limit_.burst, b.tokens + Seconds(now - b.last) * limit_.per_second);
    b.last = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return Status::Ok();
  }
  const auto wait = std::chrono::milliseconds(
      static_cast<int64_t>(std::ceil((1 - b.tokens) / limit_.per_second * 1000)));
  if (retry_after) *retry_after = wait;
  return err::ResourceExhausted("RATE_LIMITED", "more than " + std::to_string(limit_.per_second) +
                                                    " calls per second; retry in " +
                                                    std::to_string(wait.count()) + " ms");
}

void RateLimiter::ForgetIdle(Clock::time_point now) {
  // A bucket idle long enough to refill is the same as no bucket.
  const auto refill = std::chrono::duration<double>(limit_.burst / limit_.per_second);
  if (now - last_sweep_ < refill) return;
  last_sweep_ = now;
  std::erase_if(buckets_, [&](const auto& kv) { return now - kv.second.last >= refill; });
}

}  // namespace aifs::server
