#include "aifs/server/acceptor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "aifs/server/listen_address.h"

namespace aifs::server {

namespace {

constexpr uint64_t kWakeTag = uint64_t{1} << 40;
constexpr uint64_t kListenTag = uint64_t{2} << 40;
constexpr uint64_t kTagMask = ~((uint64_t{1} << 40) - 1);

// Closes with a reset: the client learns at once, and no TIME_WAIT is left here.
void ResetAndClose(int fd) {
  linger l{.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

uint64_t InodeOf(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
  return st.st_ino;
}

// Makes way for a unix socket at `la`: a socket file that a server which is
// gone left behind is removed; one a live server answers on, or a file that
// is not a socket, is left alone and the listen fails.
Status ClearStaleSocket(const std::string& listen, const ListenAddress& la) {
  struct stat st;
  if (lstat(la.unix_path.c_str(), &st) != 0)
    return errno == ENOENT ? Status::Ok() : ListenFailed(listen, std::strerror(errno));
  if (!S_ISSOCK(st.st_mode)) return ListenFailed(listen, "the file exists and is not a socket");
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ListenFailed(listen, std::strerror(errno));
  const bool answered = connect(fd, reinterpret_cast<const sockaddr*>(&la.addr), la.len) == 0;
  const int why = errno;
  close(fd);
  // EAGAIN: a live listener whose backlog is full.
  if (answered || why == EAGAIN) return ListenFailed(listen, "another server is listening on it");
  if (why != ECONNREFUSED) return ListenFailed(listen, std::strerror(why));
  if (unlink(la.unix_path.c_str()) != 0 && errno != ENOENT)
    return ListenFailed(listen, std::string("removing the stale socket: ") + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Acceptor>> Acceptor::Listen(const std::string& address,
                                                   AcceptorOptions options) {
  AIFS_ASSIGN_OR_RETURN(std::vector<ListenAddress> addresses, ResolveListen(address));
  std::unique_ptr<Acceptor> a(new Acceptor(std::move(options)));
  const bool several = addresses.size() > 1;
  for (const ListenAddress& la : addresses) {
    sockaddr_storage ss = la.addr;
    // Every address gets the port the first one was given (port 0).
    if (a->port_ != 0) {
      if (ss.ss_family == AF_INET) reinterpret_cast<sockaddr_in&>(ss).sin_port = htons(a->port_);
      if (ss.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6&>(ss).sin6_port = htons(a->port_);
    }
    if (la.family == AF_UNIX) AIFS_RETURN_IF_ERROR(ClearStaleSocket(address, la));
    const int fd = socket(la.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return ListenFailed(address, std::strerror(errno));
    a->listen_fds_.push_back(fd);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (la.family == AF_INET6 && several)
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), la.len) != 0 || listen(fd, SOMAXCONN) != 0)
      return ListenFailed(address, std::strerror(errno));
    if (la.family == AF_UNIX) {
      // The owner and its group may connect (a token is still needed).
      struct stat st;
      if (chmod(la.unix_path.c_str(), 0660) != 0 || lstat(la.unix_path.c_str(), &st) != 0)
        return ListenFailed(address, std::strerror(errno));
      a->unix_path_ = la.unix_path;
      a->unix_inode_ = st.st_ino;
      continue;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    if (a->port_ == 0)
      a->port_ =
          ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in&>(bound).sin_port
                                           : reinterpret_cast<sockaddr_in6&>(bound).sin6_port);
  }
  a->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  a->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  a->reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (a->epoll_fd_ < 0 || a->wake_fd_ < 0 || a->reserve_fd_ < 0)
    return ListenFailed(address, std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  epoll_ctl(a->epoll_fd_, EPOLL_CTL_ADD, a->wake_fd_, &ev);
  for (size_t i = 0; i < a->listen_fds_.size(); ++i) {
    ev.data.u64 = kListenTag | i;
    epoll_ctl(a->epoll_fd_, EPOLL_CTL_ADD, a->listen_fds_[i], &ev);
  }
  return a;
}

Acceptor::~Acceptor() {
  Stop();
  for (int fd : {epoll_fd_, wake_fd_, reserve_fd_})
    if (fd >= 0) close(fd);
}

void Acceptor::Start(Handoff handoff) {
  handoff_ = std::move(handoff);
  thread_ = std::thread([this] { Loop(); });
}

void Acceptor::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (thread_.joinable()) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
    thread_.join();
  }
  for (int fd : listen_fds_) close(fd);
  listen_fds_.clear();
  for (auto& [fd, w] : waiting_) close(fd);
  waiting_.clear();
  // Our socket file goes (not one another server has bound there since).
  struct stat st;
  if (!unix_path_.empty() && lstat(unix_path_.c_str(), &st) == 0 && st.st_ino == unix_inode_)
    unlink(unix_path_.c_str());
}

AcceptorStats Acceptor::stats() const {
  std::lock_guard lock(mu_);
  AcceptorStats s = stats_;
  s.live = live_.size();
  return s;
}

void Acceptor::Log(const std::string& line) {
  // At most one line per 10 s; the lines in between are counted.
  const auto now = Clock::now();
  if (now - last_log_ < std::chrono::seconds(10)) {
    ++unlogged_;
    return;
  }
  last_log_ = now;
  std::string text = line;
  if (unlogged_ > 0) text += " (" + std::to_string(unlogged_) + " similar events not shown)";
  unlogged_ = 0;
  if (options_.log) options_.log(text);
}

void Acceptor::Loop() {
  std::vector<epoll_event> events(128);
  for (;;) {
    auto now = Clock::now();
    auto wait = std::chrono::milliseconds(1000);
    if (!deadlines_.empty())
      wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(
                                std::get<0>(deadlines_.front()) - now));
    if (paused_)
      wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(paused_until_ - now));
    wait = std::max(wait, std::chrono::milliseconds(0));
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                             static_cast<int>(wait.count()));
    if (n < 0 && errno != EINTR) {
      Log("aifs: warning: epoll_wait: " + std::string(std::strerror(errno)));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if ((tag & kTagMask) == kWakeTag) return;
      if ((tag & kTagMask) == kListenTag) {
        if (!paused_) AcceptFrom(listen_fds_[tag & ~kTagMask]);
        continue;
      }
      OnWaitingEvent(static_cast<int>(tag), events[i].events);
    }
    now = Clock::now();
    if (paused_ && now >= paused_until_) ResumeListening();
    ExpireWaiting(now);
    SweepLive(now, /*force=*/false);
  }
}

void Acceptor::AcceptFrom(int listen_fd) {
  // A bounded batch, so waiting connections get their turn under a flood.
  for (int i = 0; i < 256; ++i) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd =
        accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) return;
      if (e == EINTR || e == ECONNABORTED || e == EPROTO || e == EPERM) continue;
      {
        std::lock_guard lock(mu_);
        ++stats_.accept_errors;
      }
      const auto now = Clock::now();
      if (e == EMFILE || e == ENFILE) {
        // Out of descriptors: drop the oldest waiting client through the
        // reserve so the backlog moves, and look for connections gRPC closed.
        if (reserve_fd_ >= 0) {
          close(reserve_fd_);
          reserve_fd_ = -1;
          const int victim = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
          if (victim >= 0) {
            ResetAndClose(victim);
            std::lock_guard lock(mu_);
            ++stats_.shed_no_fds;
          }
          reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        SweepLive(now, /*force=*/true);
        Log("aifs: warning: out of file descriptors (" + std::string(std::strerror(e)) +
            "); shedding new connections, still accepting");
        PauseListening(now + std::chrono::milliseconds(20));
      } else {
        Log("aifs: warning: accept: " + std::string(std::strerror(e)) + "; retrying");
        PauseListening(now + std::chrono::milliseconds(100));
      }
      return;
    }
    {
      std::lock_guard lock(mu_);
      ++stats_.accepted;
    }
    if (ss.ss_family == AF_UNIX) {
      // A unix socket's send buffer is net.core.wmem_default (~208 KiB), so
      // a 1 MiB read's message went out in five blocked writes and as many
      // wake-ups (34 context switches per 1 MiB read, TCP 18.5). Asked for
      // 2 MiB, the kernel gives up to 2 x net.core.wmem_max.
      const int bytes = 2 << 20;
      (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    }
    if (held() >= options_.max_connections) {
      SweepLive(Clock::now(), /*force=*/false);
      if (held() >= options_.max_connections) {
        Shed(fd);
        continue;
      }
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = static_cast<uint32_t>(fd);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      Shed(fd);
      continue;
    }
    const uint64_t gen = ++next_generation_;
    waiting_[fd] = Waiting{gen};
    deadlines_.emplace_back(Clock::now() + options_.first_byte_timeout, fd, gen);
    std::lock_guard lock(mu_);
    stats_.waiting = waiting_.size();
  }
}

void Acceptor::Shed(int fd) {
  ResetAndClose(fd);
  {
    std::lock_guard lock(mu_);
    ++stats_.shed_over_cap;
  }
  Log("aifs: warning: " + std::to_string(options_.max_connections) +
      " connections held (--max-connections); resetting new ones");
}

void Acceptor::OnWaitingEvent(int fd, uint32_t events) {
  if (!waiting_.count(fd)) return;
  if (events & EPOLLIN) {
    char byte;
    const ssize_t r = recv(fd, &byte, 1, MSG_PEEK);
    if (r > 0) return HandOff(fd);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    return CloseWaiting(fd, /*reset=*/false);
  }
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) CloseWaiting(fd, /*reset=*/false);
}

void Acceptor::HandOff(int fd) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  auto node = waiting_.extract(fd);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  {
    std::lock_guard lock(mu_);
    live_[fd] = Live{InodeOf(fd)};
    ++stats_.handed_off;
    stats_.waiting = waiting_.size();
  }
  handoff_(fd);
}

void Acceptor::CloseWaiting(int fd, bool reset) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  waiting_.erase(fd);
  if (reset)
    ResetAndClose(fd);
  else
    close(fd);
  std::lock_guard lock(mu_);
  stats_.waiting = waiting_.size();
}

void Acceptor::ExpireWaiting(Clock::time_point now) {
  while (!deadlines_.empty() && std::get<0>(deadlines_.front()) <= now) {
    const int fd = std::get<1>(deadlines_.front());
    const uint64_t gen = std::get<2>(deadlines_.front());
    deadlines_.pop_front();
    auto it = waiting_.find(fd);
    if (it == waiting_.end() || it->second.generation != gen) continue;  // spoke or left
    CloseWaiting(fd, /*reset=*/true);
    std::lock_guard lock(mu_);
    ++stats_.silent_closed;
  }
}

void Acceptor::SweepLive(Clock::time_point now, bool force) {
  // gRPC closes the descriptors it was given without telling: a descriptor
  // that is gone, or now names another file, is a connection that ended.
  if (!force && now - last_sweep_ < std::chrono::milliseconds(100)) return;
  last_sweep_ = now;
  std::lock_guard lock(mu_);
  for (auto it = live_.begin(); it != live_.end();) {
    if (waiting_.count(it->first) || InodeOf(it->first) != it->second.inode)
      it = live_.erase(it);
    else
      ++it;
  }
}

void Acceptor::PauseListening(Clock::time_point until) {
  paused_until_ = until;
  if (paused_) return;
  paused_ = true;
  for (size_t i = 0; i < listen_fds_.size(); ++i) {
    epoll_event ev{};
    ev.events = 0;
    ev.data.u64 = kListenTag | i;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fds_[i], &ev);
  }
}

void Acceptor::ResumeListening() {
  paused_ = false;
  for (size_t i = 0; i < listen_fds_.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag | i;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fds_[i], &ev);
  }
}

}  // namespace aifs::server
