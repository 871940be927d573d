#include "aifs/server/put_watchdog.h"

#include <grpc/grpc.h>

#include <algorithm>
#include <string>
#include <utility>

#include "aifs/rpc/status_codec.h"

namespace aifs::server {

PutWatchdog::PutWatchdog(std::chrono::milliseconds stall_timeout) : timeout_(stall_timeout) {
  if (timeout_.count() > 0) thread_ = std::thread([this] { Loop(); });
}

PutWatchdog::~PutWatchdog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t PutWatchdog::NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

PutWatchdog::Watch PutWatchdog::Track(grpc::ServerContext* sctx) {
  std::lock_guard lock(mu_);
  entries_.emplace_front();
  auto it = entries_.begin();
  it->sctx = sctx;
  it->last_ns.store(NowNs());
  return Watch(this, it);
}

PutWatchdog::Watch::Watch(Watch&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), it_(other.it_) {}

PutWatchdog::Watch& PutWatchdog::Watch::operator=(Watch&& other) noexcept {
  if (this != &other) {
    Reset();
    owner_ = std::exchange(other.owner_, nullptr);
    it_ = other.it_;
  }
  return *this;
}

PutWatchdog::Watch::~Watch() { Reset(); }

void PutWatchdog::Watch::Reset() {
  if (!owner_) return;
  std::lock_guard lock(owner_->mu_);
  owner_->entries_.erase(it_);
  owner_ = nullptr;
}

void PutWatchdog::Watch::Touch() {
  if (owner_) it_->last_ns.store(NowNs(), std::memory_order_relaxed);
}

bool PutWatchdog::Watch::stalled() const {
  if (!owner_) return false;
  std::lock_guard lock(owner_->mu_);
  return it_->fired;
}

void PutWatchdog::Loop() {
  const auto tick =
      std::clamp(timeout_ / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
  const int64_t limit_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout_).count();
  const std::string message =
      rpc::CancelMessage("PUT_STALLED", "no data for " + std::to_string(timeout_.count()) +
                                            " ms; the put was cancelled and nothing was committed");
  std::unique_lock lock(mu_);
  while (!wake_.wait_for(lock, tick, [&] { return stop_; })) {
    const int64_t now = NowNs();
    for (Entry& e : entries_) {
      if (e.fired || now - e.last_ns.load(std::memory_order_relaxed) < limit_ns) continue;
      e.fired = true;
      ++stalled_total_;
      // Thread-safe in gRPC; the entry (so the call) lives while we hold mu_.
      grpc_call_cancel_with_status(e.sctx->c_call(), GRPC_STATUS_DEADLINE_EXCEEDED, message.c_str(),
                                   nullptr);
    }
  }
}

}  // namespace aifs::server
