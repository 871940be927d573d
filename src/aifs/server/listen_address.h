// ResolveListen: the socket addresses a "host:port" listen string names, for
// the gRPC accept loop and the HTTP plane alike. "[v6addr]:port" takes an
// IPv6 literal; an empty host is every address; port 0 lets the kernel pick.
// "unix:PATH" (or "unix:///abs/path", gRPC's spelling) names a unix-domain
// socket file. Stateless and thread-safe.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "aifs/core/status.h"

namespace aifs::server {

struct ListenAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = 0;         // AF_INET, AF_INET6 or AF_UNIX
  std::string unix_path;  // AF_UNIX: the socket file
};

// Every address, in getaddrinfo's order (IPv4 first for names like
// "localhost" on most hosts). UNAVAILABLE LISTEN_FAILED naming the listen
// string when it is not host:port or unix:PATH, the port is not 0-65535,
// the host does not resolve, or PATH is empty or too long for a socket
// address (107 bytes).
Result<std::vector<ListenAddress>> ResolveListen(const std::string& listen);

// UNAVAILABLE LISTEN_FAILED "cannot listen on LISTEN: WHY".
Status ListenFailed(const std::string& listen, const std::string& why);

}  // namespace aifs::server
