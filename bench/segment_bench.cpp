// aifs_segment_bench: how the segment size of sealed chunks trades random-read
// latency against full-read throughput and compression (issue 16; the choice
// is explained in docs/storage-format.md). For each segment size, a fresh
// store takes one random and one text asset; then, in-process:
//   - 4 KiB random reads, cached (a segment cache of --cache-mib, by default
//     1.5 x the asset, warmed by one pass) and uncached (cache off,
//     chunk objects evicted from the page cache before every read): P50, P99;
//   - a full read of each asset (GB/s, next to single-thread BLAKE3);
//   - stored bytes of the text asset (compression per segment).
// Usage: aifs_segment_bench [--size-mib N] [--sizes 16,32,64,128,256]
//        [--reads N] [--cache-mib N] [--dir PATH]
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "aifs/engine/engine.h"
#include "bench_util.h"

using namespace aifs;
using namespace aifs::bench;
namespace fs = std::filesystem;

namespace {

// Log-like text: words from a small vocabulary, numbers, newlines (zstd -1
// keeps roughly a third of it).
Bytes MakeText(uint64_t size, uint64_t seed) {
  static const char* kWords[] = {"error",   "request",    "user", "GET",  "/api/v1/items",
                                 "latency", "ms",         "INFO", "WARN", "service",
                                 "retry",   "cache",      "the",  "of",   "and",
                                 "timeout", "connection", "ok",   "id",   "shard"};
  std::mt19937_64 rng(seed);
  Bytes out;
  out.reserve(size);
  while (out.size() < size) {
    std::string w = (rng() % 4 == 0) ? std::to_string(rng() % 100000) : kWords[rng() % 20];
    w += (rng() % 12 == 0) ? '\n' : ' ';
    out.insert(out.end(), w.begin(), w.end());
  }
  out.resize(size);
  return out;
}

void EvictTree(const std::string& dir) { (void)ResidentFractionTree(dir, /*evict=*/true); }

struct Latency {
  double p50_us, p99_us, ops;
};

Latency RandomReads(Engine& e, const AssetId& id, uint64_t size, int reads, bool evict,
                    const std::string& chunks) {
  std::mt19937_64 rng(42);
  std::vector<double> us;
  us.reserve(static_cast<size_t>(reads));
  Bytes buf;
  const double t0 = MonotonicSeconds();
  for (int i = 0; i < reads; ++i) {
    const uint64_t off = (rng() % (size / 4096)) * 4096;
    if (evict) EvictTree(chunks);
    const double a = MonotonicSeconds();
    Check(e.ReadAsset("default", id, {off, 4096},
                      [&](ByteSpan b) {
                        g_sink = g_sink + b[0];
                        return Status::Ok();
                      }),
          "random read");
    us.push_back((MonotonicSeconds() - a) * 1e6);
  }
  const double secs = MonotonicSeconds() - t0;
  return {Percentile(us, 0.5), Percentile(us, 0.99), reads / secs};
}

double FullRead(Engine& e, const AssetId& id, uint64_t size) {
  const double secs = MedianSeconds(3, [&] {
    Check(e.ReadAsset("default", id, {},
                      [](ByteSpan b) {
                        g_sink = g_sink + b.size();
                        return Status::Ok();
                      }),
          "full read");
  });
  return GBps(size, secs);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    uint64_t size_mib = 256;
    std::vector<uint64_t> sizes = {16, 32, 64, 128, 256};
    int reads = 2000;
    uint64_t cache_mib = 0;
    std::string dir =
        std::getenv("AIFS_BENCH_DIR") ? std::getenv("AIFS_BENCH_DIR") : "/work/bench-tmp";
    for (ArgReader args(argc, argv); args.Next();) {
      const std::string& a = args.flag();
      if (a == "--size-mib")
        size_mib = ParseU64(a, args.Value());
      else if (a == "--reads")
        reads = static_cast<int>(ParseU64(a, args.Value()));
      else if (a == "--dir")
        dir = args.Value();
      else if (a == "--cache-mib")
        cache_mib = ParseU64(a, args.Value());
      else if (a == "--sizes")
        sizes = ParseU64List(a, args.Value());
      else
        Fail("unknown option " + a);
    }
    const uint64_t size = size_mib << 20;
    if (cache_mib == 0) cache_mib = size_mib * 3 / 2;
    Rng rng(7);
    Bytes random(size), text = MakeText(size, 8);
    FillRandom(random.data(), random.size(), rng);
    const double blake =
        GBps(size, MedianSeconds(3, [&] { g_sink = g_sink + Blake3::Hash(random)[0]; }));
    ScratchDir root(dir, "segment-bench");  // removed at exit, also on Ctrl-C
    std::printf(
        "# aifs_segment_bench %s, %llu MiB assets, %llu MiB cache, %d reads per run, load %s, %u "
        "cores\n\n",
        NowUtc().c_str(), static_cast<unsigned long long>(size_mib),
        static_cast<unsigned long long>(cache_mib), reads, LoadAvg().c_str(),
        std::thread::hardware_concurrency());
    std::printf(
        "| segment | 4K cached P50 us | P99 | 4K uncached P50 us | P99 | full read random GB/s | "
        "text GB/s | BLAKE3 GB/s | text stored / size |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (uint64_t kib : sizes) {
      const std::string d = root.path() + "/" + std::to_string(kib);
      InitOptions init;
      init.segment_size = static_cast<uint32_t>(kib * 1024);
      Check(Engine::Init(d, init), "init");
      EngineOptions eo;
      eo.data_dir = d;
      eo.cache_bytes = cache_mib << 20;
      auto engine = Must(Engine::Open(eo), "open");
      auto put = [&](const Bytes& b) {
        auto w = Must(engine->BeginPut(PutOptions{}), "put");
        Check(w->Write(b), "write");
        return Must(w->Commit(), "commit").asset.id;
      };
      const AssetId rid = put(random), tid = put(text);
      uint64_t stored_text = 0;
      for (const ChunkInfo& c : Must(engine->StatAsset("default", tid, true), "stat").chunks)
        stored_text += c.stored_size;
      RandomReads(*engine, rid, size, reads, false, d + "/chunks");  // warm the cache
      const Latency cached = RandomReads(*engine, rid, size, reads, false, d + "/chunks");
      engine.reset();
      eo.cache_bytes = 0;
      engine = Must(Engine::Open(eo), "open");
      const Latency cold =
          RandomReads(*engine, rid, size, std::max(reads / 10, 50), true, d + "/chunks");
      const double full_r = FullRead(*engine, rid, size), full_t = FullRead(*engine, tid, size);
      std::printf("| %llu KiB | %.1f | %.1f | %.0f | %.0f | %.2f | %.2f | %.2f | %.3f |\n",
                  static_cast<unsigned long long>(kib),
                  cached.p50_us, cached.p99_us, cold.p50_us, cold.p99_us, full_r, full_t, blake,
                  static_cast<double>(stored_text) / static_cast<double>(size));
      std::fflush(stdout);
      engine.reset();
      fs::remove_all(d);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aifs_segment_bench: %s\n", e.what());
    return 1;
  }
}
