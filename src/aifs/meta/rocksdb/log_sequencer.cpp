#include "aifs/meta/rocksdb/log_sequencer.h"

namespace aifs {

void LogSequencer::Start(uint64_t last) {
  std::lock_guard lock(mu_);
  next_ = last + 1;
  in_flight_.clear();
}

uint64_t LogSequencer::Reserve(uint64_t n) {
  std::lock_guard lock(mu_);
  const uint64_t first = next_;
  next_ += n;
  in_flight_.insert(first);
  return first;
}

void LogSequencer::Settle(uint64_t first) {
  {
    std::lock_guard lock(mu_);
    in_flight_.erase(first);
  }
  settled_.notify_all();
}

uint64_t LogSequencer::WatermarkLocked() const {
  return in_flight_.empty() ? next_ - 1 : *in_flight_.begin() - 1;
}

uint64_t LogSequencer::Watermark() const {
  std::lock_guard lock(mu_);
  return WatermarkLocked();
}

bool LogSequencer::WaitPast(uint64_t seq, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  const uint64_t interrupts = interrupts_;
  settled_.wait_for(lock, timeout,
                    [&] { return WatermarkLocked() > seq || interrupts_ != interrupts; });
  return WatermarkLocked() > seq;
}

void LogSequencer::InterruptWaits() {
  {
    std::lock_guard lock(mu_);
    ++interrupts_;
  }
  settled_.notify_all();
}

}  // namespace aifs
