#include "history_commands.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "aifs/client/proof_json.h"
#include "aifs/core/clock.h"

namespace aifs::cli {

using json = nlohmann::json;

namespace {

std::string Short(const std::optional<AssetId>& id) { return id ? id->ToHex().substr(0, 12) : "-"; }

}  // namespace

Status Checkout(Api& api, const Output& out, const std::string& ns, const std::string& ref) {
  AIFS_ASSIGN_OR_RETURN(CheckoutReport r, api.Checkout(NsOrDefault(ns), ref));
  if (out.json) {
    std::cout << json{{"snapshot", r.snapshot.ToHex()},
                      {"bound", r.bound},
                      {"unbound", r.unbound},
                      {"missing", r.missing}}
                     .dump(2)
              << "\n";
    return Status::Ok();
  }
  for (const std::string& m : r.missing)
    std::cerr << "note: " << m << " names an asset deleted since; left unbound\n";
  if (!out.quiet)
    std::cout << "checked out " << r.snapshot.ToHex() << ": " << r.bound << " paths bound, "
              << r.unbound << " unbound\n";
  return Status::Ok();
}

Status Log(Api& api, const Output& out, const std::string& ns, const std::string& ref,
           size_t limit) {
  AIFS_ASSIGN_OR_RETURN(auto log, api.SnapshotLog(NsOrDefault(ns), ref, limit));
  if (out.json) {
    json all = json::array();
    for (const SnapshotInfo& s : log) all.push_back(SnapshotToJson(s));
    std::cout << all.dump(2) << "\n";
    return Status::Ok();
  }
  for (const SnapshotInfo& s : log) {
    std::cout << "snapshot " << s.id.ToHex() << "\n";
    if (s.parents.size() > 1) {
      std::cout << "Merge:  ";
      for (const SnapshotId& p : s.parents) std::cout << " " << p.ToHex().substr(0, 12);
      std::cout << "\n";
    }
    std::cout << "Author:  " << (s.author.empty() ? "-" : s.author) << "\n"
              << "Date:    " << FormatUnixNanos(s.created_unix_ns) << "\n"
              << "Content: " << s.count << " assets, " << s.path_count << " paths\n\n"
              << "    " << (s.message.empty() ? "(no message)" : s.message) << "\n\n";
  }
  return Status::Ok();
}

Status Merge(Api& api, const Output& out, const MergeArgs& args, bool revert) {
  MergeOptions o{.ns = NsOrDefault(args.ns),
                 .source = args.source,
                 .into = args.into,
                 .strategy = args.strategy == "ours"     ? MergeStrategy::kOurs
                             : args.strategy == "theirs" ? MergeStrategy::kTheirs
                                                         : MergeStrategy::kFail,
                 .message = args.message,
                 .author = Who()};
  AIFS_ASSIGN_OR_RETURN(MergeReport r, revert ? api.Revert(o) : api.Merge(o));
  if (out.json) {
    json conflicts = json::array();
    for (const PathConflict& c : r.conflicts)
      conflicts.push_back({{"path", c.path},
                           {"base", c.base ? json(c.base->ToHex()) : json()},
                           {"ours", c.ours ? json(c.ours->ToHex()) : json()},
                           {"theirs", c.theirs ? json(c.theirs->ToHex()) : json()}});
    std::cout << json{{"snapshot", r.snapshot ? json(r.snapshot->id.ToHex()) : json()},
                      {"base", r.base ? json(r.base->ToHex()) : json()},
                      {"fast_forward", r.fast_forward},
                      {"up_to_date", r.up_to_date},
                      {"paths_changed", r.paths_changed},
                      {"conflicts", conflicts}}
                     .dump(2)
              << "\n";
  } else {
    for (const PathConflict& c : r.conflicts)
      std::cout << "CONFLICT\t" << c.path << "\tbase " << Short(c.base) << "\tours "
                << Short(c.ours) << "\ttheirs " << Short(c.theirs) << "\n";
    if (r.snapshot && !out.quiet) {
      const char* how = r.up_to_date     ? "already up to date"
                        : r.fast_forward ? "fast-forward"
                        : revert         ? "reverted"
                                         : "merged";
      std::cout << args.into << ": " << how << " at " << r.snapshot->id.ToHex() << " ("
                << r.paths_changed << " paths changed"
                << (r.conflicts.empty() ? ""
                                        : ", conflicts resolved by --strategy " + args.strategy)
                << ")\n";
    }
  }
  if (!r.snapshot)
    return err::Aborted("MERGE_CONFLICT", std::to_string(r.conflicts.size()) +
                                              " paths changed on both sides; nothing moved "
                                              "(resolve, or pass --strategy ours|theirs)");
  return Status::Ok();
}

}  // namespace aifs::cli
