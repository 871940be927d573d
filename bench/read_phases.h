// aifs_grpc_bench's random-read phases (issue 16): single random reads of
// several sizes, cached and uncached, in-process and over gRPC, next to fio
// on a file of the same bytes; and batched reads (ReadRanges) of 4 KiB
// ranges. Each phase runs, then prints its markdown table and returns its
// JSON. See bench/README.md for what every column means.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aifs/api/api.h"
#include "bench_util.h"
#include "fio_runner.h"
#include "random_reads.h"
#include "timed_rates.h"

namespace aifs::bench {

// Where the phases read: the same bytes through each path.
struct ReadPath {
  std::string name;  // "in-process", "gRPC", "gRPC, RAM backend"
  aifs::Api* api = nullptr;
  aifs::AssetId id;
  std::string chunk_dir;  // the store's chunk objects; "": no files (RAM)
  // Drops the serving engine's read caches (segments, chunk indexes, asset
  // records): with the chunk objects evicted, reads then start from the disk.
  std::function<void()> drop_caches;
};

struct ReadPhaseOptions {
  std::vector<size_t> blocks = {4096, 65536, 1 << 20};
  std::vector<int> threads = {1, 2};
  std::vector<bool> cached = {true, false};
  double seconds = 5;
  int round_ops = 16;  // uncached: reads per thread between two evictions
  std::vector<size_t> batches = {64, 1024};
  std::vector<int> batch_threads = {1};
  bool fio = true;
};

inline std::string SizeName(size_t block) {
  return block >= kMiB ? Fmt("%zu MiB", block / kMiB) : Fmt("%zu KiB", block / 1024);
}

// ---------------------------------------------------------------------------
// Single random reads

struct RandRow {
  size_t block = 0;
  int threads = 0;
  bool cached = true;
  std::string path;  // a ReadPath name, or "fio"
  RateStats r;       // fio: ops_per_s, p50_us, p99_us, mean_us, cores, others
  std::string fio_error;
};

// The chunk objects of `dir` out of the page cache.
inline void EvictTree(const std::string& dir) { ResidentFractionTree(dir, /*evict=*/true); }

// Reads the asset in 256 KiB ranges through `p`: the chunk objects come into
// the page cache and their segments into the engine's segment cache (range
// reads under 1 MiB fill it; a whole read streams chunks past it).
inline void WarmUp(const ReadPath& p, uint64_t size) {
  Progress("warming %s (the asset in 256 KiB ranges)", p.name.c_str());
  constexpr uint64_t kWarm = 256 << 10;
  for (uint64_t off = 0; off < size; off += kWarm)
    Check(p.api->ReadAsset("default", p.id, aifs::ReadRange{off, kWarm},
                           [](aifs::ByteSpan) { return aifs::Status::Ok(); }),
          "warm-up read");
}

// Every (size, threads, cached) cell: fio, then each path. Cached runs start
// after a pass over the asset in 256 KiB ranges through each path (objects in
// the page cache, segments in the engine's cache); uncached runs evict the
// chunk objects and drop the engine's read caches before every round of
// `round_ops` reads per thread (fio direct=1 bypasses the cache instead).
inline std::vector<RandRow> RunRandomReads(const ReadPhaseOptions& o,
                                           const std::vector<ReadPath>& paths,
                                           const std::vector<uint8_t>& source,
                                           const std::string& fio_file, const std::string& log) {
  std::vector<RandRow> rows;
  for (bool cached : o.cached) {
    if (cached)
      for (const ReadPath& p : paths) WarmUp(p, source.size());
    for (size_t block : o.blocks)
      for (int t : o.threads) {
        if (!fio_file.empty()) {
          FioResult f = RunFio(fio_file, source.size(), block, cached ? 0 : 1, t, o.seconds, log);
          RandRow row{block, t, cached, "fio", {}, f.error};
          row.r.threads = t;
          row.r.ops_per_s = f.iops;
          row.r.p50_us = f.p50_us;
          row.r.p99_us = f.p99_us;
          row.r.mean_us = f.mean_us;
          row.r.cores = f.cores;
          row.r.others = f.others;
          row.r.resident = cached ? f.resident : -1;
          rows.push_back(row);
        }
        for (const ReadPath& p : paths) {
          if (!cached && p.chunk_dir.empty()) continue;  // nothing to evict
          Progress("random reads: %s %s, %d thread(s), %s", SizeName(block).c_str(),
                   cached ? "cached" : "uncached", t, p.name.c_str());
          std::function<void()> evict;
          if (!cached)
            evict = [&p] {
              EvictTree(p.chunk_dir);
              if (p.drop_caches) p.drop_caches();
            };
          const double resident = p.chunk_dir.empty() ? -1 : ResidentFractionTree(p.chunk_dir);
          RandRow row{block,
                      t,
                      cached,
                      p.name,
                      RandomReads(*p.api, p.id, source, block, t, o.seconds, evict),
                      ""};
          row.r.resident = cached ? resident : 0;
          rows.push_back(row);
        }
      }
  }
  return rows;
}

inline nlohmann::ordered_json PrintRandomReads(const ReadPhaseOptions& o,
                                               const std::vector<RandRow>& rows,
                                               const std::vector<std::string>& fio_commands) {
  std::printf(
      "## Random reads (QD1 per thread, %.0f s per run, offsets aligned to the read "
      "size, uniform over the asset / file)\n\n",
      o.seconds);
  std::printf(
      "| size | threads | data | path | ops/s | MB/s | P50 µs | P99 µs | / fio ops/s | "
      "/ fio P50 | data cached | CPU µs/op | context switches/op | cores (others) |\n"
      "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  auto json = nlohmann::ordered_json::array();
  for (const RandRow& x : rows) {
    const RandRow* fio = nullptr;
    for (const RandRow& f : rows)
      if (f.path == "fio" && f.block == x.block && f.threads == x.threads && f.cached == x.cached &&
          f.fio_error.empty())
        fio = &f;
    const char* data = x.cached ? "cached" : "uncached";
    if (!x.fio_error.empty()) {
      std::printf("| %s | %d | %s | fio | failed: %s | | | | | | | | | |\n",
                  SizeName(x.block).c_str(), x.threads, data, x.fio_error.c_str());
      continue;
    }
    const bool is_fio = x.path == "fio";
    const std::string path =
        is_fio ? Fmt("fio psync direct=%d", x.cached ? 0 : 1) : "AIFS " + x.path;
    std::printf(
        "| %s | %d | %s | %s | %.0f | %.1f | %.1f | %.1f | %s | %s | %s | %s | %s | "
        "%.2f (%.2f) |\n",
        SizeName(x.block).c_str(), x.threads, data, path.c_str(), x.r.ops_per_s,
        x.r.ops_per_s * static_cast<double>(x.block) / 1e6, x.r.p50_us, x.r.p99_us,
        fio && !is_fio ? Fmt("%.4f", Ratio(x.r.ops_per_s, fio->r.ops_per_s)).c_str() : "",
        fio && !is_fio ? Fmt("%.1f", Ratio(x.r.p50_us, fio->r.p50_us)).c_str() : "",
        is_fio && !x.cached ? "bypassed"
        : x.r.resident < 0  ? "n/a"
                            : Fmt("%.0f%%", x.r.resident * 100).c_str(),
        is_fio ? Fmt("%.1f", Ratio(x.r.cores, x.r.ops_per_s) * 1e6).c_str()
               : Fmt("%.1f", x.r.cpu_us_per_op).c_str(),
        is_fio ? "-" : Fmt("%.2f", x.r.csw_per_op).c_str(), x.r.cores, x.r.others);
    auto j = RateJson(x.r);
    j["block"] = x.block;
    j["cached"] = x.cached;
    j["path"] = is_fio ? path : x.path;
    if (fio && !is_fio) j["over_fio"] = Ratio(x.r.ops_per_s, fio->r.ops_per_s);
    json.push_back(j);
  }
  std::printf(
      "\ncached: the chunk objects (and fio's file) in the page cache, warmed by one "
      "full read; fio psync direct=0. uncached: the chunk objects evicted "
      "(posix_fadvise DONTNEED) before every round of %d reads per thread, eviction "
      "not timed (ops/s = reads / timed rounds); fio direct=1 (O_DIRECT, QD1 per job). "
      "AIFS latency is the whole ReadAsset call (for gRPC: client + RPC + server + "
      "engine); fio's is submission to completion of pread. fio's cores are its own "
      "CPU, AIFS's this process's (client, server and engine).\n",
      o.round_ops);
  for (const std::string& c : fio_commands) std::printf("\n    %s", c.c_str());
  std::printf("\n\n");
  return json;
}

// ---------------------------------------------------------------------------
// Batched reads

struct BatchRow {
  size_t batch = 0;
  std::string path;
  RateStats r;  // per call
};

inline std::vector<BatchRow> RunBatchedReads(const ReadPhaseOptions& o,
                                             const std::vector<ReadPath>& paths,
                                             const std::vector<uint8_t>& source) {
  std::vector<BatchRow> rows;
  for (const ReadPath& p : paths) WarmUp(p, source.size());  // after uncached rounds, too
  for (size_t batch : o.batches)
    for (int t : o.batch_threads)
      for (const ReadPath& p : paths) {
        Progress("batched reads: %zu x 4 KiB per call, %d thread(s), %s", batch, t, p.name.c_str());
        rows.push_back(
            {batch, p.name, BatchedReads(*p.api, p.id, source, 4096, batch, t, o.seconds)});
      }
  return rows;
}

inline nlohmann::ordered_json PrintBatchedReads(const ReadPhaseOptions& o,
                                                const std::vector<BatchRow>& rows) {
  std::printf(
      "## Batched reads (ReadRanges of random 4 KiB ranges, cached, %.0f s per run; "
      "goal: >= 100,000 ranges/s over gRPC on one channel)\n\n",
      o.seconds);
  std::printf(
      "| ranges per call | threads | path | ranges/s | MB/s | call P50 ms | call P99 ms "
      "| CPU µs/range | goal | cores (others) |\n"
      "|---:|---:|---|---:|---:|---:|---:|---:|---|---:|\n");
  auto json = nlohmann::ordered_json::array();
  for (const BatchRow& x : rows) {
    const double per_s = x.r.ops_per_s * static_cast<double>(x.batch);
    std::printf("| %zu | %d | %s | %.0f | %.1f | %.2f | %.2f | %.2f | %s | %.2f (%.2f) |\n",
                x.batch, x.r.threads, x.path.c_str(), per_s, per_s * 4096 / 1e6, x.r.p50_us / 1e3,
                x.r.p99_us / 1e3, x.r.cpu_us_per_op / static_cast<double>(x.batch),
                x.path == "gRPC" ? (per_s >= 100000 ? "met" : "**missed**") : "", x.r.cores,
                x.r.others);
    auto j = RateJson(x.r);
    j["batch"] = x.batch;
    j["path"] = x.path;
    j["ranges_per_s"] = per_s;
    json.push_back(j);
  }
  std::printf(
      "\nOne client Api (one gRPC channel) shared by the calling threads; every range "
      "is checked at its first and last 64 bytes against the source.\n\n");
  return json;
}

}  // namespace aifs::bench
