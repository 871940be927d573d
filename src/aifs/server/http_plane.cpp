// HttpPlane over libmicrohttpd (docs/http.md, "Why libmicrohttpd").
//
// libmicrohttpd parses HTTP (malformed request lines, oversized heads and
// URIs are answered 400/414/431 before we see them), runs one epoll event
// loop per pool thread, caps connections and closes idle ones. This file
// adds what it lacks: a deadline for the request head (slowloris), routing,
// credentials through the Gate, conditional and Range requests, and bodies
// streamed from CallerApi::ReadAssetAt through a content-reader callback.
// What those requests mean (ranges, entity tags, media types) is decided by
// the pure functions of http_semantics.h.
#include "aifs/server/http_plane.h"

#include "aifs/server/listen_address.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "aifs/api/operation.h"
#include "aifs/core/clock.h"
#include "aifs/core/file_util.h"
#include "aifs/core/ids.h"
#include "aifs/server/http_semantics.h"

namespace aifs::server {

namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

int64_t Nanos(std::chrono::milliseconds ms) { return ms.count() * 1'000'000; }

// Bytes handed to MHD per content-reader call, and so the largest buffer a
// streaming response holds.
constexpr size_t kBodyBlock = 256 * 1024;
// Per-connection memory pool: bounds the request head (and response head).
constexpr size_t kConnectionMemory = 64 * 1024;

// HTTP semantics (RFC 9110 pieces, free of libmicrohttpd) are in
// http_semantics.h; what follows is the libmicrohttpd glue and the routing.
using http::ByteRange;
using http::ContentDisposition;
using http::ContentTypeOf;
using http::EqualsNoCase;
using http::ErrorJson;
using http::EtagListMatches;
using http::HexValue;
using http::HttpStatusOf;
using http::ParsePosition;
using http::ParseRange;
using http::RangeVerdict;
using http::Segments;
using http::Trim;

// ---------------------------------------------------------------------------
// libmicrohttpd glue.

// One TCP connection (MHD's socket context). `head_deadline_ns` is when its
// pending request head must be complete (0: none pending); the reaper shuts
// the socket down past it. Written by the connection's pool thread, read by
// the reaper.
struct Connection {
  int fd = -1;
  std::atomic<int64_t> head_deadline_ns{0};
  std::atomic<bool> reaped{false};
  bool nul_in_url = false;  // this request's URL or query decoded to a NUL byte
};

// One request (MHD's con_cls, created when its request line arrives).
struct Request {
  int64_t start_ns = 0;
  unsigned status = 0;     // what we queued; 0: MHD answered (or nothing was sent)
  bool head_seen = false;  // the access handler was called for this request
  bool answered = false;   // we queued a response
};

struct Reply {
  unsigned status = 500;
  MHD_Response* response = nullptr;
};

Connection* ConnectionOf(MHD_Connection* c) {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info == nullptr ? nullptr : static_cast<Connection*>(info->socket_context);
}

const char* Header(MHD_Connection* c, const char* name) {
  return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

std::string Query(MHD_Connection* c, const char* name) {
  const char* v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
  return v == nullptr ? std::string() : std::string(v);
}

void AddHeader(MHD_Response* r, const char* name, const std::string& value) {
  MHD_add_response_header(r, name, value.c_str());
}

Reply Text(unsigned status, std::string body, const char* content_type) {
  MHD_Response* r =
      MHD_create_response_from_buffer(body.size(), body.data(), MHD_RESPMEM_MUST_COPY);
  AddHeader(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  AddHeader(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  AddHeader(r, "X-Content-Type-Options", "nosniff");
  return {status, r};
}

Reply Error(const Status& st, unsigned status = 0) {
  if (status == 0) status = HttpStatusOf(st.code());
  Reply reply = Text(status, ErrorJson(st), "application/json");
  if (st.code() == Code::kUnauthenticated)
    AddHeader(reply.response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"aifs\"");
  return reply;
}

// Streams bytes [start, start+length) of one asset into MHD's buffer, one
// ReadAssetAt per call; owns the caller's Api until MHD frees the response.
struct BodyReader {
  std::unique_ptr<CallerApi> api;
  std::string ns;
  AssetId id;
  AsOf as_of;
  uint64_t start = 0;
  uint64_t length = 0;
  std::function<void(const std::string&)> log;

  static ssize_t Read(void* cls, uint64_t pos, char* buf, size_t max) {
    auto* self = static_cast<BodyReader*>(cls);
    if (pos >= self->length) return MHD_CONTENT_READER_END_OF_STREAM;
    const uint64_t want = std::min<uint64_t>(max, self->length - pos);
    size_t got = 0;
    const Status st = self->api->ReadAssetAt(
        self->ns, self->id, self->as_of, ReadRange{self->start + pos, want},
        [&](ByteSpan data) -> Status {
          if (data.size() > want - got)
            return err::Internal("READ_OVERRUN", "the store returned more bytes than asked");
          std::memcpy(buf + got, data.data(), data.size());
          got += data.size();
          return Status::Ok();
        });
    if (st.ok() && got == 0)
      return self->Fail(err::DataLoss("SHORT_READ", "the asset ended before its stated size"));
    if (!st.ok()) return self->Fail(st);
    return static_cast<ssize_t>(got);
  }

  // The status line is gone: aborting the connection is the only honest
  // signal left (the client sees a body shorter than Content-Length).
  ssize_t Fail(const Status& st) {
    log("HTTP read of " + ns + "/" + id.ToHex() + " aborted mid-body: " + st.ToString());
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }

  static void Free(void* cls) { delete static_cast<BodyReader*>(cls); }
};

// Where a request's credential and asset come from.
struct AssetRoute {
  std::string ns;
  std::string id_hex;     // /v1/assets: from the URL
  std::string path;       // /v1/paths: the path, resolved after admission
  std::string file_name;  // Content-Disposition; "" none
  bool by_path = false;
};

// The HttpPlane: one libmicrohttpd daemon (a pool of epoll threads), the
// registry of its connections and the reaper thread that enforces
// header_timeout. MHD calls the static callbacks on its pool threads, each
// connection always on the same one; what they share (the connection set,
// the log state) is behind mutexes. Shutdown() may be called from any thread,
// any number of times.
class Plane final : public HttpPlane {
 public:
  Plane(const HttpHost& host, const HttpOptions& options) : host_(host), options_(options) {
    if (!options_.log)
      options_.log = [](const std::string& line) { std::cerr << line << std::endl; };
  }
  ~Plane() override { Shutdown(); }

  Status Start();
  int port() const override { return port_; }
  void Shutdown() override;

 private:
  // MHD callbacks (cls is the Plane).
  static MHD_Result OnRequest(void* cls, MHD_Connection* c, const char* url, const char* method,
                              const char* version, const char* upload_data,
                              size_t* upload_data_size, void** con_cls);
  static void* OnRequestLine(void* cls, const char* uri, MHD_Connection* c);
  static void OnCompleted(void* cls, MHD_Connection* c, void** con_cls,
                          MHD_RequestTerminationCode toe);
  static void OnConnection(void* cls, MHD_Connection* c, void** socket_context,
                           MHD_ConnectionNotificationCode code);
  static size_t Unescape(void* cls, MHD_Connection* c, char* s);
  static void Log(void* cls, const char* fmt, va_list ap);

  Reply Handle(MHD_Connection* c, std::string_view url, std::string_view method);
  Reply Ready();
  Reply Metrics(MHD_Connection* c);
  Reply Asset(MHD_Connection* c, bool head, const AssetRoute& route);
  Result<std::unique_ptr<CallerApi>> AdmitBearer(MHD_Connection* c);
  Reply Serve(MHD_Connection* c, bool head, std::unique_ptr<CallerApi> api, const std::string& ns,
              const AssetId& id, const AsOf& as_of, const std::string& file_name,
              const std::string& cache_control);
  void Reap();

  HttpHost host_;
  HttpOptions options_;
  std::string tls_key_, tls_cert_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = -1;

  std::mutex conns_mu_;  // guards conns_; held while a socket is shut down
  std::unordered_set<Connection*> conns_;

  std::mutex reaper_mu_;
  std::condition_variable reaper_cv_;
  bool stopping_ = false;
  std::thread reaper_;
  std::once_flag shutdown_once_;

  // MHD's own messages: gathered while starting (for LISTEN_FAILED), then
  // forwarded to options_.log at most once per 10 s (they are per-connection
  // noise under attack: "connection limit reached", client resets).
  std::mutex log_mu_;
  bool started_ = false;
  std::string start_log_;
  int64_t last_log_ns_ = 0;
  uint64_t suppressed_logs_ = 0;
};

void Plane::Log(void* cls, const char* fmt, va_list ap) {
  auto* self = static_cast<Plane*>(cls);
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::string line(buf);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  std::unique_lock lock(self->log_mu_);
  // What clients do (bad requests, answered 400/414/431/505; connections
  // they drop mid-request or mid-body) is not a warning.
  if (self->started_)
    for (const char* noise : {"Error processing request", "Connection socket is closed",
                              "Failed to send", "Failed to receive"})
      if (line.starts_with(noise)) return;
  if (!self->started_) {
    if (!self->start_log_.empty()) self->start_log_ += "; ";
    self->start_log_ += line;
    return;
  }
  const int64_t now = SteadyNanos();
  if (self->last_log_ns_ != 0 && now - self->last_log_ns_ < 10'000'000'000) {
    ++self->suppressed_logs_;
    return;
  }
  if (self->suppressed_logs_ != 0)
    line += " (" + std::to_string(self->suppressed_logs_) + " more messages suppressed)";
  self->suppressed_logs_ = 0;
  self->last_log_ns_ = now;
  lock.unlock();
  self->options_.log("http: " + line);
}

void Plane::OnConnection(void* cls, MHD_Connection* c, void** socket_context,
                         MHD_ConnectionNotificationCode code) {
  auto* self = static_cast<Plane*>(cls);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    auto* conn = new Connection;
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    conn->fd = info == nullptr ? -1 : info->connect_fd;
    conn->head_deadline_ns = SteadyNanos() + Nanos(self->options_.header_timeout);
    *socket_context = conn;
    std::lock_guard lock(self->conns_mu_);
    self->conns_.insert(conn);
    return;
  }
  // CLOSED: MHD closes the socket after this returns, so once the
  // connection is out of conns_ the reaper can no longer touch its fd.
  auto* conn = static_cast<Connection*>(*socket_context);
  if (conn == nullptr) return;
  {
    std::lock_guard lock(self->conns_mu_);
    self->conns_.erase(conn);
  }
  delete conn;
  *socket_context = nullptr;
}

void* Plane::OnRequestLine(void* cls, const char* /*uri*/, MHD_Connection* c) {
  auto* self = static_cast<Plane*>(cls);
  const int64_t now = SteadyNanos();
  if (Connection* conn = ConnectionOf(c)) {
    conn->nul_in_url = false;
    // The head of this request is due header_timeout after its request line
    // arrived, or earlier if an earlier deadline still runs (the first
    // request: from the connection's start).
    const int64_t due = now + Nanos(self->options_.header_timeout);
    const int64_t current = conn->head_deadline_ns.load();
    if (current == 0 || due < current) conn->head_deadline_ns = due;
  }
  auto* request = new Request;
  request->start_ns = now;
  return request;
}

void Plane::OnCompleted(void* cls, MHD_Connection* c, void** con_cls,
                        MHD_RequestTerminationCode /*toe*/) {
  auto* self = static_cast<Plane*>(cls);
  const int64_t now = SteadyNanos();
  auto* request = static_cast<Request*>(*con_cls);
  if (request != nullptr) {
    if (request->status != 0 && self->host_.record)
      self->host_.record(static_cast<int>(request->status),
                         static_cast<double>(now - request->start_ns) / 1e9);
    delete request;
    *con_cls = nullptr;
  }
  // Kept alive, the connection now waits for its next request. While it
  // sends nothing, MHD's idle timeout governs it; a request line that
  // trickles in must still be whole by idle_timeout + header_timeout from
  // now, and the rest of its head header_timeout after the line
  // (OnRequestLine).
  if (Connection* conn = ConnectionOf(c))
    conn->head_deadline_ns =
        now + Nanos(self->options_.idle_timeout) + Nanos(self->options_.header_timeout);
}

size_t Plane::Unescape(void* /*cls*/, MHD_Connection* c, char* s) {
  // MHD's own decoder would turn %00 into a NUL that silently cuts the URL
  // or the query value short: decode here and refuse such requests.
  char* out = s;
  for (const char* in = s; *in != '\0';) {
    const int hi = in[0] == '%' ? HexValue(in[1]) : -1;
    const int lo = hi >= 0 ? HexValue(in[2]) : -1;
    if (lo < 0) {
      *out++ = *in++;
      continue;
    }
    const char decoded = static_cast<char>(hi * 16 + lo);
    in += 3;
    if (decoded == '\0') {
      if (Connection* conn = ConnectionOf(c)) conn->nul_in_url = true;
      continue;
    }
    *out++ = decoded;
  }
  *out = '\0';
  return static_cast<size_t>(out - s);
}

MHD_Result Plane::OnRequest(void* cls, MHD_Connection* c, const char* url, const char* method,
                            const char* /*version*/, const char* /*upload_data*/,
                            size_t* upload_data_size, void** con_cls) {
  auto* self = static_cast<Plane*>(cls);
  auto* request = static_cast<Request*>(*con_cls);
  if (request == nullptr) {  // not seen by OnRequestLine (should not happen)
    request = new Request;
    request->start_ns = SteadyNanos();
    *con_cls = request;
  }
  if (request->answered) {  // a request body: never read, dropped as it comes
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (!request->head_seen) {
    // First call: the head is complete. libmicrohttpd closes the connection
    // after a response queued now (it will not read past an unread body), so
    // answer on the second call, once MHD has the whole (bodiless) request;
    // only a request announcing a body is answered at once, unread.
    request->head_seen = true;
    if (Connection* conn = ConnectionOf(c)) conn->head_deadline_ns = 0;
    const bool has_body = Header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING) != nullptr ||
                          (Header(c, MHD_HTTP_HEADER_CONTENT_LENGTH) != nullptr &&
                           std::string_view(Header(c, MHD_HTTP_HEADER_CONTENT_LENGTH)) != "0");
    if (!has_body) return MHD_YES;
  }
  request->answered = true;
  Reply reply;
  try {
    reply = self->Handle(c, url, method);
  } catch (const std::exception& e) {
    reply = Error(err::Internal("HTTP_HANDLER_FAILED", e.what()));
  }
  request->status = reply.status;
  const MHD_Result ret = MHD_queue_response(c, reply.status, reply.response);
  MHD_destroy_response(reply.response);
  return ret;
}

Reply Plane::Handle(MHD_Connection* c, std::string_view url, std::string_view method) {
  const bool head = method == MHD_HTTP_METHOD_HEAD;
  if (method != MHD_HTTP_METHOD_GET && !head) {
    Reply r = Error(err::InvalidArgument("METHOD_NOT_ALLOWED",
                                         "only GET and HEAD are served, not " + err::Echo(method)),
                    MHD_HTTP_METHOD_NOT_ALLOWED);
    AddHeader(r.response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    return r;
  }
  const Connection* conn = ConnectionOf(c);
  if (conn != nullptr && conn->nul_in_url)
    return Error(err::InvalidArgument("BAD_URL_PATH", "the URL holds an escaped NUL byte (%00)"));

  if (url == "/healthz") return Text(MHD_HTTP_OK, "ok\n", "text/plain; charset=utf-8");
  if (url == "/readyz") return Ready();
  if (url == "/metrics") return Metrics(c);

  if (!url.starts_with("/v1/"))
    return Error(err::NotFound("UNKNOWN_ENDPOINT", "no such endpoint: " + err::Echo(url)));
  const auto segments = Segments(url);
  if (!segments)
    return Error(err::InvalidArgument(
        "BAD_URL_PATH", "URL path segments may not be empty, '.' or '..': " + err::Echo(url)));
  const std::vector<std::string_view>& seg = *segments;
  if (seg.size() >= 2 && seg[0] == "v1" && seg[1] == "assets") {
    if (seg.size() != 4)
      return Error(
          err::InvalidArgument("BAD_URL_PATH", "expected /v1/assets/NS/ID, got " + err::Echo(url)));
    return Asset(c, head, {.ns = std::string(seg[2]), .id_hex = std::string(seg[3])});
  }
  if (seg.size() >= 2 && seg[0] == "v1" && seg[1] == "paths") {
    if (seg.size() < 4)
      return Error(err::InvalidArgument("BAD_URL_PATH",
                                        "expected /v1/paths/NS/PATH, got " + err::Echo(url)));
    std::string path(seg[3]);
    for (size_t i = 4; i < seg.size(); ++i) (path += '/') += seg[i];
    return Asset(c, head,
                 {.ns = std::string(seg[2]),
                  .path = std::move(path),
                  .file_name = std::string(seg.back()),
                  .by_path = true});
  }
  return Error(err::NotFound("UNKNOWN_ENDPOINT", "no such endpoint: " + err::Echo(url)));
}

Reply Plane::Ready() {
  const Status st = host_.gate->CheckHealth();
  if (st.ok() || st.reason() == "DEGRADED")
    return Text(MHD_HTTP_OK, "ready\n", "text/plain; charset=utf-8");
  return Error(st, MHD_HTTP_SERVICE_UNAVAILABLE);
}

Result<std::unique_ptr<CallerApi>> Plane::AdmitBearer(MHD_Connection* c) {
  const char* auth = Header(c, MHD_HTTP_HEADER_AUTHORIZATION);
  if (auth == nullptr) return host_.gate->Admit("");
  const std::string_view value = Trim(auth);
  const size_t space = value.find(' ');
  if (space == std::string_view::npos || !EqualsNoCase(value.substr(0, space), "Bearer"))
    return Status(Code::kUnauthenticated, "TOKEN_MALFORMED",
                  "the Authorization header must be 'Bearer <token>'");
  return host_.gate->Admit(Trim(value.substr(space + 1)));
}

Reply Plane::Metrics(MHD_Connection* c) {
  auto api = AdmitBearer(c);
  if (!api.ok()) return Error(api.status());
  const Status allowed = (*api)->Allow(Operation::kReadMetrics, {});
  if (!allowed.ok()) return Error(allowed);
  if (!host_.metrics)
    return Error(err::Unimplemented("NO_METRICS", "this process exports no metrics"));
  return Text(MHD_HTTP_OK, host_.metrics(**api), "text/plain; version=0.0.4; charset=utf-8");
}

Reply Plane::Asset(MHD_Connection* c, bool head, const AssetRoute& route) {
  // Credential query parameters are read once each: a repeated one is
  // refused rather than silently choosing between two values.
  for (const char* name : {"as_of", "name", "exp", "kid", "sig"}) {
    struct Count {
      const char* name;
      int n = 0;
    } count{name};
    MHD_get_connection_values(
        c, MHD_GET_ARGUMENT_KIND,
        [](void* cls, MHD_ValueKind, const char* key, const char*) -> MHD_Result {
          auto* cnt = static_cast<Count*>(cls);
          if (std::strcmp(key, cnt->name) == 0) ++cnt->n;
          return MHD_YES;
        },
        &count);
    if (count.n > 1)
      return Error(
          err::InvalidArgument("DUPLICATE_QUERY_PARAMETER",
                               std::string("query parameter '") + name + "' given more than once"));
  }
  const std::string as_of = Query(c, "as_of");
  std::string file_name = route.by_path ? route.file_name : Query(c, "name");
  const bool signed_url = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sig") != nullptr;

  std::unique_ptr<CallerApi> api;
  std::string cache_control = "private, max-age=300, immutable";
  if (signed_url) {
    if (route.by_path)
      return Error(Status(Code::kPermissionDenied, "URL_MALFORMED",
                          "pre-signed URLs name an asset: /v1/assets/NS/ID?...&sig=..."));
    UrlClaim claim{.ns = route.ns,
                   .id_hex = route.id_hex,
                   .as_of = as_of,
                   .file_name = file_name,
                   .expires = Query(c, "exp"),
                   .key_id = Query(c, "kid"),
                   .signature = Query(c, "sig")};
    auto admitted = host_.gate->AdmitUrl(claim);
    if (!admitted.ok()) return Error(admitted.status());
    api = std::move(admitted).value();
    // A browser may keep the bytes no longer than the URL lives.
    const auto expires = ParsePosition(claim.expires);
    const int64_t now_s = NowUnixNanos() / 1'000'000'000;
    int64_t left = 0;
    if (expires && *expires < static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      left = std::max<int64_t>(0, static_cast<int64_t>(*expires) - now_s);
    cache_control = "private, max-age=" + std::to_string(left) + ", immutable";
  } else {
    auto admitted = AdmitBearer(c);
    if (!admitted.ok()) return Error(admitted.status());
    api = std::move(admitted).value();
  }

  AssetId id;
  if (route.by_path) {
    auto resolved = api->ResolvePath(route.ns, route.path, as_of);
    if (!resolved.ok()) return Error(resolved.status());
    id = *resolved;
    cache_control = "private, no-cache";  // a path may be bound to another asset later
  } else {
    auto parsed = AssetId::Parse(route.id_hex);
    if (!parsed.ok()) return Error(parsed.status());
    id = *parsed;
  }
  return Serve(c, head, std::move(api), route.ns, id, as_of, file_name, cache_control);
}

Reply Plane::Serve(MHD_Connection* c, bool head, std::unique_ptr<CallerApi> api,
                   const std::string& ns, const AssetId& id, const AsOf& as_of,
                   const std::string& file_name, const std::string& cache_control) {
  auto info = api->StatAssetAt(ns, id, as_of, false);
  if (!info.ok()) return Error(info.status());
  const uint64_t size = info->size;
  const std::string etag = "\"" + id.ToHex() + "\"";
  auto validators = [&](MHD_Response* r) {
    AddHeader(r, MHD_HTTP_HEADER_ETAG, etag);
    AddHeader(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control);
  };

  // RFC 9110 §13.2.2 order: If-Match, If-None-Match, then Range/If-Range.
  if (const char* im = Header(c, MHD_HTTP_HEADER_IF_MATCH); im && !EtagListMatches(im, etag, false))
    return Error(err::FailedPrecondition("PRECONDITION_FAILED", "If-Match names another asset"),
                 MHD_HTTP_PRECONDITION_FAILED);
  if (const char* inm = Header(c, MHD_HTTP_HEADER_IF_NONE_MATCH);
      inm && EtagListMatches(inm, etag, true)) {
    // RFC 9110 §8.6: a 304's Content-Length, if any, is the 200's. MHD
    // sends no body with a 304 but takes the length from the response.
    MHD_Response* r = size == 0
                          ? MHD_create_response_from_buffer(0, nullptr, MHD_RESPMEM_PERSISTENT)
                          : MHD_create_response_from_callback(
                                size, 1024,
                                [](void*, uint64_t, char*, size_t) -> ssize_t {
                                  return MHD_CONTENT_READER_END_WITH_ERROR;  // never called
                                },
                                nullptr, nullptr);
    validators(r);
    return {MHD_HTTP_NOT_MODIFIED, r};
  }

  // Range is defined for GET only (RFC 9110 §14.2): HEAD gets the whole length.
  ByteRange range{0, size == 0 ? 0 : size - 1};
  RangeVerdict verdict = RangeVerdict::kIgnore;
  const char* range_header = head ? nullptr : Header(c, MHD_HTTP_HEADER_RANGE);
  if (range_header != nullptr) {
    const char* if_range = Header(c, MHD_HTTP_HEADER_IF_RANGE);
    // If-Range with another entity tag, or a date (we send no Last-Modified
    // to compare with), asks for the whole asset.
    if (if_range == nullptr || Trim(if_range) == etag)
      verdict = ParseRange(range_header, size, &range);
  }
  if (verdict == RangeVerdict::kUnsatisfiable) {
    Reply r = Error(err::OutOfRange("RANGE_NOT_SATISFIABLE",
                                    "the asset has " + std::to_string(size) + " bytes; Range " +
                                        err::Echo(range_header) + " selects none"));
    AddHeader(r.response, MHD_HTTP_HEADER_CONTENT_RANGE, "bytes */" + std::to_string(size));
    return r;
  }
  const bool partial = verdict == RangeVerdict::kSatisfiable;
  const uint64_t length = size == 0 ? 0 : range.last - range.first + 1;

  MHD_Response* r;
  if (length == 0) {
    r = MHD_create_response_from_buffer(0, nullptr, MHD_RESPMEM_PERSISTENT);
  } else {
    auto* reader = new BodyReader{.api = std::move(api),
                                  .ns = ns,
                                  .id = id,
                                  .as_of = as_of,
                                  .start = range.first,
                                  .length = length,
                                  .log = options_.log};
    r = MHD_create_response_from_callback(length, kBodyBlock, &BodyReader::Read, reader,
                                          &BodyReader::Free);
    if (r == nullptr) {
      delete reader;
      return Error(err::ResourceExhausted("OUT_OF_MEMORY", "cannot create the response"));
    }
  }
  validators(r);
  AddHeader(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
  AddHeader(r, MHD_HTTP_HEADER_CONTENT_TYPE, ContentTypeOf(*info));
  // Asset bytes are the uploader's, not the plane's: a browser saves them,
  // never renders them as a page of this origin (stored XSS through a
  // declared text/html or SVG asset).
  AddHeader(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
            file_name.empty() ? "attachment" : ContentDisposition(file_name));
  AddHeader(r, "X-Content-Type-Options", "nosniff");
  AddHeader(r, "Content-Security-Policy", "default-src 'none'; sandbox");
  if (partial)
    AddHeader(r, MHD_HTTP_HEADER_CONTENT_RANGE,
              "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
                  std::to_string(size));
  return {partial ? unsigned{MHD_HTTP_PARTIAL_CONTENT} : unsigned{MHD_HTTP_OK}, r};
}

void Plane::Reap() {
  const auto tick = std::clamp<std::chrono::milliseconds>(
      options_.header_timeout / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(250));
  std::unique_lock lock(reaper_mu_);
  while (!reaper_cv_.wait_for(lock, tick, [&] { return stopping_; })) {
    const int64_t now = SteadyNanos();
    std::lock_guard conns_lock(conns_mu_);
    for (Connection* conn : conns_) {
      const int64_t due = conn->head_deadline_ns.load();
      if (due == 0 || now < due || conn->fd < 0 || conn->reaped.exchange(true)) continue;
      // MHD sees the socket end and closes the connection in its own thread.
      ::shutdown(conn->fd, SHUT_RDWR);
    }
  }
}

// A PEM file as MHD needs it in memory; checked with OpenSSL first so that a
// wrong file is BAD_TLS_FILES, not an opaque start failure.
Result<std::string> ReadPem(const std::string& path, bool key) {
  auto text = ReadFileToString(path);
  if (!text.ok())
    return err::InvalidArgument("BAD_TLS_FILES",
                                "cannot read " + path + ": " + text.status().message());
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(text->data(), static_cast<int>(text->size())), &BIO_free);
  bool parsed = false;
  if (key) {
    EVP_PKEY* k = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    parsed = k != nullptr;
    EVP_PKEY_free(k);
  } else {
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    parsed = x != nullptr;
    X509_free(x);
  }
  if (!parsed)
    return err::InvalidArgument("BAD_TLS_FILES",
                                path + " holds no PEM " + (key ? "private key" : "certificate"));
  return std::move(text).value();
}

Status Plane::Start() {
  if (host_.gate == nullptr)
    return err::FailedPrecondition("NO_GATE", "the HTTP plane needs a Gate");
  if (options_.tls_cert_file.empty() != options_.tls_key_file.empty())
    return err::InvalidArgument("BAD_TLS_FILES", "--http-tls-cert and --http-tls-key go together");
  const bool tls = !options_.tls_cert_file.empty();
  if (tls) {
    AIFS_ASSIGN_OR_RETURN(tls_cert_, ReadPem(options_.tls_cert_file, false));
    AIFS_ASSIGN_OR_RETURN(tls_key_, ReadPem(options_.tls_key_file, true));
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
      return err::Unavailable("LISTEN_FAILED", "libmicrohttpd was built without TLS");
  }
  // The first address the listen string names (MHD binds one socket).
  AIFS_ASSIGN_OR_RETURN(std::vector<ListenAddress> addresses, ResolveListen(options_.listen));
  const ListenAddress& address = addresses.front();
  if (address.family == AF_UNIX)
    return ListenFailed(options_.listen, "the HTTP plane listens on TCP only (URLs name a host)");

  const auto secs = [](std::chrono::milliseconds ms) {
    return static_cast<unsigned>(std::max<int64_t>(1, (ms.count() + 999) / 1000));
  };
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
  if (address.family == AF_INET6) flags |= MHD_USE_IPv6;
  if (tls) flags |= MHD_USE_TLS;
  std::vector<MHD_OptionItem> extra;
  if (tls) {
    extra.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key_.data()});
    extra.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert_.data()});
  }
  extra.push_back({MHD_OPTION_END, 0, nullptr});

  daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &Plane::OnRequest, this,  //
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<const sockaddr*>(&address.addr),
      MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,  //
      MHD_OPTION_THREAD_POOL_SIZE, static_cast<unsigned>(std::max<size_t>(1, options_.threads)),
      MHD_OPTION_CONNECTION_LIMIT,
      static_cast<unsigned>(std::clamp<size_t>(options_.max_connections, 1, 1u << 30)),
      MHD_OPTION_CONNECTION_TIMEOUT, secs(options_.idle_timeout),  //
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, kConnectionMemory,       //
      MHD_OPTION_NOTIFY_CONNECTION, &Plane::OnConnection, this,    //
      MHD_OPTION_NOTIFY_COMPLETED, &Plane::OnCompleted, this,      //
      MHD_OPTION_URI_LOG_CALLBACK, &Plane::OnRequestLine, this,    //
      MHD_OPTION_UNESCAPE_CALLBACK, &Plane::Unescape, this,        //
      MHD_OPTION_EXTERNAL_LOGGER, &Plane::Log, this,               //
      MHD_OPTION_ARRAY, extra.data(),                              //
      MHD_OPTION_END);
  if (daemon_ == nullptr) {
    std::lock_guard lock(log_mu_);
    return err::Unavailable("LISTEN_FAILED", "cannot listen on " + err::Echo(options_.listen) +
                                                 " for HTTP" +
                                                 (start_log_.empty() ? "" : ": " + start_log_));
  }
  {
    std::lock_guard lock(log_mu_);
    started_ = true;
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info == nullptr ? -1 : info->port;
  reaper_ = std::thread([this] { Reap(); });
  return Status::Ok();
}

void Plane::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    {
      std::lock_guard lock(reaper_mu_);
      stopping_ = true;
    }
    reaper_cv_.notify_all();
    if (reaper_.joinable()) reaper_.join();
    if (daemon_ != nullptr) MHD_stop_daemon(daemon_);  // closes every connection
    daemon_ = nullptr;
    explicit_bzero(tls_key_.data(), tls_key_.size());
  });
}

}  // namespace

Result<std::unique_ptr<HttpPlane>> HttpPlane::Start(const HttpHost& host,
                                                    const HttpOptions& options) {
  auto plane = std::make_unique<Plane>(host, options);
  AIFS_RETURN_IF_ERROR(plane->Start());
  return std::unique_ptr<HttpPlane>(std::move(plane));
}

}  // namespace aifs::server
