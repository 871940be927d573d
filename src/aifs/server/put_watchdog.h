// PutWatchdog: ends puts whose client stopped sending.
//
// A put stream holds a server thread, its buffered bytes and the chunk
// objects it already stored until it finishes. A client that stops sending
// (stalled, or gone without closing the connection) would hold them forever,
// so every put is tracked from its first message: when no message arrived for
// `stall_timeout`, the watchdog cancels the call with DEADLINE_EXCEEDED
// PUT_STALLED. The handler's blocked read then fails and the put is aborted
// (nothing committed, its chunk objects and buffers freed).
//
// Thread-safe. The watchdog runs one thread, which wakes a few times per
// timeout; a timeout of 0 disables it (puts may stall forever).
#pragma once

#include <grpcpp/server_context.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

namespace aifs::server {

class PutWatchdog {
 public:
  explicit PutWatchdog(std::chrono::milliseconds stall_timeout);
  ~PutWatchdog();
  PutWatchdog(const PutWatchdog&) = delete;
  PutWatchdog& operator=(const PutWatchdog&) = delete;

 private:
  struct Entry {
    grpc::ServerContext* sctx;
    std::atomic<int64_t> last_ns;
    bool fired = false;
  };

 public:
  // Registered while alive; the handler touches it on every message it reads.
  class Watch {
   public:
    Watch() = default;
    Watch(Watch&& other) noexcept;
    Watch& operator=(Watch&& other) noexcept;
    ~Watch();
    void Touch();
    // True once the watchdog cancelled the call for stalling.
    bool stalled() const;

   private:
    friend class PutWatchdog;
    void Reset();
    Watch(PutWatchdog* owner, std::list<Entry>::iterator it) : owner_(owner), it_(it) {}
    PutWatchdog* owner_ = nullptr;
    std::list<Entry>::iterator it_;
  };

  // Starts watching the call of `sctx`, which must stay valid while the
  // returned Watch lives.
  Watch Track(grpc::ServerContext* sctx);

  std::chrono::milliseconds stall_timeout() const { return timeout_; }
  uint64_t stalled_total() const { return stalled_total_.load(); }

 private:
  static int64_t NowNs();
  void Loop();

  const std::chrono::milliseconds timeout_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::list<Entry> entries_;
  bool stop_ = false;
  std::atomic<uint64_t> stalled_total_{0};
  std::thread thread_;
};

}  // namespace aifs::server
