#include "aifs/engine/retention.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

namespace aifs {

namespace {

using std::chrono::days;
using std::chrono::sys_days;

sys_days DayOf(int64_t unix_ns) {
  return std::chrono::floor<days>(
      std::chrono::sys_time<std::chrono::nanoseconds>(std::chrono::nanoseconds(unix_ns)));
}

std::string Format(const char* fmt, int a, unsigned b, unsigned c = 0) {
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, a, b, c);
  return buf;
}

}  // namespace

std::string UtcDay(int64_t unix_ns) {
  const std::chrono::year_month_day d(DayOf(unix_ns));
  return Format("%04d-%02u-%02u", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                static_cast<unsigned>(d.day()));
}

std::string UtcMonth(int64_t unix_ns) {
  const std::chrono::year_month_day d(DayOf(unix_ns));
  return Format("%04d-%02u", static_cast<int>(d.year()), static_cast<unsigned>(d.month()));
}

std::string IsoWeek(int64_t unix_ns) {
  // ISO 8601: weeks start on Monday and belong to the year of their Thursday.
  const sys_days day = DayOf(unix_ns);
  const unsigned from_monday = std::chrono::weekday(day).iso_encoding() - 1;  // Monday 0
  const sys_days thursday = day - days(from_monday) + days(3);
  const std::chrono::year year = std::chrono::year_month_day(thursday).year();
  const sys_days jan1 = sys_days(year / std::chrono::January / 1);
  const auto week = static_cast<unsigned>((thursday - jan1).count() / 7 + 1);
  return Format("%04d-W%02u", static_cast<int>(year), week);
}

Result<RetentionPolicy> EffectiveRetention(const NamespacePolicy& policy,
                                           const PruneOptions& options) {
  RetentionPolicy r;
  r.keep_last = options.keep_snapshots.value_or(policy.keep_snapshots);
  r.keep_within_seconds = options.keep_snapshot_seconds.value_or(policy.keep_snapshot_seconds);
  r.keep_daily = options.keep_daily.value_or(policy.keep_daily);
  r.keep_weekly = options.keep_weekly.value_or(policy.keep_weekly);
  r.keep_monthly = options.keep_monthly.value_or(policy.keep_monthly);
  if (r.keep_within_seconds < 0)
    return err::InvalidArgument("BAD_POLICY", "retention age must not be negative");
  return r;
}

std::vector<RetentionDecision> PlanRetention(std::vector<RetentionCandidate> snapshots,
                                             const RetentionPolicy& policy, int64_t now_unix_ns) {
  std::sort(snapshots.begin(), snapshots.end(),
            [](const RetentionCandidate& a, const RetentionCandidate& b) {
              if (a.created_unix_ns != b.created_unix_ns)
                return a.created_unix_ns > b.created_unix_ns;
              return a.id.bytes() < b.id.bytes();
            });
  struct Rule {
    const char* name;
    uint32_t left;
    std::function<std::string(int64_t, size_t)> bucket;
    std::string last;
  };
  std::vector<Rule> rules = {
      {"last", policy.keep_last, [](int64_t, size_t i) { return "#" + std::to_string(i + 1); }, {}},
      {"daily", policy.keep_daily, [](int64_t t, size_t) { return UtcDay(t); }, {}},
      {"weekly", policy.keep_weekly, [](int64_t t, size_t) { return IsoWeek(t); }, {}},
      {"monthly", policy.keep_monthly, [](int64_t t, size_t) { return UtcMonth(t); }, {}},
  };
  std::vector<RetentionDecision> out;
  for (size_t i = 0; i < snapshots.size(); ++i) {
    const RetentionCandidate& s = snapshots[i];
    RetentionDecision d{s.id, s.created_unix_ns, false, s.pins};
    if (policy.Empty()) d.reasons.push_back("no retention policy");
    if (policy.keep_within_seconds != 0 &&
        now_unix_ns - s.created_unix_ns < policy.keep_within_seconds * 1'000'000'000)
      d.reasons.push_back("within " + std::to_string(policy.keep_within_seconds) + "s");
    for (Rule& r : rules) {
      if (r.left == 0) continue;
      std::string bucket = r.bucket(s.created_unix_ns, i);
      if (bucket == r.last) continue;
      d.reasons.push_back(std::string(r.name) + " " + bucket);
      r.last = std::move(bucket);
      --r.left;
    }
    d.keep = !d.reasons.empty();
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace aifs
