// aifs_http_bench: load on a running `aifs serve --http` (bench/http_bench.sh
// starts one), HTTP next to gRPC on the same asset in the same run:
//   - 4 KiB Range GETs over keep-alive connections, 1 and N clients: ops/s,
//     P50/P99 — next to gRPC ReadRanges, one range per call and batched;
//   - M concurrent full downloads: aggregate GB/s and the server's RSS
//     (sampled from /proc/PID/status while they run).
// The HTTP client is a plain socket loop (HTTP/1.1, keep-alive, one request
// in flight per connection), so what is timed is the server.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>

#include "aifs/client/remote_api.h"
#include "aifs/core/file_util.h"
#include "bench_util.h"

namespace {

using namespace aifs::bench;

struct Url {
  std::string host, port, target;  // target: path and query
};

Url ParseUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) Fail("only http:// URLs: " + url);
  const std::string rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  const size_t colon = authority.rfind(':');
  return {authority.substr(0, colon),
          colon == std::string::npos ? "80" : authority.substr(colon + 1),
          slash == std::string::npos ? "/" : rest.substr(slash)};
}

// One keep-alive HTTP/1.1 connection.
class HttpConnection {
 public:
  explicit HttpConnection(const Url& url) : url_(url) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &res) != 0)
      Fail("cannot resolve " + url.host);
    fd_ = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd_ < 0 || connect(fd_, res->ai_addr, res->ai_addrlen) != 0)
      Fail("cannot connect to " + url.host + ":" + url.port);
    freeaddrinfo(res);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~HttpConnection() { close(fd_); }

  // Sends one request and reads the response; the body is handed to `body`
  // piece by piece (nullptr: discarded). Returns the status code and sets
  // `length` to the body's length.
  int Request(const std::string& method, const std::string& range, uint64_t* length,
              const std::function<void(const char*, size_t)>& body = nullptr) {
    std::string req = method + " " + url_.target + " HTTP/1.1\r\nHost: " + url_.host + "\r\n";
    if (!range.empty()) req += "Range: " + range + "\r\n";
    req += "\r\n";
    if (send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
      Fail("send failed");
    // Head: read until CRLFCRLF (what follows in buf_ is body).
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) Fill();
    const std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    const int status = std::atoi(head.c_str() + 9);
    uint64_t n = 0;
    const size_t cl = Lower(head).find("\r\ncontent-length:");
    if (cl != std::string::npos) n = std::strtoull(head.c_str() + cl + 17, nullptr, 10);
    *length = n;
    if (method == "HEAD" || status == 304) return status;
    uint64_t left = n;
    while (left > 0) {
      if (buf_.empty()) Fill();
      const size_t take = std::min<uint64_t>(left, buf_.size());
      if (body) body(buf_.data(), take);
      buf_.erase(0, take);
      left -= take;
    }
    return status;
  }

 private:
  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  void Fill() {
    char tmp[1 << 16];
    const ssize_t got = recv(fd_, tmp, sizeof(tmp), 0);
    if (got <= 0) Fail("connection closed by the server");
    buf_.append(tmp, static_cast<size_t>(got));
  }

  Url url_;
  int fd_ = -1;
  std::string buf_;
};

uint64_t ServerRss(int pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with(field))
      return std::strtoull(line.c_str() + std::strlen(field), nullptr, 10) << 10;
  return 0;
}

struct Load {
  double ops_per_s = 0, p50_us = 0, p99_us = 0;
};

// `clients` threads, each running `one(rng)` back to back for `seconds`;
// each call's latency recorded.
template <typename Fn>
Load RunLoad(int clients, double seconds, Fn make_worker) {
  std::vector<std::vector<double>> lat(clients);
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};
  const double t0 = MonotonicSeconds();
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      auto one = make_worker(c);
      while (!stop.load(std::memory_order_relaxed)) {
        const double a = MonotonicSeconds();
        one();
        lat[c].push_back((MonotonicSeconds() - a) * 1e6);
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = MonotonicSeconds() - t0;
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  return {static_cast<double>(all.size()) / elapsed, Percentile(all, 0.50), Percentile(all, 0.99)};
}

int Main(int argc, char** argv) {
  std::string url_text, grpc_target, token_file, ns = "default", id_hex;
  int server_pid = 0, many = 16, downloads = 200;
  double seconds = 5;
  uint64_t block = 4096;
  for (ArgReader args(argc, argv); args.Next();) {
    const std::string& f = args.flag();
    if (f == "--url")
      url_text = args.Value();
    else if (f == "--grpc")
      grpc_target = args.Value();
    else if (f == "--token-file")
      token_file = args.Value();
    else if (f == "--ns")
      ns = args.Value();
    else if (f == "--id")
      id_hex = args.Value();
    else if (f == "--server-pid")
      server_pid = static_cast<int>(ParseU64(f, args.Value()));
    else if (f == "--clients")
      many = static_cast<int>(ParseU64(f, args.Value()));
    else if (f == "--downloads")
      downloads = static_cast<int>(ParseU64(f, args.Value()));
    else if (f == "--seconds")
      seconds = static_cast<double>(ParseU64(f, args.Value()));
    else if (f == "--block")
      block = ParseU64(f, args.Value());
    else
      Fail("unknown flag " + f);
  }
  if (url_text.empty()) Fail("--url is required (a signed URL of the asset)");
  const Url url = ParseUrl(url_text);
  uint64_t size = 0;
  {
    HttpConnection c(url);
    if (c.Request("HEAD", "", &size) != 200) Fail("HEAD of the URL did not answer 200");
  }
  if (size < block * 2) Fail("the asset is smaller than two blocks");
  std::printf("Asset: %.1f MiB over %s:%s, %u cores, load %s\n\n", size / 1048576.0,
              url.host.c_str(), url.port.c_str(), std::thread::hardware_concurrency(),
              LoadAvg().c_str());

  auto http_ranges = [&](int clients) {
    return RunLoad(clients, seconds, [&](int c) {
      auto conn = std::make_shared<HttpConnection>(url);
      auto rng = std::make_shared<Rng>(1000 + c);
      return [=] {
        const uint64_t off = (rng->Next() % (size / block - 1)) * block;
        uint64_t n = 0;
        const int st = conn->Request(
            "GET", "bytes=" + std::to_string(off) + "-" + std::to_string(off + block - 1), &n);
        if (st != 206 || n != block) Fail("range GET answered " + std::to_string(st));
      };
    });
  };
  std::vector<std::pair<std::string, Load>> rows;
  rows.push_back({"HTTP Range GET, 1 client", http_ranges(1)});
  rows.push_back({"HTTP Range GET, " + std::to_string(many) + " clients", http_ranges(many)});

  if (!grpc_target.empty()) {
    std::string token = Must(aifs::ReadFileToString(token_file), "token file");
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
      token.pop_back();
    const aifs::AssetId id = Must(aifs::AssetId::Parse(id_hex), "--id");
    auto grpc_ranges = [&](int clients, size_t batch) {
      Load l = RunLoad(clients, seconds, [&](int c) {
        std::shared_ptr<aifs::Api> api =
            Must(aifs::ConnectRemote({.target = grpc_target, .token = token}), "connect");
        auto rng = std::make_shared<Rng>(2000 + c);
        return [=] {
          std::vector<aifs::RangeRead> rr(batch);
          for (auto& r : rr) r = {id, (rng->Next() % (size / block - 1)) * block, block};
          Check(api->ReadRanges(ns, rr, [](size_t, aifs::ByteSpan) { return aifs::Status::Ok(); }),
                "ReadRanges");
        };
      });
      l.ops_per_s *= static_cast<double>(batch);  // ranges per second
      return l;
    };
    rows.push_back({"gRPC ReadRanges 1/call, 1 client", grpc_ranges(1, 1)});
    rows.push_back(
        {"gRPC ReadRanges 1/call, " + std::to_string(many) + " clients", grpc_ranges(many, 1)});
    rows.push_back({"gRPC ReadRanges 64/call, 1 client", grpc_ranges(1, 64)});
    rows.push_back(
        {"gRPC ReadRanges 64/call, " + std::to_string(many) + " clients", grpc_ranges(many, 64)});
  }
  std::printf("| %llu B random reads | ranges/s | P50 | P99 |\n|---|---:|---:|---:|\n",
              static_cast<unsigned long long>(block));
  for (const auto& [name, l] : rows)
    std::printf("| %s | %.0f | %.0f us | %.0f us |\n", name.c_str(), l.ops_per_s, l.p50_us,
                l.p99_us);

  // Concurrent full downloads.
  const uint64_t rss_before = server_pid ? ServerRss(server_pid, "VmRSS:") : 0;
  std::atomic<uint64_t> bytes{0}, peak_rss{0};
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done && server_pid) {
      peak_rss = std::max<uint64_t>(peak_rss, ServerRss(server_pid, "VmRSS:"));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  const double t0 = MonotonicSeconds();
  std::vector<std::thread> dl;
  for (int i = 0; i < downloads; ++i)
    dl.emplace_back([&] {
      HttpConnection c(url);
      uint64_t n = 0, got = 0;
      if (c.Request("GET", "", &n, [&](const char*, size_t k) { got += k; }) != 200 || got != size)
        Fail("a full download came back short");
      bytes += got;
    });
  for (auto& t : dl) t.join();
  const double dl_s = MonotonicSeconds() - t0;
  done = true;
  sampler.join();
  std::printf("\n| %d concurrent full downloads | value |\n|---|---:|\n", downloads);
  std::printf("| aggregate | %.2f GB/s (%.1f s) |\n", GBps(bytes, dl_s), dl_s);
  if (server_pid)
    std::printf("| server RSS before / peak | %.0f / %.0f MiB |\n", rss_before / 1048576.0,
                peak_rss / 1048576.0);
  std::printf(
      "\nJSON: {\"http_range_1\": %.0f, \"http_range_n\": %.0f, \"downloads_gbps\": %.3f, "
      "\"rss_peak_mib\": %.1f}\n",
      rows[0].second.ops_per_s, rows[1].second.ops_per_s, GBps(bytes, dl_s), peak_rss / 1048576.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return aifs::bench::RunBench("aifs_http_bench", [&] { return Main(argc, argv); });
}
