#include "progress.h"

#include <cstdio>

namespace aifs::cli {

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

// Only transfers long enough to be worth watching get a bar.
static constexpr uint64_t kMinBytes = 32ull << 20;

Progress::Progress(bool enabled, std::string label, uint64_t total)
    : enabled_(enabled), label_(std::move(label)), total_(total),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

Progress::~Progress() {
  if (drawn_) Draw(true);
}

void Progress::Add(uint64_t bytes) {
  done_ += bytes;
  if (!enabled_ || (total_ != 0 && total_ < kMinBytes)) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  Draw(false);
}

void Progress::Draw(bool final) {
  drawn_ = true;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? static_cast<double>(done_) / secs / 1e6 : 0;
  if (total_ != 0) {
    int pct = static_cast<int>(100.0 * static_cast<double>(done_) / static_cast<double>(total_));
    int filled = pct * 30 / 100;
    fprintf(stderr, "\r%s [%.*s%*s] %3d%% %s / %s  %.0f MB/s", label_.c_str(), filled,
            "##############################", 30 - filled, "", pct, HumanBytes(done_).c_str(),
            HumanBytes(total_).c_str(), rate);
  } else {
    fprintf(stderr, "\r%s %s  %.0f MB/s", label_.c_str(), HumanBytes(done_).c_str(), rate);
  }
  if (final) fputc('\n', stderr);
  fflush(stderr);
}

}  // namespace aifs::cli
