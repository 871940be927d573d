// aifs_mst_bench: snapshot Merkle tree (src/aifs/snapshot/mst.h) build and
// update times, with an in-memory node store and a RocksDB node store (all new
// nodes of a snapshot in one synced WriteBatch), next to `git write-tree` over
// an index of the same entries, measured in the same run. A standalone
// program, not a test (see docs/snapshot-merkle.md, "Benchmark").
//
// Per size n (default 100k and 1M random IDs):
//   cold      BuildMst of all n IDs           vs git write-tree of a fresh index
//   1 change  UpdateMst of one add            vs update-index + write-tree
//   1,000     UpdateMst of 500 adds + 500 removes, likewise
// Updates start from the base tree, each rep with fresh random changes; the
// median of --reps is reported. Git's index update (`update-index`) is not
// timed, only `write-tree`. Git layouts: "flat" = path/<id hex> (as the
// snapshot is one sorted set), "fanout" = path/<2 hex>/<62 hex> (git's own
// object-directory trick, far kinder to write-tree).
//
// stdout: a markdown table, then `JSON: {...}`; stderr: progress.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "aifs/core/hex.h"
#include "aifs/engine/engine.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/meta_store.h"
#include "aifs/snapshot/mst.h"
#include "bench_util.h"

extern char** environ;

namespace {

using namespace aifs::bench;

namespace fs = std::filesystem;
using aifs::Digest;
using aifs::MstChange;
using aifs::MstRoot;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string Hex(const Digest& d) { return aifs::HexEncode(aifs::ByteSpan(d.data(), d.size())); }

Digest RandomDigest(std::mt19937_64& rng) {
  Digest d;
  for (size_t i = 0; i < d.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(d.data() + i, &v, 8);
  }
  return d;
}

// ---------------------------------------------------------------------------
// RocksDB node store: key "mst/" + raw hash, value = node encoding. Stores are
// buffered (and readable) until Commit() writes them in one synced batch.

class RocksNodeStore : public aifs::MstNodeStore {
 public:
  explicit RocksNodeStore(const std::string& path) {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(options, path, &db);
    if (!s.ok()) Fail("rocksdb open " + path + ": " + s.ToString());
    db_.reset(db);
  }

  aifs::Result<aifs::MstNode> Load(const Digest& hash) override {
    auto it = pending_.find(hash);
    if (it != pending_.end()) return aifs::DecodeMstNode(hash, it->second);
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Key(hash), &value);
    if (s.IsNotFound())
      return aifs::err::NotFound("MST_NODE_NOT_FOUND", "MST node " + Hex(hash) + " is not stored");
    if (!s.ok()) return aifs::err::Unavailable("METADATA_IO_ERROR", s.ToString());
    return aifs::DecodeMstNode(hash, value);
  }

  aifs::Status Store(const Digest& hash, const aifs::MstNode& node) override {
    auto [it, inserted] = pending_.try_emplace(hash);
    if (inserted) it->second = node.Encode();
    return aifs::Status::Ok();
  }

  // One WriteBatch with every buffered node, written with sync.
  void Commit() {
    rocksdb::WriteBatch batch;
    for (const auto& [hash, value] : pending_) batch.Put(Key(hash), value);
    rocksdb::WriteOptions w;
    w.sync = true;
    rocksdb::Status s = db_->Write(w, &batch);
    if (!s.ok()) Fail("rocksdb write: " + s.ToString());
    written_ += pending_.size();
    pending_.clear();
  }

  uint64_t written() const { return written_; }

 private:
  static std::string Key(const Digest& h) {
    std::string k = "mst/";
    k.append(reinterpret_cast<const char*>(h.data()), h.size());
    return k;
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::unordered_map<Digest, std::string, aifs::DigestHash> pending_;
  uint64_t written_ = 0;
};

// ---------------------------------------------------------------------------
// git

int Spawn(const std::vector<std::string>& argv, const std::string& stdin_path,
          const std::string& stdout_path) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) Fail("cannot run " + argv[0] + ": " + std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) Fail("waitpid");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

class GitIndex {
 public:
  GitIndex(const std::string& dir, bool fanout) : dir_(dir), fanout_(fanout) {
    fs::create_directories(dir_);
    Run({"git", "init", "-q", dir_});
    std::ofstream(dir_ + "/empty").close();
    Run({"git", "-C", dir_, "hash-object", "-w", "empty"});
  }

  std::string Path(const Digest& id) const {
    const std::string h = Hex(id);
    return fanout_ ? "path/" + h.substr(0, 2) + "/" + h.substr(2) : "path/" + h;
  }

  // Adds (true) / removes (false) entries with `git update-index --index-info`.
  void Apply(const std::vector<MstChange>& changes) {
    const std::string in = dir_ + "/.git/bench-index-info";
    {
      std::ofstream f(in);
      for (const auto& [id, add] : changes) {
        if (add)
          f << "100644 blob " << kEmptyBlob << '\t' << Path(id) << '\n';
        else
          f << "0 0000000000000000000000000000000000000000\t" << Path(id) << '\n';
      }
    }
    Run({"git", "-C", dir_, "update-index", "--index-info"}, in);
  }

  double WriteTreeMs() {
    const auto t0 = Clock::now();
    Run({"git", "-C", dir_, "write-tree"});
    return Ms(Clock::now() - t0);
  }

 private:
  static constexpr const char* kEmptyBlob = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";

  void Run(const std::vector<std::string>& argv, const std::string& in = "/dev/null") {
    const int rc = Spawn(argv, in, dir_ + ".out");
    if (rc != 0)
      Fail(argv[0] + " " + argv[argv.size() > 3 ? 3 : 1] + " exited with " + std::to_string(rc));
  }

  std::string dir_;
  bool fanout_;
};

// ---------------------------------------------------------------------------

struct Row {
  std::string what;
  double engine_ms = -1;  // Engine::CreateSnapshot: change log + tree + signature + commit
  double mem_ms = 0, rocks_ms = 0, git_flat_ms = -1, git_fanout_ms = -1;
  double mem_nodes = 0, rocks_nodes = 0;
  std::vector<double> engine_cold_runs;
};

// Fresh change batches from the base set: `adds` new IDs, `removes` present ones.
std::vector<MstChange> MakeChanges(const std::vector<Digest>& ids, size_t adds, size_t removes,
                                   std::mt19937_64& rng) {
  std::set<Digest> pick;
  std::vector<MstChange> ch;
  while (pick.size() < removes) pick.insert(ids[rng() % ids.size()]);
  for (const Digest& d : pick) ch.push_back({d, false});
  for (size_t i = 0; i < adds; ++i) ch.push_back({RandomDigest(rng), true});
  std::sort(ch.begin(), ch.end(),
            [](const MstChange& a, const MstChange& b) { return a.first < b.first; });
  return ch;
}

std::string FmtMs(double ms) {
  char buf[64];
  if (ms < 0) return "-";
  if (ms < 1)
    std::snprintf(buf, sizeof buf, "%.3f", ms);
  else if (ms < 100)
    std::snprintf(buf, sizeof buf, "%.2f", ms);
  else
    std::snprintf(buf, sizeof buf, "%.0f", ms);
  return buf;
}

std::string Times(double git, double ours) {
  if (git < 0 || ours <= 0) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0fx", git / ours);
  return buf;
}

// Whole snapshot creation through the engine. The n base assets enter as
// change-log entries written straight into a fresh store's MetaStore (a
// million real puts would take longer than the benchmark); the 1 and 1,000
// changes are real puts of small assets (untimed), then CreateSnapshot is
// timed: log scan, tree update, Ed25519 signature, one synced commit.
// The engine rows' metadata: RocksDB in the store's directory, or a fresh
// schema of the PostgreSQL database at --meta (its URL without `schema`).
std::string g_meta_base;
// --before-cold CMD: a shell command run just before each timed cold snapshot
// (e.g. resetting pg_stat_statements, to count what the snapshot does).
std::string g_before_cold;

std::unique_ptr<aifs::Engine> SeededEngine(const std::string& dir, const std::vector<Digest>& ids) {
  aifs::InitOptions init;
  std::string meta_url = "rocksdb://" + dir + "/meta";
  if (!g_meta_base.empty()) {
    std::random_device rd;
    meta_url = init.meta_url = g_meta_base +
                               (g_meta_base.find('?') == std::string::npos ? "?" : "&") +
                               "schema=mst" + std::to_string(rd() % 1000000000);
  }
  if (auto st = aifs::Engine::Init(dir, init); !st.ok()) Fail("engine init: " + st.ToString());
  {
    auto meta = Must(aifs::OpenMetaStore(meta_url, {}), "open meta");
    for (size_t i = 0; i < ids.size(); i += 50000) {
      auto txn = meta->Begin();
      for (size_t j = i; j < std::min(ids.size(), i + 50000); ++j)
        if (!txn->Put(aifs::keys::Change("default", /*generation=*/0, ids[j]), "+").ok()) Fail("meta put");
      if (!txn->Commit().ok()) Fail("meta commit");
    }
  }
  return Must(aifs::Engine::Open({.data_dir = dir}), "open engine");
}

// The cold row is the median of `cold_reps` cold snapshots, each in a fresh
// store seeded with the same change log (the last store is kept for the
// incremental rows).
void EngineSnapshotTimes(const std::string& dir, const std::vector<Digest>& ids, int reps,
                         int cold_reps, std::vector<Row>& rows) {
  std::unique_ptr<aifs::Engine> engine;
  std::string last_cold;
  std::vector<double> cold_ms;
  const MstRoot expect = [&] {
    aifs::InMemoryMstNodeStore mem;
    return Must(aifs::BuildMst(ids, mem), "build");
  }();
  for (int r = 0; r < cold_reps; ++r) {
    const std::string d = dir + "-" + std::to_string(r);
    engine.reset();
    if (r > 0) fs::remove_all(dir + "-" + std::to_string(r - 1));
    engine = SeededEngine(d, ids);
    if (!g_before_cold.empty() && std::system(g_before_cold.c_str()) != 0)
      Fail("--before-cold command failed");
    std::fprintf(stderr, "  cold snapshot %d start %.6f\n", r, MonotonicSeconds());
    const auto t0 = Clock::now();
    auto cold = Must(engine->CreateSnapshot("default", nullptr), "cold snapshot");
    cold_ms.push_back(Ms(Clock::now() - t0));
    std::fprintf(stderr, "  cold snapshot %d end %.6f: %.2f ms\n", r, MonotonicSeconds(),
                 cold_ms.back());
    if (cold.count != ids.size() || cold.root != expect.hash || cold.height != expect.height)
      Fail("engine snapshot root differs from BuildMst");
    last_cold = cold.id.ToHex();
  }
  // Untimed: every node of the last cold tree is stored and hashes right.
  if (auto st = engine->VerifySnapshot("default", last_cold); !st.ok())
    Fail("verify cold snapshot: " + st.ToString());
  rows[0].engine_ms = Median(cold_ms);
  rows[0].engine_cold_runs = cold_ms;
  Clock::time_point t0;
  uint64_t serial = 0;
  for (int which = 0; which < 2; ++which) {
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
      auto txn = Must(engine->BeginTransaction("default"), "txn");
      for (int k = 0; k < (which == 0 ? 1 : 1000); ++k) {
        auto w = Must(txn->BeginPut(aifs::PutOptions{}), "put");
        const std::string body = "change " + std::to_string(serial++);
        if (!w->Write(aifs::AsBytes(body)).ok() || !w->Commit().ok()) Fail("put");
      }
      Must(txn->Commit(), "txn commit");
      t0 = Clock::now();
      Must(engine->CreateSnapshot("default", nullptr), "snapshot");
      t.push_back(Ms(Clock::now() - t0));
    }
    rows[1 + which].engine_ms = Median(t);
  }
}

int Main(int argc, char** argv) {
  std::vector<size_t> sizes = {100000, 1000000};
  int reps = 5;
  int cold_reps = 3;
  bool git = true, fanout = true, engine_only = false;
  std::string dir =
      std::getenv("AIFS_BENCH_DIR") ? std::getenv("AIFS_BENCH_DIR") : "/work/bench-tmp";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Fail(a + " needs a value");
      return argv[++i];
    };
    if (a == "--sizes") {
      sizes.clear();
      std::string s = next();
      for (size_t p = 0; p < s.size();) {
        size_t q = s.find(',', p);
        if (q == std::string::npos) q = s.size();
        sizes.push_back(std::stoull(s.substr(p, q - p)));
        p = q + 1;
      }
    } else if (a == "--reps") {
      reps = std::max(1, std::stoi(next()));
    } else if (a == "--dir") {
      dir = next();
    } else if (a == "--no-git") {
      git = false;
    } else if (a == "--no-fanout") {
      fanout = false;
    } else if (a == "--cold-reps") {
      cold_reps = std::max(1, std::stoi(next()));
    } else if (a == "--engine-only") {
      engine_only = true;
      git = false;
    } else if (a == "--meta") {
      g_meta_base = next();
    } else if (a == "--before-cold") {
      g_before_cold = next();
    } else {
      std::fprintf(stderr,
                   "usage: aifs_mst_bench [--sizes 100000,1000000] [--reps 5] [--dir PATH] "
                   "[--no-git] [--no-fanout] [--cold-reps 3] [--engine-only] "
                   "[--meta postgresql://...] [--before-cold CMD]\n");
      return 2;
    }
  }
  const ScratchDir scratch(dir, "mst-bench");
  const std::string& run_dir = scratch.path();

  std::vector<std::pair<size_t, std::vector<Row>>> results;
  for (size_t n : sizes) {
    std::fprintf(stderr, "n=%zu: generating IDs\n", n);
    std::mt19937_64 rng(0x6d7374 + n);
    std::vector<Digest> ids(n);
    for (auto& d : ids) d = RandomDigest(rng);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    // The change batches every system applies: reps x 1 change, reps x 1,000.
    std::vector<std::vector<MstChange>> one, thousand;
    for (int r = 0; r < reps; ++r) {
      one.push_back(MakeChanges(ids, 1, 0, rng));
      thousand.push_back(MakeChanges(ids, 500, 500, rng));
    }
    std::vector<Row> rows = {{"cold build"}, {"1 change"}, {"1,000 changes"}};

    // In memory.
    if (!engine_only) {
      std::fprintf(stderr, "n=%zu: in-memory store\n", n);
      std::vector<double> cold;
      MstRoot base;
      auto mem = std::make_unique<aifs::InMemoryMstNodeStore>();
      for (int r = 0; r < std::min(reps, 3); ++r) {
        mem = std::make_unique<aifs::InMemoryMstNodeStore>();
        const auto t0 = Clock::now();
        base = Must(aifs::BuildMst(ids, *mem), "build");
        cold.push_back(Ms(Clock::now() - t0));
      }
      rows[0].mem_ms = Median(cold);
      rows[0].mem_nodes = static_cast<double>(mem->writes());
      std::fprintf(stderr, "  root %s height %u, %zu nodes, %.1f MiB\n", Hex(base.hash).c_str(),
                   unsigned{base.height}, mem->size(), mem->bytes() / 1048576.0);
      for (int which = 0; which < 2; ++which) {
        std::vector<double> t, nodes;
        for (const auto& ch : which == 0 ? one : thousand) {
          const uint64_t w = mem->writes();
          const auto t0 = Clock::now();
          MstRoot r = Must(aifs::UpdateMst(base, ch, *mem), "update");
          t.push_back(Ms(Clock::now() - t0));
          nodes.push_back(static_cast<double>(mem->writes() - w));
          if (r.count != base.count + (which == 0 ? 1 : 0)) Fail("update count is off");
        }
        rows[1 + which].mem_ms = Median(t);
        rows[1 + which].mem_nodes = Median(nodes);
      }
      // Spot check: the last 1,000-change update equals a cold build.
      std::set<Digest> s(ids.begin(), ids.end());
      for (const auto& [id, add] : thousand.back()) add ? void(s.insert(id)) : void(s.erase(id));
      std::vector<Digest> after(s.begin(), s.end());
      aifs::InMemoryMstNodeStore check;
      if (!(Must(aifs::UpdateMst(base, thousand.back(), *mem), "update") ==
            Must(aifs::BuildMst(after, check), "build")))
        Fail("incremental root differs from the cold build");
    }

    // RocksDB.
    if (!engine_only) {
      std::fprintf(stderr, "n=%zu: RocksDB store\n", n);
      RocksNodeStore db(run_dir + "/rocks-" + std::to_string(n));
      auto t0 = Clock::now();
      MstRoot base = Must(aifs::BuildMst(ids, db), "build");
      db.Commit();
      rows[0].rocks_ms = Ms(Clock::now() - t0);
      rows[0].rocks_nodes = static_cast<double>(db.written());
      for (int which = 0; which < 2; ++which) {
        std::vector<double> t, nodes;
        for (const auto& ch : which == 0 ? one : thousand) {
          const uint64_t w = db.written();
          t0 = Clock::now();
          Must(aifs::UpdateMst(base, ch, db), "update");
          db.Commit();
          t.push_back(Ms(Clock::now() - t0));
          nodes.push_back(static_cast<double>(db.written() - w));
        }
        rows[1 + which].rocks_ms = Median(t);
        rows[1 + which].rocks_nodes = Median(nodes);
      }
    }

    std::fprintf(stderr, "n=%zu: engine snapshots\n", n);
    EngineSnapshotTimes(run_dir + "/engine-" + std::to_string(n), ids, std::min(reps, 3),
                        cold_reps, rows);

    // git write-tree, flat and fan-out layouts.
    for (int layout = 0; git && layout < (fanout ? 2 : 1); ++layout) {
      std::fprintf(stderr, "n=%zu: git (%s)\n", n, layout ? "fanout" : "flat");
      GitIndex g(run_dir + "/git-" + std::to_string(n) + (layout ? "-fanout" : "-flat"), layout);
      std::vector<MstChange> all;
      for (const Digest& d : ids) all.push_back({d, true});
      g.Apply(all);
      all.clear();
      all.shrink_to_fit();
      const double cold = g.WriteTreeMs();
      double* out[3] = {&rows[0].git_flat_ms, &rows[1].git_flat_ms, &rows[2].git_flat_ms};
      if (layout) {
        out[0] = &rows[0].git_fanout_ms;
        out[1] = &rows[1].git_fanout_ms;
        out[2] = &rows[2].git_fanout_ms;
      }
      *out[0] = cold;
      for (int which = 0; which < 2; ++which) {
        std::vector<double> t;
        for (const auto& ch : which == 0 ? one : thousand) {
          g.Apply(ch);
          t.push_back(g.WriteTreeMs());
          // Undo, so every rep starts from the base set (untimed).
          std::vector<MstChange> undo;
          for (const auto& [id, add] : ch) undo.push_back({id, !add});
          g.Apply(undo);
          g.WriteTreeMs();
        }
        *out[1 + which] = Median(t);
      }
    }
    results.emplace_back(n, std::move(rows));
  }

  std::printf(
      "| IDs | operation | AIFS snapshot ms (engine, signed, synced) | MST in-memory ms | "
      "MST RocksDB ms (synced) | git write-tree flat ms | git write-tree fan-out ms | "
      "git flat / AIFS | git fan-out / AIFS | git flat / MST mem | git flat / MST RocksDB | "
      "git fan-out / MST mem | git fan-out / MST RocksDB | nodes written |\n"
      "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::string json = "{\"reps\":" + std::to_string(reps) + ",\"rows\":[";
  bool first = true;
  for (const auto& [n, rows] : results) {
    for (const Row& r : rows) {
      std::printf("| %zu | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f |\n",
                  n, r.what.c_str(), FmtMs(r.engine_ms).c_str(), FmtMs(r.mem_ms).c_str(),
                  FmtMs(r.rocks_ms).c_str(), FmtMs(r.git_flat_ms).c_str(),
                  FmtMs(r.git_fanout_ms).c_str(), Times(r.git_flat_ms, r.engine_ms).c_str(),
                  Times(r.git_fanout_ms, r.engine_ms).c_str(),
                  Times(r.git_flat_ms, r.mem_ms).c_str(), Times(r.git_flat_ms, r.rocks_ms).c_str(),
                  Times(r.git_fanout_ms, r.mem_ms).c_str(),
                  Times(r.git_fanout_ms, r.rocks_ms).c_str(), r.mem_nodes);
      char buf[512];
      std::snprintf(buf, sizeof buf,
                    "%s{\"ids\":%zu,\"op\":\"%s\",\"engine_ms\":%.4f,\"mem_ms\":%.4f,"
                    "\"rocks_ms\":%.4f,\"git_flat_ms\":%.3f,\"git_fanout_ms\":%.3f,\"nodes\":%.0f}",
                    first ? "" : ",", n, r.what.c_str(), r.engine_ms, r.mem_ms, r.rocks_ms,
                    r.git_flat_ms,
                    r.git_fanout_ms, r.mem_nodes);
      json += buf;
      if (!r.engine_cold_runs.empty()) {
        json.pop_back();  // '}'
        json += ",\"engine_cold_runs_ms\":[";
        for (size_t i = 0; i < r.engine_cold_runs.size(); ++i) {
          std::snprintf(buf, sizeof buf, "%s%.3f", i ? "," : "", r.engine_cold_runs[i]);
          json += buf;
        }
        json += "]}";
      }
      first = false;
    }
  }
  json += "]}";
  std::printf("\nJSON: %s\n", json.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return aifs::bench::RunBench("aifs_mst_bench", [&] { return Main(argc, argv); });
}
