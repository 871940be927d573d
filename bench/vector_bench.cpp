// aifs_vector_bench: AIFS vector search (Engine::VectorSearch, in process)
// next to raw hnswlib and FAISS IndexHNSWFlat used directly, on identical data
// and queries in the same run, with recall@10 measured against exact search
// (FAISS IndexFlatL2). A standalone program, not a test (bench/README.md,
// "aifs_vector_bench"; issue 6).
//
// Per data set (default 100k x 768-d, then 1M x 128-d):
//   build     AIFS: puts with embeddings until the index has caught up;
//             hnswlib / FAISS: add() of every row with --threads threads
//   queries   per ef: recall@10, single-thread P50 / P99 latency, QPS;
//             the engines take turns per ef so that load drift hits all alike
//   filtered  AIFS with a metadata filter that 1% of the assets pass,
//             against exact search over that subset
//
// stdout: markdown tables, then `JSON: {...}`; stderr: progress.
#include <malloc.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <nlohmann/json.hpp>

#include "aifs/core/bytes.h"
#include "aifs/engine/engine.h"
#include "bench_util.h"

// hnswlib 0.6.2 defines plain (non-inline) functions in its header, and
// libaifs already includes it once (src/aifs/vector/vector_index.cpp). This
// copy gets other names so that both link into one program; its namespace is
// renamed too, so the linker cannot fold the two copies' template code into
// one. Both are compiled with the project's flags (no -march), so the
// distance kernels are the same SSE code.
#include <cpuid.h>
#include <x86intrin.h>
#define hnswlib bench_hnswlib
#define cpuid bench_cpuid
#define xgetbv bench_xgetbv
#define AVXCapable bench_AVXCapable
#define AVX512Capable bench_AVX512Capable
#include <hnswlib/hnswlib.h>
#undef AVX512Capable
#undef AVXCapable
#undef xgetbv
#undef cpuid
#undef hnswlib

namespace {

using namespace aifs::bench;

namespace fs = std::filesystem;
namespace rawhnsw = bench_hnswlib;
using Json = nlohmann::ordered_json;

constexpr size_t kK = 10;                // recall@10, top-10 queries
constexpr size_t kHnswM = 16;            // as src/aifs/vector/vector_index.cpp
constexpr size_t kEfConstruction = 200;  // likewise
constexpr size_t kBuckets = 100;         // metadata bucket = row % 100
constexpr size_t kFilterBucket = 7;      // the filtered queries' bucket: 1%
constexpr const char* kSpace = "bench";

// ---------------------------------------------------------------------------
// Small utilities

// Resident memory of this process. Freed memory is handed back first
// (malloc_trim), so that a delta around a build shows what the build keeps.
double RssMiB() {
  malloc_trim(0);
  std::ifstream in("/proc/self/statm");
  size_t pages = 0, resident = 0;
  in >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}

// CPU time of the calling thread: unlike wall time, it leaves out the time
// the query spent preempted by other processes on a shared machine.
double ThreadCpuUs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
}

std::vector<size_t> ParseList(const std::string& s) {
  std::vector<size_t> out;
  for (size_t p = 0; p < s.size();) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    out.push_back(std::stoull(s.substr(p, q - p)));
    p = q + 1;
  }
  return out;
}

float L2Sq(const float* a, const float* b, size_t dim) {
  float s = 0;
  for (size_t i = 0; i < dim; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

// ---------------------------------------------------------------------------
// Options

struct SetSpec {
  size_t n = 0, dim = 0;
  std::string Name() const { return std::to_string(n) + "x" + std::to_string(dim); }
};

struct Options {
  std::vector<SetSpec> sets = {{100000, 768}, {1000000, 128}};  // short one first
  size_t queries = 1000;
  size_t filtered_queries = 200;
  std::vector<size_t> efs = {16, 32, 64, 128, 256};
  int threads = 2;      // build threads of hnswlib and FAISS; exact search
  int put_threads = 4;  // AIFS putting threads (each put waits on fsyncs)
  size_t batch = 1000;  // AIFS puts per transaction
  size_t clusters = 1000, latent = 16;
  float spread = 1.0f, noise = 0.05f;
  uint64_t seed = 42;
  std::string dir = std::getenv("AIFS_BENCH_DIR") ? std::getenv("AIFS_BENCH_DIR") : "/work/bench-tmp";
  bool hnswlib = true, faiss = true, aifs = true, filtered = true;
};

std::vector<SetSpec> ParseSets(const std::string& s) {
  std::vector<SetSpec> out;
  for (size_t p = 0; p < s.size();) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    const std::string one = s.substr(p, q - p);
    const size_t x = one.find('x');
    if (x == std::string::npos) Fail("--set wants NxDIM[,NxDIM...], not " + s);
    out.push_back({std::stoull(one.substr(0, x)), std::stoull(one.substr(x + 1))});
    p = q + 1;
  }
  return out;
}

void Usage() {
  std::fprintf(stderr,
               "usage: aifs_vector_bench [--set 100000x768,1000000x128] [--queries 1000]\n"
               "  [--filtered-queries 200]\n"
               "  [--ef 16,32,64,128,256] [--threads 2] [--put-threads 4] [--batch 1000]\n"
               "  [--clusters 1000] [--latent 16] [--spread 1.0] [--noise 0.05] [--seed 42]\n"
               "  [--dir PATH] [--skip-hnswlib] [--skip-faiss] [--skip-aifs] [--no-filter]\n");
}

bool ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Fail(a + " needs a value");
      return argv[++i];
    };
    if (a == "--set") o.sets = ParseSets(next());
    else if (a == "--queries") o.queries = std::max<size_t>(1, std::stoull(next()));
    else if (a == "--filtered-queries") o.filtered_queries = std::max<size_t>(1, std::stoull(next()));
    else if (a == "--ef") o.efs = ParseList(next());
    else if (a == "--threads") o.threads = std::max(1, std::stoi(next()));
    else if (a == "--put-threads") o.put_threads = std::max(1, std::stoi(next()));
    else if (a == "--batch") o.batch = std::max<size_t>(1, std::stoull(next()));
    else if (a == "--clusters") o.clusters = std::max<size_t>(1, std::stoull(next()));
    else if (a == "--latent") o.latent = std::max<size_t>(1, std::stoull(next()));
    else if (a == "--spread") o.spread = std::stof(next());
    else if (a == "--noise") o.noise = std::stof(next());
    else if (a == "--seed") o.seed = std::stoull(next());
    else if (a == "--dir") o.dir = next();
    else if (a == "--skip-hnswlib") o.hnswlib = false;
    else if (a == "--skip-faiss") o.faiss = false;
    else if (a == "--skip-aifs") o.aifs = false;
    else if (a == "--no-filter") o.filtered = false;
    else return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Data: clustered points of low intrinsic dimension. Gaussian clusters in the
// full space are too easy for HNSW (every index reaches recall 1.0) and
// isotropic noise far too hard (shared/CEILINGS.md); real embeddings lie near
// low-dimensional structure. So: a cluster centre plus a Gaussian spread in a
// `latent`-dimensional space, mapped into `dim` dimensions by one fixed
// random matrix, plus a little isotropic noise in every dimension. Queries
// are fresh draws from the same distribution, not rows of the data set.

struct Dataset {
  SetSpec spec;
  size_t nq = 0;
  std::vector<float> base, queries;  // row-major
  const float* Row(size_t i) const { return base.data() + i * spec.dim; }
  const float* Query(size_t i) const { return queries.data() + i * spec.dim; }
};

class Generator {
 public:
  Generator(const Options& o, size_t dim)
      : o_(o), dim_(dim), map_(dim * o.latent), centres_(o.clusters * o.latent) {
    std::mt19937_64 rng(o.seed * 1000003 + dim);
    std::normal_distribution<float> g(0, 1);
    const float scale = 1.0f / std::sqrt(static_cast<float>(o.latent));
    for (float& x : map_) x = g(rng) * scale;
    for (float& x : centres_) x = g(rng);
  }

  // `count` points from random stream `stream`, into `out` (count x dim).
  void Fill(size_t count, uint64_t stream, float* out) const {
    std::mt19937_64 rng(o_.seed ^ (stream * 0x9e3779b97f4a7c15ULL));
    std::normal_distribution<float> g(0, 1);
    std::vector<float> z(o_.latent);
    for (size_t i = 0; i < count; ++i) {
      const float* c = centres_.data() + (rng() % o_.clusters) * o_.latent;
      for (size_t l = 0; l < o_.latent; ++l) z[l] = c[l] + o_.spread * g(rng);
      float* x = out + i * dim_;
      for (size_t d = 0; d < dim_; ++d) {
        const float* m = map_.data() + d * o_.latent;
        float s = 0;
        for (size_t l = 0; l < o_.latent; ++l) s += m[l] * z[l];
        x[d] = s + o_.noise * g(rng);
      }
    }
  }

 private:
  const Options& o_;
  size_t dim_;
  std::vector<float> map_;      // dim x latent
  std::vector<float> centres_;  // clusters x latent
};

Dataset Generate(const Options& o, const SetSpec& spec) {
  Dataset d{spec, o.queries, std::vector<float>(spec.n * spec.dim),
            std::vector<float>(o.queries * spec.dim)};
  Generator gen(o, spec.dim);
  // Two streams for the rows, so that both cores generate.
  const size_t half = spec.n / 2;
  std::thread t([&] { gen.Fill(spec.n - half, 2, d.base.data() + half * spec.dim); });
  gen.Fill(half, 1, d.base.data());
  t.join();
  gen.Fill(o.queries, 3, d.queries.data());
  return d;
}

// ---------------------------------------------------------------------------
// Ground truth

// Exact top-k of every query by FAISS IndexFlatL2 (all queries in one call,
// `threads` OpenMP threads). Also returns the amortised time per query.
std::vector<int64_t> ExactFaiss(const Dataset& d, int threads, double& ms_per_query) {
  faiss::IndexFlatL2 flat(static_cast<faiss::Index::idx_t>(d.spec.dim));
  flat.add(static_cast<faiss::Index::idx_t>(d.spec.n), d.base.data());
  std::vector<float> dist(d.nq * kK);
  std::vector<faiss::Index::idx_t> labels(d.nq * kK);
  omp_set_num_threads(threads);
  const auto t0 = Clock::now();
  flat.search(static_cast<faiss::Index::idx_t>(d.nq), d.queries.data(), kK, dist.data(),
              labels.data());
  ms_per_query = Seconds(t0, Clock::now()) * 1e3 / static_cast<double>(d.nq);
  return std::vector<int64_t>(labels.begin(), labels.end());
}

bool InFilter(size_t row) { return row % kBuckets == kFilterBucket; }

// Exact top-k of one query among the rows the filter keeps, by brute force.
void ExactSubset(const Dataset& d, const std::vector<size_t>& subset, size_t qi, int64_t* out) {
  std::vector<std::pair<float, size_t>> scored;
  scored.reserve(subset.size());
  for (size_t row : subset) scored.emplace_back(L2Sq(d.Query(qi), d.Row(row), d.spec.dim), row);
  const size_t k = std::min(kK, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<long>(k), scored.end());
  for (size_t i = 0; i < kK; ++i) out[i] = i < k ? static_cast<int64_t>(scored[i].second) : -1;
}

double Recall(const std::vector<int64_t>& got, const std::vector<int64_t>& truth, size_t nq) {
  size_t hits = 0, want = 0;
  for (size_t q = 0; q < nq; ++q) {
    const int64_t* t = truth.data() + q * kK;
    const int64_t* g = got.data() + q * kK;
    for (size_t i = 0; i < kK; ++i) {
      if (t[i] < 0) continue;
      ++want;
      hits += std::find(g, g + kK, t[i]) != g + kK;
    }
  }
  return want ? static_cast<double>(hits) / static_cast<double>(want) : 0;
}

// ---------------------------------------------------------------------------
// Contenders: each answers "top-10 rows for query qi at ef" single-threaded.

using SearchFn = std::function<void(size_t qi, size_t ef, int64_t* out)>;

struct BuildResult {
  std::string engine;
  double seconds = 0;
  double rss_mib = 0;  // resident memory added by the build
  std::string note;
};

struct Contender {
  std::string name;
  BuildResult build;
  SearchFn search;
  std::function<void()> release;  // frees the index (after the set)
};

// Runs fn(i) for i in [0, n) on `threads` threads, handing out rows in order
// (as an index is normally fed). The first exception is rethrown.
void ParallelFor(size_t n, int threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    try {
      for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
    } catch (...) {
      std::lock_guard lock(error_mu);
      if (!error) error = std::current_exception();
      next = n;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

struct RawHnsw {
  std::unique_ptr<rawhnsw::L2Space> space;
  std::unique_ptr<rawhnsw::HierarchicalNSW<float>> graph;
};

Contender BuildHnswlib(const Dataset& d, int threads) {
  auto h = std::make_shared<RawHnsw>();
  const double rss0 = RssMiB();
  const auto t0 = Clock::now();
  h->space = std::make_unique<rawhnsw::L2Space>(d.spec.dim);
  h->graph = std::make_unique<rawhnsw::HierarchicalNSW<float>>(h->space.get(), d.spec.n, kHnswM,
                                                                 kEfConstruction);
  ParallelFor(d.spec.n, threads, [&](size_t i) { h->graph->addPoint(d.Row(i), i); });
  BuildResult b{"hnswlib", Seconds(t0, Clock::now()), RssMiB() - rss0,
                Fmt("%d threads", threads)};
  SearchFn search = [h, &d](size_t qi, size_t ef, int64_t* out) {
    h->graph->setEf(ef);
    auto found = h->graph->searchKnn(d.Query(qi), kK);
    std::fill(out, out + kK, -1);
    for (size_t i = found.size(); i-- > 0; found.pop())
      out[i] = static_cast<int64_t>(found.top().second);
  };
  return {"hnswlib", b, search, [h] { h->graph.reset(); }};
}

Contender BuildFaissHnsw(const Dataset& d, int threads) {
  const double rss0 = RssMiB();
  const auto t0 = Clock::now();
  auto index = std::make_shared<faiss::IndexHNSWFlat>(static_cast<int>(d.spec.dim),
                                                      static_cast<int>(kHnswM));
  index->hnsw.efConstruction = static_cast<int>(kEfConstruction);
  omp_set_num_threads(threads);
  index->add(static_cast<faiss::Index::idx_t>(d.spec.n), d.base.data());
  omp_set_num_threads(1);
  BuildResult b{"FAISS HNSW", Seconds(t0, Clock::now()), RssMiB() - rss0,
                Fmt("%d OpenMP threads", threads)};
  SearchFn search = [index, &d](size_t qi, size_t ef, int64_t* out) {
    index->hnsw.efSearch = static_cast<int>(ef);
    float dist[kK];
    faiss::Index::idx_t labels[kK];
    index->search(1, d.Query(qi), kK, dist, labels);
    for (size_t i = 0; i < kK; ++i) out[i] = labels[i];
  };
  return {"FAISS HNSW", b, search, [index] { index->reset(); }};
}

// ---------------------------------------------------------------------------
// AIFS through the engine API

struct IdHash {
  size_t operator()(const aifs::AssetId& id) const noexcept {
    size_t h;
    std::memcpy(&h, id.bytes().data(), sizeof h);
    return h;
  }
};

struct AifsStore {
  std::string dir;
  std::unique_ptr<aifs::Engine> engine;
  std::unordered_map<aifs::AssetId, int64_t, IdHash> rows;  // asset -> row
  std::vector<aifs::VectorQuery> queries;
  std::vector<aifs::VectorQuery> filtered;
};

// Puts rows t*batch.. in transactions of `batch` (thread t of `threads`, in
// interleaved blocks). Each asset is its own content "v<row>" (asset IDs are
// content hashes), carries its vector and the metadata bucket=row%100.
void PutRows(aifs::Engine& engine, const Dataset& d, size_t t, size_t threads, size_t batch,
             std::vector<aifs::AssetId>& ids) {
  for (size_t start = t * batch; start < d.spec.n; start += threads * batch) {
    auto txn = Must(engine.BeginTransaction("default"), "begin transaction");
    for (size_t i = start; i < std::min(d.spec.n, start + batch); ++i) {
      aifs::PutOptions o;
      o.metadata = {{"bucket", std::to_string(i % kBuckets)}};
      o.embeddings = {{kSpace, std::vector<float>(d.Row(i), d.Row(i) + d.spec.dim)}};
      auto w = Must(txn->BeginPut(o), "begin put");
      Check(w->Write(aifs::AsBytes("v" + std::to_string(i))), "write");
      ids[i] = Must(w->Commit(), "put").asset.id;
    }
    Must(txn->Commit(), "commit transaction");
  }
}

uint64_t IndexedVectors(aifs::Engine& engine) {
  for (const auto& s : Must(engine.ListSpaces("default"), "list spaces"))
    if (s.name == kSpace) return s.vectors;
  return 0;
}

// The time until the index has every vector: the indexer thread follows the
// commit log behind the puts.
double WaitForIndex(aifs::Engine& engine, size_t n) {
  const auto t0 = Clock::now();
  while (IndexedVectors(engine) < n) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return Seconds(t0, Clock::now());
}

void Ingest(AifsStore& s, const Dataset& d, const Options& o, double& put_s, double& wait_s) {
  std::vector<aifs::AssetId> ids(d.spec.n);
  const auto t0 = Clock::now();
  const size_t threads = static_cast<size_t>(o.put_threads);
  ParallelFor(threads, o.put_threads,
              [&](size_t t) { PutRows(*s.engine, d, t, threads, o.batch, ids); });
  put_s = Seconds(t0, Clock::now());
  wait_s = WaitForIndex(*s.engine, d.spec.n);
  for (size_t i = 0; i < ids.size(); ++i) s.rows.emplace(ids[i], static_cast<int64_t>(i));
  if (s.rows.size() != d.spec.n) Fail("asset IDs collide");
}

// The queries are built before timing, as a client would hold them.
void PrepareQueries(AifsStore& s, const Dataset& d) {
  for (size_t qi = 0; qi < d.nq; ++qi) {
    aifs::VectorQuery q;
    q.space = kSpace;
    q.vector.assign(d.Query(qi), d.Query(qi) + d.spec.dim);
    q.k = kK;
    s.queries.push_back(q);
    q.filters = {aifs::MetaFilter{.key = "bucket", .value = std::to_string(kFilterBucket)}};
    s.filtered.push_back(q);
  }
}

void MapHits(const AifsStore& s, const aifs::VectorResult& r, int64_t* out) {
  std::fill(out, out + kK, -1);
  for (size_t i = 0; i < std::min(kK, r.hits.size()); ++i) {
    auto it = s.rows.find(r.hits[i].id);
    out[i] = it == s.rows.end() ? -1 : it->second;
  }
}

Contender BuildAifs(const Dataset& d, const Options& o, const std::string& run_dir,
                    std::shared_ptr<AifsStore>& store) {
  auto s = std::make_shared<AifsStore>();
  s->dir = run_dir + "/aifs-" + d.spec.Name();
  Check(aifs::Engine::Init(s->dir, aifs::InitOptions{}), "engine init");
  const double rss0 = RssMiB();
  s->engine = Must(aifs::Engine::Open({.data_dir = s->dir}), "engine open");
  Must(s->engine->CreateSpace("default", {kSpace, static_cast<uint32_t>(d.spec.dim),
                                          aifs::VectorMetric::kL2}),
       "create space");
  double put_s = 0, wait_s = 0;
  const auto t0 = Clock::now();
  Ingest(*s, d, o, put_s, wait_s);
  BuildResult b{"AIFS", Seconds(t0, Clock::now()), RssMiB() - rss0,
                Fmt("puts %.1f s (%d threads, %zu per transaction), index caught up %.1f s later; "
                    "1 indexer thread",
                    put_s, o.put_threads, o.batch, wait_s)};
  PrepareQueries(*s, d);
  SearchFn search = [s](size_t qi, size_t ef, int64_t* out) {
    aifs::VectorQuery& q = s->queries[qi];
    q.ef = ef;
    MapHits(*s, Must(s->engine->VectorSearch(q), "vector search"), out);
  };
  store = s;
  return {"AIFS", b, search, [s] { s->engine.reset(); }};
}

// ---------------------------------------------------------------------------
// Measurement

struct QueryRow {
  std::string engine;
  size_t ef = 0;
  double recall = 0, p50_us = 0, p99_us = 0, mean_us = 0, qps = 0;
  double p50_cpu_us = 0, p99_cpu_us = 0;  // thread CPU time per query
};

QueryRow Measure(const std::string& name, size_t ef, size_t nq, const SearchFn& search,
                 const std::vector<int64_t>& truth) {
  std::vector<int64_t> got(nq * kK, -1);
  std::vector<double> us(nq), cpu(nq);
  double total = 0;
  for (size_t qi = 0; qi < nq; ++qi) {
    const double c0 = ThreadCpuUs();  // outside the wall-clock window
    const auto t0 = Clock::now();
    search(qi, ef, got.data() + qi * kK);
    us[qi] = Seconds(t0, Clock::now()) * 1e6;
    cpu[qi] = ThreadCpuUs() - c0;
    total += us[qi];
  }
  return {name, ef, Recall(got, truth, nq), Percentile(us, 0.50), Percentile(us, 0.99),
          total / static_cast<double>(nq), total > 0 ? 1e6 * static_cast<double>(nq) / total : 0,
          Percentile(cpu, 0.50), Percentile(cpu, 0.99)};
}

// Caches and the page tables of the index warm up on a first pass.
void WarmUp(const std::vector<Contender>& cs, size_t nq, size_t ef) {
  std::vector<int64_t> out(kK);
  for (const auto& c : cs)
    for (size_t qi = 0; qi < std::min<size_t>(nq, 200); ++qi) c.search(qi, ef, out.data());
}

struct FilteredResult {
  QueryRow aifs, exact;
  std::map<std::string, size_t> plans;  // planner path -> queries
  size_t subset = 0, queries = 0;
};

// The first `nq` queries: a filtered query can scan, which at 1M rows costs
// far more than an HNSW walk.
FilteredResult MeasureFiltered(const Dataset& d, AifsStore& s, size_t nq) {
  FilteredResult f;
  f.queries = nq = std::min(nq, d.nq);
  std::vector<size_t> subset;
  for (size_t i = 0; i < d.spec.n; ++i)
    if (InFilter(i)) subset.push_back(i);
  f.subset = subset.size();
  std::vector<int64_t> truth(nq * kK);
  for (size_t qi = 0; qi < nq; ++qi) ExactSubset(d, subset, qi, truth.data() + qi * kK);
  SearchFn exact = [&](size_t qi, size_t, int64_t* out) { ExactSubset(d, subset, qi, out); };
  SearchFn aifs = [&](size_t qi, size_t, int64_t* out) {
    auto r = Must(s.engine->VectorSearch(s.filtered[qi]), "filtered search");
    MapHits(s, r, out);
    ++f.plans[r.plan];
  };
  // A pass of each first, as WarmUp gives the unfiltered contenders: the
  // first queries after another phase re-fault the pages they touch (in
  // this VM one such query measured 13 ms).
  std::vector<int64_t> scratch(kK);
  for (const SearchFn* search : {&exact, &aifs})
    for (size_t qi = 0; qi < nq; ++qi) (*search)(qi, 0, scratch.data());
  f.plans.clear();
  f.exact = Measure("exact scan of the subset (bench, brute force)", 0, nq, exact, truth);
  f.aifs = Measure("AIFS, filter bucket=7 (planner's ef)", 0, nq, aifs, truth);
  return f;
}

// ---------------------------------------------------------------------------
// One data set, start to finish

struct SetResult {
  SetSpec spec;
  double gen_s = 0, exact_ms_per_query = 0;
  std::vector<BuildResult> builds;
  std::vector<QueryRow> rows;
  bool has_filtered = false;
  FilteredResult filtered;
  std::string load_start, load_end;
};

std::vector<Contender> BuildAll(const Dataset& d, const Options& o, const std::string& run_dir,
                                std::shared_ptr<AifsStore>& store) {
  std::vector<Contender> cs;
  if (o.hnswlib) {
    Progress("%s: hnswlib build", d.spec.Name().c_str());
    cs.push_back(BuildHnswlib(d, o.threads));
  }
  if (o.faiss) {
    Progress("%s: FAISS HNSW build", d.spec.Name().c_str());
    cs.push_back(BuildFaissHnsw(d, o.threads));
  }
  if (o.aifs) {
    Progress("%s: AIFS puts and indexing", d.spec.Name().c_str());
    cs.push_back(BuildAifs(d, o, run_dir, store));
  }
  for (const auto& c : cs) Progress("  %s: %.1f s, +%.0f MiB", c.name.c_str(), c.build.seconds, c.build.rss_mib);
  return cs;
}

SetResult RunSet(const Options& o, const SetSpec& spec, const std::string& run_dir) {
  SetResult r;
  r.spec = spec;
  r.load_start = LoadAvg();
  Progress("%s: generating data and %zu queries", spec.Name().c_str(), o.queries);
  auto t0 = Clock::now();
  const Dataset d = Generate(o, spec);
  r.gen_s = Seconds(t0, Clock::now());
  Progress("%s: exact search (FAISS IndexFlatL2, %d threads)", spec.Name().c_str(), o.threads);
  const auto truth = ExactFaiss(d, o.threads, r.exact_ms_per_query);
  std::shared_ptr<AifsStore> store;
  auto cs = BuildAll(d, o, run_dir, store);
  for (const auto& c : cs) r.builds.push_back(c.build);
  WarmUp(cs, d.nq, o.efs.empty() ? 64 : o.efs.back());
  for (size_t ef : o.efs) {
    for (const auto& c : cs) {
      r.rows.push_back(Measure(c.name, ef, d.nq, c.search, truth));
      const auto& q = r.rows.back();
      Progress("  ef %zu %s: recall %.4f, P50 %.0f us, P99 %.0f us", ef, c.name.c_str(), q.recall,
               q.p50_us, q.p99_us);
    }
  }
  if (store && o.filtered) {
    Progress("%s: filtered search", spec.Name().c_str());
    r.filtered = MeasureFiltered(d, *store, o.filtered_queries);
    r.has_filtered = true;
  }
  for (auto& c : cs) c.release();
  if (store) fs::remove_all(store->dir);
  r.load_end = LoadAvg();
  return r;
}

// ---------------------------------------------------------------------------
// Report

const QueryRow* Find(const SetResult& r, const std::string& engine, size_t ef) {
  for (const auto& q : r.rows)
    if (q.engine == engine && q.ef == ef) return &q;
  return nullptr;
}

// The smallest ef at which `engine` reaches recall@10 >= 0.95.
const QueryRow* FirstAt95(const SetResult& r, const std::string& engine) {
  for (const auto& q : r.rows)
    if (q.engine == engine && q.recall >= 0.95) return &q;
  return nullptr;
}

std::string RatioVsHnswlib(const SetResult& r, const QueryRow& q, bool p99) {
  const QueryRow* h = Find(r, "hnswlib", q.ef);
  if (q.engine == "hnswlib" || !h) return "";
  const double base = p99 ? h->p99_us : h->p50_us;
  return base > 0 ? Fmt("%.2f", (p99 ? q.p99_us : q.p50_us) / base) : "";
}

void PrintBuilds(const std::vector<SetResult>& results) {
  std::printf("\n### Build\n\n| set | engine | build s | inserts/s | RSS added MiB | notes |\n"
              "|---|---|---:|---:|---:|---|\n");
  for (const auto& r : results)
    for (const auto& b : r.builds)
      std::printf("| %s | %s | %.1f | %.0f | %.0f | %s |\n", r.spec.Name().c_str(), b.engine.c_str(),
                  b.seconds, static_cast<double>(r.spec.n) / b.seconds, b.rss_mib, b.note.c_str());
}

void PrintQueries(const std::vector<SetResult>& results) {
  std::printf("\n### Queries (k = 10, one thread)\n\n"
              "| set | engine | ef | recall@10 | P50 µs | P99 µs | QPS | CPU P50 / P99 µs | / hnswlib P50 | / hnswlib P99 |\n"
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : results)
    for (const auto& q : r.rows) {
      const bool first = FirstAt95(r, q.engine) == &q;
      std::printf("| %s | %s | %zu | %s%.4f%s | %.0f | %.0f | %.0f | %.0f / %.0f | %s | %s |\n",
                  r.spec.Name().c_str(), q.engine.c_str(), q.ef, first ? "**" : "", q.recall,
                  first ? "**" : "", q.p50_us, q.p99_us, q.qps, q.p50_cpu_us, q.p99_cpu_us,
                  RatioVsHnswlib(r, q, false).c_str(),
                  RatioVsHnswlib(r, q, true).c_str());
    }
  std::printf("\nBold: the smallest ef at which that engine reaches recall@10 >= 0.95.\n");
}

void PrintFiltered(const std::vector<SetResult>& results) {
  std::printf("\n### Filtered search, 1%% selectivity (bucket=7)\n\n"
              "| set | path | matching rows | queries | recall@10 | P50 µs | P99 µs | QPS | CPU P50 / P99 µs | planner paths |\n"
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const auto& r : results) {
    if (!r.has_filtered) continue;
    std::string plans;
    for (const auto& [p, n] : r.filtered.plans) plans += (plans.empty() ? "" : ", ") + Fmt("%s: %zu", p.c_str(), n);
    for (const QueryRow* q : {&r.filtered.aifs, &r.filtered.exact})
      std::printf("| %s | %s | %zu | %zu | %.4f | %.0f | %.0f | %.0f | %.0f / %.0f | %s |\n",
                  r.spec.Name().c_str(), q->engine.c_str(), r.filtered.subset, r.filtered.queries,
                  q->recall, q->p50_us, q->p99_us, q->qps, q->p50_cpu_us, q->p99_cpu_us,
                  q == &r.filtered.aifs ? plans.c_str() : "");
  }
}

std::string Met(bool ok) { return ok ? "met" : "**missed**"; }

void PrintGoals(const std::vector<SetResult>& results) {
  std::printf("\n### Goals\n\n");
  for (const auto& r : results) {
    const QueryRow* a = FirstAt95(r, "AIFS");
    const QueryRow* h = FirstAt95(r, "hnswlib");
    std::printf("- %s, exact search (FAISS flat, batched): %.2f ms/query; data generated in %.1f s; "
                "load %s -> %s\n",
                r.spec.Name().c_str(), r.exact_ms_per_query, r.gen_s, r.load_start.c_str(),
                r.load_end.c_str());
    if (a)
      std::printf("  - P99 < 1 ms at recall >= 0.95: AIFS ef %zu, recall %.4f, P99 %.0f µs: %s\n",
                  a->ef, a->recall, a->p99_us, Met(a->p99_us < 1000).c_str());
    else
      std::printf("  - AIFS reaches recall 0.95 at no measured ef: **missed**\n");
    if (a && h)
      std::printf("  - AIFS / hnswlib at recall >= 0.95 (ef %zu vs %zu): P50 %.2fx, P99 %.2fx "
                  "(goal <= 1.2x: %s)\n",
                  a->ef, h->ef, a->p50_us / h->p50_us, a->p99_us / h->p99_us,
                  Met(a->p50_us <= 1.2 * h->p50_us && a->p99_us <= 1.2 * h->p99_us).c_str());
    if (r.has_filtered)
      std::printf("  - filtered 1%%: recall %.4f, P99 %.0f µs (goal recall >= 0.95, P99 < 5 ms: %s)\n",
                  r.filtered.aifs.recall, r.filtered.aifs.p99_us,
                  Met(r.filtered.aifs.recall >= 0.95 && r.filtered.aifs.p99_us < 5000).c_str());
  }
}

Json RowJson(const QueryRow& q) {
  return {{"engine", q.engine}, {"ef", q.ef},         {"recall", q.recall}, {"p50_us", q.p50_us},
          {"p99_us", q.p99_us}, {"mean_us", q.mean_us}, {"qps", q.qps},
          {"p50_cpu_us", q.p50_cpu_us}, {"p99_cpu_us", q.p99_cpu_us}};
}

Json ResultsJson(const Options& o, const std::vector<SetResult>& results) {
  Json sets = Json::array();
  for (const auto& r : results) {
    Json s = {{"n", r.spec.n}, {"dim", r.spec.dim}, {"gen_s", r.gen_s},
              {"exact_ms_per_query", r.exact_ms_per_query}, {"load_start", r.load_start},
              {"load_end", r.load_end}};
    for (const auto& b : r.builds)
      s["build"].push_back({{"engine", b.engine}, {"s", b.seconds}, {"rss_mib", b.rss_mib},
                            {"note", b.note}});
    for (const auto& q : r.rows) s["queries"].push_back(RowJson(q));
    if (r.has_filtered) {
      s["filtered"] = {{"subset", r.filtered.subset}, {"queries", r.filtered.queries},
                       {"aifs", RowJson(r.filtered.aifs)},
                       {"exact", RowJson(r.filtered.exact)}, {"plans", r.filtered.plans}};
    }
    sets.push_back(s);
  }
  return {{"bench", "vector"}, {"queries", o.queries}, {"threads", o.threads},
          {"put_threads", o.put_threads}, {"batch", o.batch}, {"clusters", o.clusters},
          {"latent", o.latent}, {"spread", o.spread}, {"noise", o.noise}, {"seed", o.seed},
          {"sets", sets}};
}

void PrintHeader(const Options& o) {
  std::printf("## aifs_vector_bench\n\nData: %zu clusters in a %zu-d latent space (spread %.2f), "
              "mapped to the set's dimension, isotropic noise %.3f; %zu queries drawn the same way; "
              "HNSW M=%zu, ef_construction=%zu everywhere.\n",
              o.clusters, o.latent, o.spread, o.noise, o.queries, kHnswM, kEfConstruction);
  std::fflush(stdout);
}

// Each set's tables as soon as it is done: a long run that is cut short
// still leaves the sets it finished.
void PrintSet(const SetResult& r) {
  const std::vector<SetResult> one = {r};
  std::printf("\n## %s\n", r.spec.Name().c_str());
  PrintBuilds(one);
  PrintQueries(one);
  PrintFiltered(one);
  PrintGoals(one);
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------

// libgomp reads OMP_WAIT_POLICY when it loads, before main: left at its
// default, FAISS's idle OpenMP threads spin after every parallel region and
// take a core from the single-thread queries and the AIFS indexer. So the
// program sets it (and OpenBLAS's thread count) and starts itself again.
void ReexecWithQuietOpenMp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  setenv("OPENBLAS_NUM_THREADS", "1", 1);
  execv("/proc/self/exe", argv);
  Progress("re-exec failed (%s); OpenMP threads may spin", std::strerror(errno));
}

int Main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, o)) {
    Usage();
    return 2;
  }
  ReexecWithQuietOpenMp(argv);
  const ScratchDir scratch(o.dir, "vector-bench");
  PrintHeader(o);
  std::vector<SetResult> results;
  for (const auto& spec : o.sets) {
    results.push_back(RunSet(o, spec, scratch.path()));
    PrintSet(results.back());
  }
  std::printf("\nJSON: %s\n", ResultsJson(o, results).dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  aifs::bench::g_progress_name = "vector_bench";
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aifs_vector_bench: %s\n", e.what());
    return 1;
  }
}
