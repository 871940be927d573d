// aifs_ingest_bench: end-to-end ingest and read-back throughput of the
// embedded engine, reported next to the machine's own ceilings measured in
// the same run (BLAKE3, AES-256-GCM, memcpy, chunker, durable sequential
// write) and, when `restic` is on PATH, next to `restic backup` of the same
// files. A standalone program, not a test: see bench/README.md.
//
// stdout: markdown tables, then one line `JSON: {...}` with every number.
// stderr: progress. All temporary data lives under one run directory that is
// removed at exit (also on SIGINT/SIGTERM, best effort).

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numbers>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "aifs/api/api.h"
#include "aifs/core/blake3.h"
#include "aifs/engine/engine.h"
#include "aifs/kinds/tensor.h"
#include "aifs/storage/aead.h"
#include "aifs/storage/chunker.h"
#include "aifs/storage/compression.h"
#include "bench_util.h"

extern char** environ;

namespace {

using namespace aifs::bench;

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr size_t kIoSize = 4 * kMiB;           // read/write granularity everywhere
constexpr size_t kCeilingBuf = 256 * kMiB;     // in-memory ceiling buffer
constexpr const char* kResticPassword = "aifs-ingest-bench";

// ---------------------------------------------------------------------------
// Small utilities (the ones the benches share are in bench_util.h)

double MiB(uint64_t bytes) { return static_cast<double>(bytes) / static_cast<double>(kMiB); }

size_t ReadSome(int fd, uint8_t* p, size_t n, const std::string& what) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::read(fd, p + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) Fail(what + ": read: " + std::strerror(errno));
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

uint64_t TreeBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  return total;
}

// A running restic, killed on a signal (ScratchDir::on_signal).
volatile sig_atomic_t g_child_pid = 0;

// ---------------------------------------------------------------------------
// Options

struct Options {
  uint64_t size_mib = 1024;
  bool restic = true;
  std::vector<std::string> datasets = {"random", "text", "float32"};
  uint32_t chunk_avg = 0;  // 0: the engine's default ChunkerParams
  size_t threads = 0;      // EngineOptions.threads (0 = one per core)
  std::string dir;         // base directory for all temporary data
  bool cold = false;       // evict source and chunk objects from the page cache first
  int reps = 5;            // repetitions of each in-memory ceiling (median reported)
  int write_reps = 3;      // repetitions of the durable-write ceiling (median reported)
  int runs = 1;            // AIFS ingest + read runs per data set (median reported)
  std::string grouping = "on";  // EngineOptions.byte_grouping: on, off, or both (compared)
};

void Usage(FILE* out) {
  std::fputs(
      "usage: aifs_ingest_bench [options]\n"
      "  --size-mib N         size of each data set in MiB (default 1024)\n"
      "  --datasets LIST      comma-separated subset of random,text,float32,bf16\n"
      "                       (default random,text,float32; bf16 is a tensor asset)\n"
      "  --no-restic          skip the `restic backup` comparison\n"
      "  --chunk-avg BYTES    chunk average; store is initialised with {avg/4, avg, avg*4}\n"
      "                       (default: the engine default, 256 KiB / 1 MiB / 4 MiB)\n"
      "  --threads N          EngineOptions.threads (default 0 = one per core)\n"
      "  --dir PATH           where temporary data goes (default $AIFS_BENCH_DIR or\n"
      "                       /work/bench-tmp); use the filesystem you want to measure\n"
      "  --cold               evict the source file and the chunk objects from the page\n"
      "                       cache (posix_fadvise DONTNEED) before ingest / read\n"
      "  --reps N             repetitions of each in-memory ceiling (default 5, median)\n"
      "  --write-reps N       repetitions of the durable-write ceiling (default 3, median)\n"
      "  --runs N             AIFS ingest + read-back runs per data set, each into a fresh\n"
      "                       store (default 1; the median run is reported)\n"
      "  --byte-grouping M    on (default), off, or both: each data set is also put\n"
      "                       without byte grouping and the two are compared\n"
      "  --help\n",
      out);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  if (const char* d = std::getenv("AIFS_BENCH_DIR"); d && *d) o.dir = d;
  if (o.dir.empty()) o.dir = "/work/bench-tmp";
  for (ArgReader args(argc, argv); args.Next();) {
    const std::string& a = args.flag();
    auto value = [&] { return args.Value(); };
    if (a == "--help" || a == "-h") {
      Usage(stdout);
      std::exit(0);
    } else if (a == "--size-mib") {
      o.size_mib = ParseU64(a, value());
      if (o.size_mib == 0) Fail("--size-mib must be at least 1");
    } else if (a == "--no-restic") {
      o.restic = false;
    } else if (a == "--datasets") {
      o.datasets.clear();
      std::string list = value();
      size_t start = 0;
      while (start <= list.size()) {
        size_t end = list.find(',', start);
        if (end == std::string::npos) end = list.size();
        std::string name = list.substr(start, end - start);
        if (!name.empty()) {
          if (name != "random" && name != "text" && name != "float32" && name != "bf16")
            Fail("unknown data set '" + name + "' (random, text, float32, bf16)");
          if (std::find(o.datasets.begin(), o.datasets.end(), name) == o.datasets.end())
            o.datasets.push_back(name);
        }
        start = end + 1;
      }
      if (o.datasets.empty()) Fail("--datasets names no data set");
    } else if (a == "--chunk-avg") {
      uint64_t avg = ParseU64(a, value());
      if (avg < 1024 || avg * 4 > 64 * kMiB) Fail("--chunk-avg must be in [1024, 16 MiB]");
      o.chunk_avg = static_cast<uint32_t>(avg);
    } else if (a == "--threads") {
      o.threads = ParseU64(a, value());
    } else if (a == "--dir") {
      o.dir = value();
    } else if (a == "--cold") {
      o.cold = true;
    } else if (a == "--reps") {
      o.reps = static_cast<int>(std::clamp<uint64_t>(ParseU64(a, value()), 1, 100));
    } else if (a == "--write-reps") {
      o.write_reps = static_cast<int>(std::clamp<uint64_t>(ParseU64(a, value()), 1, 20));
    } else if (a == "--byte-grouping") {
      o.grouping = value();
      if (o.grouping != "on" && o.grouping != "off" && o.grouping != "both")
        Fail("--byte-grouping takes on, off or both");
    } else if (a == "--runs") {
      o.runs = static_cast<int>(std::clamp<uint64_t>(ParseU64(a, value()), 1, 20));
    } else {
      Usage(stderr);
      Fail("unknown argument '" + a + "'");
    }
  }
  return o;
}

// ---------------------------------------------------------------------------
// Ceilings

struct AesPoint {
  size_t record = 0;
  double gbps = 0;
};

struct Ceilings {
  double blake3 = 0;
  std::vector<AesPoint> aes;
  double aes_for_ratio = 0;
  size_t aes_ratio_record = 0;
  double memcpy_gbps = 0;
  double chunker = 0;
  double chunker_avg_chunk = 0;
  uint64_t write_bytes = 0;
  double write_buffered = 0;  // write() calls only, before fsync (median)
  double write_durable = 0;   // write() + fsync (median)
  std::vector<double> write_durable_runs;
  double write_direct = 0;    // O_DIRECT write() + fsync (median); 0 if unsupported
  std::vector<double> write_direct_runs;
};

// Writes `bytes` from `src` (cyclically) in 4 MiB write() calls to a new file,
// then fsync; returns GB/s including the fsync (0 if O_DIRECT is refused) and
// stores the rate before the fsync in *buffered_gbps.
double TimedSequentialWrite(const std::string& path, aifs::ByteSpan src, uint64_t bytes,
                            bool direct, double* buffered_gbps) {
  static_assert(kCeilingBuf % kIoSize == 0);
  const auto t0 = Clock::now();
  int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (direct ? O_DIRECT : 0);
  Fd fd(::open(path.c_str(), flags, 0600));
  if (fd.get() < 0 && direct && errno == EINVAL) return 0;
  if (fd.get() < 0) Fail("create " + path + ": " + std::strerror(errno));
  uint64_t left = bytes;
  size_t off = 0;
  while (left) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, kIoSize));
    if (off + n > src.size()) off = 0;
    WriteFully(fd.get(), src.data() + off, n, path);
    off += n;
    left -= n;
  }
  const auto t1 = Clock::now();
  if (::fsync(fd.get()) != 0) Fail("fsync " + path + ": " + std::strerror(errno));
  const auto t2 = Clock::now();
  ::unlink(path.c_str());
  if (buffered_gbps) *buffered_gbps = GBps(bytes, Seconds(t0, t1));
  return GBps(bytes, Seconds(t0, t2));
}

Ceilings MeasureCeilings(const Options& opt, const aifs::ChunkerParams& params,
                         const std::string& run_dir) {
  Ceilings c;
  const uint64_t bytes = kCeilingBuf;
  Progress("ceilings: filling a %zu MiB buffer", kCeilingBuf / kMiB);
  // Page-aligned (O_DIRECT writes from it) and fully written (pre-faulted).
  std::unique_ptr<uint8_t, decltype(&std::free)> mem(
      static_cast<uint8_t*>(std::aligned_alloc(4096, kCeilingBuf)), &std::free);
  if (!mem) Fail("out of memory for the ceiling buffer");
  const aifs::MutableByteSpan buf(mem.get(), kCeilingBuf);
  Rng rng(0xC0FFEE);
  FillRandom(buf.data(), buf.size(), rng);

  Progress("ceilings: BLAKE3");
  double t = MedianSeconds(opt.reps, [&] {
    auto t0 = Clock::now();
    aifs::Digest d = aifs::Blake3::Hash(buf);
    auto t1 = Clock::now();
    g_sink = g_sink + d[0];
    return Seconds(t0, t1);
  });
  c.blake3 = GBps(bytes, t);

  Progress("ceilings: AES-256-GCM");
  aifs::AesKey key{};
  aifs::GcmNonce nonce{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7 + 1);
  for (size_t record : {size_t{16} << 10, size_t{64} << 10, size_t{256} << 10, size_t{1} << 20}) {
    aifs::Bytes out;
    out.reserve(record + aifs::kGcmTagSize);
    t = MedianSeconds(opt.reps, [&] {
      auto t0 = Clock::now();
      for (size_t off = 0; off < buf.size(); off += record) {
        out.clear();
        Check(aifs::AesGcmSeal(key, nonce, {}, aifs::ByteSpan(buf.data() + off, record), out),
              "AesGcmSeal");
      }
      auto t1 = Clock::now();
      g_sink = g_sink + out[0];
      return Seconds(t0, t1);
    });
    c.aes.push_back({record, GBps(bytes, t)});
  }
  // The ratio uses the record size nearest the average chunk (what a chunk costs).
  {
    const AesPoint* best = &c.aes.front();
    for (const AesPoint& p : c.aes)
      if (std::abs(std::log2(static_cast<double>(p.record) / params.avg_size)) <
          std::abs(std::log2(static_cast<double>(best->record) / params.avg_size)))
        best = &p;
    c.aes_for_ratio = best->gbps;
    c.aes_ratio_record = best->record;
  }

  Progress("ceilings: memcpy");
  {
    std::vector<uint8_t> dst(kCeilingBuf, 1);  // pre-faulted
    t = MedianSeconds(opt.reps, [&] {
      auto t0 = Clock::now();
      std::memcpy(dst.data(), buf.data(), buf.size());
      auto t1 = Clock::now();
      g_sink = g_sink + dst[12345];
      return Seconds(t0, t1);
    });
    c.memcpy_gbps = GBps(bytes, t);
  }

  Progress("ceilings: chunker (FastCDC gear hash)");
  {
    aifs::Chunker chunker(params);
    size_t chunks = 0;
    t = MedianSeconds(opt.reps, [&] {
      chunks = 0;
      auto t0 = Clock::now();
      aifs::ByteSpan rest(buf);
      while (!rest.empty()) {
        size_t cut = chunker.NextCut(rest);
        rest = rest.subspan(cut);
        ++chunks;
      }
      auto t1 = Clock::now();
      return Seconds(t0, t1);
    });
    c.chunker = GBps(bytes, t);
    c.chunker_avg_chunk = static_cast<double>(bytes) / static_cast<double>(std::max<size_t>(chunks, 1));
  }

  // Durable sequential write of the data-set size to the data directory's
  // filesystem: write() in 4 MiB calls, then one fsync (like dd conv=fsync).
  c.write_bytes = opt.size_mib * kMiB;
  Progress("ceilings: durable sequential write of %llu MiB x %d",
           static_cast<unsigned long long>(opt.size_mib), opt.write_reps);
  std::vector<double> buffered, durable;
  for (int rep = 0; rep < opt.write_reps; ++rep) {
    double b = 0;
    durable.push_back(TimedSequentialWrite(run_dir + "/ceiling-write.bin", buf, c.write_bytes,
                                           /*direct=*/false, &b));
    buffered.push_back(b);
  }
  c.write_buffered = Median(buffered);
  c.write_durable = Median(durable);
  c.write_durable_runs = durable;
  // The same with O_DIRECT (like dd oflag=direct conv=fsync bs=4M): what the
  // disk takes when the page cache is bypassed.
  Progress("ceilings: O_DIRECT sequential write of %llu MiB x %d",
           static_cast<unsigned long long>(opt.size_mib), opt.write_reps);
  for (int rep = 0; rep < opt.write_reps; ++rep) {
    const double d = TimedSequentialWrite(run_dir + "/ceiling-write.bin", buf, c.write_bytes,
                                          /*direct=*/true, nullptr);
    if (d <= 0) break;  // no O_DIRECT on this filesystem
    c.write_direct_runs.push_back(d);
  }
  c.write_direct = Median(c.write_direct_runs);
  return c;
}

// ---------------------------------------------------------------------------
// Data sets

// Pseudo-English text: Zipf-distributed words from a ~4000-word vocabulary,
// mixed prose paragraphs and application log lines with numbers.
class TextGen {
 public:
  explicit TextGen(uint64_t seed) : rng_(seed) {
    static const char* kCommon[] = {
        "the", "of", "and", "to", "a", "in", "is", "it", "that", "was", "for", "on", "are",
        "with", "as", "be", "at", "by", "this", "have", "from", "or", "one", "had", "not",
        "but", "what", "all", "were", "when", "we", "there", "can", "an", "your", "which",
        "their", "said", "if", "do", "will", "each", "about", "how", "up", "out", "them",
        "then", "she", "many", "some", "so", "these", "would", "other", "into", "has", "more",
        "her", "two", "like", "him", "see", "time", "could", "no", "make", "than", "first",
        "been", "its", "who", "now", "people", "my", "made", "over", "did", "down", "only",
        "way", "find", "use", "may", "water", "long", "little", "very", "after", "words",
        "called", "just", "where", "most", "know", "data", "model", "system", "file", "value"};
    static const char* kOnset[] = {"b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n",
                                   "p", "r", "s", "t", "v", "w", "z", "br", "ch", "cl", "cr",
                                   "dr", "fl", "gr", "pl", "pr", "sh", "st", "th", "tr", ""};
    static const char* kVowel[] = {"a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ee", "io", "ou", "y"};
    static const char* kCoda[] = {"", "", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng", "ck", "x"};
    std::unordered_set<std::string> seen;
    for (const char* w : kCommon)
      if (seen.insert(w).second) vocab_.push_back(w);
    while (vocab_.size() < kVocab) {
      const uint32_t syll = 1 + rng_.Below(4) / 2 + rng_.Below(3) / 2;  // 1..3, mostly 2
      std::string w;
      for (uint32_t s = 0; s < syll; ++s) {
        w += kOnset[rng_.Below(std::size(kOnset))];
        w += kVowel[rng_.Below(std::size(kVowel))];
        w += kCoda[rng_.Below(std::size(kCoda))];
      }
      if (rng_.Below(8) == 0) w += rng_.Below(2) ? "ing" : "ed";
      if (w.size() >= 2 && seen.insert(w).second) vocab_.push_back(std::move(w));
    }
    // Zipf (s = 1.05) rank table: a uniform 20-bit draw maps to a word index.
    std::vector<double> cdf(vocab_.size());
    double total = 0;
    for (size_t k = 0; k < vocab_.size(); ++k) cdf[k] = total += 1.0 / std::pow(k + 1.0, 1.05);
    zipf_.resize(size_t{1} << kZipfBits);
    for (size_t u = 0; u < zipf_.size(); ++u) {
      double x = (u + 0.5) / static_cast<double>(zipf_.size()) * total;
      zipf_[u] = static_cast<uint16_t>(std::lower_bound(cdf.begin(), cdf.end(), x) - cdf.begin());
    }
    // Services and endpoints for the log lines: drawn once from the vocabulary.
    for (int i = 0; i < 12; ++i) services_.push_back(Word() + "-" + Word());
    for (int i = 0; i < 40; ++i) paths_.push_back("/api/v" + std::to_string(1 + rng_.Below(3)) + "/" + Word() + "/" + Word());
  }

  void Fill(uint8_t* dst, size_t n) {
    size_t done = 0;
    while (done < n) {
      if (pos_ == pending_.size()) {
        pending_.clear();
        pos_ = 0;
        GenerateBlock();
      }
      size_t take = std::min(n - done, pending_.size() - pos_);
      std::memcpy(dst + done, pending_.data() + pos_, take);
      pos_ += take;
      done += take;
    }
  }

 private:
  static constexpr size_t kVocab = 4000;
  static constexpr unsigned kZipfBits = 20;

  const std::string& Word() { return vocab_[zipf_[rng_.Next() >> (64 - kZipfBits)]]; }

  void Num(uint64_t v) {
    char b[24];
    auto r = std::to_chars(b, b + sizeof b, v);
    pending_.append(b, r.ptr);
  }
  void Num2(unsigned v) {
    pending_ += static_cast<char>('0' + v / 10);
    pending_ += static_cast<char>('0' + v % 10);
  }

  void Sentence() {
    const uint32_t n = 5 + rng_.Below(14);
    for (uint32_t i = 0; i < n; ++i) {
      const std::string& w = Word();
      if (i == 0) {
        pending_ += static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
        pending_.append(w, 1);
      } else {
        pending_ += w;
      }
      if (i + 1 < n) pending_ += (rng_.Below(12) == 0) ? ", " : " ";
    }
    pending_ += rng_.Below(10) == 0 ? "? " : ". ";
  }

  void Paragraph() {
    const uint32_t sentences = 2 + rng_.Below(6);
    for (uint32_t i = 0; i < sentences; ++i) Sentence();
    pending_.back() = '\n';
    pending_ += '\n';
  }

  void LogLine() {
    clock_ms_ += rng_.Below(40);
    const time_t secs = static_cast<time_t>(clock_ms_ / 1000);
    if (secs != cached_sec_) {
      tm tmv{};
      gmtime_r(&secs, &tmv);
      char b[32];
      std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tmv);
      cached_ts_ = b;
      cached_sec_ = secs;
    }
    pending_ += cached_ts_;
    pending_ += '.';
    const unsigned ms = static_cast<unsigned>(clock_ms_ % 1000);
    pending_ += static_cast<char>('0' + ms / 100);
    Num2(ms % 100);
    pending_ += "Z ";
    const uint32_t lvl = rng_.Below(100);
    pending_ += lvl < 80 ? "INFO  " : lvl < 90 ? "DEBUG " : lvl < 97 ? "WARN  " : "ERROR ";
    pending_ += '[';
    pending_ += services_[rng_.Below(static_cast<uint32_t>(services_.size()))];
    pending_ += "-";
    Num(rng_.Below(8));
    pending_ += "] ";
    switch (rng_.Below(3)) {
      case 0:
        pending_ += rng_.Below(4) ? "GET " : "POST ";
        pending_ += paths_[rng_.Below(static_cast<uint32_t>(paths_.size()))];
        pending_ += " status=";
        pending_ += rng_.Below(20) ? "200" : (rng_.Below(2) ? "404" : "500");
        pending_ += " bytes=";
        Num(rng_.Below(1 << (4 + rng_.Below(12))));
        pending_ += " latency_ms=";
        Num(rng_.Below(1 << rng_.Below(10)));
        break;
      case 1:
        for (uint32_t i = 0, n = 3 + rng_.Below(6); i < n; ++i) {
          if (i) pending_ += ' ';
          pending_ += Word();
        }
        pending_ += " user=";
        pending_ += Word();
        break;
      default:
        pending_ += "job ";
        pending_ += Word();
        pending_ += " step ";
        Num(rng_.Below(100));
        pending_ += "/100 loss=0.";
        Num2(rng_.Below(100));
        pending_ += " items=";
        Num(rng_.Below(100000));
        break;
    }
    pending_ += '\n';
  }

  void GenerateBlock() {
    // ~60% log lines, ~40% prose by bytes.
    if (rng_.Below(3) == 0) {
      for (int i = 0; i < 4; ++i) Paragraph();
    } else {
      for (int i = 0, n = 20 + static_cast<int>(rng_.Below(60)); i < n; ++i) LogLine();
    }
  }

  Rng rng_;
  std::vector<std::string> vocab_;
  std::vector<uint16_t> zipf_;
  std::vector<std::string> services_, paths_;
  std::string pending_;
  size_t pos_ = 0;
  uint64_t clock_ms_ = 1795996800000ULL;  // 2026-12-01T00:00:00Z
  time_t cached_sec_ = -1;
  std::string cached_ts_;
};

// float32 tensor [rows, 1024], little-endian: a smooth separable field
// (row wave x column profile + slow drift) plus small triangular noise.
class FloatGen {
 public:
  explicit FloatGen(uint64_t seed) : rng_(seed), col_(kCols) {
    for (size_t c = 0; c < kCols; ++c) {
      const double x = 2 * std::numbers::pi * static_cast<double>(c) / kCols;
      col_[c] = static_cast<float>(std::sin(3 * x) + 0.3 * std::cos(17 * x));
    }
  }
  // `n` is a multiple of 4.
  void Fill(uint8_t* dst, size_t n) {
    static_assert(std::endian::native == std::endian::little, "write little-endian float32");
    for (size_t i = 0; i + 4 <= n; i += 4) {
      if (col_idx_ == 0) {
        const double r = static_cast<double>(row_);
        row_amp_ = static_cast<float>(std::sin(2 * std::numbers::pi * r / 2039.0));
        row_bias_ = static_cast<float>(0.25 * std::cos(2 * std::numbers::pi * r / 50021.0));
      }
      const uint64_t bits = rng_.Next();
      const float noise = 0.01f * (static_cast<float>(bits >> 40) * 0x1.0p-24f +
                                   static_cast<float>((bits >> 8) & 0xFFFFFF) * 0x1.0p-24f - 1.0f);
      const float v = row_amp_ * col_[col_idx_] + row_bias_ + noise;
      std::memcpy(dst + i, &v, 4);
      if (++col_idx_ == kCols) {
        col_idx_ = 0;
        ++row_;
      }
    }
  }

 private:
  static constexpr size_t kCols = 1024;
  Rng rng_;
  std::vector<float> col_;
  size_t col_idx_ = 0;
  uint64_t row_ = 0;
  float row_amp_ = 0, row_bias_ = 0;
};

// bfloat16 weights of a transformer layer: normal(0, 0.02) (Box-Muller over
// the xoshiro stream), rounded to nearest even from float32.
class Bf16Gen {
 public:
  explicit Bf16Gen(uint64_t seed) : rng_(seed) {}
  // `n` is a multiple of 2.
  void Fill(uint8_t* dst, size_t n) {
    for (size_t i = 0; i + 2 <= n; i += 2) {
      const float f = 0.02f * Normal();
      uint32_t u;
      std::memcpy(&u, &f, 4);
      const uint16_t b = static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
      dst[i] = static_cast<uint8_t>(b);
      dst[i + 1] = static_cast<uint8_t>(b >> 8);
    }
  }

 private:
  float Normal() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    const double u1 = (static_cast<double>(rng_.Next() >> 11) + 1) * 0x1.0p-53;
    const double u2 = static_cast<double>(rng_.Next() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2 * std::log(u1));
    spare_ = static_cast<float>(r * std::sin(2 * std::numbers::pi * u2));
    have_spare_ = true;
    return static_cast<float>(r * std::cos(2 * std::numbers::pi * u2));
  }
  Rng rng_;
  float spare_ = 0;
  bool have_spare_ = false;
};

struct DatasetFile {
  std::string path;
  uint64_t bytes = 0;
  uint64_t checksum = 0;
  double gen_seconds = 0;
};

// Writes the data set in 4 MiB blocks and fsyncs it, so it stays cached but
// clean (Commit's syncfs would otherwise also flush the source file).
DatasetFile GenerateDataset(const std::string& name, const std::string& path, uint64_t bytes);

// The bf16 data set is a tensor asset: `bytes` of weights, shape [rows, 4096],
// in the tensor kind's encoding (Arrow IPC), built in memory.
DatasetFile GenerateTensorDataset(const std::string& path, uint64_t bytes) {
  DatasetFile f;
  f.path = path;
  auto t0 = Clock::now();
  constexpr int64_t kCols = 4096;
  const int64_t rows = std::max<int64_t>(1, static_cast<int64_t>(bytes / 2 / kCols));
  aifs::Bytes values(static_cast<size_t>(rows * kCols * 2));
  Bf16Gen(0x5EED0004).Fill(values.data(), values.size());
  aifs::Bytes ipc;
  Check(aifs::EncodeTensorIpc({aifs::DType::kBFloat16, {rows, kCols}, values}, 1, ipc),
        "EncodeTensorIpc");
  values = {};
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) Fail("create " + path + ": " + std::strerror(errno));
  SampledSum sum;
  for (size_t off = 0; off < ipc.size(); off += kIoSize) {
    const size_t n = std::min<size_t>(kIoSize, ipc.size() - off);
    sum.Add(ipc.data() + off, n);
    WriteFully(fd.get(), ipc.data() + off, n, path);
  }
  if (::fsync(fd.get()) != 0) Fail("fsync " + path + ": " + std::strerror(errno));
  f.bytes = ipc.size();
  f.checksum = sum.sum();
  f.gen_seconds = Seconds(t0, Clock::now());
  return f;
}

DatasetFile GenerateDataset(const std::string& name, const std::string& path, uint64_t bytes) {
  if (name == "bf16") return GenerateTensorDataset(path, bytes);
  DatasetFile f;
  f.path = path;
  f.bytes = bytes;
  auto t0 = Clock::now();
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) Fail("create " + path + ": " + std::strerror(errno));
  std::vector<uint8_t> block(kIoSize);
  SampledSum sum;
  Rng rng(0x5EED0001);
  std::unique_ptr<TextGen> text;
  std::unique_ptr<FloatGen> floats;
  if (name == "text") text = std::make_unique<TextGen>(0x5EED0002);
  if (name == "float32") floats = std::make_unique<FloatGen>(0x5EED0003);
  for (uint64_t left = bytes; left;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, kIoSize));
    if (text) text->Fill(block.data(), n);
    else if (floats) floats->Fill(block.data(), n);
    else FillRandom(block.data(), n, rng);
    sum.Add(block.data(), n);
    WriteFully(fd.get(), block.data(), n, path);
    left -= n;
  }
  if (::fsync(fd.get()) != 0) Fail("fsync " + path + ": " + std::strerror(errno));
  f.checksum = sum.sum();
  f.gen_seconds = Seconds(t0, Clock::now());
  return f;
}

// ---------------------------------------------------------------------------
// AIFS ingest + read-back

struct AifsResult {
  double src_resident = 0;     // page-cache fraction of the source before ingest
  double store_resident = 0;   // page-cache fraction of chunk objects before read
  double ingest_s = 0, ingest_cpu_s = 0, ingest_others_cpu_s = 0, commit_s = 0;
  double read_s = 0, read_cpu_s = 0, read_others_cpu_s = 0;
  double reread_s = 0, reread_cpu_s = 0, reread_resident = 0;  // second read: cached
  uint64_t logical = 0, stored = 0, chunks = 0, chunks_total = 0, store_dir_bytes = 0;
  double ingest_gbps = 0, read_gbps = 0, reread_gbps = 0;
  std::vector<double> ingest_runs, read_runs;  // GB/s of every run (--runs)
};

AifsResult RunAifsOnce(const Options& opt, const aifs::ChunkerParams& params,
                       const DatasetFile& src, const std::string& name,
                       const std::string& store_dir, bool grouping) {
  AifsResult r;
  Check(aifs::Engine::Init(store_dir, aifs::InitOptions{.chunking = params, .zstd_level = 1}),
        "Engine::Init");
  auto opened = aifs::Engine::Open(aifs::EngineOptions{.data_dir = store_dir,
                                                       .read_only = false,
                                                       .threads = opt.threads,
                                                       .byte_grouping = grouping});
  Check(opened.status(), "Engine::Open");
  std::unique_ptr<aifs::Engine> engine = std::move(opened).value();

  if (opt.cold) {
    Fd fd(::open(src.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() >= 0) ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  }
  r.src_resident = ResidentFraction(src.path);

  // Ingest: open the file, BeginPut, reads -> WriteFrom, Commit. Timed from
  // before open() to after Commit() returned (which includes the syncfs).
  Progress("%s: AIFS ingest", name.c_str());
  PhaseMeter ingest;
  aifs::PutResult put;
  {
    Fd fd(::open(src.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) Fail("open " + src.path + ": " + std::strerror(errno));
    aifs::PutOptions po;
    // A blob but for bf16 (a tensor stream): other kinds parse their bytes;
    // this measures the byte pipeline that all kinds share.
    po.kind = name == "bf16" ? aifs::AssetKind::kTensor : aifs::AssetKind::kBlob;
    po.expected_size = src.bytes;
    po.metadata = {{"bench", "ingest"}, {"dataset", name}};
    auto writer = engine->BeginPut(po);
    Check(writer.status(), "BeginPut");
    // As `aifs put FILE` does: read() straight into the writer's buffer.
    auto fill = [&](aifs::MutableByteSpan room) -> aifs::Result<size_t> {
      return ReadSome(fd.get(), room.data(), room.size(), src.path);
    };
    Check((*writer)->WriteFrom(fill), "AssetWriter::WriteFrom");
    const auto tc = Clock::now();
    auto committed = (*writer)->Commit();
    Check(committed.status(), "AssetWriter::Commit");
    r.commit_s = Seconds(tc, Clock::now());
    put = std::move(committed).value();
  }
  ingest.Stop();
  r.ingest_s = ingest.wall;
  r.ingest_cpu_s = ingest.cpu;
  r.ingest_others_cpu_s = ingest.others;
  r.chunks_total = put.chunks_total;
  if (put.asset.size != src.bytes) Fail("committed asset size differs from the source size");

  auto ns = engine->GetNamespace("default");
  Check(ns.status(), "GetNamespace");
  r.logical = ns->logical_bytes;
  r.stored = ns->stored_bytes;
  r.chunks = ns->chunk_count;
  r.store_dir_bytes = TreeBytes(store_dir + "/chunks");

  // Read-back of the whole asset into a counting, checksumming sink.
  r.store_resident = ResidentFractionTree(store_dir + "/chunks", opt.cold);
  if (opt.cold) r.store_resident = ResidentFractionTree(store_dir + "/chunks", false);
  Progress("%s: AIFS read-back", name.c_str());
  auto read_all = [&](PhaseMeter& meter) {
    SampledSum sum;
    Check(engine->ReadAsset("default", put.asset.id, aifs::ReadRange{},
                            [&sum](aifs::ByteSpan piece) {
                              sum.Add(piece.data(), piece.size());
                              return aifs::Status::Ok();
                            }),
          "ReadAsset");
    meter.Stop();
    if (sum.bytes() != src.bytes || sum.sum() != src.checksum)
      Fail(Fmt("read-back mismatch for %s: %llu bytes, checksum %016llx (want %llu, %016llx)",
               name.c_str(), static_cast<unsigned long long>(sum.bytes()),
               static_cast<unsigned long long>(sum.sum()),
               static_cast<unsigned long long>(src.bytes),
               static_cast<unsigned long long>(src.checksum)));
  };
  PhaseMeter read;
  read_all(read);
  r.read_s = read.wall;
  r.read_cpu_s = read.cpu;
  r.read_others_cpu_s = read.others;
  // A second full read: whatever the first read pulled into the page cache
  // is now cached, so this isolates the CPU side of the read path.
  r.reread_resident = ResidentFractionTree(store_dir + "/chunks", false);
  PhaseMeter reread;
  read_all(reread);
  r.reread_s = reread.wall;
  r.reread_cpu_s = reread.cpu;
  r.reread_gbps = GBps(src.bytes, r.reread_s);

  r.ingest_gbps = GBps(src.bytes, r.ingest_s);
  r.read_gbps = GBps(src.bytes, r.read_s);
  r.ingest_runs = {r.ingest_gbps};
  r.read_runs = {r.read_gbps};
  // The store stays until the run directory is removed at exit: deleting
  // thousands of files here would make ext4 skip their "recently deleted"
  // inodes (a slow scan) while the next data set creates its objects.
  return r;
}

// --runs N: a fresh store each time; the ingest figures come from the run
// with the median ingest rate, the read figures from the median read run.
AifsResult RunAifs(const Options& opt, const aifs::ChunkerParams& params, const DatasetFile& src,
                   const std::string& name, const std::string& store_dir, bool grouping) {
  std::vector<AifsResult> runs;
  for (int i = 0; i < opt.runs; ++i)
    runs.push_back(RunAifsOnce(opt, params, src, name,
                               opt.runs == 1 ? store_dir : store_dir + "." + std::to_string(i),
                               grouping));
  if (runs.size() == 1) return runs.front();
  auto median_by = [&](auto key) {
    std::vector<size_t> idx(runs.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return key(runs[a]) < key(runs[b]); });
    return idx[idx.size() / 2];
  };
  const size_t mi = median_by([](const AifsResult& r) { return r.ingest_gbps; });
  const size_t mr = median_by([](const AifsResult& r) { return r.read_gbps; });
  AifsResult out = runs[mi];
  out.read_s = runs[mr].read_s;
  out.read_cpu_s = runs[mr].read_cpu_s;
  out.read_others_cpu_s = runs[mr].read_others_cpu_s;
  out.read_gbps = runs[mr].read_gbps;
  out.store_resident = runs[mr].store_resident;
  const size_t mrr = median_by([](const AifsResult& r) { return r.reread_gbps; });
  out.reread_s = runs[mrr].reread_s;
  out.reread_cpu_s = runs[mrr].reread_cpu_s;
  out.reread_gbps = runs[mrr].reread_gbps;
  out.reread_resident = runs[mrr].reread_resident;
  out.ingest_runs.clear();
  out.read_runs.clear();
  for (const AifsResult& r : runs) {
    out.ingest_runs.push_back(r.ingest_gbps);
    out.read_runs.push_back(r.read_gbps);
  }
  return out;
}

// Single-thread zstd level 1 through aifs::MaybeCompress (the engine's own
// policy: trial on a sample, keep only if it saves >= 10%), over avg-sized
// pieces of the data set's first min(size, 256 MiB) bytes.
struct ZstdCeiling {
  double gbps = 0;
  double ratio = 0;  // output / input, counting rejected pieces as stored raw
  double compressed_fraction = 0;
  // The sealer's per-chunk decision on the same pieces, µs per piece:
  // aifs::LooksCompressible (zstd alone) and aifs::PlanCompression with the
  // blob trial for byte grouping; and the share of pieces it groups.
  double looks_us = 0, plan_us = 0, grouped_fraction = 0;
};

ZstdCeiling MeasureZstd(const Options& opt, const aifs::ChunkerParams& params,
                        const DatasetFile& src) {
  const size_t n = static_cast<size_t>(std::min<uint64_t>(src.bytes, kCeilingBuf));
  std::vector<uint8_t> data(n);
  {
    Fd fd(::open(src.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) Fail("open " + src.path + ": " + std::strerror(errno));
    if (ReadSome(fd.get(), data.data(), n, src.path) != n) Fail("short read of " + src.path);
  }
  const size_t piece = params.avg_size;
  const aifs::CompressionPolicy policy{.level = 1};
  ZstdCeiling z;
  uint64_t out_bytes = 0, compressed = 0, pieces = 0;
  aifs::Bytes out;
  const double t = MedianSeconds(std::max(1, opt.reps / 2), [&] {
    out_bytes = compressed = pieces = 0;
    auto t0 = Clock::now();
    for (size_t off = 0; off < n; off += piece) {
      aifs::ByteSpan in(data.data() + off, std::min(piece, n - off));
      const bool used = aifs::MaybeCompress(in, policy, out);
      out_bytes += used ? out.size() : in.size();
      compressed += used;
      ++pieces;
    }
    return Seconds(t0, Clock::now());
  });
  z.gbps = GBps(n, t);
  z.ratio = static_cast<double>(out_bytes) / static_cast<double>(n);
  z.compressed_fraction = static_cast<double>(compressed) / static_cast<double>(std::max<uint64_t>(pieces, 1));
  uint64_t grouped = 0;
  const double looks = MedianSeconds(opt.reps, [&] {
    auto t0 = Clock::now();
    for (size_t off = 0; off < n; off += piece)
      (void)aifs::LooksCompressible({data.data() + off, std::min(piece, n - off)}, policy);
    return Seconds(t0, Clock::now());
  });
  const double plan = MedianSeconds(opt.reps, [&] {
    grouped = 0;
    auto t0 = Clock::now();
    for (size_t off = 0; off < n; off += piece)
      grouped += aifs::PlanCompression({data.data() + off, std::min(piece, n - off)}, policy,
                                       aifs::kGroupingTrial)
                     .group_width != 0;
    return Seconds(t0, Clock::now());
  });
  const double per_piece = 1e6 / static_cast<double>(std::max<uint64_t>(pieces, 1));
  z.looks_us = looks * per_piece;
  z.plan_us = plan * per_piece;
  z.grouped_fraction =
      static_cast<double>(grouped) / static_cast<double>(std::max<uint64_t>(pieces, 1));
  return z;
}

// ---------------------------------------------------------------------------
// restic

std::string FindOnPath(const std::string& prog) {
  const char* path = std::getenv("PATH");
  if (!path) return {};
  std::string_view rest(path);
  while (!rest.empty()) {
    size_t colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    if (dir.empty()) dir = ".";
    std::string cand = dir + "/" + prog;
    if (::access(cand.c_str(), X_OK) == 0) return cand;
  }
  return {};
}

// Runs argv with RESTIC_PASSWORD set, output appended to `log`; exit status.
int RunLogged(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e)
    if (!std::string_view(*e).starts_with("RESTIC_PASSWORD")) env_store.emplace_back(*e);
  env_store.push_back(std::string("RESTIC_PASSWORD=") + kResticPassword);
  std::vector<char*> envp, args;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) Fail("spawn " + argv[0] + ": " + std::strerror(rc));
  g_child_pid = pid;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child_pid = 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string Tail(const std::string& path, size_t max_chars = 2000) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s.size() > max_chars ? s.substr(s.size() - max_chars) : s;
}

struct ResticResult {
  bool ran = false;
  double seconds = 0, cpu_s = 0, others_cpu_s = 0, mbps = 0;
  uint64_t repo_bytes = 0;
};

ResticResult RunRestic(const std::string& restic, const DatasetFile& src, const std::string& name,
                       const std::string& run_dir) {
  ResticResult r;
  const std::string repo = run_dir + "/restic-" + name;
  const std::string cache = run_dir + "/restic-cache";
  const std::string log = run_dir + "/restic.log";
  Progress("%s: restic init + backup", name.c_str());
  if (RunLogged({restic, "init", "--repo", repo, "--cache-dir", cache}, log) != 0)
    Fail("restic init failed:\n" + Tail(log));
  const double cpu0 = CpuSeconds(RUSAGE_CHILDREN);
  const double sys0 = SystemBusySeconds(), self0 = CpuSeconds();
  const auto t0 = Clock::now();
  if (RunLogged({restic, "backup", "--repo", repo, "--cache-dir", cache, src.path}, log) != 0)
    Fail("restic backup failed:\n" + Tail(log));
  r.seconds = Seconds(t0, Clock::now());
  r.cpu_s = CpuSeconds(RUSAGE_CHILDREN) - cpu0;
  r.others_cpu_s =
      std::max(0.0, SystemBusySeconds() - sys0 - r.cpu_s - (CpuSeconds() - self0));
  r.ran = true;
  r.mbps = static_cast<double>(src.bytes) / r.seconds / 1e6;
  r.repo_bytes = TreeBytes(repo);  // removed with the run directory at exit
  return r;
}

std::string ResticVersion(const std::string& restic, const std::string& run_dir) {
  const std::string log = run_dir + "/restic-version.log";
  if (RunLogged({restic, "version"}, log) != 0) return "unknown";
  std::string v = Tail(log);
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
  return v;
}

// ---------------------------------------------------------------------------

struct DatasetReport {
  std::string name;
  DatasetFile file;
  AifsResult aifs;
  AifsResult aifs_ungrouped;  // --byte-grouping both: the same data set without
  ZstdCeiling zstd;
  ResticResult restic;
};

int Run(const Options& opt) {
  aifs::ChunkerParams params;  // engine defaults
  if (opt.chunk_avg) params = {opt.chunk_avg / 4, opt.chunk_avg, opt.chunk_avg * 4};
  Check(params.Validate(), "chunk parameters");

  ScratchDir::on_signal = [] {
    if (g_child_pid > 0) ::kill(static_cast<pid_t>(g_child_pid), SIGTERM);
  };
  const ScratchDir scratch(opt.dir, "ingest-bench", /*announce=*/true);
  const std::string& run_dir = scratch.path();

  const std::string restic = opt.restic ? FindOnPath("restic") : std::string();
  std::string restic_note;
  if (!opt.restic) restic_note = "skipped (--no-restic)";
  else if (restic.empty()) restic_note = "skipped: `restic` is not on PATH";
  const std::string restic_version = restic.empty() ? "" : ResticVersion(restic, run_dir);

  const unsigned hw = std::thread::hardware_concurrency();
  const size_t engine_threads = opt.threads ? opt.threads : (hw ? hw : 2);
  const std::string fs_type = FsTypeName(run_dir);
  const std::string started = NowUtc();
  const std::string load_start = LoadAvg();

  Ceilings c = MeasureCeilings(opt, params, run_dir);

  std::vector<DatasetReport> reports;
  for (const std::string& name : opt.datasets) {
    DatasetReport rep;
    rep.name = name;
    Progress("%s: generating %llu MiB", name.c_str(), static_cast<unsigned long long>(opt.size_mib));
    rep.file = GenerateDataset(name, run_dir + "/data-" + name + ".bin", opt.size_mib * kMiB);
    Progress("%s: zstd-1 ceiling", name.c_str());
    rep.zstd = MeasureZstd(opt, params, rep.file);
    if (opt.grouping == "both") {
      rep.aifs_ungrouped = RunAifs(opt, params, rep.file, name + " (no grouping)",
                                   run_dir + "/store-ungrouped-" + name, false);
      Progress("%s without byte grouping: ingest %.3f GB/s, stored/logical %.3f", name.c_str(),
               rep.aifs_ungrouped.ingest_gbps,
               Ratio(static_cast<double>(rep.aifs_ungrouped.stored),
                     static_cast<double>(rep.aifs_ungrouped.logical)));
    }
    rep.aifs =
        RunAifs(opt, params, rep.file, name, run_dir + "/store-" + name, opt.grouping != "off");
    Progress("%s: ingest %.3f GB/s, read %.3f GB/s", name.c_str(), rep.aifs.ingest_gbps,
             rep.aifs.read_gbps);
    if (!restic.empty()) {
      rep.restic = RunRestic(restic, rep.file, name, run_dir);
      Progress("%s: restic %.1f MB/s", name.c_str(), rep.restic.mbps);
    }
    ::unlink(rep.file.path.c_str());
    reports.push_back(std::move(rep));
  }

  // ---- markdown report ----
  const std::string load_end = LoadAvg();
  std::printf("# AIFS ingest benchmark\n\n");
  std::printf("- started %s; CPU: %s; %u hardware threads; load average at start %s, at end %s\n",
              started.c_str(), CpuModel().c_str(), hw, load_start.c_str(), load_end.c_str());
  std::printf("- data dir filesystem: %s (%s)\n", fs_type.c_str(), run_dir.c_str());
  std::printf("- data set size %llu MiB (%.3f GB) each; engine threads %zu%s; chunking min/avg/max "
              "%u/%u/%u bytes; zstd level 1; %d AIFS run(s) per data set%s\n",
              static_cast<unsigned long long>(opt.size_mib),
              static_cast<double>(opt.size_mib * kMiB) / 1e9, engine_threads,
              opt.threads ? "" : " (0 = one per core)", params.min_size, params.avg_size,
              params.max_size, opt.runs, opt.runs > 1 ? " (median reported)" : "");
  std::printf("- page cache: %s\n",
              opt.cold ? "--cold: source file and chunk objects evicted (posix_fadvise DONTNEED) "
                         "before ingest / read"
                       : "warm source: each source file was just written (and fsynced), so it "
                         "is in the page cache when ingest starts. The chunk objects are read "
                         "back right after ingest, in whatever state the engine left them (it "
                         "may write them with O_DIRECT, i.e. uncached: see \"objects cached\"); "
                         "the re-read then runs with them cached");
  std::printf("- GB/s = 1e9 bytes/s of logical (source) bytes; MiB = 2^20 bytes. In-memory "
              "ceilings: single-thread medians of %d runs; durable write: median of %d. "
              "\"others\" = CPU cores used by other processes during the phase (noise)\n\n",
              opt.reps, opt.write_reps);

  std::printf("## Ceilings (measured in this run)\n\n");
  std::printf("| operation | GB/s | notes |\n|---|---:|---|\n");
  std::printf("| BLAKE3 (aifs::Blake3::Hash, 1 thread) | %.2f | one %zu MiB buffer |\n", c.blake3,
              kCeilingBuf / kMiB);
  for (const AesPoint& p : c.aes)
    std::printf("| AES-256-GCM seal (aifs::AesGcmSeal, 1 thread), %zu KiB records | %.2f |%s |\n",
                p.record >> 10, p.gbps,
                p.record == c.aes_ratio_record ? " used for ratios (nearest the average chunk)" : "");
  std::printf("| memcpy (1 thread) | %.2f | %zu MiB to a pre-faulted buffer |\n", c.memcpy_gbps,
              kCeilingBuf / kMiB);
  std::printf("| FastCDC chunker (aifs::Chunker::NextCut, 1 thread) | %.2f | random data, avg "
              "chunk %.0f KiB |\n",
              c.chunker, c.chunker_avg_chunk / 1024);
  std::printf("| sequential write, buffered (write() only) | %.2f | %llu MiB in 4 MiB writes |\n",
              c.write_buffered, static_cast<unsigned long long>(c.write_bytes / kMiB));
  std::printf("| sequential write, durable (write + fsync) | %.2f | like `dd conv=fsync`, same "
              "filesystem as the data dir; runs: %s |\n",
              c.write_durable, JoinDoubles(c.write_durable_runs).c_str());
  if (c.write_direct > 0)
    std::printf("| sequential write, O_DIRECT + fsync | %.2f | like `dd oflag=direct conv=fsync "
                "bs=4M` (one stream, QD1); runs: %s |\n",
                c.write_direct, JoinDoubles(c.write_direct_runs).c_str());
  else
    std::printf("| sequential write, O_DIRECT + fsync | n/a | the filesystem refuses O_DIRECT |\n");
  std::printf("\n");

  std::printf("## Compression ceiling per data set\n\n");
  std::printf(
      "| data set | zstd-1 (aifs::MaybeCompress, 1 thread) GB/s | output/input | pieces "
      "compressed | chunk decision µs: zstd trial / with grouping trial | pieces "
      "grouped |\n|---|---:|---:|---:|---:|---:|\n");
  for (const auto& r : reports)
    std::printf("| %s | %.3f | %.3f | %.0f%% | %.1f / %.1f | %.0f%% |\n", r.name.c_str(),
                r.zstd.gbps, r.zstd.ratio, r.zstd.compressed_fraction * 100, r.zstd.looks_us,
                r.zstd.plan_us, r.zstd.grouped_fraction * 100);

  std::printf("\n## AIFS ingest and read-back\n\n");
  std::printf("| data set | logical MiB | stored MiB | stored/logical | chunks (avg KiB) | "
              "source cached | ingest GB/s | ingest CPU cores (others) | commit s | objects "
              "cached | read GB/s | read CPU cores (others) | re-read (cached) GB/s | re-read "
              "CPU cores |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : reports) {
    const auto& a = r.aifs;
    std::printf(
        "| %s | %.0f | %.1f | %.3f | %llu (%.0f) | %.0f%% | %.3f | %.2f (%.2f) | %.3f | %.0f%% | "
        "%.3f | %.2f (%.2f) | %.3f | %.2f |\n",
        r.name.c_str(), MiB(a.logical), MiB(a.stored),
        Ratio(static_cast<double>(a.stored), static_cast<double>(a.logical)),
        static_cast<unsigned long long>(a.chunks),
        static_cast<double>(a.logical) / static_cast<double>(std::max<uint64_t>(a.chunks_total, 1)) / 1024,
        a.src_resident * 100, a.ingest_gbps, Ratio(a.ingest_cpu_s, a.ingest_s),
        Ratio(a.ingest_others_cpu_s, a.ingest_s), a.commit_s, a.store_resident * 100,
        a.read_gbps, Ratio(a.read_cpu_s, a.read_s), Ratio(a.read_others_cpu_s, a.read_s),
        a.reread_gbps, Ratio(a.reread_cpu_s, a.reread_s));
  }
  std::printf("\n\"source cached\" / \"objects cached\": share of the source file / of the "
              "chunk objects in the page cache just before ingest / read (mincore).\n");
  if (opt.runs > 1) {
    std::printf("\nAll runs (GB/s):\n\n");
    for (const auto& r : reports)
      std::printf("- %s: ingest %s; read %s\n", r.name.c_str(), JoinDoubles(r.aifs.ingest_runs).c_str(),
                  JoinDoubles(r.aifs.read_runs).c_str());
  }
  if (opt.grouping == "both") {
    std::printf("\n## Byte grouping: the same data without and with it\n\n");
    std::printf(
        "| data set | byte grouping | stored/logical | ingest GB/s | ingest CPU s/GB "
        "(others cores) | read GB/s | read CPU s/GB | re-read (cached) GB/s |\n");
    std::printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (const auto& r : reports) {
      for (const AifsResult* a : {&r.aifs_ungrouped, &r.aifs}) {
        const double gb = static_cast<double>(a->logical) / 1e9;
        std::printf("| %s | %s | %.3f | %.3f | %.2f (%.2f) | %.3f | %.2f | %.3f |\n",
                    r.name.c_str(), a == &r.aifs ? "on" : "off",
                    Ratio(static_cast<double>(a->stored), static_cast<double>(a->logical)),
                    a->ingest_gbps, Ratio(a->ingest_cpu_s, gb),
                    Ratio(a->ingest_others_cpu_s, a->ingest_s), a->read_gbps,
                    Ratio(a->read_cpu_s, gb), a->reread_gbps);
      }
    }
  }
  std::printf("\n## Ratios to the ceilings\n\n");
  std::printf("| data set | ingest / BLAKE3 | ingest / AES-GCM | ingest / durable write | "
              "ingest / O_DIRECT write | ingest / zstd-1 | read / BLAKE3 | re-read / BLAKE3 |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : reports) {
    const auto& a = r.aifs;
    std::printf("| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", r.name.c_str(),
                Ratio(a.ingest_gbps, c.blake3), Ratio(a.ingest_gbps, c.aes_for_ratio),
                Ratio(a.ingest_gbps, c.write_durable), Ratio(a.ingest_gbps, c.write_direct),
                Ratio(a.ingest_gbps, r.zstd.gbps), Ratio(a.read_gbps, c.blake3),
                Ratio(a.reread_gbps, c.blake3));
  }

  std::printf("\n## restic backup of the same files\n\n");
  if (restic.empty()) {
    std::printf("%s\n", restic_note.c_str());
  } else {
    std::printf("%s; fresh repository per file (`restic init`, then timed `restic backup`), "
                "source file cached\n\n",
                restic_version.c_str());
    std::printf("| data set | restic s | restic MB/s | restic CPU cores (others) | repo MiB | AIFS "
                "ingest MB/s | AIFS / restic |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
    for (const auto& r : reports)
      std::printf("| %s | %.2f | %.1f | %.2f (%.2f) | %.1f | %.1f | %.2f |\n", r.name.c_str(),
                  r.restic.seconds, r.restic.mbps, Ratio(r.restic.cpu_s, r.restic.seconds),
                  Ratio(r.restic.others_cpu_s, r.restic.seconds), MiB(r.restic.repo_bytes),
                  r.aifs.ingest_gbps * 1000, Ratio(r.aifs.ingest_gbps * 1000, r.restic.mbps));
  }

  // ---- JSON line ----
  Json j;
  j["bench"] = "aifs_ingest_bench";
  j["started"] = started;
  j["loadavg_start"] = load_start;
  j["loadavg_end"] = load_end;
  j["cpu"] = CpuModel();
  j["hw_threads"] = hw;
  j["fs"] = fs_type;
  j["size_mib"] = opt.size_mib;
  j["engine_threads"] = engine_threads;
  j["chunk"] = {{"min", params.min_size}, {"avg", params.avg_size}, {"max", params.max_size}};
  j["zstd_level"] = 1;
  j["page_cache"] = opt.cold ? "cold" : "warm";
  j["runs"] = opt.runs;
  j["byte_grouping"] = opt.grouping;
  Json aes = Json::array();
  for (const AesPoint& p : c.aes) aes.push_back({{"record", p.record}, {"gbps", p.gbps}});
  j["ceilings"] = {{"blake3_gbps", c.blake3},
                   {"aes_gcm", aes},
                   {"aes_gcm_ratio_record", c.aes_ratio_record},
                   {"aes_gcm_ratio_gbps", c.aes_for_ratio},
                   {"memcpy_gbps", c.memcpy_gbps},
                   {"chunker_gbps", c.chunker},
                   {"write_buffered_gbps", c.write_buffered},
                   {"write_durable_gbps", c.write_durable},
                   {"write_durable_runs_gbps", c.write_durable_runs},
                   {"write_reps", opt.write_reps},
                   {"write_direct_gbps", c.write_direct},
                   {"write_direct_runs_gbps", c.write_direct_runs},
                   {"write_bytes", c.write_bytes},
                   {"reps", opt.reps}};
  Json sets = Json::array();
  for (const auto& r : reports) {
    const auto& a = r.aifs;
    Json d = {{"name", r.name},
              {"bytes", r.file.bytes},
              {"gen_s", r.file.gen_seconds},
              {"source_resident", a.src_resident},
              {"store_resident_before_read", a.store_resident},
              {"logical_bytes", a.logical},
              {"stored_bytes", a.stored},
              {"store_dir_bytes", a.store_dir_bytes},
              {"stored_over_logical",
               Ratio(static_cast<double>(a.stored), static_cast<double>(a.logical))},
              {"chunks_stored", a.chunks},
              {"chunks_total", a.chunks_total},
              {"ingest_s", a.ingest_s},
              {"ingest_commit_s", a.commit_s},
              {"ingest_cpu_s", a.ingest_cpu_s},
              {"ingest_others_cpu_s", a.ingest_others_cpu_s},
              {"ingest_runs_gbps", a.ingest_runs},
              {"ingest_gbps", a.ingest_gbps},
              {"read_s", a.read_s},
              {"read_cpu_s", a.read_cpu_s},
              {"read_others_cpu_s", a.read_others_cpu_s},
              {"read_runs_gbps", a.read_runs},
              {"reread_s", a.reread_s},
              {"reread_cpu_s", a.reread_cpu_s},
              {"reread_gbps", a.reread_gbps},
              {"store_resident_before_reread", a.reread_resident},
              {"reread_over_blake3", Ratio(a.reread_gbps, c.blake3)},
              {"ingest_over_direct_write", Ratio(a.ingest_gbps, c.write_direct)},
              {"read_gbps", a.read_gbps},
              {"ingest_over_blake3", Ratio(a.ingest_gbps, c.blake3)},
              {"ingest_over_aes", Ratio(a.ingest_gbps, c.aes_for_ratio)},
              {"ingest_over_durable_write", Ratio(a.ingest_gbps, c.write_durable)},
              {"read_over_blake3", Ratio(a.read_gbps, c.blake3)},
              {"zstd1_gbps", r.zstd.gbps},
              {"zstd1_output_over_input", r.zstd.ratio},
              {"zstd1_pieces_compressed", r.zstd.compressed_fraction},
              {"chunk_decision_us", r.zstd.looks_us},
              {"chunk_decision_with_grouping_us", r.zstd.plan_us},
              {"pieces_grouped", r.zstd.grouped_fraction},
              {"ingest_over_zstd1", Ratio(a.ingest_gbps, r.zstd.gbps)}};
    if (opt.grouping == "both") {
      const auto& u = r.aifs_ungrouped;
      d["ungrouped"] = {
          {"stored_bytes", u.stored},       {"ingest_gbps", u.ingest_gbps},
          {"ingest_cpu_s", u.ingest_cpu_s}, {"ingest_others_cpu_s", u.ingest_others_cpu_s},
          {"read_gbps", u.read_gbps},       {"read_cpu_s", u.read_cpu_s},
          {"reread_gbps", u.reread_gbps}};
    }
    if (r.restic.ran)
      d["restic"] = {{"seconds", r.restic.seconds},
                     {"cpu_s", r.restic.cpu_s},
                     {"others_cpu_s", r.restic.others_cpu_s},
                     {"mbps", r.restic.mbps},
                     {"repo_bytes", r.restic.repo_bytes},
                     {"aifs_over_restic", Ratio(a.ingest_gbps * 1000, r.restic.mbps)}};
    sets.push_back(std::move(d));
  }
  j["datasets"] = std::move(sets);
  j["restic"] = restic.empty() ? Json(restic_note) : Json(restic_version);
  std::printf("\nJSON: %s\n", j.dump().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  aifs::bench::g_progress_name = "ingest_bench";
  return aifs::bench::RunBench("aifs_ingest_bench", [&] { return Run(ParseArgs(argc, argv)); });
}
