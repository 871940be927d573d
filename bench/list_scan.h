// Helpers of the benches that time metadata scans through the Api
// (meta_bench, privacy_bench).
#pragma once

#include <time.h>

#include <vector>

#include "aifs/api/api.h"
#include "bench_util.h"

namespace aifs::bench {

// CPU time of the calling thread (scans run on it): other tenants of a
// shared machine move wall-clock times far more than this.
inline double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Lists every page of the default namespace's assets matching `filters`;
// returns how many.
inline size_t ListAll(Api& api, const std::vector<MetaFilter>& filters) {
  ListOptions o;
  o.filters = filters;
  size_t n = 0;
  for (;;) {
    AssetPage page = Must(api.ListAssets(o), "list");
    n += page.assets.size();
    if (page.next_page_token.empty()) return n;
    o.page_token = page.next_page_token;
  }
}

}  // namespace aifs::bench
