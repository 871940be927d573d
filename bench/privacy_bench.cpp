// Aggregate queries over an embedded store (docs/privacy.md): what
// `aifs query` costs next to the scan it runs on, and what the privacy
// ledger's transaction adds per query.
//
//   aifs_privacy_bench [--dir D] [--assets N] [--reps R] [--charges C]
//
// Puts N small blobs with metadata {age: i % 100, country: c0..c9, user:
// u<i/3>} in transactions of 1,000, then times, each R times (medians, the
// calling thread's CPU next to wall time):
//   - ListAssets over every page (the scan every query runs: the ceiling),
//   - count, mean(age), histogram(age, 20 bins) exactly (no policy),
//   - the same under a privacy policy (noise + one ledger transaction),
// without a filter and with country=c3 (10%). Then C ledger charges alone
// (PrivacyLedger::Charge on an empty namespace) next to C bare one-key
// MetaStore transactions: the ledger's own cost per query. Machine load is
// sampled before and after.
#include <cstdio>

#include "aifs/engine/engine.h"
#include "aifs/engine/privacy_ledger.h"
#include "aifs/meta/meta_store.h"
#include "aifs/privacy/epsilon.h"
#include "bench_util.h"
#include "list_scan.h"
#include "machine_load.h"

using namespace aifs;
using namespace aifs::bench;

namespace {

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void PutPeople(Engine& e, size_t n) {
  for (size_t at = 0; at < n; at += 1000) {
    auto txn = Must(e.BeginTransaction("default"), "begin");
    for (size_t i = at; i < std::min(n, at + 1000); ++i) {
      PutOptions o;
      o.metadata = {{"age", std::to_string(i % 100)},
                    {"country", "c" + std::to_string(i % 10)},
                    {"user", "u" + std::to_string(i / 3)}};
      auto w = Must(txn->BeginPut(o), "put");
      const std::string body = "person " + std::to_string(i);
      Check(w->Write(AsBytes(body)), "write");
      Must(w->Commit(), "stage");
    }
    Must(txn->Commit(), "commit");
  }
}

struct Timing {
  double wall_ms = 0, cpu_ms = 0;
};

template <typename F>
Timing Time(size_t reps, F&& fn) {
  std::vector<double> wall, cpu;
  for (size_t r = 0; r < reps; ++r) {
    const auto t = Clock::now();
    const double c = ThreadCpuMs();
    fn();
    cpu.push_back(ThreadCpuMs() - c);
    wall.push_back(Ms(Clock::now() - t));
  }
  return {Median(wall), Median(cpu)};
}

}  // namespace

int main(int argc, char** argv) {
  return RunBench("aifs_privacy_bench", [&] {
    std::string dir = "/dev/shm/aifs-privacy-bench";
    size_t assets = 1000000, reps = 3, charges = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
      const std::string a = argv[i], v = argv[i + 1];
      if (a == "--dir")
        dir = v;
      else if (a == "--assets")
        assets = ParseU64(a, v);
      else if (a == "--reps")
        reps = ParseU64(a, v);
      else if (a == "--charges")
        charges = ParseU64(a, v);
      else
        Fail("unknown option " + a);
    }
    const LoadSample before = SampleLoad(1.0);
    std::filesystem::remove_all(dir);
    Check(Engine::Init(dir, InitOptions{}), "init");
    auto engine = Must(Engine::Open(EngineOptions{.data_dir = dir}), "open");
    const auto t0 = Clock::now();
    PutPeople(*engine, assets);
    std::printf("# aifs_privacy_bench: %zu assets, %s, %s\n\nput: %.1f s\n\n", assets,
                CpuModel().c_str(), NowUtc().c_str(), Ms(Clock::now() - t0) / 1000);

    const std::vector<std::pair<std::string, std::vector<MetaFilter>>> filters = {
        {"all", {}}, {"country=c3 (10%)", {MetaFilter{.key = "country", .value = "c3"}}}};
    AggregateQuery count, mean, hist;
    count.kind = AggregateKind::kCount;
    mean.kind = AggregateKind::kMean;
    mean.field = "age";
    hist.kind = AggregateKind::kHistogram;
    hist.field = "age";
    hist.bins = 20;
    hist.lower = 0;
    hist.upper = 100;
    const std::vector<std::pair<std::string, AggregateQuery*>> queries = {
        {"count", &count}, {"mean(age)", &mean}, {"histogram(age, 20)", &hist}};

    std::printf("| %zu assets | filter | wall ms | CPU ms | CPU / scan |\n|---|---|---|---|---|\n",
                assets);
    for (const auto& [fname, f] : filters) {
      const Timing scan = Time(reps, [&] { g_sink = g_sink + ListAll(*engine, f); });
      std::printf("| ListAssets, every page (the scan) | %s | %.0f | %.0f | 1.00 |\n",
                  fname.c_str(), scan.wall_ms, scan.cpu_ms);
      for (bool noisy : {false, true}) {
        NamespacePolicy np;
        if (noisy) {
          np.privacy.total_epsilon_micros = privacy::kMaxEpsilonMicros;
          np.privacy.unit_key = "user";
          np.privacy.max_contributions = 3;
          np.privacy.fields = {{.field = "age", .lower = 0, .upper = 100}};
        }
        Must(engine->SetNamespacePolicy("default", np), "policy");
        for (const auto& [qname, q] : queries) {
          q->filters = f;
          q->epsilon_micros = noisy ? 1000 : 0;
          const Timing t = Time(reps, [&] { Must(engine->Aggregate(*q), qname); });
          std::printf("| %s %s | %s | %.0f | %.0f | %.2f |\n", qname.c_str(),
                      noisy ? "under a policy" : "exact", fname.c_str(), t.wall_ms, t.cpu_ms,
                      Ratio(t.cpu_ms, scan.cpu_ms));
        }
      }
    }

    // The ledger alone: charges on an empty namespace vs bare transactions.
    Must(engine->CreateNamespace("empty", {}), "ns");
    auto meta = Must(OpenMetaStore("rocksdb://" + dir + "/bench-meta", {.create = true}), "meta");
    PrivacyLedger ledger(*meta);
    PrivacyDebit debit{.ns = "empty",
                       .spender = {.key = "bench"},
                       .who = "bench",
                       .epsilon_micros = 1,
                       .query = "count",
                       .mechanism = "discrete_laplace(scale=1000000/1)"};
    debit.policy.total_epsilon_micros = privacy::kMaxEpsilonMicros;
    const Timing bare = Time(1, [&] {
      for (size_t i = 0; i < charges; ++i)
        Check(RunTransaction(*meta,
                             [&](MetaTxn& txn) {
                               auto v = txn.Get("bench/one");
                               if (!v.ok()) return v.status();
                               return txn.Put("bench/one", std::to_string(i));
                             }),
              "txn");
    });
    const Timing charge = Time(1, [&] {
      for (size_t i = 0; i < charges; ++i) Must(ledger.Charge(debit), "charge");
    });
    AggregateQuery tiny;
    tiny.ns = "empty";
    tiny.kind = AggregateKind::kCount;
    const Timing exact_tiny = Time(1, [&] {
      for (size_t i = 0; i < charges; ++i) Must(engine->Aggregate(tiny), "tiny");
    });
    NamespacePolicy np;
    np.privacy.total_epsilon_micros = privacy::kMaxEpsilonMicros;
    Must(engine->SetNamespacePolicy("empty", np), "policy");
    tiny.epsilon_micros = 1;
    const Timing noisy_tiny = Time(1, [&] {
      for (size_t i = 0; i < charges; ++i) Must(engine->Aggregate(tiny), "tiny");
    });
    auto us = [&](const Timing& t) { return t.wall_ms * 1000 / static_cast<double>(charges); };
    auto cpu_us = [&](const Timing& t) { return t.cpu_ms * 1000 / static_cast<double>(charges); };
    std::printf(
        "\n| per query, %zu in a row (RocksDB, synced commits) | wall us | CPU us |\n"
        "|---|---|---|\n"
        "| bare transaction: read + write one key | %.1f | %.1f |\n"
        "| ledger charge: 3 accounts read + written, charge record, event | %.1f | %.1f |\n"
        "| count on an empty namespace, exact | %.1f | %.1f |\n"
        "| count on an empty namespace, under a policy | %.1f | %.1f |\n",
        charges, us(bare), cpu_us(bare), us(charge), cpu_us(charge), us(exact_tiny),
        cpu_us(exact_tiny), us(noisy_tiny), cpu_us(noisy_tiny));
    const LoadSample after = SampleLoad(1.0);
    std::printf("\nload before: %s\nload after: %s\n", DescribeLoad(before).c_str(),
                DescribeLoad(after).c_str());
    engine.reset();
    meta.reset();
    std::filesystem::remove_all(dir);
    return 0;
  });
}
