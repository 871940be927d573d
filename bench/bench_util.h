// Helpers shared by the benchmark programs in bench/: timing and CPU
// accounting, medians, a fast reproducible RNG, small POSIX wrappers, and a
// scratch directory that does not outlive the run. Header-only: every bench
// is a single translation unit. Not part of libaifs and not a stable API.
//
// Errors throw std::runtime_error (Fail); each bench's main() prints them.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "aifs/core/splitmix64.h"
#include "aifs/core/status.h"

namespace aifs::bench {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kMiB = uint64_t{1} << 20;

// Written by timed loops so that the compiler cannot drop their results.
inline volatile uint64_t g_sink = 0;

// A bench's main(): runs `body`, and reports an exception (Fail, Check, Must)
// as "NAME: error: ..." on stderr with exit code 1.
template <typename Body>
int RunBench(const char* name, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", name, e.what());
    return 1;
  }
}

[[noreturn]] inline void Fail(const std::string& msg) { throw std::runtime_error(msg); }

inline void Check(const Status& st, const std::string& what) {
  if (!st.ok()) Fail(what + ": " + st.ToString());
}

template <typename T>
T Must(Result<T> r, const std::string& what) {
  if (!r.ok()) Fail(what + ": " + r.status().ToString());
  return std::move(r).value();
}

__attribute__((format(printf, 1, 2))) inline std::string Fmt(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return {};
  if (static_cast<size_t>(n) < sizeof buf) return std::string(buf, static_cast<size_t>(n));
  std::string out(static_cast<size_t>(n) + 1, '\0');
  va_start(ap, fmt);
  std::vsnprintf(out.data(), out.size(), fmt, ap);
  va_end(ap);
  out.resize(static_cast<size_t>(n));
  return out;
}

inline std::string JoinDoubles(const std::vector<double>& v, const char* fmt = "%.3f") {
  std::string out;
  for (double x : v) out += (out.empty() ? "" : ", ") + Fmt(fmt, x);
  return out;
}

// The clock `perf record -k CLOCK_MONOTONIC` stamps samples with, so that a
// profile can be cut per phase (`perf report --time a,b`).
inline double MonotonicSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Progress lines on stderr read "[<g_progress_name>] ..."; a bench names
// itself first thing in main, and stamps lines with MonotonicSeconds() when
// its phases are meant to be matched against a perf profile.
inline const char* g_progress_name = "bench";
inline bool g_progress_stamped = false;

__attribute__((format(printf, 1, 2))) inline void Progress(const char* fmt, ...) {
  if (g_progress_stamped)
    std::fprintf(stderr, "[%s %.3f] ", g_progress_name, MonotonicSeconds());
  else
    std::fprintf(stderr, "[%s] ", g_progress_name);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

// ---------------------------------------------------------------------------
// Time, CPU and summary statistics

inline double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// User + system CPU seconds of this process (all threads), or with
// RUSAGE_CHILDREN of its waited-for children.
inline double CpuSeconds(int who = RUSAGE_SELF) {
  rusage ru{};
  getrusage(who, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

// Voluntary + involuntary context switches of this process (all threads).
inline double ContextSwitches() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_nvcsw + ru.ru_nivcsw);
}

// Busy CPU seconds of the whole machine (/proc/stat, tick-granular): the
// machines are shared, and this shows how much other tenants took.
inline double SystemBusySeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return static_cast<double>(user + nice + sys + irq + softirq + steal) / hz;
}

inline double GBps(uint64_t bytes, double secs) {
  return secs > 0 ? static_cast<double>(bytes) / secs / 1e9 : 0;
}
inline double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

// For an even count, the mean of the two middle values.
inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// Nearest rank, p in [0, 1]: always one of the measured values.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

// Median over `reps` runs of `fn`. A `fn` that returns a double reports its
// own seconds (to leave setup out of the time); a void one is timed whole.
template <typename F>
double MedianSeconds(int reps, F&& fn) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
      const auto t0 = Clock::now();
      fn();
      t.push_back(Seconds(t0, Clock::now()));
    } else {
      t.push_back(fn());
    }
  }
  return Median(std::move(t));
}

// One phase: wall time, this process's CPU, its reaped children's CPU, its
// context switches, and the CPU that other processes took meanwhile.
struct PhaseMeter {
  Clock::time_point t0 = Clock::now();
  double cpu0 = CpuSeconds();
  double child0 = CpuSeconds(RUSAGE_CHILDREN);
  double sys0 = SystemBusySeconds();
  double csw0 = ContextSwitches();
  double wall = 0, cpu = 0, child = 0, others = 0, csw = 0;
  void Stop() {
    wall = Seconds(t0, Clock::now());
    csw = ContextSwitches() - csw0;
    cpu = CpuSeconds() - cpu0;
    child = CpuSeconds(RUSAGE_CHILDREN) - child0;
    others = std::max(0.0, SystemBusySeconds() - sys0 - cpu - child);
  }
  double Cores() const { return Ratio(cpu, wall); }
  double OthersCores() const { return Ratio(others, wall); }
};

// xoshiro256** seeded through splitmix64: fast, and the same data every run.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& v : s_) v = SplitMix64(seed);
  }
  uint64_t Next() {
    const uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = std::rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n).
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(((Next() >> 32) * n) >> 32); }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_[4];
};

inline void FillRandom(uint8_t* p, size_t n, Rng& rng) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = rng.Next();
    std::memcpy(p + i, &v, 8);
  }
  if (i < n) {
    const uint64_t v = rng.Next();
    std::memcpy(p + i, &v, n - i);
  }
}

// Checksum for a read-back sink that costs far less than a full pass: one
// byte per 4 KiB (at absolute offsets, so independent of how the stream is
// split) folded FNV-style, plus the byte count. The engine itself verifies
// every chunk and the asset ID; this only proves the bytes arrived in order.
class SampledSum {
 public:
  static constexpr uint64_t kStride = 4096;
  void Add(const uint8_t* p, size_t n) {
    for (uint64_t o = (off_ + kStride - 1) / kStride * kStride; o < off_ + n; o += kStride)
      acc_ = (acc_ ^ (p[o - off_] + 1u)) * 0x100000001b3ULL;
    off_ += n;
  }
  uint64_t sum() const { return acc_; }
  uint64_t bytes() const { return off_; }

 private:
  uint64_t acc_ = 0xcbf29ce484222325ULL;
  uint64_t off_ = 0;
};

// ---------------------------------------------------------------------------
// Files and the machine

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

inline void WriteFully(int fd, const uint8_t* p, size_t n, const std::string& what) {
  while (n) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) Fail(what + ": write: " + std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// Share of the file's pages in the page cache (mincore).
inline double ResidentFraction(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st{};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || st.st_size == 0) return 0;
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) return 0;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((size + page - 1) / page);
  double frac = 0;
  if (::mincore(map, size, vec.data()) == 0) {
    size_t in = 0;
    for (unsigned char v : vec) in += v & 1;
    frac = static_cast<double>(in) / static_cast<double>(vec.size());
  }
  ::munmap(map, size);
  return frac;
}

// The same by pages over every regular file under `dir`; with `evict`, the
// kernel is then asked to drop those (clean) pages, for a cold next phase.
inline double ResidentFractionTree(const std::string& dir, bool evict = false) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  double resident = 0, total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::end(it); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string p = it->path().string();
    const double pages = static_cast<double>((it->file_size(ec) + page - 1) / page);
    resident += ResidentFraction(p) * pages;
    total += pages;
    if (evict) {
      Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.get() >= 0) ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
    }
  }
  return total > 0 ? resident / total : 0;
}

inline std::string FsTypeName(const std::string& path) {
  struct statfs sf{};
  if (::statfs(path.c_str(), &sf) != 0) return "unknown";
  switch (static_cast<uint64_t>(sf.f_type)) {
    case 0xEF53: return "ext2/3/4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794c7630: return "overlayfs";
    case 0x2FC12FC1: return "zfs";
    default: return Fmt("0x%llx", static_cast<unsigned long long>(sf.f_type));
  }
}

inline std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("model name")) {
      auto pos = line.find(':');
      if (pos != std::string::npos) return line.substr(pos + 2);
    }
  return "unknown";
}

inline std::string NowUtc() {
  time_t t = ::time(nullptr);
  tm tmv{};
  gmtime_r(&t, &tmv);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  return buf;
}

inline std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// This process's resident set now (VmRSS) or at its peak (VmHWM), in bytes;
// 0 when /proc says nothing.
inline uint64_t RssBytes(bool peak = false) {
  std::ifstream in("/proc/self/status");
  const std::string key = peak ? "VmHWM:" : "VmRSS:";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) return std::strtoull(line.c_str() + key.size(), nullptr, 10) << 10;
  return 0;
}
// Starts a new peak (Linux >= 4.0: "5" to clear_refs resets VmHWM to VmRSS).
inline bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

// ---------------------------------------------------------------------------
// Command line

inline uint64_t ParseU64(const std::string& flag, const std::string& v) {
  uint64_t x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size()) Fail("bad value for " + flag + ": '" + v + "'");
  return x;
}

// "a,b,c" -> each parsed with ParseU64; an empty list fails.
inline std::vector<uint64_t> ParseU64List(const std::string& flag, const std::string& v) {
  std::vector<uint64_t> out;
  for (size_t p = 0; p <= v.size();) {
    const size_t c = std::min(v.find(',', p), v.size());
    out.push_back(ParseU64(flag, v.substr(p, c - p)));
    p = c + 1;
  }
  return out;
}

// Walks argv, taking "--flag value" and "--flag=value" alike:
//   for (ArgReader args(argc, argv); args.Next();)
//     if (args.flag() == "--size-mib") size = ParseU64(args.flag(), args.Value());
class ArgReader {
 public:
  ArgReader(int argc, char** argv) : argc_(argc), argv_(argv) {}

  bool Next() {
    if (++i_ >= argc_) return false;
    flag_ = argv_[i_];
    has_inline_ = false;
    if (auto eq = flag_.find('='); flag_.starts_with("--") && eq != std::string::npos) {
      inline_ = flag_.substr(eq + 1);
      flag_.resize(eq);
      has_inline_ = true;
    }
    return true;
  }
  const std::string& flag() const { return flag_; }
  // The value after '=', else the next argument (consumed).
  std::string Value() {
    if (has_inline_) return inline_;
    if (i_ + 1 >= argc_) Fail("missing value for " + flag_);
    return argv_[++i_];
  }

 private:
  int argc_;
  char** argv_;
  int i_ = 0;
  std::string flag_, inline_;
  bool has_inline_ = false;
};

// ---------------------------------------------------------------------------
// ScratchDir: <parent>/<name>.<pid>, where a bench keeps all its temporary
// data. A benchmark writes gigabytes, and an interrupted run must not leave
// them behind: the directory goes when the object is destroyed, at exit(), and
// on SIGINT, SIGTERM and SIGHUP. On a signal, removal is best effort (it is not
// async-signal-safe), then the signal is raised again with its default action,
// so the parent sees how the bench died. One per process.
class ScratchDir {
 public:
  // Runs first on a signal, before the removal; e.g. kills a child process
  // that writes into the directory. Must be async-signal-safe.
  static inline void (*on_signal)() = nullptr;

  // With `announce`, the destructor reports "removing <path>" via Progress.
  ScratchDir(const std::string& parent, const std::string& name, bool announce = false)
      : announce_(announce) {
    if (!active_.empty()) Fail("a ScratchDir already exists: " + active_);
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) Fail("create " + parent + ": " + ec.message());
    path_ = (fs::absolute(parent) / (name + "." + std::to_string(::getpid()))).string();
    fs::create_directories(path_, ec);
    if (ec) Fail("create " + path_ + ": " + ec.message());
    active_ = path_;
    static const bool at_exit = std::atexit(RemoveActive) == 0;
    (void)at_exit;
    struct sigaction sa{};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  }
  ~ScratchDir() {
    if (announce_) Progress("removing %s", path_.c_str());
    RemoveActive();
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  static void RemoveActive() {
    if (active_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(active_, ec);
    active_.clear();
  }

  static void OnSignal(int sig) {
    if (on_signal) on_signal();
    RemoveActive();
    ::signal(sig, SIG_DFL);
    ::raise(sig);  // delivered when the handler returns
  }

  static inline std::string active_;  // read by the exit and signal hooks
  std::string path_;
  bool announce_;
};

}  // namespace aifs::bench
