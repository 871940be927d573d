#include "aifs/server/server.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netdb.h>
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
#include "aifs/server/health_service.h"
#include "aifs/server/malformed_request.h"
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

// Whether a listen string stays on this host: a unix socket or loopback.
bool IsLocalListen(const std::string& listen) {
  return listen.starts_with("unix:") || IsLoopbackHost(HostOf(listen));
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
  GrpcServer(Gate& gate, const ServerOptions& options)
      : options_(options),
        transactions_(options.transaction_lease),
        ctx_{gate, metrics_, transactions_, !options.tls_cert_file.empty()},
        search_limiter_(options.search_limit),
        calls_({.total = 0, .per_caller = options.max_calls_per_token}, "TOO_MANY_CALLS", "calls"),
        puts_({.total = options.max_puts, .per_caller = options.max_puts_per_token},
              "TOO_MANY_PUTS", "puts"),
        put_watchdog_(options.put_stall_timeout),
        read_streams_(options.read_stream_idle),
        aifs_(NewAifsService(ctx_)),
        admin_(NewAdminService(ctx_)),
        introspect_(NewIntrospectService(ctx_)),
        metrics_service_(NewMetricsService(ctx_)) {}

  ~GrpcServer() override { Shutdown(std::chrono::milliseconds(0)); }

  Status Start() {
    ctx_.search_limiter = &search_limiter_;
    ctx_.calls = &calls_;
    ctx_.puts = &puts_;
    ctx_.put_watchdog = &put_watchdog_;
    ctx_.read_streams = &read_streams_;
    AIFS_ASSIGN_OR_RETURN(auto creds, Credentials(options_));
    const bool tls = !options_.tls_cert_file.empty();
    const uint64_t fd_limit = RaiseFdLimit();
    size_t max_connections = options_.max_connections;
    if (max_connections == 0)
      max_connections = std::clamp<uint64_t>(fd_limit > 64 ? (fd_limit - 64) / 2 : 16, 16, 4096);
    if (!IsLocalListen(options_.listen) && !tls)
      Log("aifs: warning: listening on " + options_.listen +
          " without TLS: tokens and data cross the network in the clear (use --tls-cert/--tls-key)");
    {
      // Our own accept loop (acceptor.h) feeds gRPC, plaintext and TLS alike:
      // gRPC 1.51's listener stops for good after one EMFILE.
      AIFS_ASSIGN_OR_RETURN(acceptor_,
                            Acceptor::Listen(options_.listen,
                                             {.max_connections = max_connections,
                                              .first_byte_timeout =
                                                  options_.handshake_timeout.count() > 0
                                                      ? options_.handshake_timeout
                                                      : std::chrono::hours(24 * 365),
                                              .log = [this](const std::string& l) { Log(l); }}));
      port_ = acceptor_->port();
    }
    if (!options_.http.listen.empty()) {
      HttpOptions http = options_.http;
      if (!http.log) http.log = [this](const std::string& l) { Log(l); };
      if (!IsLocalListen(http.listen) && http.tls_cert_file.empty())
        Log("aifs: warning: serving HTTP on " + http.listen +
            " without TLS: tokens and data cross the network in the clear");
      HttpHost host{
          .gate = &ctx_.gate,
          .metrics =
              [this](CallerApi& api) {
                return metrics_.Render(api, transactions_.open_count(), puts_.in_use());
              },
          .record = [this](int status, double seconds) { metrics_.RecordHttp(status, seconds); }};
      AIFS_ASSIGN_OR_RETURN(http_, HttpPlane::Start(host, http));
      // What SignUrl answers and Introspect reports as the plane's address;
      // set before the services run (they read it unlocked).
      std::string http_host = HostOf(http.listen);
      if (http_host.empty() || http_host == "0.0.0.0" || http_host == "[::]") {
        char name[256] = {};
        http_host = gethostname(name, sizeof name - 1) == 0 ? name : "localhost";
      }
      ctx_.http_url = std::string(http.tls_cert_file.empty() ? "http" : "https") + "://" +
                      http_host + ":" + std::to_string(http_->port());
    }
    grpc::ServerBuilder builder;
    // Connections handed over by the acceptor get these credentials (the TLS
    // handshake, when there is one, runs inside gRPC as on its own listener).
    external_ = builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, creds);
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
    builder.RegisterService(&health_);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(NewMalformedRequestInterceptorFactory());
    interceptors.push_back(metrics_.InterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    ProbeOnce();  // the health statuses are there from the first call
    server_ = builder.BuildAndStart();
    if (!server_ || (port_ == 0 && acceptor_->unix_path().empty()))
      return err::Unavailable("LISTEN_FAILED", "cannot listen on " + options_.listen);
    acceptor_->Start([this](int fd) {
      grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
      p.fd = fd;  // gRPC owns it from here (it closes it with the connection)
      external_->HandleNewConnection(&p);
    });
    prober_ = std::thread([this] { ProbeLoop(); });
    return Status::Ok();
  }

  int port() const override { return port_; }
  std::string address() const override {
    if (!acceptor_->unix_path().empty()) return "unix:" + acceptor_->unix_path();
    return HostOf(options_.listen) + ":" + std::to_string(port_);
  }
  int http_port() const override { return http_ ? http_->port() : -1; }

  void Shutdown(std::chrono::milliseconds grace) override {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    ctx_.stopping = true;
    wake_.notify_all();
    if (prober_.joinable()) prober_.join();
    if (http_) http_->Shutdown();      // ends every HTTP connection
    if (acceptor_) acceptor_->Stop();  // no new connections from here on
    health_.Shutdown();                // NOT_SERVING to all; Watch streams end
    read_streams_.Close();             // streams between requests end now
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + grace);
      server_->Wait();
    }
  }

 private:
  void ProbeOnce() {
    const Status st = ctx_.gate.CheckHealth();
    const bool reads = st.ok() || st.reason() == "DEGRADED";
    health_.Set("", st.ok());
    health_.Set("readiness", reads);
    health_.Set("writes", st.ok());
    health_.Set("liveness", true);
  }

  void ProbeLoop() {
    std::unique_lock lock(mu_);
    uint64_t puts_ended = 0;
    while (!wake_.wait_for(lock, options_.health_interval, [&] { return stopping_; })) {
      lock.unlock();
      ProbeOnce();
      read_streams_.Reap();
      // Puts that ended (or were cancelled) left buffers kept for reuse and
      // freed heap pages in the malloc arenas of pool and gRPC threads: hand
      // them back, so the server's RSS returns to its baseline after a burst.
      if (const uint64_t ended = puts_.released(); ended != puts_ended) {
        puts_ended = ended;
        ctx_.gate.ReleaseIdleMemory();
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

  const ServerOptions options_;
  Metrics metrics_;
  TransactionRegistry transactions_;
  ServiceContext ctx_;
  RateLimiter search_limiter_;
  CallLimiter calls_;
  CallLimiter puts_;
  PutWatchdog put_watchdog_;
  WaitingStreams read_streams_;
  std::unique_ptr<v1::Aifs::Service> aifs_;
  std::unique_ptr<v1::Admin::Service> admin_;
  std::unique_ptr<v1::Introspect::Service> introspect_;
  std::unique_ptr<v1::Metrics::Service> metrics_service_;
  HealthService health_;
  std::unique_ptr<Acceptor> acceptor_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> external_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpPlane> http_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread prober_;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(Gate& gate, const ServerOptions& options) {
  auto server = std::make_unique<GrpcServer>(gate, options);
  AIFS_RETURN_IF_ERROR(server->Start());
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace aifs::server
