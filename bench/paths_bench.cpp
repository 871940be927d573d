// aifs_paths_bench: snapshots and diffs of namespaces with many paths,
// through the engine (issue 17's goals: a snapshot of 1M paths after one
// change <= 5 ms; a diff of two 1M-path snapshots with 1,000 changes <= 50 ms).
//
//   aifs_paths_bench [--paths N=1000000] [--dir PARENT=/var/tmp] [--threads 8]
//                    [--batch 1000]
//
// Builds N paths (all naming one small asset, so the data path is not what is
// measured) from --threads threads, --batch paths per transaction (puts of the
// same bytes with PutOptions::path; 1: a BindPath call, one synced commit,
// per path), takes a cold snapshot, then
// times: a snapshot after 1 changed path, one after 1,000, and the diff
// between the last two. Medians of 5 runs each (fresh changes every run).
// stdout: a markdown table, then `JSON: {...}`; stderr: progress.
#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "aifs/engine/engine.h"
#include "bench_util.h"

namespace {

using namespace aifs;
using namespace aifs::bench;

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) Fail(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}
void Must(const Status& s, const char* what) {
  if (!s.ok()) Fail(std::string(what) + ": " + s.ToString());
}

std::string PathOf(uint64_t i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "train/d%04llu/f%08llu.jpg",
                static_cast<unsigned long long>(i % 1000), static_cast<unsigned long long>(i));
  return buf;
}

int Main(int argc, char** argv) {
  uint64_t n = 1000000;
  std::string parent = "/var/tmp";
  int threads = 8;
  uint64_t batch = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--paths")
      n = std::stoull(argv[i + 1]);
    else if (a == "--dir")
      parent = argv[i + 1];
    else if (a == "--threads")
      threads = std::stoi(argv[i + 1]);
    else if (a == "--batch")
      batch = std::max<uint64_t>(1, std::stoull(argv[i + 1]));
    else
      Fail("unknown option " + a);
  }
  ScratchDir scratch(parent, "aifs-paths-bench", true);
  Must(Engine::Init(scratch.path(), InitOptions{}), "init");
  EngineOptions eo;
  eo.data_dir = scratch.path();
  auto engine = Must(Engine::Open(eo), "open");
  auto writer = Must(engine->BeginPut(PutOptions{}), "put");
  const std::string body = "one small asset";
  Must(writer->Write(AsBytes(body)), "write");
  const AssetId id = Must(writer->Commit(), "commit").asset.id;

  Progress("binding %llu paths from %d threads, %llu per commit",
           static_cast<unsigned long long>(n), threads, static_cast<unsigned long long>(batch));
  // Paths i = t, t + threads, ... of thread t, `batch` per transaction.
  auto bind_some = [&](uint64_t t) {
    const uint64_t step = static_cast<uint64_t>(threads);
    for (uint64_t i = t; i < n;) {
      if (batch == 1) {
        Must(engine->BindPath("default", PathOf(i), id), "bind");
        i += step;
        continue;
      }
      auto txn = Must(engine->BeginTransaction("default"), "transaction");
      for (uint64_t k = 0; k < batch && i < n; ++k, i += step) {
        PutOptions o;
        o.path = PathOf(i);
        auto w = Must(txn->BeginPut(o), "put");
        Must(w->Write(AsBytes(body)), "write");
        Must(w->Commit(), "staged put");
      }
      Must(txn->Commit(), "commit");
    }
  };
  auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(bind_some, static_cast<uint64_t>(t));
  for (auto& th : pool) th.join();
  const double bind_s = Seconds(t0, Clock::now());
  t0 = Clock::now();
  Must(engine->CreateSnapshot("default", SnapshotOptions{}), "cold snapshot");
  const double cold_s = Seconds(t0, Clock::now());
  Progress("bound in %.1f s, cold snapshot %.2f s", bind_s, cold_s);

  // Each run re-points `k` random paths at a new asset, then snapshots.
  uint64_t rng = 7;
  uint64_t version = 0;
  auto change = [&](size_t k) {
    auto w = Must(engine->BeginPut(PutOptions{}), "put");
    const std::string v = "version " + std::to_string(++version);
    Must(w->Write(AsBytes(v)), "write");
    const AssetId other = Must(w->Commit(), "commit").asset.id;
    for (size_t j = 0; j < k; ++j)
      Must(engine->BindPath("default", PathOf(SplitMix64(rng) % n), other), "rebind");
  };
  auto snapshot_after = [&](size_t k) {
    return MedianSeconds(5, [&]() -> double {
      change(k);
      const auto s0 = Clock::now();
      Must(engine->CreateSnapshot("default", SnapshotOptions{}), "snapshot");
      return Seconds(s0, Clock::now());
    });
  };
  const double one_s = snapshot_after(1);
  const double thousand_s = snapshot_after(1000);
  std::vector<double> diffs;
  size_t diff_paths = 0;
  for (int r = 0; r < 5; ++r) {
    const SnapshotInfo a =
        Must(engine->GetSnapshot("default",
                                 Must(engine->ListSnapshots("default"), "ls").back().id.ToHex()),
             "get");
    change(1000);
    const SnapshotInfo b = Must(engine->CreateSnapshot("default", SnapshotOptions{}), "snapshot");
    const auto d0 = Clock::now();
    auto d = Must(engine->DiffSnapshots("default", a.id.ToHex(), b.id.ToHex()), "diff");
    diffs.push_back(Seconds(d0, Clock::now()));
    diff_paths = d.paths.size();
  }
  const double diff_s = Median(diffs);

  std::printf("Paths: %llu (one asset), %u cores\n\n", static_cast<unsigned long long>(n),
              std::thread::hardware_concurrency());
  std::printf("| operation | time | goal |\n|---|---:|---:|\n");
  std::printf("| bind %llu paths (%d threads, %llu per commit) | %.1f s (%.0f paths/s) | - |\n",
              static_cast<unsigned long long>(n), threads, static_cast<unsigned long long>(batch),
              bind_s, static_cast<double>(n) / bind_s);
  std::printf("| cold snapshot | %.0f ms | - |\n", cold_s * 1e3);
  std::printf("| snapshot after 1 change | %.2f ms | <= 5 ms |\n", one_s * 1e3);
  std::printf("| snapshot after 1,000 changes | %.1f ms | - |\n", thousand_s * 1e3);
  std::printf("| diff, %zu changed paths | %.1f ms | <= 50 ms |\n", diff_paths, diff_s * 1e3);
  std::printf(
      "\nJSON: {\"paths\": %llu, \"bind_s\": %.3f, \"cold_snapshot_ms\": %.1f, "
      "\"snapshot_1_ms\": %.3f, \"snapshot_1000_ms\": %.2f, \"diff_1000_ms\": %.2f}\n",
      static_cast<unsigned long long>(n), bind_s, cold_s * 1e3, one_s * 1e3, thousand_s * 1e3,
      diff_s * 1e3);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return aifs::bench::RunBench("aifs_paths_bench", [&] { return Main(argc, argv); });
}
