// Engine::Format and its audit log: the base structures of a store, brought
// into place idempotently through the engine's own operations.
#include "aifs/core/clock.h"
#include "aifs/engine/engine.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"

namespace aifs {

namespace {

constexpr const char* kRootNamespace = "default";
constexpr const char* kRootTag = "root";

FormatReport FromAudit(const store::v1::FormatAudit& a) {
  FormatReport r;
  r.unix_ns = a.unix_ns();
  r.who = a.who();
  r.dry_run = a.dry_run();
  for (const auto& s : a.steps()) r.steps.push_back({s.name(), s.state(), s.detail()});
  if (a.root_snapshot().size() == SnapshotId::kSize)
    r.root_snapshot = SnapshotId(FixedBytes<SnapshotId::kSize>(a.root_snapshot()));
  return r;
}

}  // namespace

Result<FormatReport> Engine::Format(const FormatOptions& options, const FormatProgress& progress) {
  if (!options.dry_run) AIFS_RETURN_IF_ERROR(RequireWritable());
  FormatReport report;
  report.unix_ns = NowUnixNanos();
  report.who = options.who;
  report.dry_run = options.dry_run;
  auto step = [&](std::string name, std::string state, std::string detail) {
    report.steps.push_back({std::move(name), std::move(state), std::move(detail)});
    if (progress) progress(report.steps.back());
  };
  const std::string would = "would create";

  AIFS_RETURN_IF_ERROR(CheckHealth());
  step("backends", "ok",
       ctx_->meta->Url() + ", " + ctx_->chunks->Url() + ", kms " + ctx_->kms->Kind());

  auto ns = GetNamespace(kRootNamespace);
  if (ns.ok()) {
    step("root namespace", "ok", kRootNamespace);
  } else if (ns.status().reason() != "NAMESPACE_NOT_FOUND") {
    return ns.status();
  } else if (options.dry_run) {
    step("root namespace", would, kRootNamespace);
  } else {
    AIFS_RETURN_IF_ERROR(CreateNamespace(kRootNamespace, {}).status());
    step("root namespace", "created", kRootNamespace);
  }

  AIFS_ASSIGN_OR_RETURN(auto namespaces, ListNamespaces());
  size_t spaces = 0;
  uint64_t vectors = 0;
  for (const NamespaceInfo& n : namespaces) {
    AIFS_ASSIGN_OR_RETURN(auto list, ListSpaces(n.name));
    spaces += list.size();
    for (const EmbeddingSpace& s : list) vectors += s.vectors;
  }
  const std::string index_state =
      std::to_string(spaces) + " spaces, " + std::to_string(vectors) + " vectors indexed";
  if (!options.rebuild_index) {
    step("vector index", "ok", index_state);
  } else if (options.dry_run) {
    step("vector index", "would rebuild", index_state);
  } else {
    AIFS_RETURN_IF_ERROR(vectors_.Rebuild());
    step("vector index", "rebuilt", index_state);
  }

  auto root = GetSnapshot(kRootNamespace, kRootTag);
  if (root.ok()) {
    report.root_snapshot = root->id;
    step("root snapshot", "ok", root->id.ToHex());
  } else if (root.status().code() != Code::kNotFound) {
    return root.status();
  } else if (options.dry_run) {
    step("root snapshot", would, std::string("tag '") + kRootTag + "' in " + kRootNamespace);
  } else {
    AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, CreateSnapshot(kRootNamespace, nullptr));
    auto tag = CreateTag(kRootNamespace, kRootTag, s.id.ToHex(), options.who);
    if (!tag.ok() && tag.status().reason() != "TAG_EXISTS") return tag.status();
    // A concurrent format may have won the tag: report what the tag names.
    AIFS_ASSIGN_OR_RETURN(SnapshotInfo tagged, GetSnapshot(kRootNamespace, kRootTag));
    report.root_snapshot = tagged.id;
    step("root snapshot", "created", tagged.id.ToHex());
  }

  if (!ctx_->meta->read_only()) {
    store::v1::FormatAudit audit;
    audit.set_unix_ns(report.unix_ns);
    audit.set_who(report.who);
    audit.set_dry_run(report.dry_run);
    for (const FormatStep& s : report.steps) {
      auto* r = audit.add_steps();
      r->set_name(s.name);
      r->set_state(s.state);
      r->set_detail(s.detail);
    }
    if (report.root_snapshot)
      audit.set_root_snapshot(std::string(AsChars(report.root_snapshot->bytes())));
    AIFS_RETURN_IF_ERROR(RunTransaction(*ctx_->meta, [&](MetaTxn& txn) {
      return PutRecord(txn,
                       std::string(keys::kFormatAuditPrefix) +
                           keys::SeqKey(static_cast<uint64_t>(report.unix_ns)),
                       audit);
    }));
  }
  return report;
}

Result<std::vector<FormatReport>> Engine::FormatHistory() {
  std::vector<FormatReport> out;
  Status parse;
  const std::string prefix(keys::kFormatAuditPrefix);
  AIFS_RETURN_IF_ERROR(ctx_->meta->Scan(prefix, PrefixEnd(prefix),
                                        [&](std::string_view, std::string_view value) {
                                          store::v1::FormatAudit a;
                                          parse = ParseRecord(value, a, "format audit");
                                          if (parse.ok()) out.push_back(FromAudit(a));
                                          return parse.ok();
                                        }));
  AIFS_RETURN_IF_ERROR(parse);
  return out;
}

}  // namespace aifs
