// The HTTP data plane (docs/http.md) against a real server on 127.0.0.1:
// pre-signed URLs and bearer tokens through the engine's Gate, Range and
// conditional requests, errors as JSON with stable reasons, and the plane's
// defences (bad requests, slowloris, many idle connections, bounded memory
// while streaming). The client is a raw socket written here, so every byte
// on the wire is the test's; independent clients (curl, wget, aria2c)
// download too when installed.
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "aifs/auth/access_rules.h"
#include "aifs/auth/caveats.h"
#include "aifs/auth/macaroon.h"
#include "aifs/core/file_util.h"
#include "aifs/core/hex.h"
#include "aifs/core/random.h"
#include "server_fixture.h"

namespace aifs::test {
namespace {

using namespace std::chrono_literals;

struct HttpReply {
  int status = 0;                              // 0: the server closed without answering
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  std::string reason() const {
    auto j = nlohmann::json::parse(body, nullptr, false);
    return j.is_object() && j.contains("reason") ? j["reason"].get<std::string>() : "";
  }
};

int Dial(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{.tv_sec = 30, .tv_usec = 0};  // a hung server fails the test, not the run
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Parses "HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\nbody".
HttpReply Parse(const std::string& raw) {
  HttpReply r;
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || !raw.starts_with("HTTP/1.")) return r;
  r.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  size_t pos = raw.find("\r\n") + 2;
  while (pos < end) {
    const size_t eol = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    pos = eol + 2;
  }
  r.body = raw.substr(end + 4);
  return r;
}

// Sends `raw` on a new connection and reads until the server closes it.
HttpReply Exchange(int port, const std::string& raw) {
  const int fd = Dial(port);
  if (fd < 0) return {};
  SendAll(fd, raw);
  std::string in;
  char buf[65536];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) in.append(buf, static_cast<size_t>(n));
  close(fd);
  return Parse(in);
}

std::string RequestText(const std::string& method, const std::string& target,
                        const std::vector<std::string>& headers) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const std::string& h : headers) req += h + "\r\n";
  return req + "\r\n";
}

std::string Str(ByteSpan b) { return std::string(AsChars(b)); }

// Replaces (or adds) query parameter `key` of `url`.
std::string WithQuery(const std::string& url, const std::string& key, const std::string& value) {
  const size_t q = url.find('?');
  std::string out = url.substr(0, q), sep = "?";
  bool done = false;
  if (q != std::string::npos) {
    std::string_view rest(url);
    rest.remove_prefix(q + 1);
    while (!rest.empty()) {
      const size_t amp = rest.find('&');
      std::string part(rest.substr(0, amp));
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (part.starts_with(key + "=")) {
        part = key + "=" + value;
        done = true;
      }
      out += sep + part;
      sep = "&";
    }
  }
  if (!done) out += sep + key + "=" + value;
  return out;
}

std::string QueryOf(const std::string& url, const std::string& key) {
  const size_t at = url.find(key + "=", url.find('?'));
  if (at == std::string::npos) return "";
  const size_t start = at + key.size() + 1;
  return url.substr(start, url.find('&', start) - start);
}

uint64_t VmRssBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

bool HaveTool(const std::string& tool) {
  return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

class HttpPlaneTest : public ServerTest {
 protected:
  void StartHttp(server::HttpOptions http = {}) {
    http.listen = "127.0.0.1:0";
    server::ServerOptions options;
    options.http = http;
    StartServer(options);
    http_port_ = server_->http_port();
    ASSERT_GT(http_port_, 0);
  }

  HttpReply Get(const std::string& target, std::vector<std::string> headers = {},
                const std::string& method = "GET") {
    return Exchange(http_port_, RequestText(method, target, headers));
  }
  HttpReply GetWithToken(const std::string& target, const std::string& token,
                         std::vector<std::string> headers = {}) {
    headers.push_back("Authorization: Bearer " + token);
    return Get(target, headers);
  }
  std::string SignUrl(const AssetId& id, const std::string& ns = "default",
                      const std::string& file_name = "", int64_t expires_s = 900) {
    auto u = engine().SignUrl(
        {.ns = ns, .id = id, .as_of = "", .expires_s = expires_s, .file_name = file_name});
    EXPECT_TRUE(u.ok()) << u.status().ToString();
    return u.ok() ? u->path_and_query : "";
  }
  std::string Attenuated(const std::vector<std::string>& caveats) {
    auto t = auth::AttenuateToken(token_, caveats);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : "";
  }
  std::string Forged() {
    uint8_t key[32];
    EXPECT_TRUE(SecureRandom(key).ok());
    return auth::Macaroon::Mint(auth::kTokenLocation, key,
                                auth::Macaroon::Parse(token_)->identifier())
        ->Serialize();
  }

  int http_port_ = -1;
};

#define EXPECT_HTTP(reply, code, why)                                         \
  do {                                                                        \
    const HttpReply& _r = (reply);                                            \
    EXPECT_EQ(_r.status, code) << (why) << ": " << _r.body;                   \
    EXPECT_EQ(_r.reason(), why) << "status " << _r.status << ": " << _r.body; \
  } while (0)

TEST_F(HttpPlaneTest, SignedUrlReadsTheAssetWithItsHeaders) {
  StartHttp();
  const Bytes data = RandomBytes(300'000, 1);
  const AssetId id = MustPut(data).asset.id;
  const std::string url = SignUrl(id, "default", "report \"final\".bin");
  ASSERT_FALSE(url.empty());
  const HttpReply r = Get(url);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, Str(data));
  EXPECT_EQ(IdOf(AsBytes(r.body)), id);
  EXPECT_EQ(r.header("content-length"), std::to_string(data.size()));
  EXPECT_EQ(r.header("etag"), "\"" + id.ToHex() + "\"");
  EXPECT_EQ(r.header("accept-ranges"), "bytes");
  EXPECT_EQ(r.header("content-type"), "application/octet-stream");
  EXPECT_EQ(r.header("content-disposition"), R"(attachment; filename="report \"final\".bin")");
  EXPECT_NE(r.header("cache-control").find("immutable"), std::string::npos);

  const HttpReply head = Get(url, {}, "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), std::to_string(data.size()));
  EXPECT_EQ(head.header("etag"), r.header("etag"));
  EXPECT_TRUE(head.body.empty());
}

// Through the gRPC face, SignUrl also says where the HTTP plane is.
TEST_F(HttpPlaneTest, RemoteSignUrlNamesThePlane) {
  StartHttp();
  const Bytes data = RandomBytes(5000, 12);
  const AssetId id = MustPut(data).asset.id;
  auto u = remote_->SignUrl({.ns = "default", .id = id, .expires_s = 60, .file_name = "a.bin"});
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->base, "http://127.0.0.1:" + std::to_string(http_port_));
  const HttpReply r = Get(u->path_and_query);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, Str(data));
  EXPECT_EQ(r.header("content-disposition"), "attachment; filename=\"a.bin\"");
}

TEST_F(HttpPlaneTest, RangesAndConditionals) {
  StartHttp();
  const Bytes data = RandomBytes(100'000, 2);
  const std::string all = Str(data);
  const AssetId id = MustPut(data).asset.id;
  const std::string url = SignUrl(id);
  const std::string etag = "\"" + id.ToHex() + "\"";
  const std::string size = std::to_string(data.size());

  HttpReply r = Get(url, {"Range: bytes=10-19"});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, all.substr(10, 10));
  EXPECT_EQ(r.header("content-range"), "bytes 10-19/" + size);
  EXPECT_EQ(r.header("content-length"), "10");

  r = Get(url, {"Range: bytes=99990-"});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, all.substr(99990));
  EXPECT_EQ(r.header("content-range"), "bytes 99990-99999/" + size);

  r = Get(url, {"Range: bytes=-7"});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, all.substr(all.size() - 7));
  EXPECT_EQ(r.header("content-range"), "bytes 99993-99999/" + size);

  r = Get(url, {"Range: bytes=50000-999999999"});  // clipped to the end
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, all.substr(50000));

  r = Get(url, {"Range: bytes=" + size + "-"});
  EXPECT_HTTP(r, 416, "RANGE_NOT_SATISFIABLE");
  EXPECT_EQ(r.header("content-range"), "bytes */" + size);
  EXPECT_HTTP(Get(url, {"Range: bytes=-0"}), 416, "RANGE_NOT_SATISFIABLE");

  // Invalid syntax, other units and several ranges: the whole asset.
  for (const char* bad : {"Range: bytes=x-5", "Range: bytes=9-3", "Range: items=0-5",
                          "Range: bytes=0-1,5-6", "Range: bytes"}) {
    r = Get(url, {bad});
    EXPECT_EQ(r.status, 200) << bad;
    EXPECT_EQ(r.body, all) << bad;
  }

  r = Get(url, {"If-None-Match: " + etag});
  EXPECT_EQ(r.status, 304);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.header("etag"), etag);
  EXPECT_EQ(Get(url, {"If-None-Match: \"other\", W/" + etag}).status, 304);
  EXPECT_EQ(Get(url, {"If-None-Match: *"}).status, 304);
  EXPECT_EQ(Get(url, {"If-None-Match: \"other\""}).status, 200);

  r = Get(url, {"Range: bytes=0-9", "If-Range: " + etag});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, all.substr(0, 10));
  r = Get(url, {"Range: bytes=0-9", "If-Range: \"someone-else\""});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, all);
  r = Get(url, {"Range: bytes=0-9", "If-Range: Sun, 06 Nov 1994 08:49:37 GMT"});
  EXPECT_EQ(r.status, 200);

  EXPECT_EQ(Get(url, {"If-Match: \"other\""}).status, 412);
  EXPECT_EQ(Get(url, {"If-Match: " + etag}).status, 200);

  // HEAD describes the whole asset (RFC 9110 defines Range for GET only).
  r = Get(url, {"Range: bytes=0-9"}, "HEAD");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-length"), size);
}

TEST_F(HttpPlaneTest, EmptyAsset) {
  StartHttp();
  const AssetId id = MustPut(Bytes{}).asset.id;
  const std::string url = SignUrl(id);
  HttpReply r = Get(url);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-length"), "0");
  EXPECT_TRUE(r.body.empty());
  EXPECT_HTTP(Get(url, {"Range: bytes=0-"}), 416, "RANGE_NOT_SATISFIABLE");
  EXPECT_HTTP(Get(url, {"Range: bytes=-5"}), 416, "RANGE_NOT_SATISFIABLE");
}

TEST_F(HttpPlaneTest, SignedUrlsGrantOneAssetInOneNamespace) {
  StartHttp();
  AIFS_ASSERT_OK(engine().CreateNamespace("other", {}).status());
  const Bytes a = RandomBytes(1000, 3), b = RandomBytes(1000, 4);
  const AssetId id_a = MustPut(a).asset.id, id_b = MustPut(b).asset.id;
  MustPut(a, "other");  // the same ID in another namespace
  const std::string url = SignUrl(id_a);
  ASSERT_EQ(Get(url).status, 200);

  std::string sig = QueryOf(url, "sig");
  sig.back() = sig.back() == '0' ? '1' : '0';
  EXPECT_HTTP(Get(WithQuery(url, "sig", sig)), 403, "BAD_SIGNATURE");
  std::string other_ns = url;
  other_ns.replace(other_ns.find("/default/"), 9, "/other/");
  EXPECT_HTTP(Get(other_ns), 403, "BAD_SIGNATURE");
  std::string other_asset = url;
  other_asset.replace(other_asset.find(id_a.ToHex()), 64, id_b.ToHex());
  EXPECT_HTTP(Get(other_asset), 403, "BAD_SIGNATURE");
  EXPECT_HTTP(Get(WithQuery(url, "exp", std::to_string(std::stoll(QueryOf(url, "exp")) + 3600))),
              403, "BAD_SIGNATURE");
  EXPECT_HTTP(Get(WithQuery(url, "name", "evil.exe")), 403, "BAD_SIGNATURE");
  EXPECT_HTTP(Get(WithQuery(url, "kid", "u99")), 403, "UNKNOWN_KEY");
  // The same credential parameter twice is refused outright.
  EXPECT_HTTP(Get(url + "&sig=" + QueryOf(url, "sig")), 400, "DUPLICATE_QUERY_PARAMETER");
  // A pre-signed URL names assets, not paths.
  EXPECT_HTTP(Get("/v1/paths/default/x?" + url.substr(url.find('?') + 1)), 403, "URL_MALFORMED");

  const std::string short_lived = SignUrl(id_a, "default", "", 1);
  std::this_thread::sleep_for(2100ms);
  EXPECT_HTTP(Get(short_lived), 403, "URL_EXPIRED");
}

TEST_F(HttpPlaneTest, RevokedUrlKeyVoidsItsUrls) {
  StartHttp();
  const AssetId id = MustPut(RandomBytes(500, 5)).asset.id;
  const std::string url = SignUrl(id);
  ASSERT_EQ(Get(url).status, 200);
  const std::string old_kid = QueryOf(url, "kid");
  auto fresh = engine().RotateUrlKey();
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(Get(url).status, 200);  // rotation alone voids nothing
  AIFS_ASSERT_OK(engine().RevokeUrlKey(old_kid));
  EXPECT_HTTP(Get(url), 403, "KEY_REVOKED");
  EXPECT_EQ(Get(SignUrl(id)).status, 200);  // signed with the new key
}

TEST_F(HttpPlaneTest, BearerTokenMatrix) {
  StartHttp();
  const Bytes data = RandomBytes(2000, 6);
  const AssetId id = MustPut(data).asset.id;
  const std::string target = "/v1/assets/default/" + id.ToHex();

  HttpReply ok = GetWithToken(target, token_);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.body, Str(data));

  HttpReply r = Get(target);
  EXPECT_HTTP(r, 401, "TOKEN_MISSING");
  EXPECT_EQ(r.header("www-authenticate"), "Bearer realm=\"aifs\"");
  EXPECT_EQ(r.header("content-type"), "application/json");
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["code"], "UNAUTHENTICATED");
  EXPECT_FALSE(j["message"].get<std::string>().empty());

  EXPECT_HTTP(Get(target, {"Authorization: Basic dXNlcjpwdw=="}), 401, "TOKEN_MALFORMED");
  EXPECT_HTTP(GetWithToken(target, "not-a-token"), 401, "TOKEN_MALFORMED");
  EXPECT_HTTP(GetWithToken(target, Forged()), 401, "BAD_SIGNATURE");
  EXPECT_HTTP(GetWithToken(target, Attenuated({"expires < 2001-01-01T00:00:00Z"})), 403,
              "TOKEN_EXPIRED");
  EXPECT_HTTP(GetWithToken(target, Attenuated({"ns = other"})), 403, "WRONG_NAMESPACE");
  EXPECT_HTTP(GetWithToken(target, Attenuated({auth::OpsCaveat(auth::kAllOps & ~auth::kOpGet)})),
              403, "OPERATION_NOT_ALLOWED");
  EXPECT_EQ(GetWithToken(target, Attenuated({"ns = default", "ops = get"})).status, 200);

  // An unknown asset is 404 only to a caller who may read the namespace.
  const std::string missing = "/v1/assets/default/" + std::string(64, 'a');
  EXPECT_HTTP(GetWithToken(missing, token_), 404, "ASSET_NOT_FOUND");
  EXPECT_HTTP(Get(missing), 401, "TOKEN_MISSING");
  EXPECT_HTTP(GetWithToken("/v1/assets/default/XYZ", token_), 400, "MALFORMED_ID");
}

// The gRPC token matrix (test_server.cpp, EveryRpcRefusesEveryBadToken)
// through the HTTP face: every bearer endpoint, called with every kind of
// bad token, is refused with the gRPC face's reason and the HTTP status of
// its code; a token with exactly the rule's rights gets through.
TEST_F(HttpPlaneTest, EveryEndpointRefusesEveryBadTokenLikeGrpc) {
  StartHttp();
  const AssetId id = MustPut(RandomBytes(3000, 9)).asset.id;
  AIFS_ASSERT_OK(engine().BindPath("default", "m/w.bin", id));
  uint8_t other_key[32];
  AIFS_ASSERT_OK(SecureRandom(other_key));
  const std::string unknown_key =
      auth::Macaroon::Mint("aifs", other_key, "r9:0123456789abcdef0123456789abcdef")->Serialize();
  const std::string unknown_caveat =
      auth::Macaroon::Parse(token_)->AddCaveat("nss = default")->Serialize();
  struct Endpoint {
    std::string target, method;
    Operation op;
  };
  const std::vector<Endpoint> endpoints = {
      {"/v1/assets/default/" + id.ToHex(), "GET", Operation::kReadAsset},
      {"/v1/assets/default/" + id.ToHex(), "HEAD", Operation::kStatAsset},
      {"/v1/paths/default/m/w.bin", "GET", Operation::kReadAsset},
      {"/metrics", "GET", Operation::kReadMetrics},
  };
  int calls = 0;
  for (const Endpoint& e : endpoints) {
    const auth::AccessRule rule = auth::RuleFor(e.op);
    auto call = [&](const std::string& token) {
      ++calls;
      std::vector<std::string> headers;
      if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
      return Get(e.target, headers, e.method);
    };
    auto expect = [&](const std::string& token, int status, const std::string& reason,
                      const std::string& what) {
      const HttpReply r = call(token);
      EXPECT_EQ(r.status, status) << e.method << " " << e.target << " with " << what;
      // HEAD answers carry no body: the status alone speaks.
      if (e.method != "HEAD") {
        EXPECT_EQ(r.reason(), reason) << e.method << " " << e.target << " with " << what;
      }
    };
    expect("", 401, "TOKEN_MISSING", "no token");
    expect("not-a-token", 401, "TOKEN_MALFORMED", "garbage");
    expect(token_.substr(0, token_.size() / 2), 401, "TOKEN_MALFORMED", "a truncated token");
    expect(Forged(), 401, "BAD_SIGNATURE", "a forged token");
    expect(unknown_key, 401, "UNKNOWN_KEY", "an unknown root key");
    expect(Attenuated({"expires < 2001-01-01T00:00:00Z"}), 403, "TOKEN_EXPIRED", "expired");
    expect(unknown_caveat, 403, "UNKNOWN_CAVEAT", "an unknown caveat");
    expect(Attenuated({"ns = other"}), 403, "WRONG_NAMESPACE", "another namespace");
    const uint32_t others = auth::kAllOps & ~rule.ops;
    expect(Attenuated({auth::OpsCaveat(others)}), 403, "OPERATION_NOT_ALLOWED", "other ops");
    expect(Attenuated({auth::OpsCaveat(others), auth::OpsCaveat(rule.ops)}), 403,
           "OPERATION_NOT_ALLOWED", "an op added after the fact");
    expect(Attenuated({auth::OpsCaveat(others), "ns = default", "ns = default,other"}), 403,
           "OPERATION_NOT_ALLOWED", "widened namespaces");
    std::vector<std::string> enough = {auth::OpsCaveat(rule.ops)};
    if (rule.scope == auth::Access::Scope::kNamespace) enough.push_back("ns = default");
    const HttpReply r = call(Attenuated(enough));
    EXPECT_EQ(r.status, 200) << e.method << " " << e.target << " with just enough: " << r.body;
  }
  std::cout << "HTTP token matrix: " << endpoints.size() << " endpoints, " << calls << " calls\n";
}

TEST_F(HttpPlaneTest, MetricsAndHealth) {
  StartHttp();
  EXPECT_EQ(Get("/healthz").body, "ok\n");
  EXPECT_EQ(Get("/readyz").status, 200);
  HttpReply m = GetWithToken("/metrics", token_);
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_NE(m.header("content-type").find("text/plain; version=0.0.4"), std::string::npos);
  // The requests above are counted.
  EXPECT_NE(m.body.find("aifs_http_requests_total{code=\"200\"}"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("aifs_http_request_seconds_bucket{le=\"+Inf\"}"), std::string::npos);

  // Prometheus's own parser accepts it, HTTP series included.
  if (HaveTool("promtool")) {
    TempDir dir;
    ASSERT_TRUE(WriteFileAtomic(dir.Sub("metrics.txt"), m.body).ok());
    const std::string cmd = "promtool check metrics < " + dir.Sub("metrics.txt") + " > " +
                            dir.Sub("promtool.out") + " 2>&1";
    const int rc = std::system(cmd.c_str());
    auto report = ReadFileToString(dir.Sub("promtool.out"));
    EXPECT_EQ(rc, 0) << (report.ok() ? *report : "") << "\n" << m.body;
  } else {
    std::cout << "promtool is not installed: the exposition format is not checked\n";
  }

  EXPECT_HTTP(Get("/metrics"), 401, "TOKEN_MISSING");
  EXPECT_HTTP(GetWithToken("/metrics", "garbage"), 401, "TOKEN_MALFORMED");
  EXPECT_HTTP(GetWithToken("/metrics", Forged()), 401, "BAD_SIGNATURE");
  EXPECT_HTTP(GetWithToken("/metrics", Attenuated({"expires < 2001-01-01T00:00:00Z"})), 403,
              "TOKEN_EXPIRED");
  EXPECT_HTTP(
      GetWithToken("/metrics", Attenuated({auth::OpsCaveat(auth::kAllOps & ~auth::kOpGet)})), 403,
      "OPERATION_NOT_ALLOWED");
}

TEST_F(HttpPlaneTest, PathsRead) {
  StartHttp();
  const Bytes data = RandomBytes(4000, 7);
  const AssetId id = MustPut(data).asset.id;
  AIFS_ASSERT_OK(engine().BindPath("default", "dir/sub/data é.bin", id));
  HttpReply r = GetWithToken("/v1/paths/default/dir/sub/data%20%C3%A9.bin", token_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, Str(data));
  EXPECT_EQ(r.header("etag"), "\"" + id.ToHex() + "\"");
  EXPECT_EQ(r.header("content-disposition"),
            "attachment; filename=\"data __.bin\"; filename*=UTF-8''data%20%C3%A9.bin");
  EXPECT_EQ(r.header("cache-control"), "private, no-cache");
  EXPECT_HTTP(GetWithToken("/v1/paths/default/dir/none", token_), 404, "PATH_NOT_FOUND");
  EXPECT_HTTP(Get("/v1/paths/default/dir/sub/data%20%C3%A9.bin"), 401, "TOKEN_MISSING");
}

TEST_F(HttpPlaneTest, RefusesWhatItDoesNotServe) {
  server::HttpOptions http;
  http.header_timeout = 2s;  // a request line that never ends is cut off soon
  StartHttp(http);
  const AssetId id = MustPut(RandomBytes(100, 8)).asset.id;
  const std::string url = SignUrl(id);
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
    HttpReply r = Get(url, {"Content-Length: 0"}, method);
    EXPECT_HTTP(r, 405, "METHOD_NOT_ALLOWED");
    EXPECT_EQ(r.header("allow"), "GET, HEAD") << method;
  }
  EXPECT_HTTP(Get("/nothing-here"), 404, "UNKNOWN_ENDPOINT");
  EXPECT_HTTP(Get("/"), 404, "UNKNOWN_ENDPOINT");
  EXPECT_HTTP(Get("/v1/assets/../x"), 400, "BAD_URL_PATH");
  EXPECT_HTTP(Get("/v1/assets/../../etc/passwd"), 400, "BAD_URL_PATH");
  EXPECT_HTTP(Get("/v1/assets/default/./" + id.ToHex()), 400, "BAD_URL_PATH");
  EXPECT_HTTP(Get("/v1/assets//" + id.ToHex()), 400, "BAD_URL_PATH");
  EXPECT_HTTP(Get("/v1/assets/default/%00" + id.ToHex()), 400, "BAD_URL_PATH");
  EXPECT_EQ(Get("/healthz").status, 200);

  // Malformed request lines, an oversized head, another protocol: refused
  // (or the connection closed) by the parser; the server keeps answering.
  for (const std::string& raw :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET\r\n\r\n"),
        std::string("GET / HTTP/9.9\r\nHost: x\r\n\r\n"),
        std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n"),
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100 * 1024, 'a') + "\r\n\r\n",
        "GET /" + std::string(100 * 1024, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
        std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)}) {
    const HttpReply r = Exchange(http_port_, raw);
    EXPECT_TRUE(r.status == 0 || (r.status >= 400 && r.status < 600))
        << raw.substr(0, 40) << " -> " << r.status;
    EXPECT_EQ(Get("/healthz").status, 200) << "after " << raw.substr(0, 40);
  }
  EXPECT_EQ(Exchange(http_port_, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                     std::string(100 * 1024, 'a') + "\r\n\r\n")
                .status,
            431);

  // A GET with a body is answered without reading it.
  HttpReply r = Get(url, {"Content-Length: 5"});
  EXPECT_EQ(r.status, 200);
}

TEST_F(HttpPlaneTest, KeepAliveServesSeveralRequestsPerConnection) {
  server::HttpOptions http;
  http.header_timeout = 1s;  // the wait between requests is not a slow head
  StartHttp(http);
  const int fd = Dial(http_port_);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string in;
    char buf[4096];
    while (in.find("ok\n") == std::string::npos) {
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      ASSERT_GT(n, 0) << "request " << i << " got no answer";
      in.append(buf, static_cast<size_t>(n));
    }
    EXPECT_TRUE(in.starts_with("HTTP/1.1 200")) << in;
    std::this_thread::sleep_for(1500ms);  // idle longer than header_timeout
  }
  close(fd);
}

TEST_F(HttpPlaneTest, SlowlorisIsCutOff) {
  server::HttpOptions http;
  http.header_timeout = 1s;
  StartHttp(http);
  const int fd = Dial(http_port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET / HTTP/1.1\r\nHost: x\r\n"));
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  while (std::chrono::steady_clock::now() - start < 10s) {
    if (!SendAll(fd, "X")) {
      closed = true;
      break;
    }
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 200) > 0) {
      char c;
      if (recv(fd, &c, 1, MSG_DONTWAIT) <= 0) {
        closed = true;
        break;
      }
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  close(fd);
  EXPECT_TRUE(closed) << "a head trickled for " << secs << " s is still open";
  EXPECT_LT(secs, 5.0);
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(HttpPlaneTest, ThousandIdleConnectionsDoNotStarveOthers) {
  constexpr size_t kIdle = 1000;
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < 2100)
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << lim.rlim_max << " < 2100";
  lim.rlim_cur = std::max<rlim_t>(lim.rlim_cur, 2100);
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) GTEST_SKIP() << "cannot raise RLIMIT_NOFILE";
  server::HttpOptions http;
  http.max_connections = 1100;
  StartHttp(http);
  const AssetId id = MustPut(RandomBytes(10'000, 9)).asset.id;
  const std::string url = SignUrl(id);
  std::vector<int> idle;
  for (size_t i = 0; i < kIdle; ++i) {
    const int fd = Dial(http_port_);
    ASSERT_GE(fd, 0) << "connection " << i;
    idle.push_back(fd);
  }
  const auto start = std::chrono::steady_clock::now();
  const HttpReply r = Get(url);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), 10'000u);
  EXPECT_LT(secs, 5.0) << "a GET next to " << kIdle << " idle connections";
  // None of the idle connections was dropped to make room.
  size_t open = 0;
  for (int fd : idle) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 0) == 0) ++open;
    close(fd);
  }
  EXPECT_EQ(open, kIdle);
}

TEST_F(HttpPlaneTest, LargeDownloadStreamsInBoundedMemory) {
  // The engine's segment cache (256 MiB by default) would keep what the
  // download reads: that is the engine's memory, not the plane's. Measure
  // the plane with a small one.
  engine_.reset();
  EngineOptions eo;
  eo.data_dir = dir_.path();
  eo.cache_bytes = 1 << 20;
  auto reopened = Engine::Open(eo);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  engine_ = std::move(reopened).value();
  StartHttp();
  const size_t kSize = size_t{64} << 20;
  AssetId id;
  {
    const Bytes data = RandomBytes(kSize, 10);
    id = MustPut(data).asset.id;
  }
  const std::string url = SignUrl(id);
  EXPECT_EQ(Get(url, {"Range: bytes=0-1000"}).status, 206);  // warm up
  malloc_trim(0);
  const uint64_t base = VmRssBytes();
  const int fd = Dial(http_port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, RequestText("GET", url, {})));
  // Read slowly and hash on the fly: the test holds at most 64 KiB itself.
  Blake3 hasher;
  std::string head;
  uint64_t body = 0, peak = base;
  char buf[65536];
  size_t reads = 0;
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
    std::string_view piece(buf, static_cast<size_t>(n));
    if (head.find("\r\n\r\n") == std::string::npos) {
      head.append(piece);
      const size_t end = head.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      piece = std::string_view(head).substr(end + 4);
    }
    hasher.Update(AsBytes(piece));
    body += piece.size();
    if (++reads % 64 == 0) {
      peak = std::max(peak, VmRssBytes());
      std::this_thread::sleep_for(1ms);
    }
  }
  close(fd);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200")) << head.substr(0, 200);
  EXPECT_EQ(body, kSize);
  EXPECT_EQ(AssetId(hasher.Finalize()), id);
  std::cout << "RSS grew by " << (peak - base) / 1024 << " KiB streaming " << (kSize >> 20)
            << " MiB\n";
  EXPECT_LT(peak - base, uint64_t{48} << 20)
      << "RSS grew from " << base << " to " << peak << " bytes while streaming";
}

// Independent clients download a pre-signed URL and the bytes match.
class HttpClientTest : public HttpPlaneTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(HttpClientTest, DownloadsThePresignedUrl) {
  const std::string tool = GetParam();
  if (!HaveTool(tool)) GTEST_SKIP() << tool << " is not installed";
  StartHttp();
  const Bytes data = RandomBytes(3 << 20, 11);
  const AssetId id = MustPut(data).asset.id;
  const std::string url =
      "http://127.0.0.1:" + std::to_string(http_port_) + SignUrl(id, "default", "x.bin");
  TempDir dir;
  const std::string out = dir.Sub("out.bin");
  std::string cmd;
  if (tool == "curl") cmd = "curl -sf -o '" + out + "' '" + url + "'";
  if (tool == "wget") cmd = "wget -q -O '" + out + "' '" + url + "'";
  if (tool == "aria2c")
    cmd = "aria2c -q -x4 -s4 --min-split-size=1M --allow-overwrite=true -d '" + dir.path() +
          "' -o out.bin '" + url + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_EQ(IdOf(ReadFileBytes(out)), id);
}

INSTANTIATE_TEST_SUITE_P(Tools, HttpClientTest, ::testing::Values("curl", "wget", "aria2c"));

}  // namespace
}  // namespace aifs::test
