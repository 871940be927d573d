// fio as the peer of random reads: one run of `fio --rw=randread` with the
// psync engine (QD1 per job) on a file, parsed from its JSON output.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "bench_util.h"

namespace aifs::bench {

struct FioResult {
  bool ran = false;
  std::string error;
  size_t block = 4096;
  int direct = 0;
  int jobs = 1;
  double iops = 0, p50_us = 0, p99_us = 0, mean_us = 0, cores = 0, others = 0;
  double resident = 0;
  std::string command;
};

// The command line of a run: `jobs` processes each reading `block` bytes at
// random block-aligned offsets of `file` (of `size` bytes) with pread, one at
// a time, for `seconds`; direct=1 bypasses the page cache (O_DIRECT),
// direct=0 reads it.
inline std::string FioCommand(const std::string& file, uint64_t size, size_t block, int direct,
                              int jobs, double seconds) {
  return Fmt(
      "fio --name=randread --filename=%s --rw=randread --bs=%zu --ioengine=psync "
      "--direct=%d --size=%llu --numjobs=%d --group_reporting --time_based "
      "--runtime=%.0fs --invalidate=0 --norandommap --randrepeat=0 "
      "--lat_percentiles=1 --output-format=json",
      file.c_str(), block, direct, static_cast<unsigned long long>(size), jobs,
      std::max(1.0, std::round(seconds)));
}

// Runs FioCommand(...); fio's stderr is appended to `log`.
inline FioResult RunFio(const std::string& file, uint64_t size, size_t block, int direct, int jobs,
                        double seconds, const std::string& log) {
  FioResult r;
  r.block = block;
  r.direct = direct;
  r.jobs = jobs;
  r.resident = ResidentFraction(file);
  r.command = FioCommand(file, size, block, direct, jobs, seconds);
  Progress("fio: %s", r.command.c_str());
  PhaseMeter m;
  FILE* p = ::popen((r.command + " 2>>" + log).c_str(), "r");
  if (!p) {
    r.error = std::string("popen: ") + std::strerror(errno);
    return r;
  }
  std::string out;
  char buf[4096];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
  const int rc = ::pclose(p);
  m.Stop();
  if (rc != 0) {
    r.error = "fio exited with status " + std::to_string(rc);
    return r;
  }
  const size_t brace = out.find('{');  // fio may print notes before the JSON
  if (brace == std::string::npos) {
    r.error = "no JSON in fio output";
    return r;
  }
  try {
    auto j = nlohmann::json::parse(out.substr(brace));
    const auto& rd = j.at("jobs").at(0).at("read");
    r.iops = rd.at("iops").get<double>();
    const auto& lat = rd.contains("lat_ns") && rd["lat_ns"].contains("percentile")
                          ? rd["lat_ns"]
                          : rd.at("clat_ns");
    r.mean_us = lat.at("mean").get<double>() / 1e3;
    r.p50_us = lat.at("percentile").at("50.000000").get<double>() / 1e3;
    r.p99_us = lat.at("percentile").at("99.000000").get<double>() / 1e3;
  } catch (const std::exception& e) {
    r.error = std::string("parsing fio JSON: ") + e.what();
    return r;
  }
  r.cores = Ratio(m.child, m.wall);
  r.others = m.OthersCores();
  r.ran = true;
  return r;
}

}  // namespace aifs::bench
