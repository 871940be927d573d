// LogSequencer: hands out the sequence numbers of the store's ordered log and
// tells readers how far the log is settled.
//
// A number is reserved just before a commit and settled once that commit has
// succeeded or failed. Commits may finish out of order, so the watermark is
// the highest number below which nothing is still in flight: a reader that
// stops at the watermark never skips an entry that appears later. Numbers of
// failed commits are simply never used (the log may have gaps).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>

namespace aifs {

class LogSequencer {
 public:
  // Continues after `last`, the highest number already in the log.
  void Start(uint64_t last);
  // Reserves `n` consecutive numbers and returns the first.
  uint64_t Reserve(uint64_t n);
  // The commit that reserved `first` has finished (either way).
  void Settle(uint64_t first);
  uint64_t Watermark() const;
  // Waits until the watermark exceeds `seq`, the timeout passes or
  // InterruptWaits() is called; returns whether the watermark exceeds `seq`.
  bool WaitPast(uint64_t seq, std::chrono::milliseconds timeout) const;
  // Ends the waits in progress.
  void InterruptWaits();

 private:
  uint64_t WatermarkLocked() const;

  mutable std::mutex mu_;
  mutable std::condition_variable settled_;
  uint64_t next_ = 1;
  std::set<uint64_t> in_flight_;  // first numbers of unsettled reservations
  uint64_t interrupts_ = 0;
};

}  // namespace aifs
