// aifs_read_latency: small reads against a running `aifs serve` in another
// process, as a data loader makes them: one thread (or a few), one read at a
// time. Each case runs for --seconds; per read: latency percentiles, and the
// CPU and context switches of this client and (from /proc, --server-pid) of
// the server. The cases:
//
//   health       grpc.health.v1 Check through the same server: what a unary
//                call costs there with no work in it (the floor of a call)
//   ReadAsset    Api::ReadAsset of one block (a server-streaming call)
//   ReadRanges   Api::ReadRanges of one block, one call per read
//   stream       Api::ReadRanges of one block on a ReadRangesStream kept open
//
// bench/read_latency_bench.sh sets up the store and the server.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "aifs/client/remote_api.h"
#include "aifs/rpc/grpc_process.h"
#include "bench_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "timed_rates.h"

namespace {

using aifs::bench::Check;
using aifs::bench::Fail;
using aifs::bench::Fmt;

struct Options {
  std::string target, token, id_hex;
  uint64_t size = 0;
  uint64_t block = 4096;
  double seconds = 5;
  int server_pid = 0;
  std::vector<int> threads{1, 2};
  std::string cases = "health,asset,calls,stream";  // which to run
  bool Runs(const std::string& c) const {
    return ("," + cases + ",").find("," + c + ",") != std::string::npos;
  }
};

// user + system CPU seconds of process `pid` (utime and stime of /proc/PID/stat).
double ProcessCpuSeconds(int pid) {
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; rest >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stod(field);
    if (i == 15) {
      stime = std::stod(field);
      break;
    }
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::unique_ptr<aifs::Api> Connect(const Options& o, bool streams) {
  auto api = aifs::ConnectRemote({.target = o.target, .read_streams = streams, .token = o.token});
  Check(api.status(), "ConnectRemote " + o.target);
  return std::move(api).value();
}

template <typename Op>
void Case(const Options& o, const std::string& key, const std::string& name, int threads, Op op) {
  if (!o.Runs(key)) return;
  const double server0 = ProcessCpuSeconds(o.server_pid);
  aifs::bench::RateStats r = aifs::bench::TimedRate(threads, o.seconds, op);
  const double server_s = o.server_pid > 0 ? ProcessCpuSeconds(o.server_pid) - server0 : 0;
  const double server_us = o.server_pid > 0 ? server_s / static_cast<double>(r.ops) * 1e6 : -1;
  // RateStats::others counts every process but this one: the server too.
  const double others = std::max(0.0, r.others - server_s / r.s);
  std::printf("| %s | %d | %.0f | %.1f | %.1f | %.1f | %.1f | %s | %.2f |\n", name.c_str(), threads,
              r.ops_per_s, r.p50_us, r.p99_us, r.cpu_us_per_op, r.csw_per_op,
              server_us < 0 ? "-" : Fmt("%.1f", server_us).c_str(), others);
  std::fflush(stdout);
}

int Run(const Options& o) {
  auto id = aifs::AssetId::Parse(o.id_hex);
  Check(id.status(), "--id");
  const uint64_t blocks = o.size / o.block;
  if (blocks == 0) Fail("--size must hold at least one --block");
  auto calls = Connect(o, false);
  auto streams = Connect(o, true);
  std::vector<aifs::RangeRead> one(1, aifs::RangeRead{*id, 0, o.block});

  // Health is the server's one open service: no token.
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(o.target, grpc::InsecureChannelCredentials()));

  std::printf(
      "| case | threads | reads/s | P50 µs | P99 µs | client CPU µs/read | client "
      "context switches/read | server CPU µs/read | other processes (cores) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int threads : o.threads) {
    Case(o, "health", "health (unary, no work)", threads, [&](aifs::bench::Rng&, int) {
      grpc::ClientContext ctx;
      grpc::health::v1::HealthCheckRequest req;
      grpc::health::v1::HealthCheckResponse resp;
      if (!health->Check(&ctx, req, &resp).ok()) Fail("health Check failed");
    });
    auto read_asset = [&](aifs::bench::Rng& rng, int) {
      thread_local std::vector<uint8_t> buf;
      buf.clear();
      const uint64_t off = rng.Below(blocks) * o.block;
      Check(calls->ReadAsset("default", *id, aifs::ReadRange{off, o.block},
                             [&](aifs::ByteSpan b) {
                               buf.insert(buf.end(), b.begin(), b.end());
                               return aifs::Status::Ok();
                             }),
            "ReadAsset");
      if (buf.size() != o.block) Fail("ReadAsset returned " + std::to_string(buf.size()));
    };
    Case(o, "asset", "ReadAsset", threads, read_asset);
    auto ranges_on = [&](aifs::Api& api) {
      return [&](aifs::bench::Rng& rng, int) {
        std::vector<aifs::RangeRead> r = one;
        r[0].offset = rng.Below(blocks) * o.block;
        uint64_t got = 0;
        Check(api.ReadRanges("default", r,
                             [&](size_t, aifs::ByteSpan b) {
                               got += b.size();
                               return aifs::Status::Ok();
                             }),
              "ReadRanges");
        if (got != o.block) Fail("ReadRanges returned " + std::to_string(got));
      };
    };
    Case(o, "calls", "ReadRanges, a call each", threads, ranges_on(*calls));
    Case(o, "stream", "ReadRanges on an open stream", threads, ranges_on(*streams));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  aifs::rpc::SkipMutexDeadlockDetection();  // as the aifs CLI does
  Options o;
  for (aifs::bench::ArgReader args(argc, argv); args.Next();) {
    const std::string& f = args.flag();
    if (f == "--target")
      o.target = args.Value();
    else if (f == "--token")
      o.token = args.Value();
    else if (f == "--id")
      o.id_hex = args.Value();
    else if (f == "--size")
      o.size = aifs::bench::ParseU64(f, args.Value());
    else if (f == "--block")
      o.block = aifs::bench::ParseU64(f, args.Value());
    else if (f == "--seconds")
      o.seconds = static_cast<double>(aifs::bench::ParseU64(f, args.Value()));
    else if (f == "--server-pid")
      o.server_pid = static_cast<int>(aifs::bench::ParseU64(f, args.Value()));
    else if (f == "--cases")
      o.cases = args.Value();
    else if (f == "--threads") {
      o.threads.clear();
      for (uint64_t t : aifs::bench::ParseU64List(f, args.Value()))
        o.threads.push_back(static_cast<int>(t));
    } else {
      std::fprintf(stderr,
                   "usage: aifs_read_latency --target T --token TOKEN --id HEX --size BYTES\n"
                   "       [--block 4096] [--seconds 5] [--threads 1,2] [--server-pid PID]\n"
                   "       [--cases health,asset,calls,stream]\n");
      return 2;
    }
  }
  if (o.target.empty() || o.id_hex.empty() || o.size == 0)
    Fail("--target, --id and --size are needed");
  try {
    return Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aifs_read_latency: %s\n", e.what());
    return 1;
  }
}
