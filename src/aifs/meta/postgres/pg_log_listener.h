// PgLogListener: follows the announcements of new log entries on a
// PostgreSQL channel (LISTEN) over a dedicated connection, so that waiting
// readers wake as soon as any server commits. Each announcement carries the
// committed log counter, which is a safe watermark (see PostgresMetaStore).
// While the server is unreachable it reconnects every few hundred
// milliseconds; waiters then fall back to polling the counter.
//
// Thread safety: every method may be called from any thread. The destructor
// stops the listening thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace aifs {

class PgLogListener {
 public:
  PgLogListener(std::string conninfo, std::string channel);
  ~PgLogListener();
  PgLogListener(const PgLogListener&) = delete;
  PgLogListener& operator=(const PgLogListener&) = delete;

  // The highest counter announced so far (0 before any).
  uint64_t announced() const { return announced_.load(); }
  // Counts (re)connections: notifications may have been missed before each.
  uint64_t generation() const { return generation_.load(); }
  bool listening() const { return listening_.load(); }
  // Waits until announced() > seq, the generation moves past `generation`, or
  // `timeout` passes; returns whether announced() > seq.
  // Also ends when interrupts() moves past `interrupts`.
  bool Wait(uint64_t seq, uint64_t generation, uint64_t interrupts,
            std::chrono::milliseconds timeout);
  // Ends the waits in progress; interrupts() counts the calls.
  void Interrupt();
  uint64_t interrupts() const { return interrupts_.load(); }

 private:
  void Loop();

  const std::string conninfo_;
  const std::string channel_;
  std::atomic<uint64_t> announced_{0};
  std::atomic<uint64_t> interrupts_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> listening_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace aifs
