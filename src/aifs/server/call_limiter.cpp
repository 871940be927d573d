#include "aifs/server/call_limiter.h"

namespace aifs::server {

CallLimiter::CallLimiter(CallLimit limit, std::string reason, std::string what)
    : limit_(limit), reason_(std::move(reason)), what_(std::move(what)) {}

CallLimiter::Slot::Slot(Slot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), caller_(std::move(other.caller_)) {}

CallLimiter::Slot& CallLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    if (owner_) owner_->Release(caller_);
    owner_ = std::exchange(other.owner_, nullptr);
    caller_ = std::move(other.caller_);
  }
  return *this;
}

CallLimiter::Slot::~Slot() {
  if (owner_) owner_->Release(caller_);
}

Result<CallLimiter::Slot> CallLimiter::Acquire(const std::string& caller) {
  std::lock_guard lock(mu_);
  if (limit_.total != 0 && total_ >= limit_.total)
    return err::ResourceExhausted(reason_, "the server already runs " +
                                               std::to_string(limit_.total) + " " + what_ +
                                               " at once; retry later");
  size_t& mine = by_caller_[caller];
  if (limit_.per_caller != 0 && mine >= limit_.per_caller) {
    if (mine == 0) by_caller_.erase(caller);
    return err::ResourceExhausted(reason_, "this token already runs " +
                                               std::to_string(limit_.per_caller) + " " + what_ +
                                               " at once; retry later");
  }
  ++mine;
  ++total_;
  return Slot(this, caller);
}

size_t CallLimiter::in_use() const {
  std::lock_guard lock(mu_);
  return total_;
}

uint64_t CallLimiter::released() const {
  std::lock_guard lock(mu_);
  return released_;
}

void CallLimiter::Release(const std::string& caller) {
  std::lock_guard lock(mu_);
  --total_;
  ++released_;
  auto it = by_caller_.find(caller);
  if (it != by_caller_.end() && --it->second == 0) by_caller_.erase(it);
}

}  // namespace aifs::server
