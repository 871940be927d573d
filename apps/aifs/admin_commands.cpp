#include "admin_commands.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <nlohmann/json.hpp>

#include "aifs/core/clock.h"

namespace aifs::cli {

namespace {

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

nlohmann::json EventJson(const Event& e) {
  nlohmann::json j = {{"seq", e.seq},
                      {"type", std::string(EventTypeName(e.type))},
                      {"time", FormatUnixNanos(e.unix_ns)},
                      {"ns", e.ns}};
  if (e.asset) j["asset"] = e.asset->ToHex();
  if (e.parent) j["parent"] = e.parent->ToHex();
  if (e.snapshot) j["snapshot"] = e.snapshot->ToHex();
  if (e.old_snapshot) j["old_snapshot"] = e.old_snapshot->ToHex();
  if (!e.name.empty()) j["name"] = e.name;
  if (!e.who.empty()) j["who"] = e.who;
  return j;
}

}  // namespace

void BlockStopSignals() {
  sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Status Serve(Gate& gate, const Output& out, server::ServerOptions options, int grace_ms) {
  AIFS_ASSIGN_OR_RETURN(auto server, server::Server::Start(gate, options));
  const std::string http_host = options.http.listen.substr(0, options.http.listen.rfind(':'));
  if (out.json) {
    nlohmann::json j{{"listening", server->address()}, {"tls", !options.tls_cert_file.empty()}};
    if (server->http_port() >= 0) j["http"] = http_host + ":" + std::to_string(server->http_port());
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << "aifs: serving on " << server->address()
              << (options.tls_cert_file.empty() ? "" : " (TLS)") << std::endl;
    if (server->http_port() >= 0)
      std::cout << "aifs: serving HTTP on " << http_host << ":" << server->http_port()
                << (options.http.tls_cert_file.empty() ? "" : " (TLS)") << std::endl;
  }
  sigset_t set = StopSignals();
  int sig = 0;
  sigwait(&set, &sig);
  if (!out.quiet) std::cerr << "aifs: signal " << sig << ", shutting down" << std::endl;
  server->Shutdown(std::chrono::milliseconds(grace_ms));
  return Status::Ok();
}

Status Events(Api& api, const Output& out, const EventsArgs& args) {
  EventQuery query;
  query.ns = args.ns;
  for (const std::string& t : args.types) {
    AIFS_ASSIGN_OR_RETURN(EventType type, ParseEventType(t));
    query.types.push_back(type);
  }
  query.after = args.after;
  query.follow = args.follow;
  uint64_t seen = 0;
  const Status enough = err::Cancelled("EVENT_LIMIT", "");
  Status st = api.SubscribeEvents(query, [&](const Event& e) -> Status {
    nlohmann::json j = EventJson(e);
    if (out.json) {
      std::cout << j.dump() << std::endl;
    } else {
      std::cout << e.seq << "  " << j["time"].get<std::string>() << "  " << EventTypeName(e.type)
                << "  " << e.ns;
      for (const char* k : {"asset", "parent", "old_snapshot", "snapshot", "name"})
        if (j.contains(k)) std::cout << "  " << k << "=" << j[k].get<std::string>();
      std::cout << std::endl;
    }
    return ++seen == args.limit ? enough : Status::Ok();
  });
  return st.reason() == enough.reason() ? Status::Ok() : st;
}

Status Health(Api& api, const Output& out) {
  Status st = api.CheckHealth();
  if (st.ok() && !out.quiet)
    std::cout << (out.json ? nlohmann::json{{"ready", true}}.dump() : "ready") << "\n";
  return st;
}

Status NsPolicy(Api& api, const Output& out, const PolicyArgs& args) {
  AIFS_ASSIGN_OR_RETURN(NamespaceInfo ns, api.GetNamespace(args.ns));
  NamespacePolicy p = ns.policy;
  if (args.max_bytes) p.max_logical_bytes = *args.max_bytes;
  if (args.max_assets) p.max_assets = *args.max_assets;
  if (args.zstd_level) p.zstd_level = *args.zstd_level < 0 ? std::nullopt : args.zstd_level;
  if (args.keep_snapshots) p.keep_snapshots = *args.keep_snapshots;
  if (args.keep_seconds) p.keep_snapshot_seconds = *args.keep_seconds;
  if (args.keep_daily) p.keep_daily = *args.keep_daily;
  if (args.keep_weekly) p.keep_weekly = *args.keep_weekly;
  if (args.keep_monthly) p.keep_monthly = *args.keep_monthly;
  if (args.kms_key) p.kms_key_id = *args.kms_key;
  if (args.quarantine_embeddings) p.quarantine_embeddings = *args.quarantine_embeddings;
  // Out of range sizes are the engine's to refuse (beyond 32 bits too).
  if (args.segment_size)
    p.segment_size = static_cast<uint32_t>(std::min<uint64_t>(*args.segment_size, UINT32_MAX));
  AIFS_RETURN_IF_ERROR(ApplyPrivacyArgs(args.privacy, p.privacy));
  AIFS_ASSIGN_OR_RETURN(ns, api.SetNamespacePolicy(args.ns, p));
  nlohmann::json j = {
      {"namespace", ns.name},
      {"max_logical_bytes", ns.policy.max_logical_bytes},
      {"max_assets", ns.policy.max_assets},
      {"zstd_level", ns.policy.zstd_level ? nlohmann::json(*ns.policy.zstd_level)
                                          : nlohmann::json("store default")},
      {"keep_snapshots", ns.policy.keep_snapshots},
      {"keep_snapshot_seconds", ns.policy.keep_snapshot_seconds},
      {"keep_daily", ns.policy.keep_daily},
      {"keep_weekly", ns.policy.keep_weekly},
      {"keep_monthly", ns.policy.keep_monthly},
      {"kms_key", ns.policy.kms_key_id.empty() ? "current" : ns.policy.kms_key_id},
      {"quarantine_embeddings", ns.policy.quarantine_embeddings},
      {"segment_size", ns.policy.segment_size ? nlohmann::json(ns.policy.segment_size)
                                              : nlohmann::json("store default")},
      {"privacy", PrivacyPolicyText(ns.policy.privacy)}};
  if (out.json) {
    std::cout << j.dump(2) << "\n";
  } else if (!out.quiet) {
    for (const auto& [k, v] : j.items())
      std::cout << k << ": " << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
  }
  return Status::Ok();
}

namespace {
nlohmann::json FormatJson(const FormatReport& r) {
  nlohmann::json steps = nlohmann::json::array();
  for (const FormatStep& s : r.steps)
    steps.push_back({{"step", s.name}, {"state", s.state}, {"detail", s.detail}});
  return {{"time", FormatUnixNanos(r.unix_ns)},
          {"who", r.who},
          {"dry_run", r.dry_run},
          {"steps", steps},
          {"root_snapshot", r.root_snapshot ? r.root_snapshot->ToHex() : ""}};
}
}  // namespace

Status Format(Api& api, const Output& out, const FormatOptions& options, bool history) {
  if (history) {
    AIFS_ASSIGN_OR_RETURN(auto runs, api.FormatHistory());
    nlohmann::json j = nlohmann::json::array();
    for (const FormatReport& r : runs) j.push_back(FormatJson(r));
    if (out.json) {
      std::cout << j.dump(2) << "\n";
      return Status::Ok();
    }
    for (const auto& r : j)
      std::cout << r["time"].get<std::string>() << "  " << r["who"].get<std::string>()
                << (r["dry_run"].get<bool>() ? "  (dry run)" : "") << "  root "
                << r["root_snapshot"].get<std::string>() << "\n";
    return Status::Ok();
  }
  AIFS_ASSIGN_OR_RETURN(FormatReport r,
                        api.Format(options, [&](const FormatStep& s) {
                          if (!out.json && !out.quiet)
                            std::cout << s.name << ": " << s.state
                                      << (s.detail.empty() ? "" : " (" + s.detail + ")")
                                      << std::endl;
                        }));
  if (out.json)
    std::cout << FormatJson(r).dump(2) << "\n";
  else if (r.root_snapshot)
    std::cout << "root snapshot: " << r.root_snapshot->ToHex() << "\n";
  return Status::Ok();
}

Status SnapshotPrune(Api& api, const Output& out, const std::string& ns,
                     const PruneOptions& options) {
  AIFS_ASSIGN_OR_RETURN(PruneReport r, api.PruneSnapshots(NsOrDefault(ns), options));
  nlohmann::json removed = nlohmann::json::array();
  for (const SnapshotId& id : r.removed) removed.push_back(id.ToHex());
  nlohmann::json decisions = nlohmann::json::array();
  for (const RetentionDecision& d : r.decisions)
    decisions.push_back({{"snapshot", d.snapshot.ToHex()},
                         {"created", FormatUnixNanos(d.created_unix_ns)},
                         {"keep", d.keep},
                         {"reasons", d.reasons}});
  if (out.json) {
    std::cout << nlohmann::json{{"dry_run", r.dry_run},
                                {"removed", removed},
                                {"kept", r.kept},
                                {"nodes_removed", r.nodes_removed},
                                {"node_bytes_removed", r.node_bytes_removed},
                                {"decisions", decisions}}
                     .dump(2)
              << "\n";
  } else if (!out.quiet) {
    // Like restic forget: every snapshot, newest first, with the rules that
    // keep it; a dry run says what would go.
    for (const RetentionDecision& d : r.decisions) {
      std::string why;
      for (const std::string& reason : d.reasons) why += (why.empty() ? "" : ", ") + reason;
      std::cout << (d.keep ? "keep   " : (r.dry_run ? "would remove " : "removed "))
                << d.snapshot.ToHex() << "  " << FormatUnixNanos(d.created_unix_ns)
                << (why.empty() ? "" : "  " + why) << "\n";
    }
    std::cout << r.removed.size() << " snapshots " << (r.dry_run ? "to remove" : "removed") << ", "
              << r.kept << " kept, " << r.nodes_removed << " tree nodes (" << r.node_bytes_removed
              << " bytes) " << (r.dry_run ? "unused" : "reclaimed")
              << (r.removed.empty() || r.dry_run ? "" : "; `aifs gc` frees the data only they held")
              << "\n";
  }
  return Status::Ok();
}

}  // namespace aifs::cli
