#include "aifs/server/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_posix.h>
#include <malloc.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <climits>
#include <condition_variable>
#include <iostream>
#include <thread>

#include "aifs/core/file_util.h"
#include "aifs/rpc/frames.h"
#include "aifs/server/acceptor.h"
#include "aifs/server/services.h"

namespace aifs::server {

uint64_t RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  return rl.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20 : rl.rlim_cur;
}

namespace {

int ClampMs(std::chrono::milliseconds ms) {
  return ms.count() <= 0 || ms.count() > INT_MAX ? INT_MAX : static_cast<int>(ms.count());
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host.starts_with("127.") || host == "[::1]" || host == "::1";
}

std::string HostOf(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  return colon == std::string::npos ? listen : listen.substr(0, colon);
}

enum class Probe { kAlive, kDead, kUnknown };

// Does anything accept on host:port? Connects and starts a TLS handshake (a
// ClientHello, which a healthy gRPC TLS listener answers or refuses): a
// listener that stopped accepting leaves the connection in the kernel's
// backlog, silent. kUnknown when the probe itself cannot run (no descriptors).
Probe ProbeListener(const std::string& listen, int port, std::chrono::milliseconds timeout) {
  std::string host = HostOf(listen);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
    return Probe::kUnknown;
  const int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    return Probe::kUnknown;
  }
  timeval tv{.tv_sec = static_cast<time_t>(timeout.count() / 1000),
             .tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const bool connected = connect(fd, res->ai_addr, res->ai_addrlen) == 0;
  const int connect_errno = errno;
  freeaddrinfo(res);
  Probe result = Probe::kUnknown;
  if (connected) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);  // SSL_connect sends, never waits
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = ctx ? SSL_new(ctx) : nullptr;
    if (ssl && SSL_set_fd(ssl, fd) == 1) {
      SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
      (void)SSL_connect(ssl);  // sends the ClientHello, then waits: the answer is what counts
      result = Probe::kDead;
    }
    if (ssl) SSL_free(ssl);
    if (ctx) SSL_CTX_free(ctx);
    if (result == Probe::kDead) {
      pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, static_cast<int>(timeout.count())) > 0) result = Probe::kAlive;
    }
  } else if (connect_errno == ECONNREFUSED) {
    result = Probe::kDead;
  }
  close(fd);
  return result;
}

Result<std::string> ReadPem(const std::string& path) {
  auto bytes = ReadFileToString(path);
  if (!bytes.ok())
    return err::InvalidArgument("BAD_TLS_FILES", "cannot read " + path + ": " +
                                                     bytes.status().message());
  return *bytes;
}

Result<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& o) {
  if (o.tls_cert_file.empty() != o.tls_key_file.empty())
    return err::InvalidArgument("BAD_TLS_FILES", "--tls-cert and --tls-key go together");
  if (o.tls_cert_file.empty()) {
    if (!o.tls_client_ca_file.empty())
      return err::InvalidArgument("BAD_TLS_FILES", "a client CA needs --tls-cert and --tls-key");
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  AIFS_ASSIGN_OR_RETURN(std::string cert, ReadPem(o.tls_cert_file));
  AIFS_ASSIGN_OR_RETURN(std::string key, ReadPem(o.tls_key_file));
  ssl.pem_key_cert_pairs.push_back({key, cert});
  if (!o.tls_client_ca_file.empty()) {
    AIFS_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(o.tls_client_ca_file));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

class GrpcServer final : public Server {
 public:
  GrpcServer(Api& api, const ServerOptions& options)
      : options_(options),
        transactions_(options.transaction_lease),
        ctx_{api, metrics_, transactions_, !options.tls_cert_file.empty()},
        search_limiter_(options.search_limit),
        calls_({.total = 0, .per_caller = options.max_calls_per_token}, "TOO_MANY_CALLS", "calls"),
        puts_({.total = options.max_puts, .per_caller = options.max_puts_per_token},
              "TOO_MANY_PUTS", "puts"),
        put_watchdog_(options.put_stall_timeout),
        authz_(options.tokens ? std::make_unique<RpcAuthorizer>(*options.tokens, transactions_)
                              : nullptr),
        aifs_(NewAifsService(ctx_)),
        admin_(NewAdminService(ctx_)),
        introspect_(NewIntrospectService(ctx_)),
        metrics_service_(NewMetricsService(ctx_)) {}

  ~GrpcServer() override { Shutdown(std::chrono::milliseconds(0)); }

  Status Start() {
    if (!authz_)
      return err::FailedPrecondition("NO_TOKEN_VERIFIER",
                                     "the server needs a token verifier: every call is checked");
    ctx_.authz = authz_.get();
    ctx_.search_limiter = &search_limiter_;
    ctx_.calls = &calls_;
    ctx_.puts = &puts_;
    ctx_.put_watchdog = &put_watchdog_;
    AIFS_ASSIGN_OR_RETURN(auto creds, Credentials(options_));
    const bool tls = !options_.tls_cert_file.empty();
    const uint64_t fd_limit = RaiseFdLimit();
    size_t max_connections = options_.max_connections;
    if (max_connections == 0)
      max_connections = std::clamp<uint64_t>(fd_limit > 64 ? (fd_limit - 64) / 2 : 16, 16, 4096);
    if (!IsLoopbackHost(HostOf(options_.listen)) && !tls)
      Log("aifs: warning: listening on " + options_.listen +
          " without TLS: tokens and data cross the network in the clear (use --tls-cert/--tls-key)");
    if (!tls) {
      // Plaintext: our own accept loop (acceptor.h) feeds gRPC.
      AIFS_ASSIGN_OR_RETURN(acceptor_,
                            Acceptor::Listen(options_.listen,
                                             {.max_connections = max_connections,
                                              .first_byte_timeout =
                                                  options_.handshake_timeout.count() > 0
                                                      ? options_.handshake_timeout
                                                      : std::chrono::hours(24 * 365),
                                              .log = [this](const std::string& l) { Log(l); }}));
      port_ = acceptor_->port();
      ctx_.peer_name = [this](const std::string& peer) { return acceptor_->PeerName(peer); };
    }
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    if (tls) builder.AddListeningPort(options_.listen, creds, &port_);
    // Frames are at most 1 MiB; headers and lists stay well below this.
    builder.SetMaxReceiveMessageSize(8 << 20);
    if (options_.max_streams_per_connection > 0)
      builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                                 static_cast<int>(options_.max_streams_per_connection));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, ClampMs(options_.connection_idle));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ClampMs(options_.keepalive_time));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ClampMs(options_.keepalive_timeout));
    builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                               ClampMs(options_.handshake_timeout));
    builder.RegisterService(aifs_.get());
    builder.RegisterService(admin_.get());
    builder.RegisterService(introspect_.get());
    builder.RegisterService(metrics_service_.get());
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> timers;
    timers.push_back(metrics_.InterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(timers));
    server_ = builder.BuildAndStart();
    if (!server_ || port_ == 0)
      return err::Unavailable("LISTEN_FAILED", "cannot listen on " + options_.listen);
    if (acceptor_)
      acceptor_->Start([this](int fd) { grpc::AddInsecureChannelFromFd(server_.get(), fd); });
    ProbeOnce();
    prober_ = std::thread([this] { ProbeLoop(); });
    return Status::Ok();
  }

  int port() const override { return port_; }

  void Shutdown(std::chrono::milliseconds grace) override {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    ctx_.stopping = true;
    wake_.notify_all();
    if (prober_.joinable()) prober_.join();
    if (acceptor_) acceptor_->Stop();  // no new connections from here on
    if (server_) {
      server_->GetHealthCheckService()->SetServingStatus(false);
      server_->Shutdown(std::chrono::system_clock::now() + grace);
      server_->Wait();
    }
  }

 private:
  void ProbeOnce() {
    const Status st = ctx_.api.CheckHealth();
    const bool reads = st.ok() || st.reason() == "DEGRADED";
    auto* health = server_->GetHealthCheckService();
    health->SetServingStatus("", st.ok());
    health->SetServingStatus("readiness", reads);
    health->SetServingStatus("writes", st.ok());
    health->SetServingStatus("liveness", true);
  }

  void ProbeLoop() {
    std::unique_lock lock(mu_);
    int dead_probes = 0;
    bool reported = false;
    uint64_t puts_ended = 0;
    while (!wake_.wait_for(lock, options_.health_interval, [&] { return stopping_; })) {
      lock.unlock();
      ProbeOnce();
      // Puts that ended (or were cancelled) freed their buffers, mostly on
      // pool and gRPC threads whose malloc arenas keep freed pages: hand
      // them back, so the server's RSS returns to its baseline after a burst.
      if (const uint64_t ended = puts_.released(); ended != puts_ended) {
        puts_ended = ended;
        malloc_trim(0);
      }
      // TLS: gRPC's own listener can die on EMFILE; notice it staying dead.
      if (!acceptor_ && !reported) {
        switch (ProbeListener(options_.listen, port_, std::chrono::milliseconds(3000))) {
          case Probe::kAlive: dead_probes = 0; break;
          case Probe::kDead: ++dead_probes; break;
          case Probe::kUnknown: break;
        }
        if (dead_probes >= kDeadProbes) {
          reported = true;
          server_->GetHealthCheckService()->SetServingStatus("liveness", false);
          Log("aifs: error: the TLS listener on " + options_.listen +
              " stopped accepting connections (gRPC gives up after running out of file "
              "descriptors); shutting down so a supervisor can restart the server");
          if (options_.on_listener_dead) options_.on_listener_dead();
        }
      }
      lock.lock();
    }
  }

  void Log(const std::string& line) const {
    if (options_.log)
      options_.log(line);
    else
      std::cerr << line << std::endl;
  }

  // Consecutive silent probes before the listener counts as dead.
  static constexpr int kDeadProbes = 5;

  const ServerOptions options_;
  Metrics metrics_;
  TransactionRegistry transactions_;
  ServiceContext ctx_;
  RateLimiter search_limiter_;
  CallLimiter calls_;
  CallLimiter puts_;
  PutWatchdog put_watchdog_;
  std::unique_ptr<RpcAuthorizer> authz_;
  std::unique_ptr<v1::Aifs::Service> aifs_;
  std::unique_ptr<v1::Admin::Service> admin_;
  std::unique_ptr<v1::Introspect::Service> introspect_;
  std::unique_ptr<v1::Metrics::Service> metrics_service_;
  std::unique_ptr<Acceptor> acceptor_;  // plaintext only
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread prober_;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(Api& api, const ServerOptions& options) {
  auto server = std::make_unique<GrpcServer>(api, options);
  AIFS_RETURN_IF_ERROR(server->Start());
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace aifs::server
