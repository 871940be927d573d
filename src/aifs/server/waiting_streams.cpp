#include "aifs/server/waiting_streams.h"

#include <utility>

namespace aifs::server {

WaitingStreams::Wait::Wait(Wait&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), it_(other.it_) {}

WaitingStreams::Wait& WaitingStreams::Wait::operator=(Wait&& other) noexcept {
  if (this != &other) {
    Reset();
    owner_ = std::exchange(other.owner_, nullptr);
    it_ = other.it_;
  }
  return *this;
}

WaitingStreams::Wait::~Wait() { Reset(); }

void WaitingStreams::Wait::Reset() {
  if (!owner_) return;
  std::lock_guard lock(owner_->mu_);
  owner_->waiting_.erase(it_);
  owner_ = nullptr;
}

std::optional<WaitingStreams::Wait> WaitingStreams::Begin(grpc::ServerContext* sctx) {
  std::lock_guard lock(mu_);
  if (closed_) return std::nullopt;
  waiting_.push_front({sctx, std::chrono::steady_clock::now()});
  return Wait(this, waiting_.begin());
}

void WaitingStreams::Reap() {
  if (timeout_.count() <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (now - it->since < timeout_) {
      ++it;
      continue;
    }
    // TryCancel is safe from any thread; the call lives while its Wait does,
    // and that cannot end while we hold mu_.
    it->sctx->TryCancel();
    ++reaped_;
    it->since = std::chrono::steady_clock::time_point::max();  // once
    ++it;
  }
}

void WaitingStreams::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  for (Entry& e : waiting_) e.sctx->TryCancel();
}

uint64_t WaitingStreams::reaped_total() const {
  std::lock_guard lock(mu_);
  return reaped_;
}

}  // namespace aifs::server
