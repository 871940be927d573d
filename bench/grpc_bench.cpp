// aifs_grpc_bench: the same aifs::Api calls in-process (Engine) and over
// loopback gRPC (aifs::server::Server + aifs::ConnectRemote in the same
// process), on the same data in one run, next to the machine's ceilings
// measured in the same run (memcpy, BLAKE3, one loopback TCP stream, zstd-1,
// the gRPC layer over a RAM-backed Api) and `fio` 4 KiB random reads.
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
#include "aifs/server/server.h"
#include "aifs/storage/compression.h"
#include "aifs/v1/aifs.grpc.pb.h"
#include "bench_util.h"

namespace {

using namespace aifs::bench;

aifs::RemoteOptions::Zstd ZstdMode(bool on) {
  return on ? aifs::RemoteOptions::Zstd::kOn : aifs::RemoteOptions::Zstd::kOff;
}

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr size_t kPutPiece = 4 * kMiB;     // AssetWriter::Write granularity
constexpr size_t kFrame = 1 * kMiB;        // aifs::rpc::kMaxFrameBytes
constexpr size_t kBlock = 4096;            // random-read size
constexpr size_t kCeilingBuf = 256 * kMiB; // in-memory ceiling buffer (capped by --size-mib)

// ---------------------------------------------------------------------------
// Machine load: other processes' CPU over a short window, and who used it.

struct LoadSample {
  std::string loadavg;
  double window_s = 0;
  double others_cores = 0;  // CPU cores busy with other processes
  std::vector<std::pair<std::string, double>> top;  // "comm[pid]" -> cores
};

std::map<int, std::pair<std::string, double>> ProcessCpu() {
  std::map<int, std::pair<std::string, double>> out;
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end) continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t l = s.find('('), r = s.rfind(')');
    if (l == std::string::npos || r == std::string::npos || r < l) continue;
    std::vector<std::string> fields;
    size_t pos = r + 2;
    while (pos < s.size() && fields.size() < 13) {
      size_t sp = s.find(' ', pos);
      if (sp == std::string::npos) sp = s.size();
      fields.push_back(s.substr(pos, sp - pos));
      pos = sp + 1;
    }
    if (fields.size() < 13) continue;  // fields[11] utime, fields[12] stime
    const double cpu = (std::strtod(fields[11].c_str(), nullptr) +
                        std::strtod(fields[12].c_str(), nullptr)) / hz;
    out[static_cast<int>(pid)] = {s.substr(l + 1, r - l - 1), cpu};
  }
  ::closedir(d);
  return out;
}

LoadSample SampleLoad(double seconds) {
  LoadSample ls;
  ls.loadavg = LoadAvg();
  const int self = ::getpid();
  auto before = ProcessCpu();
  const double sys0 = SystemBusySeconds(), cpu0 = CpuSeconds(), child0 = CpuSeconds(RUSAGE_CHILDREN);
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  auto after = ProcessCpu();
  ls.window_s = Seconds(t0, Clock::now());
  const double ours = CpuSeconds() - cpu0 + CpuSeconds(RUSAGE_CHILDREN) - child0;
  ls.others_cores = std::max(0.0, SystemBusySeconds() - sys0 - ours) / ls.window_s;
  std::vector<std::pair<std::string, double>> users;
  for (const auto& [pid, v] : after) {
    if (pid == self) continue;
    auto it = before.find(pid);
    const double used = v.second - (it == before.end() ? 0.0 : it->second.second);
    if (used > 0) users.push_back({v.first + "[" + std::to_string(pid) + "]", used / ls.window_s});
  }
  std::sort(users.begin(), users.end(), [](auto& a, auto& b) { return a.second > b.second; });
  if (users.size() > 5) users.resize(5);
  ls.top = std::move(users);
  return ls;
}

std::string DescribeLoad(const LoadSample& l) {
  std::string top;
  for (const auto& [name, cores] : l.top) top += (top.empty() ? "" : ", ") + Fmt("%s %.2f", name.c_str(), cores);
  return Fmt("loadavg %s; other processes used %.2f cores over %.1f s%s%s", l.loadavg.c_str(),
             l.others_cores, l.window_s, top.empty() ? "" : ": ", top.c_str());
}

Json LoadJson(const LoadSample& l) {
  Json top = Json::array();
  for (const auto& [name, cores] : l.top) top.push_back({{"process", name}, {"cores", cores}});
  return {{"loadavg", l.loadavg}, {"window_s", l.window_s}, {"others_cores", l.others_cores},
          {"top", top}};
}

// ---------------------------------------------------------------------------
// Options

struct Options {
  uint64_t size_mib = 1024;
  std::string dir = "/var/tmp/aifs-grpc-bench";
  std::vector<std::string> datasets = {"random", "text"};
  std::vector<int> stat_threads = {1, 4, 16};
  double stat_seconds = 3;
  std::vector<int> rand_threads = {1};
  double rand_seconds = 10;
  int reps = 3;             // cached full reads per path (median reported)
  size_t engine_threads = 0;
  uint32_t chunk_avg = 0;   // 0: engine default
  bool fio = true;
  bool memory_backend = true;
  bool do_get = true, do_stat = true, do_rand = true;
};

void Usage(FILE* out) {
  std::fputs(
      "usage: aifs_grpc_bench [options]\n"
      "  --size-mib N           asset size in MiB (default 1024)\n"
      "  --dir PATH             scratch directory (default /var/tmp/aifs-grpc-bench); a\n"
      "                         run directory is made inside it and removed at exit\n"
      "  --datasets LIST        random,text (default both; the first is used for the\n"
      "                         StatAsset and random-read phases)\n"
      "  --phases LIST          subset of get,stat,rand to run after the puts (default all)\n"
      "  --stat-threads LIST    client threads for StatAsset (default 1,4,16)\n"
      "  --stat-seconds S       duration of each StatAsset run (default 3)\n"
      "  --rand-threads LIST    threads for 4 KiB random reads, also fio numjobs (default 1)\n"
      "  --rand-seconds S       duration of each random-read run (default 10)\n"
      "  --reps N               cached full reads per path, median reported (default 3)\n"
      "  --engine-threads N     EngineOptions.threads (default 0 = one per core)\n"
      "  --chunk-avg BYTES      chunking {avg/4, avg, avg*4} (default: engine default)\n"
      "  --no-fio               skip the fio runs\n"
      "  --no-memory-backend    skip the gRPC-over-RAM ceiling\n"
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
      o.do_get = o.do_stat = o.do_rand = false;
      for (const std::string& p : SplitList(value())) {
        if (p == "get") o.do_get = true;
        else if (p == "stat") o.do_stat = true;
        else if (p == "rand") o.do_rand = true;
        else if (p != "put") Fail("unknown phase '" + p + "' (get, stat, rand)");
      }
    } else if (a == "--stat-threads") {
      o.stat_threads = ParseIntList(a, value());
    } else if (a == "--stat-seconds") {
      o.stat_seconds = ParseDouble(a, value());
    } else if (a == "--rand-threads") {
      o.rand_threads = ParseIntList(a, value());
    } else if (a == "--rand-seconds") {
      o.rand_seconds = ParseDouble(a, value());
    } else if (a == "--reps") {
      o.reps = static_cast<int>(std::clamp<uint64_t>(ParseU64(a, value()), 1, 50));
    } else if (a == "--engine-threads") {
      o.engine_threads = ParseU64(a, value());
    } else if (a == "--chunk-avg") {
      const uint64_t avg = ParseU64(a, value());
      if (avg < 1024 || avg * 4 > 64 * kMiB) Fail("--chunk-avg must be in [1024, 16 MiB]");
      o.chunk_avg = static_cast<uint32_t>(avg);
    } else if (a == "--no-fio") {
      o.fio = false;
    } else if (a == "--no-memory-backend") {
      o.memory_backend = false;
    } else {
      Usage(stderr);
      Fail("unknown argument '" + a + "'");
    }
  }
  return o;
}

// ---------------------------------------------------------------------------
// Data sets, generated in memory (puts stream from RAM, so the source costs
// nothing and both paths see identical bytes).

// Application-log-like text: timestamps, levels, services, words drawn with a
// strong skew from a 3000-word vocabulary, numbers. zstd -1 stores it at
// roughly a third of its size (the run prints the measured ratio).
class TextGen {
 public:
  explicit TextGen(uint64_t seed) : rng_(seed) {
    static const char kLetters[] = "etaoinshrdlucmfwypvbgkjqxz";
    while (vocab_.size() < 3000) {
      std::string w;
      const uint32_t len = 2 + rng_.Below(5) + rng_.Below(5);
      for (uint32_t i = 0; i < len; ++i) {
        const double u = rng_.Uniform();
        w += kLetters[static_cast<size_t>(u * u * 26)];
      }
      vocab_.push_back(std::move(w));
    }
    for (int i = 0; i < 16; ++i) services_.push_back(Word() + "-" + Word());
  }

  void Fill(uint8_t* dst, size_t n) {
    size_t done = 0;
    while (done < n) {
      if (pos_ == line_.size()) {
        line_.clear();
        pos_ = 0;
        Line();
      }
      const size_t take = std::min(n - done, line_.size() - pos_);
      std::memcpy(dst + done, line_.data() + pos_, take);
      pos_ += take;
      done += take;
    }
  }

 private:
  const std::string& Word() {
    const double u = rng_.Uniform();
    return vocab_[static_cast<size_t>(u * u * u * static_cast<double>(vocab_.size()))];
  }
  void Num(uint64_t v) {
    char b[24];
    auto r = std::to_chars(b, b + sizeof b, v);
    line_.append(b, r.ptr);
  }
  void Line() {
    ms_ += rng_.Below(50);
    const uint64_t s = ms_ / 1000;
    char ts[48];
    std::snprintf(ts, sizeof ts, "2026-12-%02u %02u:%02u:%02u.%03u ",
                  static_cast<unsigned>(1 + s / 86400 % 28), static_cast<unsigned>(s / 3600 % 24),
                  static_cast<unsigned>(s / 60 % 60), static_cast<unsigned>(s % 60),
                  static_cast<unsigned>(ms_ % 1000));
    line_ += ts;
    const uint32_t lvl = rng_.Below(100);
    line_ += lvl < 80 ? "INFO " : lvl < 92 ? "DEBUG " : lvl < 98 ? "WARN " : "ERROR ";
    line_ += services_[rng_.Below(static_cast<uint32_t>(services_.size()))];
    line_ += ": ";
    for (uint32_t i = 0, k = 4 + rng_.Below(12); i < k; ++i) {
      line_ += Word();
      line_ += ' ';
    }
    line_ += "id=";
    Num(rng_.Next() >> 44);
    line_ += " ms=";
    Num(rng_.Below(1u << rng_.Below(12)));
    line_ += '\n';
  }

  Rng rng_;
  std::vector<std::string> vocab_, services_;
  std::string line_;
  size_t pos_ = 0;
  uint64_t ms_ = 0;
};

struct Dataset {
  std::string name;
  std::vector<uint8_t> bytes;
  uint64_t checksum = 0;
  double gen_s = 0;
};

Dataset MakeDataset(const std::string& name, uint64_t size) {
  Dataset d;
  d.name = name;
  const auto t0 = Clock::now();
  d.bytes.resize(size);
  if (name == "random") {
    Rng rng(0x5EED0001);
    FillRandom(d.bytes.data(), d.bytes.size(), rng);
  } else {
    TextGen gen(0x5EED0002);
    gen.Fill(d.bytes.data(), d.bytes.size());
  }
  SampledSum sum;
  sum.Add(d.bytes.data(), d.bytes.size());
  d.checksum = sum.sum();
  d.gen_s = Seconds(t0, Clock::now());
  return d;
}

// ---------------------------------------------------------------------------
// The gRPC layer alone: a bare aifs.v1 server (generated services; every
// method the benchmark does not call answers UNIMPLEMENTED) that serves
// ReadAsset and GetAsset from RAM and counts and drops puts, with the same
// frame encoding (rpc::FrameEncoder / DecodeFrame) as the real server. The
// real client (ConnectRemote) talks to it. What it reaches is the ceiling of
// the remote path on this machine: client + protobuf + HTTP/2 + loopback
// TCP + frame codec, without an engine (and without the real server's
// metrics interceptor). It is written against the generated services, not
// against aifs::Api, so it keeps compiling while the Api grows.

class RamAifsService final : public aifs::v1::Aifs::Service {
 public:
  // Returns the ID under which `d` is served.
  std::string Add(const Dataset& d) {
    std::string id(aifs::AssetId::kSize, '\0');
    id[0] = static_cast<char>(assets_.size() + 1);
    assets_.push_back({id, &d});
    return id;
  }

  grpc::Status GetAsset(grpc::ServerContext*, const aifs::v1::GetAssetRequest* req,
                        aifs::v1::GetAssetResponse* resp) override {
    const Dataset* d = Find(req->id());
    if (!d) return grpc::Status(grpc::StatusCode::NOT_FOUND, "not in the RAM backend");
    auto* a = resp->mutable_asset();
    a->set_ns(req->ns());
    a->set_id(req->id());
    a->set_kind(aifs::v1::ASSET_KIND_BLOB);
    a->set_size(d->bytes.size());
    a->set_chunk_count(d->bytes.size() / kMiB);
    (*a->mutable_metadata())["bench"] = "grpc";
    (*a->mutable_metadata())["dataset"] = d->name;
    return grpc::Status::OK;
  }

  grpc::Status ReadAsset(grpc::ServerContext* ctx, const aifs::v1::ReadAssetRequest* req,
                         grpc::ServerWriter<aifs::v1::ReadAssetResponse>* writer) override {
    const Dataset* d = Find(req->id());
    if (!d) return grpc::Status(grpc::StatusCode::NOT_FOUND, "not in the RAM backend");
    const uint64_t size = d->bytes.size();
    if (req->offset() > size) return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "offset");
    const uint64_t len = req->has_length() ? req->length() : size;
    const uint64_t end = size - req->offset() < len ? size : req->offset() + len;
    aifs::rpc::FrameEncoder encoder(req->accept_zstd());
    aifs::v1::ReadAssetResponse frame;
    const auto options = grpc::WriteOptions().set_no_compression();
    for (uint64_t off = req->offset(); off < end;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(end - off, aifs::rpc::kMaxFrameBytes));
      frame.set_offset(off);
      encoder.Encode(aifs::ByteSpan(d->bytes.data() + off, n), frame.mutable_data());
      if (!writer->Write(frame, options) || ctx->IsCancelled())
        return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      off += n;
    }
    wire_out_ += encoder.wire_bytes();
    return grpc::Status::OK;
  }

  grpc::Status PutAsset(grpc::ServerContext*, grpc::ServerReader<aifs::v1::PutAssetRequest>* reader,
                        aifs::v1::PutAssetResponse* resp) override {
    aifs::v1::PutAssetRequest msg;
    if (!reader->Read(&msg) || !msg.has_header())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no header");
    const std::string ns = msg.header().ns();
    aifs::Bytes scratch;
    uint64_t bytes = 0;
    for (;;) {
      if (!reader->Read(&msg)) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "truncated");
      if (msg.has_finish()) break;
      auto raw = aifs::rpc::DecodeFrame(msg.data(), scratch);
      if (!raw.ok()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, raw.status().message());
      wire_in_ += msg.data().data().size();
      bytes += raw->size();
      if (!raw->empty()) g_sink = g_sink + (*raw)[0];
    }
    auto* a = resp->mutable_asset();
    a->set_ns(ns);
    a->set_id(std::string(aifs::AssetId::kSize, '\0'));
    a->set_kind(aifs::v1::ASSET_KIND_BLOB);
    a->set_size(bytes);
    resp->set_created(true);
    return grpc::Status::OK;
  }

  double wire_in() const { return static_cast<double>(wire_in_.load()); }
  double wire_out() const { return static_cast<double>(wire_out_.load()); }

 private:
  const Dataset* Find(const std::string& id) const {
    for (const auto& [aid, d] : assets_)
      if (aid == id) return d;
    return nullptr;
  }
  std::vector<std::pair<std::string, const Dataset*>> assets_;
  std::atomic<uint64_t> wire_in_{0}, wire_out_{0};
};

class RamIntrospectService final : public aifs::v1::Introspect::Service {
 public:
  grpc::Status GetInfo(grpc::ServerContext*, const aifs::v1::Empty*,
                       aifs::v1::StoreInfo* resp) override {
    resp->set_version("bench");
    resp->set_data_dir("(RAM)");
    resp->add_features("zstd-frames");
    resp->set_max_frame_bytes(static_cast<uint32_t>(aifs::rpc::kMaxFrameBytes));
    return grpc::Status::OK;
  }
};

struct RamEndpoint {
  RamAifsService aifs;
  RamIntrospectService introspect;
  std::unique_ptr<grpc::Server> server;
  std::string target;
  std::unique_ptr<aifs::Api> raw, zstd;  // the real RemoteApi, zstd frames off / on
  std::vector<aifs::AssetId> ids;        // one per data set

  RamEndpoint(const std::vector<Dataset>& sets) {
    for (const Dataset& d : sets) {
      auto id = aifs::AssetId::FromBytes(aifs::AsBytes(aifs.Add(d)));
      if (!id) Fail("RAM backend: bad asset ID");
      ids.push_back(*id);
    }
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.SetMaxReceiveMessageSize(8 << 20);  // as the real server
    builder.RegisterService(&aifs);
    builder.RegisterService(&introspect);
    server = builder.BuildAndStart();
    if (!server || port == 0) Fail("RAM backend: cannot listen on 127.0.0.1:0");
    target = "127.0.0.1:" + std::to_string(port);
    for (bool z : {false, true}) {
      auto client = aifs::ConnectRemote(aifs::RemoteOptions{.target = target, .zstd = ZstdMode(z)});
      Check(client.status(), "ConnectRemote " + target);
      (z ? zstd : raw) = std::move(client).value();
    }
  }
  ~RamEndpoint() {
    raw.reset();
    zstd.reset();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server->Wait();
  }
  aifs::Api& Client(bool z) { return z ? *zstd : *raw; }
};

// ---------------------------------------------------------------------------
// Stores and servers

aifs::server::ServerOptions BenchServerOptions() {
  aifs::server::ServerOptions so;
  so.listen = "127.0.0.1:0";
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
  std::unique_ptr<aifs::Api> raw;   // zstd frames off
  std::unique_ptr<aifs::Api> zstd;  // zstd frames forced on (loopback defaults to off)

  ~Endpoint() {
    raw.reset();
    zstd.reset();
    if (server) server->Shutdown(std::chrono::milliseconds(1000));
  }
  aifs::Api& Client(bool z) { return z ? *zstd : *raw; }
};

std::unique_ptr<aifs::Engine> OpenFreshEngine(const Options& opt, const std::string& dir) {
  aifs::ChunkerParams params;
  if (opt.chunk_avg) params = {opt.chunk_avg / 4, opt.chunk_avg, opt.chunk_avg * 4};
  Check(params.Validate(), "chunk parameters");
  Check(aifs::Engine::Init(dir, aifs::InitOptions{.chunking = params, .zstd_level = 1}),
        "Engine::Init " + dir);
  auto opened = aifs::Engine::Open(
      aifs::EngineOptions{.data_dir = dir, .read_only = false, .threads = opt.engine_threads});
  Check(opened.status(), "Engine::Open " + dir);
  return std::move(opened).value();
}

void Serve(Endpoint& ep, aifs::Api& api) {
  // Calls carry a token, as in production: its check is part of what is timed.
  auto made = ep.engine->RotateTokenRoot({});
  Check(made.status(), "token root key");
  const std::string token = made->token;
  auto options = BenchServerOptions();
  options.tokens = &ep.engine->tokens();
  auto started = aifs::server::Server::Start(api, options);
  Check(started.status(), "Server::Start");
  ep.server = std::move(started).value();
  ep.target = "127.0.0.1:" + std::to_string(ep.server->port());
  for (bool z : {false, true}) {
    auto client = aifs::ConnectRemote(
        aifs::RemoteOptions{.target = ep.target, .zstd = ZstdMode(z), .token = token});
    Check(client.status(), "ConnectRemote " + ep.target);
    (z ? ep.zstd : ep.raw) = std::move(client).value();
  }
}

std::unique_ptr<Endpoint> EngineEndpoint(const Options& opt, const std::string& dir, bool serve) {
  auto ep = std::make_unique<Endpoint>();
  ep->dir = dir;
  ep->engine = OpenFreshEngine(opt, dir);
  if (serve) Serve(*ep, *ep->engine);
  return ep;
}

// Data-frame bytes a server moved (after zstd), from its Metrics service.
struct WireCounters {
  double in = 0, out = 0;
};

WireCounters ScrapeWire(const std::string& target) {
  WireCounters w;
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = aifs::v1::Metrics::NewStub(channel);
  grpc::ClientContext ctx;
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

// Ops per second and latency of `op` run by `threads` threads for `seconds`.
struct RateStats {
  int threads = 0;
  uint64_t ops = 0;
  double s = 0, ops_per_s = 0, p50_us = 0, p99_us = 0, mean_us = 0, cores = 0, others = 0;
  double cpu_us_per_op = 0;  // this process's CPU per call (client + server + engine)
  double csw_per_op = 0;     // this process's context switches per call
  double resident = -1;
};

template <typename Op>  // void(Rng&, int thread)
RateStats TimedRate(int threads, double seconds, Op op) {
  RateStats r;
  r.threads = threads;
  std::vector<std::vector<uint32_t>> lat(static_cast<size_t>(threads));
  std::atomic<bool> stop{false};
  std::latch ready(threads + 1);
  std::vector<std::thread> pool;
  std::vector<std::string> errors(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      auto& mine = lat[static_cast<size_t>(t)];
      mine.reserve(1 << 20);
      Rng rng(0xABCD0000 + static_cast<uint64_t>(t));
      ready.arrive_and_wait();
      try {
        while (!stop.load(std::memory_order_relaxed)) {
          const auto t0 = Clock::now();
          op(rng, t);
          const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
          mine.push_back(static_cast<uint32_t>(std::min<int64_t>(ns, UINT32_MAX)));
        }
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(t)] = e.what();
        stop = true;
      }
    });
  ready.arrive_and_wait();
  PhaseMeter m;
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (!stop.load() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  for (auto& th : pool) th.join();
  m.Stop();
  for (const std::string& e : errors)
    if (!e.empty()) Fail(e);
  std::vector<uint32_t> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  r.ops = all.size();
  r.s = m.wall;
  r.ops_per_s = static_cast<double>(r.ops) / m.wall;
  r.cores = m.Cores();
  r.others = m.OthersCores();
  r.cpu_us_per_op = r.ops ? m.cpu / static_cast<double>(r.ops) * 1e6 : 0;
  r.csw_per_op = r.ops ? m.csw / static_cast<double>(r.ops) : 0;
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      const size_t i = std::min(all.size() - 1, static_cast<size_t>(p * static_cast<double>(all.size())));
      return all[i] / 1e3;
    };
    r.p50_us = pct(0.50);
    r.p99_us = pct(0.99);
    double total = 0;
    for (uint32_t x : all) total += x;
    r.mean_us = total / static_cast<double>(all.size()) / 1e3;
  }
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

RateStats RandReadRate(aifs::Api& api, const aifs::AssetId& id, uint64_t size, int threads,
                       double seconds, const std::string& label) {
  Progress("4 KiB random ReadAsset: %s, %d thread(s)", label.c_str(), threads);
  const uint32_t blocks = static_cast<uint32_t>(size / kBlock);
  std::vector<std::vector<uint8_t>> bufs(static_cast<size_t>(threads), std::vector<uint8_t>(kBlock));
  return TimedRate(threads, seconds, [&, blocks](Rng& rng, int t) {
    const uint64_t off = uint64_t{rng.Below(blocks)} * kBlock;
    uint8_t* buf = bufs[static_cast<size_t>(t)].data();
    size_t got = 0;
    Check(api.ReadAsset("default", id, aifs::ReadRange{off, kBlock},
                        [&](aifs::ByteSpan piece) {
                          if (got + piece.size() > kBlock) return aifs::err::Internal("X", "too much");
                          std::memcpy(buf + got, piece.data(), piece.size());
                          got += piece.size();
                          return aifs::Status::Ok();
                        }),
          "ReadAsset 4 KiB");
    if (got != kBlock) Fail("ReadAsset 4 KiB returned " + std::to_string(got) + " bytes");
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
// fio 4 KiB random reads

struct FioResult {
  bool ran = false;
  std::string error;
  int direct = 0;
  int jobs = 1;
  double iops = 0, p50_us = 0, p99_us = 0, mean_us = 0, cores = 0, others = 0;
  double resident = 0;
  std::string command;
};

FioResult RunFio(const std::string& file, uint64_t size, int direct, int jobs, double seconds,
                 const std::string& log) {
  FioResult r;
  r.direct = direct;
  r.jobs = jobs;
  r.resident = ResidentFraction(file);
  r.command = Fmt("fio --name=randread --filename=%s --rw=randread --bs=4k --ioengine=psync "
                  "--direct=%d --size=%llu --numjobs=%d --group_reporting --time_based "
                  "--runtime=%.0fs --invalidate=0 --norandommap --randrepeat=0 "
                  "--lat_percentiles=1 --output-format=json",
                  file.c_str(), direct, static_cast<unsigned long long>(size), jobs,
                  std::max(1.0, std::round(seconds)));
  Progress("fio: %s", r.command.c_str());
  PhaseMeter m;
  FILE* p = ::popen((r.command + " 2>>" + log).c_str(), "r");
  if (!p) {
    r.error = std::string("popen: ") + std::strerror(errno);
    return r;
  }
  std::string out;
  char buf[4096];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
  const int rc = ::pclose(p);
  m.Stop();
  if (rc != 0) {
    r.error = "fio exited with status " + std::to_string(rc);
    return r;
  }
  const size_t brace = out.find('{');  // fio may print notes before the JSON
  if (brace == std::string::npos) {
    r.error = "no JSON in fio output";
    return r;
  }
  try {
    Json j = Json::parse(out.substr(brace));
    const Json& rd = j.at("jobs").at(0).at("read");
    r.iops = rd.at("iops").get<double>();
    const Json& lat = rd.contains("lat_ns") && rd["lat_ns"].contains("percentile") ? rd["lat_ns"]
                                                                                   : rd.at("clat_ns");
    r.mean_us = lat.at("mean").get<double>() / 1e3;
    r.p50_us = lat.at("percentile").at("50.000000").get<double>() / 1e3;
    r.p99_us = lat.at("percentile").at("99.000000").get<double>() / 1e3;
  } catch (const std::exception& e) {
    r.error = std::string("parsing fio JSON: ") + e.what();
    return r;
  }
  r.cores = Ratio(m.child, m.wall);
  r.others = m.OthersCores();
  r.ran = true;
  return r;
}

// ---------------------------------------------------------------------------
// Reporting helpers

std::string Pct(double frac) { return frac < 0 ? "n/a" : Fmt("%.0f%%", frac * 100); }

Json RateJson(const RateStats& r) {
  return {{"threads", r.threads}, {"ops", r.ops}, {"seconds", r.s}, {"ops_per_s", r.ops_per_s},
          {"p50_us", r.p50_us},   {"p99_us", r.p99_us}, {"mean_us", r.mean_us},
          {"cores", r.cores},     {"others_cores", r.others}, {"cpu_us_per_op", r.cpu_us_per_op}, {"csw_per_op", r.csw_per_op},
          {"objects_cached", r.resident}};
}

// ---------------------------------------------------------------------------

struct PutRow {
  std::string dataset, path;
  bool zstd = false;
  PutStats st;
};

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
    row.st.wire_over_logical = ScrapeWire(b->target).in / static_cast<double>(size);
    if (row.st.id != ids_a.back()) Fail("gRPC put returned a different asset ID");
    puts.push_back(row);
    ids_b.push_back(row.st.id);

    {
      auto cc = EngineEndpoint(opt, run_dir + "/c-" + d.name, true);
      row = {d.name, "gRPC", true, TimedPut(cc->Client(true), d, "gRPC, zstd frames on")};
      row.st.wire_over_logical = ScrapeWire(cc->target).in / static_cast<double>(size);
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
        const WireCounters w0 = ScrapeWire(b.target);
        GetStats g = TimedGet(b.Client(row.zstd), ids_b[i], d, b.dir, label);
        const WireCounters w1 = ScrapeWire(b.target);
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
        Progress("get %s %s%s: first %.3f GB/s, cached %.3f GB/s", d.name.c_str(),
                 row.path.c_str(), row.zstd ? " zstd" : "", GBps(size, row.first.s), row.cached_gbps);
        gets.push_back(row);
      }
    }
  }

  // ---- StatAsset ----
  std::vector<RateRow> stats;
  if (opt.do_stat) {
    for (int t : opt.stat_threads) {
      Progress("StatAsset, %d thread(s), %.0f s per path", t, opt.stat_seconds);
      stats.push_back({"in-process", StatRate(*stores_a[0]->engine, ids_a[0], size, t, opt.stat_seconds, "in-process")});
      stats.push_back({"gRPC", StatRate(stores_b[0]->Client(false), ids_b[0], size, t, opt.stat_seconds, "gRPC")});
      if (mem)
        stats.push_back({"gRPC, RAM backend",
                         StatRate(mem->Client(false), mem->ids[0], size, t, opt.stat_seconds, "gRPC, RAM backend")});
    }
  }

  // ---- 4 KiB random reads ----
  std::vector<RateRow> rands;
  std::vector<FioResult> fios;
  std::string fio_note;
  if (opt.do_rand) {
    std::string fio_file;
    if (opt.fio) {
      if (::access("/usr/bin/fio", X_OK) != 0 && std::system("command -v fio >/dev/null 2>&1") != 0) {
        fio_note = "fio not found: skipped";
      } else {
        fio_file = run_dir + "/fio.dat";
        Progress("fio: writing %llu MiB test file", static_cast<unsigned long long>(opt.size_mib));
        Fd fd(::open(fio_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (fd.get() < 0) Fail("create " + fio_file + ": " + std::strerror(errno));
        WriteFully(fd.get(), main_set.bytes.data(), main_set.bytes.size(), fio_file);
        if (::fsync(fd.get()) != 0) Fail("fsync " + fio_file);
      }
    } else {
      fio_note = "skipped (--no-fio)";
    }
    for (int t : opt.rand_threads) {
      if (!fio_file.empty())
        for (int direct : {0, 1}) {
          FioResult f = RunFio(fio_file, size, direct, t, opt.rand_seconds, run_dir + "/fio.log");
          if (!f.ran) Progress("fio failed: %s", f.error.c_str());
          fios.push_back(f);
        }
      Progress("4 KiB random ReadAsset, %d thread(s), %.0f s per path", t, opt.rand_seconds);
      RateRow row{"in-process", {}};
      const double res_a = ResidentFractionTree(stores_a[0]->dir + "/chunks");
      row.r = RandReadRate(*stores_a[0]->engine, ids_a[0], size, t, opt.rand_seconds, "in-process");
      row.r.resident = res_a;
      rands.push_back(row);
      const double res_b = ResidentFractionTree(stores_b[0]->dir + "/chunks");
      row = {"gRPC", RandReadRate(stores_b[0]->Client(false), ids_b[0], size, t, opt.rand_seconds, "gRPC")};
      row.r.resident = res_b;
      rands.push_back(row);
      if (mem)
        rands.push_back({"gRPC, RAM backend",
                         RandReadRate(mem->Client(false), mem->ids[0], size, t, opt.rand_seconds, "gRPC, RAM backend")});
    }
  }

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
  std::printf("- started %s; CPU: %s; %u hardware threads\n", started.c_str(), CpuModel().c_str(), hw);
  std::printf("- machine load at start: %s\n", DescribeLoad(load_start).c_str());
  std::printf("- machine load at end: %s\n", DescribeLoad(load_end).c_str());
  std::printf("- scratch: %s (%s); asset size %llu MiB (%.3f GB); engine threads %zu; chunking %s; "
              "zstd level 1 in the stores\n",
              run_dir.c_str(), fs_type.c_str(), static_cast<unsigned long long>(opt.size_mib),
              static_cast<double>(size) / 1e9, engine_threads,
              opt.chunk_avg ? Fmt("{%u, %u, %u}", opt.chunk_avg / 4, opt.chunk_avg, opt.chunk_avg * 4).c_str()
                            : "engine default");
  std::printf("- **in-process** = aifs::Engine A on its own fresh data dir. **gRPC** = "
              "aifs::server::Server (plaintext, 127.0.0.1:0, sync gRPC, health probe every 1 h) "
              "in this process over Engine B on a second fresh data dir on the same filesystem, "
              "called through aifs::ConnectRemote; every put goes into a fresh store (no dedup). "
              "**gRPC, RAM backend** = the same client against a bare aifs.v1 gRPC server (generated "
              "services, the same frame codec, no engine, no metrics interceptor) that serves "
              "reads and stats from RAM and drops puts: the gRPC layer alone, i.e. the ceiling "
              "of the remote path here. Client, server and engines share this process and the "
              "machine's cores\n");
  std::printf("- GB/s = 1e9 bytes/s of asset bytes; \"cores\" = this process's CPU time / wall "
              "time (client + server + engine); \"others\" = cores used by other processes "
              "meanwhile (noise)\n\n");

  std::printf("## Ceilings (measured in this run)\n\n");
  std::printf("| operation | GB/s | notes |\n|---|---:|---|\n");
  std::printf("| memcpy (1 thread) | %.2f | %zu MiB, pre-faulted destination |\n", c.memcpy_gbps,
              std::min<size_t>(size, kCeilingBuf) / kMiB);
  std::printf("| BLAKE3 (1 thread) | %.2f | a full read hashes every byte twice (chunk + asset ID) |\n",
              c.blake3_gbps);
  std::printf("| loopback TCP, one stream | %.2f | %llu MiB in 1 MiB write()/read() from/to "
              "reused buffers, sender and receiver threads; runs %s; %.2f CPU s/GB (both ends) |\n",
              c.tcp_gbps, static_cast<unsigned long long>(c.tcp_bytes / kMiB),
              JoinDoubles(c.tcp_runs, "%.2f").c_str(), c.tcp_cpu_s_per_gb);
  for (const Dataset& d : sets)
    std::printf("| zstd-1 compress / decompress, 1 MiB frames of %s (1 thread) | %.2f / %s | "
                "wire/raw %.3f (frames that save < 5%% are sent raw) |\n",
                d.name.c_str(), c.zstd_c_gbps.at(d.name),
                c.zstd_d_gbps.at(d.name) > 0 ? Fmt("%.2f", c.zstd_d_gbps.at(d.name)).c_str() : "n/a",
                c.zstd_ratio.at(d.name));
  std::printf("\n");

  std::printf("## Put (BeginPut, 4 MiB Write()s from RAM, Commit)\n\n");
  std::printf("| data set | path | zstd frames | GB/s | / in-process | commit s | wire/logical | "
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
    std::printf("## Get (full ReadAsset; goal: gRPC >= 0.7x in-process)\n\n");
    std::printf("| data set | path | zstd frames | first read GB/s (objects cached) | cached "
                "read GB/s (median of %d) | cached / in-process | goal | wire/logical | "
                "CPU s/GB, cached | cores (others), cached |\n"
                "|---|---|---|---:|---:|---:|---|---:|---:|---:|\n",
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
      std::printf("| %s | %s | %s | %.3f (%s) | %.3f | %.2f | %s | %s | %.2f | %.2f (%.2f) |\n",
                  g.dataset.c_str(), g.path.c_str(),
                  g.path == "in-process" ? "-" : (g.zstd ? "on" : "off"), GBps(size, g.first.s),
                  Pct(g.first.resident).c_str(), g.cached_gbps, ratio,
                  g.path == "gRPC" ? (ratio >= 0.7 ? "met" : "**missed**") : "",
                  g.wire_over_logical < 0 ? "-" : Fmt("%.3f", g.wire_over_logical).c_str(),
                  Median(cpu), Median(cores), Median(others));
    }
    std::printf("\nFirst reads: in-process and the first gRPC row start from the same state "
                "(chunk objects as the put wrote them, O_DIRECT, mostly uncached); later rows "
                "read an already-read store. All cached reads, per path: ");
    for (const GetRow& g : gets) {
      std::vector<double> v;
      for (const GetStats& s : g.cached) v.push_back(GBps(size, s.s));
      std::printf("%s %s%s [%s]; ", g.dataset.c_str(), g.path.c_str(),
                  g.path == "in-process" ? "" : (g.zstd ? " zstd" : " raw"), JoinDoubles(v).c_str());
    }
    std::printf("\n\n");
  }

  if (opt.do_stat) {
    std::printf("## StatAsset (GetAsset without chunks) calls per second\n\n");
    std::printf("| threads | path | calls/s | / in-process | P50 µs | P99 µs | CPU µs/call | "
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

  if (opt.do_rand) {
    std::printf("## 4 KiB random reads (QD1 per thread, %.0f s each, offsets 4 KiB-aligned, "
                "uniform over the %llu MiB asset / file)\n\n",
                opt.rand_seconds, static_cast<unsigned long long>(opt.size_mib));
    std::printf("| threads | path | ops/s | P50 µs | P99 µs | mean µs | MB/s | / fio direct=0 | "
                "/ fio direct=1 | data cached | CPU µs/op | context switches/op | cores (others) |\n"
                "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int t : opt.rand_threads) {
      double fio0 = 0, fio1 = 0;
      for (const FioResult& f : fios)
        if (f.ran && f.jobs == t) (f.direct ? fio1 : fio0) = f.iops;
      for (const FioResult& f : fios) {
        if (f.jobs != t) continue;
        if (!f.ran) {
          std::printf("| %d | fio psync direct=%d | failed: %s | | | | | | | | | | |\n", t, f.direct,
                      f.error.c_str());
          continue;
        }
        std::printf("| %d | fio psync direct=%d | %.0f | %.1f | %.1f | %.1f | %.1f | %.3f | "
                    "%.3f | %s | %.1f | - | %.2f (%.2f) |\n",
                    t, f.direct, f.iops, f.p50_us, f.p99_us, f.mean_us, f.iops * kBlock / 1e6,
                    Ratio(f.iops, fio0), Ratio(f.iops, fio1),
                    f.direct ? "bypassed" : Pct(f.resident).c_str(),
                    f.iops > 0 ? f.cores / f.iops * 1e6 : 0.0, f.cores, f.others);
      }
      for (const RateRow& x : rands) {
        if (x.r.threads != t) continue;
        std::printf("| %d | AIFS %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.4f | %.4f | %s | "
                    "%.1f | %.2f | %.2f (%.2f) |\n",
                    t, x.path.c_str(), x.r.ops_per_s, x.r.p50_us, x.r.p99_us, x.r.mean_us,
                    x.r.ops_per_s * kBlock / 1e6, Ratio(x.r.ops_per_s, fio0),
                    Ratio(x.r.ops_per_s, fio1), Pct(x.r.resident).c_str(), x.r.cpu_us_per_op,
                    x.r.csw_per_op, x.r.cores, x.r.others);
      }
    }
    if (!fio_note.empty()) std::printf("\nfio: %s\n", fio_note.c_str());
    std::printf("\nfio: one file of the asset's size written from the same bytes and fsynced, "
                "`--invalidate=0` (direct=0 reads the page cache; direct=1 the disk); latency "
                "= fio lat_ns (submission to completion of pread). AIFS: the whole ReadAsset "
                "call (for gRPC: client + RPC + server + engine); fio's cores are its own "
                "CPU, AIFS's are this process's.\n");
    for (const FioResult& f : fios) std::printf("\n    %s", f.command.c_str());
    std::printf("\n\n");
  }

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
  j["load_start"] = LoadJson(load_start);
  j["load_end"] = LoadJson(load_end);
  Json zj = Json::object();
  for (const Dataset& d : sets)
    zj[d.name] = {{"compress_gbps", c.zstd_c_gbps.at(d.name)},
                  {"decompress_gbps", c.zstd_d_gbps.at(d.name)},
                  {"wire_over_raw", c.zstd_ratio.at(d.name)}};
  j["ceilings"] = {{"memcpy_gbps", c.memcpy_gbps}, {"blake3_gbps", c.blake3_gbps},
                   {"tcp_loopback_gbps", c.tcp_gbps}, {"tcp_runs_gbps", c.tcp_runs},
                   {"tcp_cpu_s_per_gb", c.tcp_cpu_s_per_gb},
                   {"zstd1_frames", zj}};
  Json pj = Json::array();
  for (const PutRow& p : puts)
    pj.push_back({{"dataset", p.dataset}, {"path", p.path}, {"zstd", p.zstd},
                  {"gbps", GBps(size, p.st.s)}, {"seconds", p.st.s}, {"commit_s", p.st.commit_s},
                  {"wire_over_logical", p.st.wire_over_logical}, {"cpu_s", p.st.cpu},
                  {"cores", p.st.cores},
                  {"others_cores", p.st.others}, {"chunks", p.st.chunks}});
  j["put"] = pj;
  Json gj = Json::array();
  for (const GetRow& g : gets) {
    std::vector<double> v, cpu;
    for (const GetStats& s : g.cached) {
      v.push_back(GBps(size, s.s));
      cpu.push_back(s.cpu);
    }
    const GetRow* base = find_get(g.dataset, "in-process", false);
    gj.push_back({{"dataset", g.dataset}, {"path", g.path}, {"zstd", g.zstd},
                  {"first_gbps", GBps(size, g.first.s)}, {"first_objects_cached", g.first.resident},
                  {"cached_gbps", g.cached_gbps}, {"cached_runs_gbps", v},
                  {"cached_runs_cpu_s", cpu}, {"first_cpu_s", g.first.cpu},
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
  Json rj = Json::array();
  for (const RateRow& s : rands) {
    Json x = RateJson(s.r);
    x["path"] = s.path;
    rj.push_back(x);
  }
  for (const FioResult& f : fios)
    rj.push_back({{"path", Fmt("fio direct=%d", f.direct)}, {"threads", f.jobs}, {"ran", f.ran},
                  {"error", f.error}, {"ops_per_s", f.iops}, {"p50_us", f.p50_us},
                  {"p99_us", f.p99_us}, {"mean_us", f.mean_us}, {"cores", f.cores},
                  {"others_cores", f.others}, {"file_cached", f.resident}});
  j["rand4k"] = rj;
  std::printf("JSON: %s\n", j.dump().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  aifs::bench::g_progress_name = "grpc_bench";
  aifs::bench::g_progress_stamped = true;
  try {
    return Run(ParseArgs(argc, argv));
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "aifs_grpc_bench: error: %s\n", e.what());
    return 1;
  }
}
