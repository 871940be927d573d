// Metadata filters and vector search over an embedded store, timed through
// the Engine API (what `aifs ls --where` and `aifs search` run): the cost of
// sealing metadata and vectors at rest (docs/storage-format.md, "Sealed
// fields") is measured here, before/after, by building this same program
// against both versions.
//
//   aifs_meta_bench [--dir D] [--assets N] [--vectors V] [--dim D] [--reps R]
//
// Puts N small blobs with metadata {team: t0..t9, idx: i, rare: "yes" on 1%}
// in transactions of 1,000, then times full ListAssets scans (all pages)
// without a filter, with team=t3 (10%) and rare=yes (1%); StatAsset of 10,000
// random assets; then V assets with one D-dim vector each (metadata team)
// and VectorSearch k=10 unfiltered and filtered on team (P50/P99), and the
// time to reopen the store (index checkpoint load). Medians of R runs.
#include <cstdio>
#include <map>

#include "aifs/engine/engine.h"
#include "bench_util.h"
#include "list_scan.h"

using namespace aifs;
using namespace aifs::bench;

namespace {

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

void PutMany(Engine& e, size_t begin, size_t n, const std::string& ns, uint32_t dim,
             const std::string& space, uint64_t& rng) {
  for (size_t at = begin; at < begin + n; at += 1000) {
    auto txn = Must(e.BeginTransaction(ns), "begin");
    for (size_t i = at; i < std::min(begin + n, at + 1000); ++i) {
      PutOptions o;
      o.ns = ns;
      o.metadata = {{"team", "t" + std::to_string(i % 10)}, {"idx", std::to_string(i)}};
      if (i % 100 == 7) o.metadata["rare"] = "yes";
      if (dim) {
        Embedding emb{space, std::vector<float>(dim)};
        for (float& x : emb.values) x = static_cast<float>(SplitMix64(rng) % 2000) / 1000.0f - 1.0f;
        o.embeddings.push_back(std::move(emb));
      }
      auto w = Must(txn->BeginPut(o), "put");
      const std::string body = "asset " + ns + " " + std::to_string(i);
      Check(w->Write(AsBytes(body)), "write");
      Must(w->Commit(), "stage");
    }
    Must(txn->Commit(), "commit");
  }
}

}  // namespace

int main(int argc, char** argv) try {
  std::string dir = "/dev/shm/aifs-meta-bench";
  size_t assets = 100000, vectors = 20000, reps = 5;
  uint32_t dim = 128;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--dir")
      dir = v;
    else if (a == "--assets")
      assets = std::stoul(v);
    else if (a == "--vectors")
      vectors = std::stoul(v);
    else if (a == "--dim")
      dim = static_cast<uint32_t>(std::stoul(v));
    else if (a == "--reps")
      reps = std::stoul(v);
    else
      Fail("unknown option " + a);
  }
  std::filesystem::remove_all(dir);
  InitOptions init;
  Check(Engine::Init(dir, init), "init");
  EngineOptions eo;
  eo.data_dir = dir;
  auto engine = Must(Engine::Open(eo), "open");
  uint64_t rng = 42;

  auto t0 = Clock::now();
  PutMany(*engine, 0, assets, "default", 0, "", rng);
  std::printf("put %zu assets with metadata: %.1f s\n", assets, Ms(Clock::now() - t0) / 1000);

  const std::vector<std::pair<std::string, std::vector<MetaFilter>>> cases = {
      {"no filter", {}},
      {"team=t3 (10%)", {MetaFilter{.key = "team", .value = "t3"}}},
      {"rare=yes (1%)", {MetaFilter{.key = "rare", .value = "yes"}}},
  };
  for (const auto& [name, filters] : cases) {
    std::vector<double> ms, cpu;
    size_t n = 0;
    for (size_t r = 0; r < reps; ++r) {
      auto t = Clock::now();
      const double c = ThreadCpuMs();
      n = ListAll(*engine, filters);
      cpu.push_back(ThreadCpuMs() - c);
      ms.push_back(Ms(Clock::now() - t));
    }
    std::printf(
        "ls %-16s %7zu hits  wall median %7.1f ms  CPU min %7.1f median %7.1f ms"
        "  (%.0f ns/asset CPU)\n",
        name.c_str(), n, Median(ms), *std::min_element(cpu.begin(), cpu.end()), Median(cpu),
        Median(cpu) * 1e6 / assets);
  }
  {
    std::vector<AssetId> ids;
    ListOptions o;
    o.limit = 10000;
    for (const AssetInfo& a : Must(engine->ListAssets(o), "list").assets) ids.push_back(a.id);
    std::vector<double> ms, cpu;
    for (size_t r = 0; r < reps; ++r) {
      auto t = Clock::now();
      const double c = ThreadCpuMs();
      for (size_t i = 0; i < ids.size(); ++i)
        g_sink =
            g_sink +
            Must(engine->StatAsset("default", ids[SplitMix64(rng) % ids.size()], false), "stat")
                .metadata.size();
      cpu.push_back(ThreadCpuMs() - c);
      ms.push_back(Ms(Clock::now() - t));
    }
    std::printf("stat x %zu: wall median %.1f ms, CPU median %.1f ms (%.2f us/stat CPU)\n",
                ids.size(), Median(ms), Median(cpu), Median(cpu) * 1000 / ids.size());
  }

  if (vectors > 0) {
    Must(engine->CreateNamespace("vec", {}), "ns");
    Must(engine->CreateSpace("vec", EmbeddingSpace{"s", dim, VectorMetric::kL2, 0}), "space");
    t0 = Clock::now();
    PutMany(*engine, 0, vectors, "vec", dim, "s", rng);
    std::printf("put %zu assets with a %u-dim vector: %.1f s\n", vectors, dim,
                Ms(Clock::now() - t0) / 1000);
    auto search = [&](const char* name) {
      for (bool filtered : {false, true}) {
        std::vector<double> us;
        for (size_t q = 0; q < 200 * reps; ++q) {
          VectorQuery vq;
          vq.ns = "vec";
          vq.space = "s";
          vq.vector.resize(dim);
          for (float& x : vq.vector)
            x = static_cast<float>(SplitMix64(rng) % 2000) / 1000.0f - 1.0f;
          if (filtered) vq.filters.push_back(MetaFilter{.key = "team", .value = "t3"});
          auto t = Clock::now();
          g_sink = g_sink + Must(engine->VectorSearch(vq), "search").hits.size();
          us.push_back(Ms(Clock::now() - t) * 1000);
        }
        std::printf("search %s %-12s P50 %6.0f us  P99 %6.0f us\n", name,
                    filtered ? "team=t3" : "unfiltered", Pct(us, 0.5), Pct(us, 0.99));
      }
    };
    search("(built)");
    std::vector<double> close_ms, open_ms, close_cpu, open_cpu;
    for (size_t r = 0; r < reps; ++r) {
      auto t = Clock::now();
      double c = ThreadCpuMs();
      engine.reset();  // checkpoints the index
      close_cpu.push_back(ThreadCpuMs() - c);
      close_ms.push_back(Ms(Clock::now() - t));
      t = Clock::now();
      c = ThreadCpuMs();
      engine = Must(Engine::Open(eo), "reopen");
      open_cpu.push_back(ThreadCpuMs() - c);
      open_ms.push_back(Ms(Clock::now() - t));
      // Something changed, so the next close writes a checkpoint again.
      PutMany(*engine, vectors + r, 1, "vec", dim, "s", rng);
    }
    const auto bytes = [&](const char* f) {
      std::error_code ec;
      return std::filesystem::file_size(dir + "/index/vec/s/" + f, ec);
    };
    std::printf(
        "close (index checkpoint, %.1f MB graph + %.1f MB labels): wall median %.0f ms,"
        " CPU median %.0f ms\n",
        bytes("graph.hnsw") / 1e6, bytes("labels") / 1e6, Median(close_ms), Median(close_cpu));
    std::printf("open (checkpoint load + replay): wall median %.0f ms, CPU median %.0f ms\n",
                Median(open_ms), Median(open_cpu));
    search("(reopened)");
  }
  engine.reset();
  std::filesystem::remove_all(dir);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "aifs_meta_bench: %s\n", e.what());
  return 1;
}
