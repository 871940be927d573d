#include "query_commands.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "aifs/auth/caveats.h"
#include "aifs/privacy/epsilon.h"

namespace aifs::cli {

namespace {

using privacy::FormatDelta;
using privacy::FormatEpsilon;
using privacy::ParseDelta;
using privacy::ParseEpsilon;

// "-12.5" with `decimals` digits at most after the point -> grid units.
Result<int64_t> ParseGrid(const std::string& text, uint32_t decimals, const std::string& spec) {
  auto bad = [&] {
    return err::InvalidArgument("BAD_FIELD_SPEC", "'" + err::Echo(spec) +
                                                      "': bounds must be decimals with at most "
                                                      "DECIMALS digits after the point");
  };
  std::string_view t = text;
  const bool negative = t.starts_with('-');
  if (negative) t.remove_prefix(1);
  const size_t point = t.find('.');
  const std::string_view whole = t.substr(0, point);
  const std::string_view frac = point == std::string_view::npos ? "" : t.substr(point + 1);
  if (whole.empty() || whole.size() > 13 || frac.size() > decimals ||
      (point != std::string_view::npos && frac.empty()))
    return bad();
  int64_t units = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return bad();
    units = units * 10 + (c - '0');
  }
  for (uint32_t i = 0; i < decimals; ++i) {
    const char c = i < frac.size() ? frac[i] : '0';
    if (c < '0' || c > '9') return bad();
    units = units * 10 + (c - '0');
  }
  return negative ? -units : units;
}

std::string GridText(int64_t units, uint32_t decimals) {
  if (decimals == 0) return std::to_string(units);
  std::string digits = std::to_string(units < 0 ? -units : units);
  if (digits.size() <= decimals) digits = std::string(decimals + 1 - digits.size(), '0') + digits;
  return (units < 0 ? "-" : "") + digits.substr(0, digits.size() - decimals) + "." +
         digits.substr(digits.size() - decimals);
}

nlohmann::json PolicyJson(const PrivacyPolicy& p) {
  nlohmann::json fields = nlohmann::json::array();
  for (const PrivacyField& f : p.fields)
    fields.push_back({{"field", f.field},
                      {"lower", GridText(f.lower, f.decimals)},
                      {"upper", GridText(f.upper, f.decimals)},
                      {"decimals", f.decimals}});
  return {{"total_epsilon", FormatEpsilon(p.total_epsilon_micros)},
          {"max_query_epsilon", FormatEpsilon(p.max_query_epsilon_micros)},
          {"total_delta", FormatDelta(p.total_delta_picos)},
          {"max_query_delta", FormatDelta(p.max_query_delta_picos)},
          {"unit", p.unit_key.empty() ? "asset" : p.unit_key},
          {"max_contributions", std::max<uint32_t>(1, p.max_contributions)},
          {"fields", fields}};
}

void Print(const Output& out, const nlohmann::json& j) {
  if (out.json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  if (out.quiet) return;
  for (const auto& [k, v] : j.items())
    std::cout << k << ": " << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
}

}  // namespace

Status Query(Api& api, const Output& out, const QueryArgs& args) {
  AggregateQuery q;
  AIFS_ASSIGN_OR_RETURN(q.kind, ParseAggregateKind(args.kind));
  q.ns = NsOrDefault(args.ns);
  q.field = args.field;
  AIFS_ASSIGN_OR_RETURN(q.filters, ParseWhere(args.where));
  if (!args.asset_kind.empty()) {
    AIFS_ASSIGN_OR_RETURN(q.asset_kind, ParseKind(args.asset_kind));
  }
  q.as_of = args.as_of;
  if (!args.epsilon.empty()) {
    AIFS_ASSIGN_OR_RETURN(q.epsilon_micros, ParseEpsilon(args.epsilon));
  }
  if (!args.mechanism.empty()) {
    AIFS_ASSIGN_OR_RETURN(q.mechanism, ParseNoiseMechanism(args.mechanism));
  }
  if (!args.delta.empty()) {
    AIFS_ASSIGN_OR_RETURN(q.delta_picos, ParseDelta(args.delta));
  }
  q.bins = args.bins;
  q.lower = args.lower;
  q.upper = args.upper;
  q.quantiles = args.quantiles;
  q.who = args.who;
  AIFS_ASSIGN_OR_RETURN(AggregateAnswer a, api.Aggregate(q));
  nlohmann::json j = {{"query", std::string(AggregateKindName(a.kind))},
                      {"noisy", a.noisy},
                      {"mechanism", a.mechanism}};
  switch (a.kind) {
    case AggregateKind::kCount:
      j["count"] = a.count;
      break;
    case AggregateKind::kSum:
      j["sum"] = a.value;
      break;
    case AggregateKind::kMean:
      j["mean"] = a.value;
      j["count"] = a.count;
      break;
    case AggregateKind::kHistogram: {
      nlohmann::json bins = nlohmann::json::array();
      for (const HistogramBin& b : a.bins)
        bins.push_back({{"lower", b.lower}, {"upper", b.upper}, {"count", b.count}});
      j["bins"] = bins;
      break;
    }
    case AggregateKind::kQuantiles: {
      nlohmann::json qs = nlohmann::json::array();
      for (const auto& [quantile, value] : a.quantiles)
        qs.push_back({{"q", quantile}, {"value", value}});
      j["quantiles"] = qs;
      break;
    }
  }
  if (a.noisy) {
    j["epsilon"] = FormatEpsilon(a.epsilon_micros);
    j["remaining_epsilon"] = FormatEpsilon(a.remaining_micros);
    j["delta"] = FormatDelta(a.delta_picos);
    j["remaining_delta"] = FormatDelta(a.remaining_delta_picos);
    j["charge"] = a.charge_seq;
  }
  Print(out, j);
  return Status::Ok();
}

Status QueryLedger(Api& api, const Output& out, const std::string& ns, size_t limit) {
  AIFS_ASSIGN_OR_RETURN(PrivacyLedgerView v, api.GetPrivacyLedger(NsOrDefault(ns), limit));
  nlohmann::json charges = nlohmann::json::array();
  for (const PrivacyChargeInfo& c : v.charges)
    charges.push_back({{"seq", c.seq},
                       {"unix_ns", c.unix_ns},
                       {"who", c.who},
                       {"caller", c.caller},
                       {"query", c.query},
                       {"epsilon", FormatEpsilon(c.epsilon_micros)},
                       {"delta", FormatDelta(c.delta_picos)},
                       {"mechanism", c.mechanism}});
  nlohmann::json j = {{"policy", PolicyJson(v.policy)},
                      {"spent_epsilon", FormatEpsilon(v.spent_micros)},
                      {"remaining_epsilon", FormatEpsilon(v.remaining_micros)},
                      {"spent_delta", FormatDelta(v.spent_delta_picos)},
                      {"remaining_delta", FormatDelta(v.remaining_delta_picos)},
                      {"queries", v.queries}};
  if (out.json) {
    j["charges"] = charges;
    std::cout << j.dump(2) << "\n";
    return Status::Ok();
  }
  Print(out, j);
  if (out.quiet) return Status::Ok();
  for (const auto& c : charges)
    std::cout << "#" << c["seq"].dump() << "  " << c["epsilon"].get<std::string>()
              << (c["delta"] == "0" ? "" : " delta " + c["delta"].get<std::string>()) << "  "
              << c["who"].get<std::string>() << "  " << c["query"].get<std::string>() << "  "
              << c["mechanism"].get<std::string>() << "\n";
  return Status::Ok();
}

Status ApplyPrivacyArgs(const PrivacyArgs& args, PrivacyPolicy& p) {
  if (args.total) {
    AIFS_ASSIGN_OR_RETURN(p.total_epsilon_micros, ParseEpsilon(*args.total));
  }
  if (args.max_query) {
    AIFS_ASSIGN_OR_RETURN(p.max_query_epsilon_micros, ParseEpsilon(*args.max_query));
  }
  if (args.total_delta) {
    AIFS_ASSIGN_OR_RETURN(p.total_delta_picos, ParseDelta(*args.total_delta));
  }
  if (args.max_query_delta) {
    AIFS_ASSIGN_OR_RETURN(p.max_query_delta_picos, ParseDelta(*args.max_query_delta));
  }
  if (args.unit_key) p.unit_key = *args.unit_key;
  if (args.contributions) p.max_contributions = *args.contributions;
  for (const std::string& spec : args.fields) {
    // NAME:LOWER:UPPER[:DECIMALS]; NAME may not contain ':'.
    std::vector<std::string> parts;
    for (size_t pos = 0; pos <= spec.size();) {
      size_t colon = spec.find(':', pos);
      if (colon == std::string::npos) colon = spec.size();
      parts.push_back(spec.substr(pos, colon - pos));
      pos = colon + 1;
    }
    if (parts.size() < 3 || parts.size() > 4 || parts[0].empty())
      return err::InvalidArgument("BAD_FIELD_SPEC",
                                  "'" + err::Echo(spec) + "' is not NAME:LOWER:UPPER[:DECIMALS]");
    PrivacyField f{.field = parts[0]};
    if (parts.size() == 4) {
      if (parts[3].size() != 1 || parts[3][0] < '0' || parts[3][0] > '6')
        return err::InvalidArgument("BAD_FIELD_SPEC",
                                    "'" + err::Echo(spec) + "': DECIMALS is 0 to 6");
      f.decimals = static_cast<uint32_t>(parts[3][0] - '0');
    }
    AIFS_ASSIGN_OR_RETURN(f.lower, ParseGrid(parts[1], f.decimals, spec));
    AIFS_ASSIGN_OR_RETURN(f.upper, ParseGrid(parts[2], f.decimals, spec));
    std::erase_if(p.fields, [&](const PrivacyField& x) { return x.field == f.field; });
    p.fields.push_back(f);
  }
  return Status::Ok();
}

std::string PrivacyPolicyText(const PrivacyPolicy& policy) {
  if (!policy.enabled()) return "off (exact answers)";
  return PolicyJson(policy).dump();
}

}  // namespace aifs::cli
