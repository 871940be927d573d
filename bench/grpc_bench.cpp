// aifs_grpc_bench: the same aifs::Api calls in-process (Engine) and over
// loopback gRPC (aifs::server::Server + aifs::ConnectRemote in the same
// process), on the same data in one run, next to the machine's ceilings
// measured in the same run (memcpy, BLAKE3, one loopback TCP stream, zstd-1,
// the gRPC layer over a RAM-backed Api) and `fio` random reads of a file of
// the same bytes. Phases: puts, full reads, StatAsset, random reads of
// several sizes (cached and uncached), batched reads (ReadRanges).
// A standalone program, not a test: see bench/README.md.
//
// Setup: engine A (in-process) and engine B (behind the server) live in two
// fresh data directories on the same filesystem; every put goes into a fresh
// store so deduplication never helps. The client, the server and both engines
// share this process (and the machine's cores).
//
// stdout: markdown tables, then one line `JSON: {...}` with every number.
// stderr: progress, each line stamped with CLOCK_MONOTONIC seconds so that a
// `perf record -k CLOCK_MONOTONIC` profile can be cut per phase
// (`perf report --time a,b`). All temporary data lives under one run
// directory that is removed at exit (also on SIGINT/SIGTERM, best effort).

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "aifs/api/api.h"
#include "aifs/client/remote_api.h"
#include "aifs/core/blake3.h"
#include "aifs/engine/engine.h"
#include "aifs/rpc/frames.h"
#include "aifs/rpc/grpc_process.h"
#include "aifs/server/server.h"
#include "aifs/storage/compression.h"
#include "aifs/v1/aifs.grpc.pb.h"
#include "bench_util.h"
#include "datasets.h"
#include "fio_runner.h"
#include "machine_load.h"
#include "ram_backend.h"
#include "read_phases.h"
#include "timed_rates.h"

namespace {

using namespace aifs::bench;

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr size_t kPutPiece = 4 * kMiB;      // AssetWriter::Write granularity
constexpr size_t kFrame = 1 * kMiB;         // aifs::rpc::kMaxFrameBytes
constexpr size_t kCeilingBuf = 256 * kMiB;  // in-memory ceiling buffer (capped by --size-mib)

// ---------------------------------------------------------------------------
// Options

struct Options {
  uint64_t size_mib = 1024;
  std::string dir = "/var/tmp/aifs-grpc-bench";
  std::vector<std::string> datasets = {"random", "text"};
  std::vector<int> stat_threads = {1, 4, 16};
  double stat_seconds = 3;
  ReadPhaseOptions reads;  // random and batched reads
  int reps = 3;            // cached full reads per path (median reported)
  size_t engine_threads = 0;
  uint64_t cache_mib = 0;  // 0: 1.5 x the asset size
  uint32_t chunk_avg = 0;  // 0: engine default
  uint32_t segment_size = aifs::kDefaultSegmentSize;
  bool memory_backend = true;
  bool unix_socket = false;  // serve on a unix socket in the store's directory
  bool do_get = true, do_stat = true, do_rand = true, do_batch = true;
};

void Usage(FILE* out) {
  std::fputs(
      "usage: aifs_grpc_bench [options]\n"
      "  --size-mib N           asset size in MiB (default 1024)\n"
      "  --dir PATH             scratch directory (default /var/tmp/aifs-grpc-bench); a\n"
      "                         run directory is made inside it and removed at exit\n"
      "  --datasets LIST        random,text (default both; the first is used for the\n"
      "                         StatAsset and random-read phases)\n"
      "  --phases LIST          subset of get,stat,rand,batch to run after the puts (default all)\n"
      "  --stat-threads LIST    client threads for StatAsset (default 1,4,16)\n"
      "  --stat-seconds S       duration of each StatAsset run (default 3)\n"
      "  --rand-sizes LIST      random-read sizes in bytes (default 4096,65536,1048576)\n"
      "  --rand-threads LIST    threads for random reads, also fio numjobs (default 1,2)\n"
      "  --rand-cache LIST      cached,uncached (default both; uncached evicts the chunk\n"
      "                         objects before every round of reads, fio runs direct=1)\n"
      "  --rand-seconds S       duration of each random-read and batch run (default 5)\n"
      "  --batch-sizes LIST     4 KiB ranges per ReadRanges call (default 64,1024)\n"
      "  --batch-threads LIST   threads calling ReadRanges on one channel (default 1)\n"
      "  --reps N               cached full reads per path, median reported (default 3)\n"
      "  --engine-threads N     EngineOptions.threads (default 0 = one per core)\n"
      "  --cache-mib N          the engine's segment cache (default 1.5 x the asset size)\n"
      "  --chunk-avg BYTES      chunking {avg/4, avg, avg*4} (default: engine default)\n"
      "  --segment-size BYTES   the stores' segment size (default 65536)\n"
      "  --no-fio               skip the fio runs\n"
      "  --no-memory-backend    skip the gRPC-over-RAM ceiling\n"
      "  --unix                 serve the stores on unix-domain sockets instead of\n"
      "                         127.0.0.1 TCP (the RAM ceiling stays on TCP)\n"
      "  --help\n",
      out);
}

double ParseDouble(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || !(x > 0)) Fail("bad value for " + flag + ": '" + v + "'");
  return x;
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::vector<int> ParseIntList(const std::string& flag, const std::string& s) {
  std::vector<int> out;
  for (const std::string& x : SplitList(s)) {
    const uint64_t v = ParseU64(flag, x);
    if (v == 0 || v > 256) Fail(flag + " values must be in [1, 256]");
    out.push_back(static_cast<int>(v));
  }
  if (out.empty()) Fail(flag + " is empty");
  return out;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (ArgReader args(argc, argv); args.Next();) {
    const std::string& a = args.flag();
    auto value = [&] { return args.Value(); };
    if (a == "--help" || a == "-h") {
      Usage(stdout);
      std::exit(0);
    } else if (a == "--size-mib") {
      o.size_mib = ParseU64(a, value());
      if (o.size_mib == 0) Fail("--size-mib must be at least 1");
    } else if (a == "--dir") {
      o.dir = value();
    } else if (a == "--datasets") {
      o.datasets.clear();
      for (const std::string& d : SplitList(value())) {
        if (d != "random" && d != "text") Fail("unknown data set '" + d + "' (random, text)");
        if (std::find(o.datasets.begin(), o.datasets.end(), d) == o.datasets.end())
          o.datasets.push_back(d);
      }
      if (o.datasets.empty()) Fail("--datasets names no data set");
    } else if (a == "--phases") {
      o.do_get = o.do_stat = o.do_rand = o.do_batch = false;
      for (const std::string& p : SplitList(value())) {
        bool* flag = p == "get"     ? &o.do_get
                     : p == "stat"  ? &o.do_stat
                     : p == "rand"  ? &o.do_rand
                     : p == "batch" ? &o.do_batch
                                    : nullptr;
        if (flag)
          *flag = true;
        else if (p != "put")
          Fail("unknown phase '" + p + "' (get, stat, rand, batch)");
      }
    } else if (a == "--stat-threads") {
      o.stat_threads = ParseIntList(a, value());
    } else if (a == "--stat-seconds") {
      o.stat_seconds = ParseDouble(a, value());
    } else if (a == "--rand-sizes") {
      o.reads.blocks.clear();
      for (const std::string& x : SplitList(value())) {
        const uint64_t b = ParseU64(a, x);
        if (b == 0 || b > 64 * kMiB) Fail("--rand-sizes values must be in [1, 64 MiB]");
        o.reads.blocks.push_back(b);
      }
      if (o.reads.blocks.empty()) Fail("--rand-sizes is empty");
    } else if (a == "--rand-threads") {
      o.reads.threads = ParseIntList(a, value());
    } else if (a == "--rand-cache") {
      o.reads.cached.clear();
      for (const std::string& x : SplitList(value())) {
        if (x != "cached" && x != "uncached") Fail("--rand-cache takes cached,uncached");
        o.reads.cached.push_back(x == "cached");
      }
      if (o.reads.cached.empty()) Fail("--rand-cache is empty");
    } else if (a == "--rand-seconds") {
      o.reads.seconds = ParseDouble(a, value());
    } else if (a == "--batch-sizes") {
      o.reads.batches.clear();
      for (const std::string& x : SplitList(value())) {
        const uint64_t b = ParseU64(a, x);
        if (b == 0 || b > aifs::kMaxBatchRanges) Fail("--batch-sizes values must be in [1, 65536]");
        o.reads.batches.push_back(b);
      }
      if (o.reads.batches.empty()) Fail("--batch-sizes is empty");
    } else if (a == "--batch-threads") {
      o.reads.batch_threads = ParseIntList(a, value());
    } else if (a == "--reps") {
      o.reps = static_cast<int>(std::clamp<uint64_t>(ParseU64(a, value()), 1, 50));
    } else if (a == "--engine-threads") {
      o.engine_threads = ParseU64(a, value());
    } else if (a == "--cache-mib") {
      o.cache_mib = ParseU64(a, value());
    } else if (a == "--chunk-avg") {
      const uint64_t avg = ParseU64(a, value());
      if (avg < 1024 || avg * 4 > 64 * kMiB) Fail("--chunk-avg must be in [1024, 16 MiB]");
      o.chunk_avg = static_cast<uint32_t>(avg);
    } else if (a == "--segment-size") {
      const uint64_t seg = ParseU64(a, value());
      Check(aifs::ValidateSegmentSize(seg), "--segment-size");
      o.segment_size = static_cast<uint32_t>(seg);
    } else if (a == "--no-fio") {
      o.reads.fio = false;
    } else if (a == "--no-memory-backend") {
      o.memory_backend = false;
    } else if (a == "--unix") {
      o.unix_socket = true;
    } else {
      Usage(stderr);
      Fail("unknown argument '" + a + "'");
    }
  }
  return o;
}

// ---------------------------------------------------------------------------
// Stores and servers

aifs::server::ServerOptions BenchServerOptions(const std::string& listen) {
  aifs::server::ServerOptions so;
  so.listen = listen;
  // The periodic backend probe (a chunk write/read/delete) would otherwise
  // land inside timed phases every 2 s; one probe still runs at start.
  so.health_interval = std::chrono::milliseconds(3600 * 1000);
  return so;
}

// One Api endpoint. Members are destroyed in reverse order: clients, then
// the server, then the engine.
struct Endpoint {
  std::string dir;  // data dir ("" for the memory backend)
  std::unique_ptr<aifs::Engine> engine;
  std::unique_ptr<aifs::server::Server> server;
  std::string target;
  std::string token;                // an admin token of the engine's
  // [zstd frames forced on (loopback defaults to off)][reads as stored
  // (RemoteOptions::stored_reads, the default) or decoded by the server]
  std::unique_ptr<aifs::Api> clients[2][2];

  ~Endpoint() {
    for (auto& by_zstd : clients)
      for (auto& c : by_zstd) c.reset();
    if (server) server->Shutdown(std::chrono::milliseconds(1000));
  }
  aifs::Api& Client(bool z, bool stored = true) { return *clients[z][stored]; }
};

std::unique_ptr<aifs::Engine> OpenFreshEngine(const Options& opt, const std::string& dir) {
  aifs::ChunkerParams params;
  if (opt.chunk_avg) params = {opt.chunk_avg / 4, opt.chunk_avg, opt.chunk_avg * 4};
  Check(params.Validate(), "chunk parameters");
  Check(aifs::Engine::Init(dir, aifs::InitOptions{.chunking = params,
                                                  .zstd_level = 1,
                                                  .segment_size = opt.segment_size}),
        "Engine::Init " + dir);
  auto opened = aifs::Engine::Open(
      aifs::EngineOptions{.data_dir = dir,
                          .read_only = false,
                          .threads = opt.engine_threads,
                          .cache_bytes = (opt.cache_mib ? opt.cache_mib : opt.size_mib * 3 / 2) << 20});
  Check(opened.status(), "Engine::Open " + dir);
  return std::move(opened).value();
}

void Serve(Endpoint& ep, aifs::Gate& gate, const std::string& listen) {
  // Calls carry a token, as in production: its check is part of what is timed.
  auto made = ep.engine->RotateTokenRoot({});
  Check(made.status(), "token root key");
  ep.token = made->token;
  const std::string& token = ep.token;
  auto options = BenchServerOptions(listen);
  auto started = aifs::server::Server::Start(gate, options);
  Check(started.status(), "Server::Start");
  ep.server = std::move(started).value();
  ep.target = ep.server->address();
  for (bool z : {false, true}) {
    for (bool stored : {false, true}) {
      auto client = aifs::ConnectRemote(aifs::RemoteOptions{
          .target = ep.target, .zstd = ZstdMode(z), .stored_reads = stored, .token = token});
      Check(client.status(), "ConnectRemote " + ep.target);
      ep.clients[z][stored] = std::move(client).value();
    }
  }
}

std::unique_ptr<Endpoint> EngineEndpoint(const Options& opt, const std::string& dir, bool serve) {
  auto ep = std::make_unique<Endpoint>();
  ep->dir = dir;
  ep->engine = OpenFreshEngine(opt, dir);
  if (serve)
    Serve(*ep, *ep->engine, opt.unix_socket ? "unix:" + dir + "/aifs.sock" : "127.0.0.1:0");
  return ep;
}

// Data-frame bytes a server moved (after zstd), from its Metrics service.
struct WireCounters {
  double in = 0, out = 0;
};

WireCounters ScrapeWire(const Endpoint& ep) {
  WireCounters w;
  auto channel = grpc::CreateChannel(ep.target, grpc::InsecureChannelCredentials());
  auto stub = aifs::v1::Metrics::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + ep.token);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  aifs::v1::MetricsResponse resp;
  if (!stub->GetMetrics(&ctx, aifs::v1::Empty(), &resp).ok()) return w;
  std::string_view text = resp.text();
  auto value = [&](std::string_view name) {
    size_t pos = 0;
    while ((pos = text.find(name, pos)) != std::string_view::npos) {
      if ((pos == 0 || text[pos - 1] == '\n') && pos + name.size() < text.size() &&
          text[pos + name.size()] == ' ')
        return std::strtod(std::string(text.substr(pos + name.size() + 1, 32)).c_str(), nullptr);
      pos += name.size();
    }
    return 0.0;
  };
  w.in = value("aifs_wire_bytes_in_total");
  w.out = value("aifs_wire_bytes_out_total");
  return w;
}

// ---------------------------------------------------------------------------
// Timed operations

struct PutStats {
  double s = 0, cpu = 0, cores = 0, others = 0, commit_s = 0;
  double wire_over_logical = -1;  // -1: in-process, no wire
  aifs::AssetId id;
  uint64_t chunks = 0;
};

PutStats TimedPut(aifs::Api& api, const Dataset& d, const std::string& label) {
  Progress("put %s: %s", d.name.c_str(), label.c_str());
  PutStats r;
  aifs::PutOptions po;
  po.kind = aifs::AssetKind::kBlob;
  po.expected_size = d.bytes.size();
  po.metadata = {{"bench", "grpc"}, {"dataset", d.name}};
  PhaseMeter m;
  auto writer = api.BeginPut(po);
  Check(writer.status(), label + ": BeginPut");
  for (size_t off = 0; off < d.bytes.size(); off += kPutPiece) {
    const size_t n = std::min(kPutPiece, d.bytes.size() - off);
    Check((*writer)->Write(aifs::ByteSpan(d.bytes.data() + off, n)), label + ": Write");
  }
  const auto tc = Clock::now();
  auto committed = (*writer)->Commit();
  Check(committed.status(), label + ": Commit");
  r.commit_s = Seconds(tc, Clock::now());
  m.Stop();
  r.s = m.wall;
  r.cpu = m.cpu;
  r.cores = m.Cores();
  r.others = m.OthersCores();
  r.id = committed->asset.id;
  r.chunks = committed->chunks_total;
  if (committed->asset.size != d.bytes.size()) Fail(label + ": committed size differs");
  Progress("put %s: %s %.3f GB/s", d.name.c_str(), label.c_str(), GBps(d.bytes.size(), r.s));
  return r;
}

struct GetStats {
  double s = 0, cpu = 0, cores = 0, others = 0;
  double resident = -1;  // share of the chunk objects cached before the read; -1: n/a
};

GetStats TimedGet(aifs::Api& api, const aifs::AssetId& id, const Dataset& d,
                  const std::string& store_dir, const std::string& label) {
  Progress("get: %s", label.c_str());
  GetStats r;
  if (!store_dir.empty()) r.resident = ResidentFractionTree(store_dir + "/chunks");
  SampledSum sum;
  PhaseMeter m;
  Check(api.ReadAsset("default", id, aifs::ReadRange{},
                      [&sum](aifs::ByteSpan piece) {
                        sum.Add(piece.data(), piece.size());
                        return aifs::Status::Ok();
                      }),
        label + ": ReadAsset");
  m.Stop();
  if (sum.bytes() != d.bytes.size() || sum.sum() != d.checksum)
    Fail(label + ": read-back mismatch (" + std::to_string(sum.bytes()) + " bytes)");
  r.s = m.wall;
  r.cpu = m.cpu;
  r.cores = m.Cores();
  r.others = m.OthersCores();
  return r;
}

RateStats StatRate(aifs::Api& api, const aifs::AssetId& id, uint64_t size, int threads,
                   double seconds, const std::string& label) {
  Progress("StatAsset: %s, %d thread(s)", label.c_str(), threads);
  return TimedRate(threads, seconds, [&](Rng&, int) {
    auto info = api.StatAsset("default", id, false);
    if (!info.ok()) Fail("StatAsset: " + info.status().ToString());
    if (info->size != size) Fail("StatAsset: wrong size");
  });
}

// ---------------------------------------------------------------------------
// Ceilings

struct Ceilings {
  double memcpy_gbps = 0;
  double blake3_gbps = 0;
  double tcp_gbps = 0;  // one loopback TCP stream, 1 MiB write()/read(), median
  std::vector<double> tcp_runs;
  double tcp_cpu_s_per_gb = 0;  // both ends, median run
  uint64_t tcp_bytes = 0;
  // zstd-1 on 1 MiB frames of each data set (rpc::FrameEncoder's policy)
  std::map<std::string, double> zstd_c_gbps, zstd_d_gbps, zstd_ratio;
};

// GB/s of one loopback TCP stream; *cpu_s gets both threads' CPU seconds.
double TcpLoopbackOnce(uint64_t bytes, double* cpu_s) {
  Fd lis(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (lis.get() < 0) Fail(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(lis.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(lis.get(), 1) != 0 ||
      ::getsockname(lis.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    Fail(std::string("bind/listen: ") + std::strerror(errno));
  std::vector<uint8_t> out(kMiB, 0x5a);
  Clock::time_point t0;
  std::thread sender([&] {
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    for (uint64_t left = bytes; left;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, out.size()));
      WriteFully(s.get(), out.data(), n, "tcp");
      left -= n;
    }
  });
  Fd conn(::accept4(lis.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (conn.get() < 0) {
    sender.join();
    Fail(std::string("accept: ") + std::strerror(errno));
  }
  std::vector<uint8_t> in(kMiB, 0);
  const double cpu0 = CpuSeconds();
  t0 = Clock::now();
  uint64_t got = 0;
  while (got < bytes) {
    ssize_t r = ::read(conn.get(), in.data(), in.size());
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<uint64_t>(r);
  }
  const double s = Seconds(t0, Clock::now());
  sender.join();
  *cpu_s = CpuSeconds() - cpu0;
  if (got != bytes) Fail("tcp loopback: short transfer");
  return GBps(bytes, s);
}

Ceilings MeasureCeilings(const Options& opt, const std::vector<Dataset>& sets) {
  Ceilings c;
  const Dataset& first = sets.front();
  const size_t n = std::min<size_t>(first.bytes.size(), kCeilingBuf);
  const aifs::ByteSpan src(first.bytes.data(), n);
  Progress("ceilings: memcpy, BLAKE3 over %zu MiB", n / kMiB);
  {
    std::vector<uint8_t> dst(n, 1);
    std::vector<double> t;
    for (int i = 0; i < 5; ++i) {
      auto t0 = Clock::now();
      std::memcpy(dst.data(), src.data(), n);
      t.push_back(Seconds(t0, Clock::now()));
      g_sink = g_sink + dst[n / 2];
    }
    c.memcpy_gbps = GBps(n, Median(t));
    t.clear();
    for (int i = 0; i < 5; ++i) {
      auto t0 = Clock::now();
      aifs::Digest dg = aifs::Blake3::Hash(src);
      t.push_back(Seconds(t0, Clock::now()));
      g_sink = g_sink + dg[0];
    }
    c.blake3_gbps = GBps(n, Median(t));
  }
  c.tcp_bytes = std::clamp<uint64_t>(opt.size_mib * kMiB, 256 * kMiB, 1024 * kMiB);
  Progress("ceilings: loopback TCP, one stream, %llu MiB x 3",
           static_cast<unsigned long long>(c.tcp_bytes / kMiB));
  std::vector<double> cpu;
  for (int i = 0; i < 3; ++i) {
    double cs = 0;
    c.tcp_runs.push_back(TcpLoopbackOnce(c.tcp_bytes, &cs));
    cpu.push_back(cs / (static_cast<double>(c.tcp_bytes) / 1e9));
  }
  c.tcp_gbps = Median(c.tcp_runs);
  c.tcp_cpu_s_per_gb = Median(cpu);
  for (const Dataset& d : sets) {
    Progress("ceilings: zstd-1 on 1 MiB frames of %s", d.name.c_str());
    const size_t m = std::min<size_t>(d.bytes.size(), kCeilingBuf);
    const aifs::CompressionPolicy policy{.level = 1, .min_saving = 0.05};
    std::vector<aifs::Bytes> frames;
    std::vector<size_t> raw_sizes;
    aifs::Bytes out;
    uint64_t wire = 0;
    auto t0 = Clock::now();
    for (size_t off = 0; off < m; off += kFrame) {
      aifs::ByteSpan in(d.bytes.data() + off, std::min(kFrame, m - off));
      const bool used = aifs::MaybeCompress(in, policy, out);
      wire += used ? out.size() : in.size();
      if (used) {
        frames.push_back(out);
        raw_sizes.push_back(in.size());
      }
    }
    const double cs = Seconds(t0, Clock::now());
    c.zstd_c_gbps[d.name] = GBps(m, cs);
    c.zstd_ratio[d.name] = static_cast<double>(wire) / static_cast<double>(m);
    if (!frames.empty()) {
      uint64_t raw = 0;
      t0 = Clock::now();
      for (size_t i = 0; i < frames.size(); ++i) {
        Check(aifs::Decompress(frames[i], raw_sizes[i], out), "Decompress");
        raw += raw_sizes[i];
      }
      c.zstd_d_gbps[d.name] = GBps(raw, Seconds(t0, Clock::now()));
    } else {
      c.zstd_d_gbps[d.name] = 0;
    }
  }
  return c;
}

// ---------------------------------------------------------------------------
// Reporting helpers

std::string Pct(double frac) { return frac < 0 ? "n/a" : Fmt("%.0f%%", frac * 100); }

// ---------------------------------------------------------------------------

struct PutRow {
  std::string dataset, path;
  bool zstd = false;
  PutStats st;
};

// The gRPC read path as it was before reads as stored: the server
// decompresses and hashes everything (RemoteOptions::stored_reads off).
constexpr const char* kServerDecodes = "gRPC, server decodes";

struct GetRow {
  std::string dataset, path;
  bool zstd = false;
  bool memory = false;
  GetStats first;
  std::vector<GetStats> cached;
  double cached_gbps = 0;  // median
  double wire_over_logical = -1;
};

struct RateRow {
  std::string path;
  RateStats r;
};

int Run(const Options& opt) {
  const ScratchDir scratch(opt.dir, "grpc-bench", /*announce=*/true);
  const std::string& run_dir = scratch.path();

  const unsigned hw = std::thread::hardware_concurrency();
  const size_t engine_threads = opt.engine_threads ? opt.engine_threads : (hw ? hw : 2);
  const uint64_t size = opt.size_mib * kMiB;
  const std::string started = NowUtc();
  const std::string fs_type = FsTypeName(run_dir);
  Progress("run directory %s (%s)", run_dir.c_str(), fs_type.c_str());
  const LoadSample load_start = SampleLoad(2.0);
  Progress("load at start: %s", DescribeLoad(load_start).c_str());

  std::vector<Dataset> sets;
  for (const std::string& name : opt.datasets) {
    Progress("generating %s, %llu MiB in memory", name.c_str(),
             static_cast<unsigned long long>(opt.size_mib));
    sets.push_back(MakeDataset(name, size));
  }
  const Dataset& main_set = sets.front();

  const Ceilings c = MeasureCeilings(opt, sets);

  // ---- the RAM-backed gRPC ceiling ----
  std::unique_ptr<RamEndpoint> mem;
  if (opt.memory_backend) mem = std::make_unique<RamEndpoint>(sets);

  // ---- puts ----
  // Per data set: engine A in-process; engine B behind the server (zstd
  // frames off; it is then read back over gRPC); engine C behind a second
  // server (zstd frames on; closed after the put). All fresh stores.
  std::vector<PutRow> puts;
  std::vector<std::unique_ptr<Endpoint>> stores_a, stores_b;
  std::vector<aifs::AssetId> ids_a, ids_b;
  for (size_t i = 0; i < sets.size(); ++i) {
    const Dataset& d = sets[i];
    auto a = EngineEndpoint(opt, run_dir + "/a-" + d.name, false);
    PutRow row{d.name, "in-process", false, TimedPut(*a->engine, d, "in-process")};
    puts.push_back(row);
    ids_a.push_back(row.st.id);

    auto b = EngineEndpoint(opt, run_dir + "/b-" + d.name, true);
    row = {d.name, "gRPC", false, TimedPut(b->Client(false), d, "gRPC, zstd frames off")};
    row.st.wire_over_logical = ScrapeWire(*b).in / static_cast<double>(size);
    if (row.st.id != ids_a.back()) Fail("gRPC put returned a different asset ID");
    puts.push_back(row);
    ids_b.push_back(row.st.id);

    {
      auto cc = EngineEndpoint(opt, run_dir + "/c-" + d.name, true);
      row = {d.name, "gRPC", true, TimedPut(cc->Client(true), d, "gRPC, zstd frames on")};
      row.st.wire_over_logical = ScrapeWire(*cc).in / static_cast<double>(size);
      puts.push_back(row);
    }
    if (mem) {
      for (bool z : {false, true}) {
        const double w0 = mem->aifs.wire_in();
        row = {d.name, "gRPC, RAM backend", z,
               TimedPut(mem->Client(z), d, Fmt("gRPC over RAM, zstd frames %s", z ? "on" : "off"))};
        row.st.wire_over_logical = (mem->aifs.wire_in() - w0) / static_cast<double>(size);
        puts.push_back(row);
      }
    }
    stores_a.push_back(std::move(a));
    stores_b.push_back(std::move(b));
  }

  // ---- full gets ----
  // First read of each store: its objects were written with O_DIRECT, so
  // this one comes (mostly) from the disk. Then --reps cached reads per path,
  // interleaved so drift in the machine's load hits every path alike.
  std::vector<GetRow> gets;
  if (opt.do_get) {
    for (size_t i = 0; i < sets.size(); ++i) {
      const Dataset& d = sets[i];
      Endpoint& a = *stores_a[i];
      Endpoint& b = *stores_b[i];
      std::vector<GetRow> rows;
      rows.push_back({d.name, "in-process", false, false, {}, {}, 0, -1});
      rows.push_back({d.name, "gRPC", false, false, {}, {}, 0, -1});
      rows.push_back({d.name, "gRPC", true, false, {}, {}, 0, -1});
      rows.push_back({d.name, kServerDecodes, false, false, {}, {}, 0, -1});
      rows.push_back({d.name, kServerDecodes, true, false, {}, {}, 0, -1});
      if (mem) {
        rows.push_back({d.name, "gRPC, RAM backend", false, true, {}, {}, 0, -1});
        rows.push_back({d.name, "gRPC, RAM backend", true, true, {}, {}, 0, -1});
      }
      auto read = [&](GetRow& row) {
        const std::string label = d.name + " " + row.path + (row.zstd ? " zstd" : "");
        if (row.path == "in-process") return TimedGet(*a.engine, ids_a[i], d, a.dir, label);
        if (row.memory) {
          const double w0 = mem->aifs.wire_out();
          GetStats g = TimedGet(mem->Client(row.zstd), mem->ids[i], d, "", label);
          row.wire_over_logical = (mem->aifs.wire_out() - w0) / static_cast<double>(size);
          return g;
        }
        const WireCounters w0 = ScrapeWire(b);
        GetStats g =
            TimedGet(b.Client(row.zstd, row.path != kServerDecodes), ids_b[i], d, b.dir, label);
        const WireCounters w1 = ScrapeWire(b);
        row.wire_over_logical = (w1.out - w0.out) / static_cast<double>(size);
        return g;
      };
      Progress("get %s: first reads (objects as the put left them)", d.name.c_str());
      // Both engine-backed first reads start from the same state (objects
      // written with O_DIRECT). The second gRPC row's "first" read is of
      // an already-read store, so it is only reported for completeness.
      for (GetRow& row : rows) row.first = read(row);
      for (int rep = 0; rep < opt.reps; ++rep) {
        Progress("get %s: cached reads, round %d/%d", d.name.c_str(), rep + 1, opt.reps);
        for (GetRow& row : rows) row.cached.push_back(read(row));
      }
      for (GetRow& row : rows) {
        std::vector<double> g;
        for (const GetStats& s : row.cached) g.push_back(GBps(size, s.s));
        row.cached_gbps = Median(g);
        Progress("get %s %s%s: first %.3f GB/s, cached %.3f GB/s", d.name.c_str(), row.path.c_str(),
                 row.zstd ? " zstd" : "", GBps(size, row.first.s), row.cached_gbps);
        gets.push_back(row);
      }
    }
  }

  // ---- StatAsset ----
  std::vector<RateRow> stats;
  if (opt.do_stat) {
    for (int t : opt.stat_threads) {
      Progress("StatAsset, %d thread(s), %.0f s per path", t, opt.stat_seconds);
      stats.push_back({"in-process", StatRate(*stores_a[0]->engine, ids_a[0], size, t,
                                              opt.stat_seconds, "in-process")});
      stats.push_back({"gRPC", StatRate(stores_b[0]->Client(false), ids_b[0], size, t,
                                        opt.stat_seconds, "gRPC")});
      if (mem)
        stats.push_back({"gRPC, RAM backend", StatRate(mem->Client(false), mem->ids[0], size, t,
                                                       opt.stat_seconds, "gRPC, RAM backend")});
    }
  }

  // ---- random and batched reads (the first data set) ----
  // Engine, server and client share this process: its peak RSS over these
  // phases, above what it held before (the data sets live in RAM), is what
  // serving random reads costs.
  auto dropper = [](aifs::Engine* e) { return [e] { aifs::DropReadCaches(e->store()); }; };
  std::vector<ReadPath> read_paths = {
      {"in-process", stores_a[0]->engine.get(), ids_a[0], stores_a[0]->dir + "/chunks",
       dropper(stores_a[0]->engine.get())},
      {"gRPC", &stores_b[0]->Client(false), ids_b[0], stores_b[0]->dir + "/chunks",
       dropper(stores_b[0]->engine.get())}};
  if (mem) read_paths.push_back({"gRPC, RAM backend", &mem->Client(false), mem->ids[0], "", {}});
  std::vector<RandRow> rands;
  std::vector<BatchRow> batches;
  std::vector<std::string> fio_commands;
  std::string fio_note;
  const uint64_t rss_before_reads = RssBytes();
  const bool peak_reset = ResetPeakRss();
  if (opt.do_rand) {
    std::string fio_file;
    if (!opt.reads.fio) {
      fio_note = "skipped (--no-fio)";
    } else if (std::system("command -v fio >/dev/null 2>&1") != 0) {
      fio_note = "fio not found: skipped (scripts/install-deps.sh installs it)";
    } else {
      fio_file = run_dir + "/fio.dat";
      Progress("fio: writing %llu MiB test file", static_cast<unsigned long long>(opt.size_mib));
      Fd fd(::open(fio_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      if (fd.get() < 0) Fail("create " + fio_file + ": " + std::strerror(errno));
      WriteFully(fd.get(), main_set.bytes.data(), main_set.bytes.size(), fio_file);
      if (::fsync(fd.get()) != 0) Fail("fsync " + fio_file);
    }
    rands = RunRandomReads(opt.reads, read_paths, main_set.bytes, fio_file, run_dir + "/fio.log");
    if (!fio_file.empty())
      for (size_t block : opt.reads.blocks)
        fio_commands.push_back(FioCommand(fio_file, size, block, 0, 1, opt.reads.seconds));
  }
  if (opt.do_batch) batches = RunBatchedReads(opt.reads, read_paths, main_set.bytes);
  const uint64_t rss_peak_reads = RssBytes(/*peak=*/true);

  // Shut everything down before the end-of-run load sample.
  mem.reset();
  stores_b.clear();
  stores_a.clear();
  const LoadSample load_end = SampleLoad(2.0);
  Progress("load at end: %s", DescribeLoad(load_end).c_str());

  // ---- markdown ----
  auto find_put = [&](const std::string& ds, const std::string& path, bool z) -> const PutRow* {
    for (const PutRow& p : puts)
      if (p.dataset == ds && p.path == path && (path == "in-process" || p.zstd == z)) return &p;
    return nullptr;
  };
  auto find_get = [&](const std::string& ds, const std::string& path, bool z) -> const GetRow* {
    for (const GetRow& g : gets)
      if (g.dataset == ds && g.path == path && (path == "in-process" || g.zstd == z)) return &g;
    return nullptr;
  };

  std::printf("# AIFS gRPC benchmark\n\n");
  std::printf("- started %s; CPU: %s; %u hardware threads\n", started.c_str(), CpuModel().c_str(),
              hw);
  std::printf("- machine load at start: %s\n", DescribeLoad(load_start).c_str());
  std::printf("- machine load at end: %s\n", DescribeLoad(load_end).c_str());
  std::printf(
      "- scratch: %s (%s); asset size %llu MiB (%.3f GB); engine threads %zu; chunking %s; "
      "segments of %u bytes; zstd level 1 in the stores\n",
      run_dir.c_str(), fs_type.c_str(), static_cast<unsigned long long>(opt.size_mib),
      static_cast<double>(size) / 1e9, engine_threads,
      opt.chunk_avg
          ? Fmt("{%u, %u, %u}", opt.chunk_avg / 4, opt.chunk_avg, opt.chunk_avg * 4).c_str()
          : "engine default",
      opt.segment_size);
  std::printf(
      "- **in-process** = aifs::Engine A on its own fresh data dir. **gRPC** = "
      "aifs::server::Server (plaintext, %s, sync gRPC, health probe every 1 h) "
      "in this process over Engine B on a second fresh data dir on the same filesystem, "
      "called through aifs::ConnectRemote; every put goes into a fresh store (no dedup). "
      "**gRPC, RAM backend** = the same client against a bare aifs.v1 gRPC server (generated "
      "services, the same frame codec, no engine, no metrics interceptor) that serves "
      "reads and stats from RAM and drops puts: the gRPC layer alone, i.e. the ceiling "
      "of the remote path here. Client, server and engines share this process and the "
      "machine's cores\n",
      opt.unix_socket ? "a unix-domain socket in its data dir" : "127.0.0.1:0");
  std::printf(
      "- GB/s = 1e9 bytes/s of asset bytes; \"cores\" = this process's CPU time / wall "
      "time (client + server + engine); \"others\" = cores used by other processes "
      "meanwhile (noise)\n\n");

  std::printf("## Ceilings (measured in this run)\n\n");
  std::printf("| operation | GB/s | notes |\n|---|---:|---|\n");
  std::printf("| memcpy (1 thread) | %.2f | %zu MiB, pre-faulted destination |\n", c.memcpy_gbps,
              std::min<size_t>(size, kCeilingBuf) / kMiB);
  std::printf(
      "| BLAKE3 (1 thread) | %.2f | a full read hashes every byte twice (chunk + asset ID) |\n",
      c.blake3_gbps);
  std::printf(
      "| loopback TCP, one stream | %.2f | %llu MiB in 1 MiB write()/read() from/to "
      "reused buffers, sender and receiver threads; runs %s; %.2f CPU s/GB (both ends) |\n",
      c.tcp_gbps, static_cast<unsigned long long>(c.tcp_bytes / kMiB),
      JoinDoubles(c.tcp_runs, "%.2f").c_str(), c.tcp_cpu_s_per_gb);
  for (const Dataset& d : sets)
    std::printf(
        "| zstd-1 compress / decompress, 1 MiB frames of %s (1 thread) | %.2f / %s | "
        "wire/raw %.3f (frames that save < 5%% are sent raw) |\n",
        d.name.c_str(), c.zstd_c_gbps.at(d.name),
        c.zstd_d_gbps.at(d.name) > 0 ? Fmt("%.2f", c.zstd_d_gbps.at(d.name)).c_str() : "n/a",
        c.zstd_ratio.at(d.name));
  std::printf("\n");

  std::printf("## Put (BeginPut, 4 MiB Write()s from RAM, Commit)\n\n");
  std::printf(
      "| data set | path | zstd frames | GB/s | / in-process | commit s | wire/logical | "
      "CPU s/GB | cores (others) |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n");
  for (const PutRow& p : puts) {
    const PutRow* base = find_put(p.dataset, "in-process", false);
    std::printf("| %s | %s | %s | %.3f | %.2f | %.3f | %s | %.2f | %.2f (%.2f) |\n",
                p.dataset.c_str(), p.path.c_str(),
                p.path == "in-process" ? "-" : (p.zstd ? "on" : "off"), GBps(size, p.st.s),
                Ratio(GBps(size, p.st.s), GBps(size, base->st.s)), p.st.commit_s,
                p.st.wire_over_logical < 0 ? "-" : Fmt("%.3f", p.st.wire_over_logical).c_str(),
                p.st.cpu / (static_cast<double>(size) / 1e9), p.st.cores, p.st.others);
  }
  std::printf("\n");

  if (opt.do_get) {
    std::printf(
        "## Get (full ReadAsset; goals: gRPC >= 0.9x in-process, in-process >= 0.5x "
        "single-thread BLAKE3)\n\n");
    std::printf(
        "| data set | path | zstd frames | first read GB/s (objects cached) | cached "
        "read GB/s (median of %d) | cached / in-process | / BLAKE3 | goal | "
        "wire/logical | CPU s/GB, cached | cores (others), cached |\n"
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|\n",
        opt.reps);
    for (const GetRow& g : gets) {
      const GetRow* base = find_get(g.dataset, "in-process", false);
      const double ratio = Ratio(g.cached_gbps, base->cached_gbps);
      std::vector<double> cores, others, cpu;
      for (const GetStats& s : g.cached) {
        cores.push_back(s.cores);
        others.push_back(s.others);
        cpu.push_back(s.cpu / (static_cast<double>(size) / 1e9));
      }
      const double over_b3 = Ratio(g.cached_gbps, c.blake3_gbps);
      const char* goal = g.path == "gRPC"         ? (ratio >= 0.9 ? "met" : "**missed**")
                         : g.path == "in-process" ? (over_b3 >= 0.5 ? "met" : "**missed**")
                                                  : "";
      std::printf(
          "| %s | %s | %s | %.3f (%s) | %.3f | %.2f | %.2f | %s | %s | %.2f | %.2f "
          "(%.2f) |\n",
          g.dataset.c_str(), g.path.c_str(), g.path == "in-process" ? "-" : (g.zstd ? "on" : "off"),
          GBps(size, g.first.s), Pct(g.first.resident).c_str(), g.cached_gbps, ratio, over_b3, goal,
          g.wire_over_logical < 0 ? "-" : Fmt("%.3f", g.wire_over_logical).c_str(), Median(cpu),
          Median(cores), Median(others));
    }
    std::printf(
        "\nFirst reads: in-process and the first gRPC row start from the same state "
        "(chunk objects as the put wrote them, O_DIRECT, mostly uncached); later rows "
        "read an already-read store. All cached reads, per path: ");
    for (const GetRow& g : gets) {
      std::vector<double> v;
      for (const GetStats& s : g.cached) v.push_back(GBps(size, s.s));
      std::printf("%s %s%s [%s]; ", g.dataset.c_str(), g.path.c_str(),
                  g.path == "in-process" ? "" : (g.zstd ? " zstd" : " raw"),
                  JoinDoubles(v).c_str());
    }
    std::printf("\n\n");
  }

  if (opt.do_stat) {
    std::printf("## StatAsset (GetAsset without chunks) calls per second\n\n");
    std::printf(
        "| threads | path | calls/s | / in-process | P50 µs | P99 µs | CPU µs/call | "
        "context switches/call | cores (others) |\n"
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const RateRow& s : stats) {
      double base = 0;
      for (const RateRow& x : stats)
        if (x.path == "in-process" && x.r.threads == s.r.threads) base = x.r.ops_per_s;
      std::printf("| %d | %s | %.0f | %.3f | %.1f | %.1f | %.1f | %.2f | %.2f (%.2f) |\n",
                  s.r.threads, s.path.c_str(), s.r.ops_per_s, Ratio(s.r.ops_per_s, base),
                  s.r.p50_us, s.r.p99_us, s.r.cpu_us_per_op, s.r.csw_per_op, s.r.cores, s.r.others);
    }
    std::printf("\nOne gRPC channel (one HTTP/2 connection) shared by all client threads.\n\n");
  }

  Json rand_json = Json::array(), batch_json = Json::array();
  if (opt.do_rand) {
    rand_json = PrintRandomReads(opt.reads, rands, fio_commands);
    if (!fio_note.empty()) std::printf("fio: %s\n\n", fio_note.c_str());
  }
  if (opt.do_batch) batch_json = PrintBatchedReads(opt.reads, batches);
  if (opt.do_rand || opt.do_batch)
    std::printf(
        "Resident memory of this process (client, server, both engines, the data sets): "
        "%.0f MiB before the random and batched reads, peak %.0f MiB during them (+%.0f "
        "MiB)%s.\n\n",
        static_cast<double>(rss_before_reads) / kMiB, static_cast<double>(rss_peak_reads) / kMiB,
        (static_cast<double>(rss_peak_reads) - static_cast<double>(rss_before_reads)) / kMiB,
        peak_reset ? "" : " (the peak could not be reset: it may predate these phases)");

  // ---- JSON ----
  Json j;
  j["bench"] = "aifs_grpc_bench";
  j["started"] = started;
  j["cpu"] = CpuModel();
  j["hw_threads"] = hw;
  j["fs"] = fs_type;
  j["size_mib"] = opt.size_mib;
  j["engine_threads"] = engine_threads;
  j["chunk_avg"] = opt.chunk_avg;
  j["segment_size"] = opt.segment_size;
  j["load_start"] = LoadJson(load_start);
  j["load_end"] = LoadJson(load_end);
  Json zj = Json::object();
  for (const Dataset& d : sets)
    zj[d.name] = {{"compress_gbps", c.zstd_c_gbps.at(d.name)},
                  {"decompress_gbps", c.zstd_d_gbps.at(d.name)},
                  {"wire_over_raw", c.zstd_ratio.at(d.name)}};
  j["ceilings"] = {{"memcpy_gbps", c.memcpy_gbps},           {"blake3_gbps", c.blake3_gbps},
                   {"tcp_loopback_gbps", c.tcp_gbps},        {"tcp_runs_gbps", c.tcp_runs},
                   {"tcp_cpu_s_per_gb", c.tcp_cpu_s_per_gb}, {"zstd1_frames", zj}};
  Json pj = Json::array();
  for (const PutRow& p : puts)
    pj.push_back({{"dataset", p.dataset},
                  {"path", p.path},
                  {"zstd", p.zstd},
                  {"gbps", GBps(size, p.st.s)},
                  {"seconds", p.st.s},
                  {"commit_s", p.st.commit_s},
                  {"wire_over_logical", p.st.wire_over_logical},
                  {"cpu_s", p.st.cpu},
                  {"cores", p.st.cores},
                  {"others_cores", p.st.others},
                  {"chunks", p.st.chunks}});
  j["put"] = pj;
  Json gj = Json::array();
  for (const GetRow& g : gets) {
    std::vector<double> v, cpu;
    for (const GetStats& s : g.cached) {
      v.push_back(GBps(size, s.s));
      cpu.push_back(s.cpu);
    }
    const GetRow* base = find_get(g.dataset, "in-process", false);
    gj.push_back({{"dataset", g.dataset},
                  {"path", g.path},
                  {"zstd", g.zstd},
                  {"first_gbps", GBps(size, g.first.s)},
                  {"first_objects_cached", g.first.resident},
                  {"cached_gbps", g.cached_gbps},
                  {"cached_runs_gbps", v},
                  {"cached_runs_cpu_s", cpu},
                  {"first_cpu_s", g.first.cpu},
                  {"cached_over_in_process", Ratio(g.cached_gbps, base->cached_gbps)},
                  {"wire_over_logical", g.wire_over_logical}});
  }
  j["get"] = gj;
  Json sj = Json::array();
  for (const RateRow& s : stats) {
    Json x = RateJson(s.r);
    x["path"] = s.path;
    sj.push_back(x);
  }
  j["stat"] = sj;
  j["random_reads"] = rand_json;
  j["batched_reads"] = batch_json;
  j["rss_before_reads"] = rss_before_reads;
  j["rss_peak_reads"] = rss_peak_reads;
  std::printf("JSON: %s\n", j.dump().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  aifs::rpc::SkipMutexDeadlockDetection();  // as the aifs CLI does
  aifs::bench::g_progress_name = "grpc_bench";
  aifs::bench::g_progress_stamped = true;
  return aifs::bench::RunBench("aifs_grpc_bench", [&] { return Run(ParseArgs(argc, argv)); });
}
