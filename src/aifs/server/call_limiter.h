// CallLimiter: caps how many calls of one kind run at once, in total and per
// caller (token).
//
// Promise: Acquire() hands out a Slot while fewer than `total` slots are held
// in all and fewer than `per_caller` by `caller`; otherwise it refuses at once
// (never waits) with RESOURCE_EXHAUSTED and the limiter's stable reason
// (e.g. TOO_MANY_PUTS). A slot is given back when it is destroyed. A limit of
// 0 means unlimited. Thread-safe; the limiter must outlive its slots.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "aifs/core/status.h"

namespace aifs::server {

struct CallLimit {
  size_t total = 0;       // 0: unlimited
  size_t per_caller = 0;  // 0: unlimited
};

class CallLimiter {
 public:
  // `reason` is the stable reason of a refusal, `what` names the calls in its
  // message ("puts", "calls").
  CallLimiter(CallLimit limit, std::string reason, std::string what);

  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();

   private:
    friend class CallLimiter;
    Slot(CallLimiter* owner, std::string caller) : owner_(owner), caller_(std::move(caller)) {}
    CallLimiter* owner_ = nullptr;
    std::string caller_;
  };

  // A slot, or RESOURCE_EXHAUSTED <reason> when a limit is reached.
  Result<Slot> Acquire(const std::string& caller);

  size_t in_use() const;
  // Slots given back since the limiter was made.
  uint64_t released() const;

 private:
  void Release(const std::string& caller);

  const CallLimit limit_;
  const std::string reason_;
  const std::string what_;
  mutable std::mutex mu_;
  size_t total_ = 0;
  uint64_t released_ = 0;
  std::unordered_map<std::string, size_t> by_caller_;
};

}  // namespace aifs::server
