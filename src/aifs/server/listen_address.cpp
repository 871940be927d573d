#include "aifs/server/listen_address.h"

#include <netdb.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <memory>

namespace aifs::server {

Status ListenFailed(const std::string& listen, const std::string& why) {
  return err::Unavailable("LISTEN_FAILED", "cannot listen on " + err::Echo(listen) + ": " + why);
}

Result<std::vector<ListenAddress>> ResolveListen(const std::string& listen) {
  if (listen.starts_with("unix:")) {
    std::string path = listen.substr(5);
    if (path.starts_with("//")) path = path.substr(2);  // unix:///abs/path
    ListenAddress a;
    auto& un = reinterpret_cast<sockaddr_un&>(a.addr);
    if (path.empty()) return ListenFailed(listen, "expected unix:PATH");
    if (path.size() >= sizeof un.sun_path)
      return ListenFailed(
          listen, "a socket path has at most " + std::to_string(sizeof un.sun_path - 1) + " bytes");
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.data(), path.size());
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    a.family = AF_UNIX;
    a.unix_path = path;
    return std::vector<ListenAddress>{a};
  }
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return ListenFailed(listen, "expected host:port");
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
    return ListenFailed(listen, "bad port");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) return ListenFailed(listen, gai_strerror(gai));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, &freeaddrinfo);
  std::vector<ListenAddress> out;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    ListenAddress a;
    std::memcpy(&a.addr, ai->ai_addr, ai->ai_addrlen);
    a.len = ai->ai_addrlen;
    a.family = ai->ai_family;
    out.push_back(a);
  }
  return out;
}

}  // namespace aifs::server
