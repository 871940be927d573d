// WaitingStreams: long-lived request/response streams (Aifs.ReadRangesStream)
// while they wait for their next request.
//
// A stream kept open between requests holds a server thread blocked in its
// Read(). So that such streams neither hold a shutdown for its whole grace
// period nor pile up when clients forget them, a stream is registered while it
// waits: Reap() cancels those that have waited longer than the idle timeout,
// Close() cancels every waiting one and refuses new waits (shutdown). A stream
// busy with a request is never cancelled here.
//
// Thread-safe. A registered ServerContext must stay valid while its Wait
// lives (the handler's own call does).
#pragma once

#include <grpcpp/server_context.h>

#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>

namespace aifs::server {

class WaitingStreams {
 public:
  // 0: streams may wait forever (only Close() ends them).
  explicit WaitingStreams(std::chrono::milliseconds idle_timeout) : timeout_(idle_timeout) {}

 private:
  struct Entry {
    grpc::ServerContext* sctx;
    std::chrono::steady_clock::time_point since;
  };

 public:
  // Registered while alive.
  class Wait {
   public:
    Wait(Wait&& other) noexcept;
    Wait& operator=(Wait&& other) noexcept;
    Wait(const Wait&) = delete;
    ~Wait();

   private:
    friend class WaitingStreams;
    void Reset();
    Wait(WaitingStreams* owner, std::list<Entry>::iterator it) : owner_(owner), it_(it) {}
    WaitingStreams* owner_;
    std::list<Entry>::iterator it_;
  };

  // Registers the call of `sctx` as waiting for a request; nullopt once
  // Close() ran: the stream should end now.
  std::optional<Wait> Begin(grpc::ServerContext* sctx);
  // Cancels the streams that have waited longer than the idle timeout.
  void Reap();
  // Cancels every waiting stream; Begin() refuses from now on.
  void Close();

  uint64_t reaped_total() const;

 private:
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mu_;
  std::list<Entry> waiting_;
  bool closed_ = false;
  uint64_t reaped_ = 0;
};

}  // namespace aifs::server
