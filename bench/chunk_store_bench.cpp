// aifs_chunk_store_bench: a ChunkStore's put / get / get-range latency (P50,
// P99) and throughput, for objects of each --sizes, on 1 and 8 threads
// (--threads), through the ChunkStore interface, for any URL (file://,
// rados://, ...). With --rados-bench and a rados:// URL it also runs
// `rados bench` (write and seq, same object size and threads) on the same
// pool as the ceiling, and prints our throughput as a ratio of it. On one
// thread it also times a List of the objects ("list": P50 column = us per
// object listed, ops/s = objects listed per second).
// Every object it puts is deleted at the end.
// Usage: aifs_chunk_store_bench [--url URL] [--sizes 65536,1048576]
//        [--threads 1,8] [--mib-per-run N] [--range 16384] [--rados-bench]
// Without --url: a file:// store in a scratch directory under /tmp.
#include <atomic>
#include <map>
#include <memory>
#include <thread>

#include "aifs/core/hex.h"
#include "aifs/storage/chunk_store.h"
#include "bench_util.h"

using namespace aifs;
using namespace aifs::bench;

namespace {

struct Row {
  double p50_us = 0, p99_us = 0, ops = 0, mbps = 0;
};

// Runs op(thread, index) for `count` indexes split over `threads` threads;
// per-op latency and the total rate.
Row Measure(int threads, int count, uint64_t bytes_per_op,
            const std::function<Status(int, int)>& op, const std::string& what) {
  std::vector<std::vector<double>> us(static_cast<size_t>(threads));
  std::atomic<int> next{0};
  std::string error;
  std::mutex mu;
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i; (i = next.fetch_add(1)) < count;) {
        const auto a = Clock::now();
        Status st = op(t, i);
        us[static_cast<size_t>(t)].push_back(Seconds(a, Clock::now()) * 1e6);
        if (!st.ok()) {
          std::lock_guard lock(mu);
          if (error.empty()) error = what + ": " + st.ToString();
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  const double secs = Seconds(t0, Clock::now());
  if (!error.empty()) Fail(error);
  std::vector<double> all;
  for (auto& v : us) all.insert(all.end(), v.begin(), v.end());
  return Row{Percentile(all, 0.5), Percentile(all, 0.99), count / secs,
             static_cast<double>(bytes_per_op) * count / secs / 1e6};
}

// `rados bench` on the URL's pool: write then seq MB/s; nullopt if it fails.
struct RadosBench {
  double write_mbps = 0, read_mbps = 0, write_lat_us = 0, read_lat_us = 0;
};

std::string UrlParam(const std::string& url, const std::string& name) {
  const size_t q = url.find('?');
  for (size_t p = q; p != std::string::npos && p < url.size();) {
    const size_t end = std::min(url.find('&', p + 1), url.size());
    const std::string item = url.substr(p + 1, end - p - 1);
    if (item.starts_with(name + "=")) return item.substr(name.size() + 1);
    p = end;
  }
  return "";
}

double Field(const std::string& out, const std::string& label) {
  const size_t at = out.find(label);
  return at == std::string::npos ? 0 : std::strtod(out.c_str() + at + label.size(), nullptr);
}

RadosBench RunRadosBench(const std::string& url, uint64_t size, int threads) {
  const std::string pool = url.substr(8, url.find('?') - 8);
  std::string base = "rados -p '" + pool + "'";
  if (auto conf = UrlParam(url, "conf"); !conf.empty()) base += " -c '" + conf + "'";
  if (auto id = UrlParam(url, "id"); !id.empty()) base += " --id '" + id + "'";
  const std::string run = "--run-name aifs-csb-" + std::to_string(::getpid());
  auto shell = [](const std::string& cmd) {
    std::string out;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) Fail("popen " + cmd);
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    if (::pclose(p) != 0) Fail(cmd + " failed:\n" + out);
    return out;
  };
  const std::string b = std::to_string(size), t = std::to_string(threads);
  const std::string w =
      shell(base + " bench 5 write -b " + b + " -O " + b + " -t " + t + " --no-cleanup " + run);
  const std::string r = shell(base + " bench 5 seq -t " + t + " " + run);
  shell(base + " cleanup " + run);
  // rados bench's "MB" are MiB.
  return RadosBench{Field(w, "Bandwidth (MB/sec):") * 1.048576,
                    Field(r, "Bandwidth (MB/sec):") * 1.048576,
                    Field(w, "Average Latency(s):") * 1e6, Field(r, "Average Latency(s):") * 1e6};
}

}  // namespace

int main(int argc, char** argv) {
  g_progress_name = "chunk_store_bench";
  return RunBench("aifs_chunk_store_bench", [&] {
    std::string url;
    std::vector<uint64_t> sizes = {64 << 10, 1 << 20}, thread_counts = {1, 8};
    uint64_t mib_per_run = 64, range = 16384;
    bool rados_bench = false;
    for (ArgReader args(argc, argv); args.Next();) {
      const std::string& a = args.flag();
      if (a == "--url")
        url = args.Value();
      else if (a == "--sizes")
        sizes = ParseU64List(a, args.Value());
      else if (a == "--threads")
        thread_counts = ParseU64List(a, args.Value());
      else if (a == "--mib-per-run")
        mib_per_run = ParseU64(a, args.Value());
      else if (a == "--range")
        range = ParseU64(a, args.Value());
      else if (a == "--rados-bench")
        rados_bench = true;
      else
        Fail("unknown flag " + a);
    }
    std::unique_ptr<ScratchDir> scratch;
    if (url.empty()) {
      scratch = std::make_unique<ScratchDir>("/tmp", "aifs-chunk-store-bench");
      url = "file://" + scratch->path() + "/chunks";
    }
    auto store = Must(OpenChunkStore(url, true), "open " + url);
    std::printf("# %s, %s, load %s\n", url.c_str(), NowUtc().c_str(), LoadAvg().c_str());
    std::printf("| size | threads | op | P50 us | P99 us | ops/s | MB/s |%s\n",
                rados_bench ? " rados bench MB/s | ratio |" : "");
    std::printf("|---|---|---|---|---|---|---|%s\n", rados_bench ? "---|---|" : "");
    for (uint64_t size : sizes) {
      const int count = static_cast<int>(std::max<uint64_t>(64, (mib_per_run << 20) / size));
      Bytes data(size);
      Rng rng(size);
      FillRandom(data.data(), data.size(), rng);
      for (uint64_t threads : thread_counts) {
        const int nt = static_cast<int>(threads);
        std::vector<std::string> names(static_cast<size_t>(count));
        for (auto& n : names) {
          uint8_t raw[16];
          FillRandom(raw, sizeof raw, rng);
          n = HexEncode(ByteSpan(raw, sizeof raw));
        }
        Progress("%llu bytes x %d on %d thread(s)", static_cast<unsigned long long>(size), count,
                 nt);
        std::map<std::string, Row> rows;
        rows["put"] = Measure(
            nt, count, size,
            [&](int, int i) { return store->Put(names[static_cast<size_t>(i)], data); }, "put");
        Check(store->Sync(), "sync");
        if (nt == 1) {  // List: one call over every object of the store (only ours)
          size_t listed = 0;
          const auto t0 = Clock::now();
          Check(store->List([&](const std::string&, uint64_t) { return ++listed, true; }), "list");
          const double secs = Seconds(t0, Clock::now());
          if (listed < names.size()) Fail("list saw " + std::to_string(listed) + " objects");
          rows["list"] = Row{secs / listed * 1e6, 0, listed / secs, 0};
        }
        std::vector<Bytes> bufs(static_cast<size_t>(nt));
        rows["get"] = Measure(
            nt, count, size,
            [&](int t, int i) {
              return store->Get(names[static_cast<size_t>((i * 7919) % count)],
                                bufs[static_cast<size_t>(t)]);
            },
            "get");
        const uint64_t len = std::min(range, size);
        // Ranges are cheap: more of them, so thread start-up does not count.
        rows["get-range"] = Measure(
            nt, count * 8, len,
            [&](int t, int i) {
              const uint64_t off =
                  (static_cast<uint64_t>(i) * 104729 % (size - len + 1)) & ~uint64_t{4095};
              return store->GetRange(names[static_cast<size_t>((i * 31) % count)], off, len,
                                     bufs[static_cast<size_t>(t)]);
            },
            "get-range");
        Measure(
            nt, count, 0, [&](int, int i) { return store->Delete(names[static_cast<size_t>(i)]); },
            "delete");
        RadosBench rb;
        if (rados_bench && url.starts_with("rados://")) rb = RunRadosBench(url, size, nt);
        for (const char* op : {"put", "get", "get-range", "list"}) {
          if (!rows.count(op)) continue;
          const Row& r = rows[op];
          std::printf("| %s | %d | %s | %.0f | %.0f | %.0f | %.1f |",
                      size >= (1 << 20)
                          ? Fmt("%llu MiB", static_cast<unsigned long long>(size >> 20)).c_str()
                          : Fmt("%llu KiB", static_cast<unsigned long long>(size >> 10)).c_str(),
                      nt, op, r.p50_us, r.p99_us, r.ops, r.mbps);
          if (rados_bench) {
            const double ceiling = std::string(op) == "put"   ? rb.write_mbps
                                   : std::string(op) == "get" ? rb.read_mbps
                                                              : 0;
            if (ceiling > 0)
              std::printf(" %.1f | %.2f |", ceiling, Ratio(r.mbps, ceiling));
            else
              std::printf(" | |");
          }
          std::printf("\n");
          std::fflush(stdout);
        }
      }
    }
    return 0;
  });
}
