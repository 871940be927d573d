// Closed-loop rates for benchmarks: `threads` threads each run an operation
// back to back (queue depth 1 per thread) for a set time; per-operation
// latency percentiles, operations per second, and this process's CPU and
// context switches per operation.
//
// With `between_rounds` (e.g. evicting files from the page cache), the
// threads run rounds of `round_ops` operations each; between two rounds all
// threads wait while `between_rounds` runs, and only the rounds are timed
// (wall clock, CPU, context switches), so the operations see the state it
// leaves and its own cost stays out of the figures.
#pragma once

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <functional>
#include <latch>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"

namespace aifs::bench {

struct RateStats {
  int threads = 0;
  uint64_t ops = 0;
  double s = 0, ops_per_s = 0, p50_us = 0, p99_us = 0, mean_us = 0, cores = 0, others = 0;
  double cpu_us_per_op = 0;  // this process's CPU per call (client + server + engine)
  double csw_per_op = 0;     // this process's context switches per call
  double resident = -1;      // share of the data cached before the run; -1: n/a
};

// Timed figures of several phases added up.
struct PhaseTotals {
  double wall = 0, cpu = 0, csw = 0, others = 0;
  void Add(const PhaseMeter& m) {
    wall += m.wall;
    cpu += m.cpu;
    csw += m.csw;
    others += m.others;
  }
};

inline RateStats Summarize(int threads, const std::vector<std::vector<uint32_t>>& lat,
                           const PhaseTotals& t) {
  RateStats r;
  r.threads = threads;
  std::vector<uint32_t> all;
  for (const auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  r.ops = all.size();
  r.s = t.wall;
  r.ops_per_s = Ratio(static_cast<double>(r.ops), t.wall);
  r.cores = Ratio(t.cpu, t.wall);
  r.others = Ratio(t.others, t.wall);
  r.cpu_us_per_op = r.ops ? t.cpu / static_cast<double>(r.ops) * 1e6 : 0;
  r.csw_per_op = r.ops ? t.csw / static_cast<double>(r.ops) : 0;
  if (all.empty()) return r;
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    const size_t i =
        std::min(all.size() - 1, static_cast<size_t>(p * static_cast<double>(all.size())));
    return all[i] / 1e3;
  };
  r.p50_us = pct(0.50);
  r.p99_us = pct(0.99);
  double total = 0;
  for (uint32_t x : all) total += x;
  r.mean_us = total / static_cast<double>(all.size()) / 1e3;
  return r;
}

// Runs `op(rng, thread)` as described at the top. An exception from `op`
// stops the run and is rethrown (as Fail) once every thread has stopped.
template <typename Op>  // void(Rng&, int thread)
RateStats TimedRate(int threads, double seconds, Op op,
                    const std::function<void()>& between_rounds = {}, int round_ops = 16) {
  const size_t n = static_cast<size_t>(threads);
  std::vector<std::vector<uint32_t>> lat(n);
  std::vector<std::string> errors(n);
  std::atomic<bool> stop{false};
  PhaseTotals totals;
  // Unrounded: one phase, from when every thread is ready to the deadline.
  // Rounded: the barrier's completion step closes a round's meter, runs
  // `between_rounds` and opens the next one while every thread waits.
  std::optional<PhaseMeter> round;
  auto completion = [&]() noexcept {
    if (round) {
      round->Stop();
      totals.Add(*round);
      round.reset();
    }
    if (stop || totals.wall >= seconds) {
      stop = true;
      return;
    }
    try {
      between_rounds();
    } catch (const std::exception& e) {
      errors[0] = e.what();
      stop = true;
      return;
    }
    round.emplace();
  };
  std::barrier sync(threads, completion);
  std::latch ready(threads + 1);
  auto timed_op = [&](Rng& rng, int t) {
    const auto t0 = Clock::now();
    op(rng, t);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    lat[static_cast<size_t>(t)].push_back(static_cast<uint32_t>(std::min<int64_t>(ns, UINT32_MAX)));
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      lat[static_cast<size_t>(t)].reserve(1 << 20);
      Rng rng(0xABCD0000 + static_cast<uint64_t>(t));
      ready.arrive_and_wait();
      try {
        if (!between_rounds) {
          while (!stop.load(std::memory_order_relaxed)) timed_op(rng, t);
          return;
        }
        for (sync.arrive_and_wait(); !stop; sync.arrive_and_wait())
          for (int k = 0; k < round_ops && !stop.load(std::memory_order_relaxed); ++k)
            timed_op(rng, t);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(t)] = e.what();
        stop = true;
        if (between_rounds) sync.arrive_and_drop();
      }
    });
  ready.arrive_and_wait();
  if (!between_rounds) {
    PhaseMeter m;
    const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    while (!stop.load() && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    stop = true;
    for (auto& th : pool) th.join();
    m.Stop();
    totals.Add(m);
  } else {
    for (auto& th : pool) th.join();
  }
  for (const std::string& e : errors)
    if (!e.empty()) Fail(e);
  return Summarize(threads, lat, totals);
}

inline nlohmann::ordered_json RateJson(const RateStats& r) {
  return {{"threads", r.threads},
          {"ops", r.ops},
          {"seconds", r.s},
          {"ops_per_s", r.ops_per_s},
          {"p50_us", r.p50_us},
          {"p99_us", r.p99_us},
          {"mean_us", r.mean_us},
          {"cores", r.cores},
          {"others_cores", r.others},
          {"cpu_us_per_op", r.cpu_us_per_op},
          {"csw_per_op", r.csw_per_op},
          {"objects_cached", r.resident}};
}

}  // namespace aifs::bench
