// Acceptor: the server's own accept loop for gRPC, plaintext and TLS.
//
// gRPC 1.51's listener stops for good on the first accept() error other than
// EAGAIN/ECONNABORTED, so a flood that runs the process out of file
// descriptors (EMFILE) would leave a server that never accepts again. The
// Acceptor owns the listening sockets instead and hands each connection to
// gRPC (through its external connection acceptor, which applies the server's
// credentials: TLS handshakes run inside gRPC) once the client has sent its
// first bytes. Its promises:
//
// - It keeps accepting whatever accept() reports: on EMFILE/ENFILE it closes
//   a reserved descriptor, accepts and drops one waiting connection with it,
//   re-opens the reserve and backs off briefly; other errors back off too.
// - At most `max_connections` connections are held at once (waiting for their
//   first bytes, or handed to gRPC and not yet closed by it); a connection
//   beyond that is reset at once, so a client fails fast instead of hanging.
// - A connection that sends nothing within `first_byte_timeout` is closed
//   without ever reaching gRPC (idle-connection floods cost one descriptor
//   for that long, nothing more).
//
// Thread-safe: one thread runs the loop; stats() may be called
// from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "aifs/core/status.h"

namespace aifs::server {

struct AcceptorOptions {
  size_t max_connections = 1024;
  std::chrono::milliseconds first_byte_timeout{10000};
  // Receives one line per notable event (shedding, EMFILE), rate-limited.
  std::function<void(const std::string&)> log;
};

struct AcceptorStats {
  uint64_t accepted = 0;       // accept() calls that returned a connection
  uint64_t handed_off = 0;     // given to gRPC
  uint64_t shed_over_cap = 0;  // reset because max_connections were held
  uint64_t shed_no_fds = 0;    // dropped through the reserve on EMFILE/ENFILE
  uint64_t silent_closed = 0;  // closed after first_byte_timeout without a byte
  uint64_t accept_errors = 0;  // EMFILE, ENFILE, ENOBUFS, ... (each backs off)
  size_t waiting = 0;          // held, no byte yet
  size_t live = 0;             // handed to gRPC, not yet seen closed
};

class Acceptor {
 public:
  // Gets each connection that spoke; owns the descriptor from then on.
  using Handoff = std::function<void(int fd)>;

  // Binds and listens on `address` ("host:port", "[v6]:port"; port 0 picks a
  // free one; every address the host resolves to), or on a unix socket
  // ("unix:PATH": a stale socket file is replaced, the new one is mode 0660
  // and removed by Stop). UNAVAILABLE LISTEN_FAILED when it cannot be
  // resolved or bound, or another server listens on the socket file.
  static Result<std::unique_ptr<Acceptor>> Listen(const std::string& address,
                                                  AcceptorOptions options);
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  int port() const { return port_; }                           // 0 on a unix socket
  const std::string& unix_path() const { return unix_path_; }  // "" on TCP

  // Starts the accept loop on its own thread.
  void Start(Handoff handoff);
  // Stops accepting, closes the listening sockets and the connections still
  // waiting for their first byte (and removes its socket file); connections
  // handed off stay gRPC's.
  void Stop();

  AcceptorStats stats() const;

 private:
  struct Waiting {
    uint64_t generation;
  };
  struct Live {
    uint64_t inode;  // a closed and reused descriptor number has another
  };
  using Clock = std::chrono::steady_clock;

  explicit Acceptor(AcceptorOptions options) : options_(std::move(options)) {}
  void Loop();
  void AcceptFrom(int listen_fd);
  void OnWaitingEvent(int fd, uint32_t events);
  void HandOff(int fd);
  void CloseWaiting(int fd, bool reset);
  void ExpireWaiting(Clock::time_point now);
  void SweepLive(Clock::time_point now, bool force);
  void Shed(int fd);
  void PauseListening(Clock::time_point until);
  void ResumeListening();
  void Log(const std::string& line);
  size_t held() const { return waiting_.size() + live_.size(); }  // loop thread

  const AcceptorOptions options_;
  int port_ = 0;
  std::string unix_path_;
  uint64_t unix_inode_ = 0;
  std::vector<int> listen_fds_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int reserve_fd_ = -1;
  Handoff handoff_;
  std::thread thread_;
  bool stopped_ = false;

  // Loop thread only.
  std::unordered_map<int, Waiting> waiting_;
  std::deque<std::tuple<Clock::time_point, int, uint64_t>> deadlines_;
  uint64_t next_generation_ = 0;
  Clock::time_point paused_until_{};
  bool paused_ = false;
  Clock::time_point last_sweep_{};
  Clock::time_point last_log_{};
  uint64_t unlogged_ = 0;

  mutable std::mutex mu_;  // guards live_ (written by the loop thread only) and stats_
  std::unordered_map<int, Live> live_;
  AcceptorStats stats_;
};

}  // namespace aifs::server
