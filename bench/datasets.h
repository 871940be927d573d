// The data sets of aifs_grpc_bench, generated in memory from fixed seeds
// (puts stream from RAM, so the source costs nothing and every path sees
// identical bytes): "random" (incompressible) and "text" (log-like lines).
#pragma once

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"

namespace aifs::bench {

// Application-log-like text: timestamps, levels, services, words drawn with a
// strong skew from a 3000-word vocabulary, numbers. zstd -1 stores it at
// roughly a third of its size (the run prints the measured ratio).
class TextGen {
 public:
  explicit TextGen(uint64_t seed) : rng_(seed) {
    static const char kLetters[] = "etaoinshrdlucmfwypvbgkjqxz";
    while (vocab_.size() < 3000) {
      std::string w;
      const uint32_t len = 2 + rng_.Below(5) + rng_.Below(5);
      for (uint32_t i = 0; i < len; ++i) {
        const double u = rng_.Uniform();
        w += kLetters[static_cast<size_t>(u * u * 26)];
      }
      vocab_.push_back(std::move(w));
    }
    for (int i = 0; i < 16; ++i) services_.push_back(Word() + "-" + Word());
  }

  void Fill(uint8_t* dst, size_t n) {
    size_t done = 0;
    while (done < n) {
      if (pos_ == line_.size()) {
        line_.clear();
        pos_ = 0;
        Line();
      }
      const size_t take = std::min(n - done, line_.size() - pos_);
      std::memcpy(dst + done, line_.data() + pos_, take);
      pos_ += take;
      done += take;
    }
  }

 private:
  const std::string& Word() {
    const double u = rng_.Uniform();
    return vocab_[static_cast<size_t>(u * u * u * static_cast<double>(vocab_.size()))];
  }
  void Num(uint64_t v) {
    char b[24];
    auto r = std::to_chars(b, b + sizeof b, v);
    line_.append(b, r.ptr);
  }
  void Line() {
    ms_ += rng_.Below(50);
    const uint64_t s = ms_ / 1000;
    char ts[48];
    std::snprintf(ts, sizeof ts, "2026-12-%02u %02u:%02u:%02u.%03u ",
                  static_cast<unsigned>(1 + s / 86400 % 28), static_cast<unsigned>(s / 3600 % 24),
                  static_cast<unsigned>(s / 60 % 60), static_cast<unsigned>(s % 60),
                  static_cast<unsigned>(ms_ % 1000));
    line_ += ts;
    const uint32_t lvl = rng_.Below(100);
    line_ += lvl < 80 ? "INFO " : lvl < 92 ? "DEBUG " : lvl < 98 ? "WARN " : "ERROR ";
    line_ += services_[rng_.Below(static_cast<uint32_t>(services_.size()))];
    line_ += ": ";
    for (uint32_t i = 0, k = 4 + rng_.Below(12); i < k; ++i) {
      line_ += Word();
      line_ += ' ';
    }
    line_ += "id=";
    Num(rng_.Next() >> 44);
    line_ += " ms=";
    Num(rng_.Below(1u << rng_.Below(12)));
    line_ += '\n';
  }

  Rng rng_;
  std::vector<std::string> vocab_, services_;
  std::string line_;
  size_t pos_ = 0;
  uint64_t ms_ = 0;
};

struct Dataset {
  std::string name;
  std::vector<uint8_t> bytes;
  uint64_t checksum = 0;
  double gen_s = 0;
};

inline Dataset MakeDataset(const std::string& name, uint64_t size) {
  Dataset d;
  d.name = name;
  const auto t0 = Clock::now();
  d.bytes.resize(size);
  if (name == "random") {
    Rng rng(0x5EED0001);
    FillRandom(d.bytes.data(), d.bytes.size(), rng);
  } else {
    TextGen gen(0x5EED0002);
    gen.Fill(d.bytes.data(), d.bytes.size());
  }
  SampledSum sum;
  sum.Add(d.bytes.data(), d.bytes.size());
  d.checksum = sum.sum();
  d.gen_s = Seconds(t0, Clock::now());
  return d;
}

}  // namespace aifs::bench
