// aifs_reclaim_bench: snapshots that keep their data (issue 17), measured.
//
//   as-of   N vectors (default 30,000 x 64-d, clustered) put with their
//           assets, a snapshot tagged, a third of the assets removed; then,
//           over loopback gRPC (server and client in this process), recall@10
//           and latency of head search and of search as of the tag, against
//           ground truth computed by numpy brute force over each one's true
//           content (the live set, the snapshot's set).
//   gc      M one-chunk assets (default 100,000) put, snapshotted, removed,
//           the snapshot pruned: `gc` releases M assets and their chunks.
//           Timed alone, and a second time while a thread keeps putting, to
//           compare put latency with and without a gc running.
//
// stdout: markdown tables and `JSON: {...}`; stderr: progress.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "aifs/client/remote_api.h"
#include "aifs/engine/engine.h"
#include "aifs/server/server.h"
#include "bench_util.h"

namespace {

using namespace aifs::bench;
namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

struct Options {
  size_t vectors = 30000, dim = 64, queries = 200, clusters = 100;
  size_t gc_assets = 100000;
  std::string dir = "/var/tmp/aifs-reclaim-bench";
  bool as_of = true, gc = true;
  bool gc_alone = false;  // also a gc with no puts beside it (a second store)
};

std::unique_ptr<aifs::Engine> FreshEngine(const std::string& dir) {
  fs::remove_all(dir);
  Check(aifs::Engine::Init(dir, aifs::InitOptions{}), "init " + dir);
  return Must(aifs::Engine::Open(aifs::EngineOptions{.data_dir = dir}), "open " + dir);
}

// Puts `n` assets in transactions of 1000; `make(i, options)` fills each put.
std::vector<aifs::AssetId> PutMany(
    aifs::Engine& e, size_t n, const std::function<aifs::Bytes(size_t, aifs::PutOptions&)>& make) {
  std::vector<aifs::AssetId> ids;
  for (size_t begin = 0; begin < n; begin += 1000) {
    auto txn = Must(e.BeginTransaction("default"), "begin");
    for (size_t i = begin; i < std::min(n, begin + 1000); ++i) {
      aifs::PutOptions o;
      const aifs::Bytes data = make(i, o);
      auto w = Must(txn->BeginPut(o), "put");
      Check(w->Write(data), "write");
      ids.push_back(Must(w->Commit(), "stage").asset.id);
    }
    Check(txn->Commit().status(), "commit");
    if (begin % 10000 == 0) Progress("put %zu / %zu", begin, n);
  }
  return ids;
}

void RemoveAll(aifs::Engine& e, const std::vector<aifs::AssetId>& ids, int threads) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      for (size_t i; (i = next++) < ids.size();)
        Check(e.DeleteAsset("default", ids[i], false), "rm");
    });
  for (auto& t : ts) t.join();
}

// ---- as of ------------------------------------------------------------------

void WriteNpy(const std::string& path, const std::vector<float>& v, size_t rows, size_t cols) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&len), 2);
  out << header;
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
}

// numpy brute force: for each query, the rows (of `rows`) of the 10 nearest.
std::vector<std::vector<size_t>> Truth(const std::string& dir, const std::vector<size_t>& rows) {
  {
    std::ofstream out(dir + "/rows.txt");
    for (size_t r : rows) out << r << "\n";
  }
  const std::string script = dir + "/truth.py";
  std::ofstream(script)
      << "import numpy as np, sys\n"
         "d = sys.argv[1]\n"
         "x = np.load(d + '/x.npy').astype(np.float64); q = np.load(d + "
         "'/q.npy').astype(np.float64)\n"
         "rows = np.loadtxt(d + '/rows.txt', dtype=np.int64, ndmin=1)\n"
         "s = x[rows]\n"
         "dist = (q * q).sum(1)[:, None] - 2 * q @ s.T + (s * s).sum(1)[None, :]\n"
         "best = np.argsort(dist, axis=1, kind='stable')[:, :10]\n"
         "for b in best: print(' '.join(str(rows[i]) for i in b))\n";
  FILE* p = ::popen(("/usr/bin/python3 " + script + " " + dir).c_str(), "r");
  if (!p) Fail("python3");
  std::vector<std::vector<size_t>> out;
  char line[4096];
  while (std::fgets(line, sizeof line, p)) {
    std::istringstream in(line);
    std::vector<size_t> r;
    for (size_t v; in >> v;) r.push_back(v);
    out.push_back(r);
  }
  if (::pclose(p) != 0) Fail("numpy ground truth failed (python3-numpy installed?)");
  return out;
}

struct SearchRow {
  std::string what;
  double recall = 0, p50_us = 0, p99_us = 0, mean_us = 0;
};

SearchRow Measure(aifs::Api& api, const std::string& what, const std::string& as_of,
                  const std::vector<float>& queries, size_t dim,
                  const std::vector<std::vector<size_t>>& truth,
                  const std::map<aifs::AssetId, size_t>& row_of) {
  SearchRow r{what};
  std::vector<double> lat;
  size_t found = 0;
  for (int pass = 0; pass < 2; ++pass) {  // the first pass warms up
    lat.clear();
    found = 0;
    for (size_t qi = 0; qi < truth.size(); ++qi) {
      aifs::VectorQuery q;
      q.space = "s";
      q.vector.assign(queries.begin() + qi * dim, queries.begin() + (qi + 1) * dim);
      q.k = 10;
      q.as_of = as_of;
      const auto t0 = Clock::now();
      auto res = Must(api.VectorSearch(q), "search");
      lat.push_back(Seconds(t0, Clock::now()) * 1e6);
      for (const auto& h : res.hits) {
        auto it = row_of.find(h.id);
        if (it != row_of.end() &&
            std::find(truth[qi].begin(), truth[qi].end(), it->second) != truth[qi].end())
          ++found;
      }
    }
  }
  r.recall = static_cast<double>(found) / (10.0 * truth.size());
  r.p50_us = Percentile(lat, 0.5);
  r.p99_us = Percentile(lat, 0.99);
  double sum = 0;
  for (double x : lat) sum += x;
  r.mean_us = sum / lat.size();
  return r;
}

Json RunAsOf(const Options& o) {
  const std::string dir = o.dir + "/asof";
  auto e = FreshEngine(dir + "/store");
  Check(e->CreateSpace("default", {"s", static_cast<uint32_t>(o.dim), aifs::VectorMetric::kL2})
            .status(),
        "space");
  std::mt19937 rng(42);
  std::normal_distribution<float> n;
  std::vector<float> centers(o.clusters * o.dim), x(o.vectors * o.dim), q(o.queries * o.dim);
  for (float& c : centers) c = n(rng);
  auto sample = [&](float* out) {
    const size_t c = rng() % o.clusters;
    for (size_t d = 0; d < o.dim; ++d) out[d] = centers[c * o.dim + d] + 0.35f * n(rng);
  };
  for (size_t i = 0; i < o.vectors; ++i) sample(&x[i * o.dim]);
  for (size_t i = 0; i < o.queries; ++i) sample(&q[i * o.dim]);
  WriteNpy(dir + "/x.npy", x, o.vectors, o.dim);
  WriteNpy(dir + "/q.npy", q, o.queries, o.dim);
  const auto ids = PutMany(*e, o.vectors, [&](size_t i, aifs::PutOptions& p) {
    p.embeddings.push_back(
        {"s", std::vector<float>(x.begin() + i * o.dim, x.begin() + (i + 1) * o.dim)});
    const std::string name = "vector asset " + std::to_string(i);
    return aifs::Bytes(name.begin(), name.end());
  });
  std::map<aifs::AssetId, size_t> row_of;
  for (size_t i = 0; i < ids.size(); ++i) row_of[ids[i]] = i;
  auto snap = Must(e->CreateSnapshot("default", nullptr), "snapshot");
  Check(e->CreateTag("default", "v1", snap.id.ToHex(), "bench").status(), "tag");

  auto token = Must(e->RotateTokenRoot({}), "token").token;
  aifs::server::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.search_limit.per_second = 0;
  so.health_interval = std::chrono::milliseconds(3600 * 1000);
  auto server = Must(aifs::server::Server::Start(*e, so), "serve");
  auto client = Must(aifs::ConnectRemote(
                         {.target = "127.0.0.1:" + std::to_string(server->port()), .token = token}),
                     "connect");

  std::vector<size_t> all(o.vectors), live;
  for (size_t i = 0; i < o.vectors; ++i) all[i] = i;
  Progress("numpy ground truth over %zu vectors", all.size());
  const auto truth_all = Truth(dir, all);
  std::vector<SearchRow> rows;
  rows.push_back(Measure(*client, "head, before the removals", "", q, o.dim, truth_all, row_of));
  std::vector<aifs::AssetId> removed;
  for (size_t i = 0; i < o.vectors; ++i)
    (i % 3 == 0 ? removed.push_back(ids[i]) : live.push_back(i));
  Progress("removing %zu assets", removed.size());
  RemoveAll(*e, removed, 1);
  const auto truth_live = Truth(dir, live);
  rows.push_back(
      Measure(*client, "head, after removing a third", "", q, o.dim, truth_live, row_of));
  rows.push_back(
      Measure(*client, "as_of v1 (the snapshot), after", "v1", q, o.dim, truth_all, row_of));
  client.reset();
  server->Shutdown(std::chrono::milliseconds(1000));

  std::printf(
      "\n### Search as of a snapshot over gRPC (%zu x %zu-d, L2, %zu clusters, %zu queries, "
      "k=10)\n\n",
      o.vectors, o.dim, o.clusters, o.queries);
  std::printf(
      "| search | truth (numpy) | recall@10 | P50 µs | P99 µs | mean µs "
      "|\n|---|---|---|---|---|---|\n");
  Json j = Json::array();
  for (size_t i = 0; i < rows.size(); ++i) {
    const SearchRow& r = rows[i];
    std::printf("| %s | %s | %.4f | %.0f | %.0f | %.0f |\n", r.what.c_str(),
                i == 1 ? "live 2/3" : "all (the snapshot)", r.recall, r.p50_us, r.p99_us,
                r.mean_us);
    j.push_back({{"search", r.what},
                 {"recall", r.recall},
                 {"p50_us", r.p50_us},
                 {"p99_us", r.p99_us},
                 {"mean_us", r.mean_us}});
  }
  std::printf("\nas_of / head latency after the removals: P50 %.2fx, mean %.2fx\n",
              rows[2].p50_us / rows[1].p50_us, rows[2].mean_us / rows[1].mean_us);
  return j;
}

// ---- gc -----------------------------------------------------------------------

struct PutStats {
  size_t puts = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0, per_s = 0;
};

PutStats PutWhile(aifs::Engine& e, const std::function<bool()>& go_on, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> lat;
  const auto t0 = Clock::now();
  while (go_on()) {
    aifs::Bytes data(4096);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    const auto s = Clock::now();
    auto w = Must(e.BeginPut(aifs::PutOptions{}), "put");
    Check(w->Write(data), "write");
    auto r = w->Commit();
    if (!r.ok() && r.status().reason() != "CHUNK_RECLAIMED") Fail(r.status().ToString());
    lat.push_back(Seconds(s, Clock::now()) * 1e3);
  }
  PutStats st;
  st.puts = lat.size();
  st.p50_ms = Percentile(lat, 0.5);
  st.p99_ms = Percentile(lat, 0.99);
  st.max_ms = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
  st.per_s = lat.size() / Seconds(t0, Clock::now());
  return st;
}

size_t Files(const std::string& dir) {
  size_t n = 0;
  for (const auto& f : fs::recursive_directory_iterator(dir)) n += f.is_regular_file();
  return n;
}

Json RunGc(const Options& o) {
  Json out = Json::array();
  std::printf(
      "\n### gc releasing %zu removed one-chunk assets (default chunking, 1-4 KiB each)\n\n",
      o.gc_assets);
  std::printf(
      "| run | gc s | assets released | chunks released | objects before / after | "
      "puts during | put P50 ms | put P99 ms | put max ms | puts/s |\n"
      "|---|---|---|---|---|---|---|---|---|---|\n");
  std::vector<bool> runs;
  if (o.gc_alone) runs.push_back(false);
  runs.push_back(true);
  for (bool with_puts : runs) {
    const std::string dir = o.dir + (with_puts ? "/gc-puts" : "/gc");
    auto e = FreshEngine(dir);
    std::mt19937_64 rng(with_puts ? 2 : 1);
    const auto ids = PutMany(*e, o.gc_assets, [&](size_t, aifs::PutOptions&) {
      aifs::Bytes b(1024 + rng() % 3072);
      for (auto& c : b) c = static_cast<uint8_t>(rng());
      return b;
    });
    Must(e->CreateSnapshot("default", nullptr), "snapshot");
    Progress("removing %zu assets", ids.size());
    RemoveAll(*e, ids, 1);
    Must(e->CreateSnapshot("default", nullptr), "snapshot");
    Must(e->PruneSnapshots("default", aifs::PruneOptions{.keep_snapshots = 1}), "prune");
    PutStats baseline;
    if (with_puts) {
      const auto until = Clock::now() + std::chrono::seconds(10);
      baseline = PutWhile(
          *e, [&] { return Clock::now() < until; }, 7);
    }
    const size_t before = Files(dir + "/chunks");
    std::atomic<bool> done{false};
    PutStats during;
    std::thread putter;
    if (with_puts)
      putter = std::thread([&] {
        during = PutWhile(
            *e, [&] { return !done.load(); }, 8);
      });
    Progress("gc%s", with_puts ? " with puts" : "");
    const auto t0 = Clock::now();
    auto gc = Must(e->CollectGarbage(false), "gc");
    const double secs = Seconds(t0, Clock::now());
    done = true;
    if (putter.joinable()) putter.join();
    const size_t after = Files(dir + "/chunks");
    auto row = [&](const char* what, const PutStats& p, bool gc_row) {
      std::printf("| %s | %s | %s | %s | %s | %zu | %.2f | %.2f | %.1f | %.0f |\n", what,
                  gc_row ? Fmt("%.1f", secs).c_str() : "-",
                  gc_row ? std::to_string(gc.assets_released).c_str() : "-",
                  gc_row ? std::to_string(gc.chunks_released).c_str() : "-",
                  gc_row ? Fmt("%zu / %zu", before, after).c_str() : "-", p.puts, p.p50_ms,
                  p.p99_ms, p.max_ms, p.per_s);
      out.push_back({{"run", what},
                     {"gc_s", gc_row ? secs : 0},
                     {"released", gc.assets_released},
                     {"puts", p.puts},
                     {"put_p50_ms", p.p50_ms},
                     {"put_p99_ms", p.p99_ms},
                     {"put_max_ms", p.max_ms},
                     {"puts_per_s", p.per_s}});
    };
    if (with_puts) {
      row("puts alone (10 s, before gc)", baseline, false);
      row("gc while a thread puts", during, true);
    } else {
      row("gc alone", PutStats{}, true);
    }
    e.reset();
    fs::remove_all(dir);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Fail("missing value for " + a);
      return argv[++i];
    };
    if (a == "--vectors")
      o.vectors = std::stoull(next());
    else if (a == "--dim")
      o.dim = std::stoull(next());
    else if (a == "--queries")
      o.queries = std::stoull(next());
    else if (a == "--gc-assets")
      o.gc_assets = std::stoull(next());
    else if (a == "--dir")
      o.dir = next();
    else if (a == "--only-as-of")
      o.gc = false;
    else if (a == "--only-gc")
      o.as_of = false;
    else {
      std::fprintf(stderr,
                   "usage: aifs_reclaim_bench [--vectors 30000] [--dim 64] [--queries 200] "
                   "[--gc-assets 100000] [--gc-alone] [--dir PATH] [--only-as-of|--only-gc]\n");
      return 2;
    }
  }
  g_progress_name = "reclaim";
  try {
    Json j;
    if (o.as_of) j["as_of"] = RunAsOf(o);
    if (o.gc) j["gc"] = RunGc(o);
    std::printf("\nJSON: %s\n", j.dump().c_str());
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "aifs_reclaim_bench: %s\n", ex.what());
    return 1;
  }
  fs::remove_all(o.dir);
  return 0;
}
