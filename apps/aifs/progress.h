// A one-line progress bar on stderr for long transfers; silent unless the
// CLI decided stderr is a terminal (never when piped or with --json).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace aifs::cli {

class Progress {
 public:
  // total == 0: unknown size (stdin).
  Progress(bool enabled, std::string label, uint64_t total);
  ~Progress();
  void Add(uint64_t bytes);

 private:
  void Draw(bool final);
  bool enabled_;
  std::string label_;
  uint64_t total_;
  uint64_t done_ = 0;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

std::string HumanBytes(uint64_t bytes);

}  // namespace aifs::cli
