// Machine load for benchmark reports: /proc/loadavg, the CPU count, and
// which other processes used the CPU over a short window. Linux only.
#pragma once

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"

namespace aifs::bench {

struct LoadSample {
  std::string loadavg;
  double window_s = 0;
  double others_cores = 0;                          // CPU cores busy with other processes
  std::vector<std::pair<std::string, double>> top;  // "comm[pid]" -> cores
};

inline std::map<int, std::pair<std::string, double>> ProcessCpu() {
  std::map<int, std::pair<std::string, double>> out;
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end) continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t l = s.find('('), r = s.rfind(')');
    if (l == std::string::npos || r == std::string::npos || r < l) continue;
    std::vector<std::string> fields;
    size_t pos = r + 2;
    while (pos < s.size() && fields.size() < 13) {
      size_t sp = s.find(' ', pos);
      if (sp == std::string::npos) sp = s.size();
      fields.push_back(s.substr(pos, sp - pos));
      pos = sp + 1;
    }
    if (fields.size() < 13) continue;  // fields[11] utime, fields[12] stime
    const double cpu =
        (std::strtod(fields[11].c_str(), nullptr) + std::strtod(fields[12].c_str(), nullptr)) / hz;
    out[static_cast<int>(pid)] = {s.substr(l + 1, r - l - 1), cpu};
  }
  ::closedir(d);
  return out;
}

inline LoadSample SampleLoad(double seconds) {
  LoadSample ls;
  ls.loadavg = LoadAvg();
  const int self = ::getpid();
  auto before = ProcessCpu();
  const double sys0 = SystemBusySeconds(), cpu0 = CpuSeconds(),
               child0 = CpuSeconds(RUSAGE_CHILDREN);
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  auto after = ProcessCpu();
  ls.window_s = Seconds(t0, Clock::now());
  const double ours = CpuSeconds() - cpu0 + CpuSeconds(RUSAGE_CHILDREN) - child0;
  ls.others_cores = std::max(0.0, SystemBusySeconds() - sys0 - ours) / ls.window_s;
  std::vector<std::pair<std::string, double>> users;
  for (const auto& [pid, v] : after) {
    if (pid == self) continue;
    auto it = before.find(pid);
    const double used = v.second - (it == before.end() ? 0.0 : it->second.second);
    if (used > 0) users.push_back({v.first + "[" + std::to_string(pid) + "]", used / ls.window_s});
  }
  std::sort(users.begin(), users.end(), [](auto& a, auto& b) { return a.second > b.second; });
  if (users.size() > 5) users.resize(5);
  ls.top = std::move(users);
  return ls;
}

inline std::string DescribeLoad(const LoadSample& l) {
  std::string top;
  for (const auto& [name, cores] : l.top)
    top += (top.empty() ? "" : ", ") + Fmt("%s %.2f", name.c_str(), cores);
  return Fmt("loadavg %s; other processes used %.2f cores over %.1f s%s%s", l.loadavg.c_str(),
             l.others_cores, l.window_s, top.empty() ? "" : ": ", top.c_str());
}

inline nlohmann::ordered_json LoadJson(const LoadSample& l) {
  auto top = nlohmann::ordered_json::array();
  for (const auto& [name, cores] : l.top) top.push_back({{"process", name}, {"cores", cores}});
  return {{"loadavg", l.loadavg},
          {"window_s", l.window_s},
          {"others_cores", l.others_cores},
          {"top", top}};
}

}  // namespace aifs::bench
