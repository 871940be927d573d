#include "aifs/engine/paths.h"

#include <algorithm>
#include <map>

#include "aifs/core/utf8.h"
#include "aifs/engine/namespace_record.h"
#include "aifs/engine/publish.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/snapshot/snapshot_format.h"

namespace aifs {

using store::v1::NamespaceRecord;

namespace {

Status BadPath(std::string_view path, const std::string& why) {
  return err::InvalidArgument("INVALID_PATH", "path '" + err::Echo(path) + "' " + why);
}

Status PathNotFound(const std::string& ns, const std::string& path) {
  return err::NotFound("PATH_NOT_FOUND",
                       "no path '" + err::Echo(path) + "' in namespace '" + ns + "'");
}

AssetId IdOf(std::string_view raw) { return AssetId(FixedBytes<32>(std::string(raw))); }

}  // namespace

Status ValidatePath(std::string_view path) {
  if (path.empty()) return BadPath(path, "is empty");
  if (path.size() > kMaxPathBytes)
    return BadPath(path, "is " + std::to_string(path.size()) + " bytes, over " +
                             std::to_string(kMaxPathBytes));
  if (!ValidUtf8(path)) return BadPath(path, "is not valid UTF-8");
  if (path.front() == '/') return BadPath(path, "must not start with '/'");
  if (path.back() == '/') return BadPath(path, "must not end with '/'");
  size_t start = 0;
  for (size_t i = 0; i <= path.size();) {
    if (i == path.size() || path[i] == '/') {
      const std::string_view part = path.substr(start, i - start);
      if (part.empty()) return BadPath(path, "has an empty component ('//')");
      if (part == "." || part == "..") return BadPath(path, "has a '.' or '..' component");
      if (part.size() > kMaxPathComponentBytes)
        return BadPath(path,
                       "has a component over " + std::to_string(kMaxPathComponentBytes) + " bytes");
      start = ++i;
      continue;
    }
    // Control characters are ASCII: no byte of a multi-byte sequence is one.
    const auto c = static_cast<unsigned char>(path[i]);
    if (c < 0x20 || c == 0x7F) return BadPath(path, "contains a control character");
    ++i;
  }
  return Status::Ok();
}

Result<std::optional<AssetId>> BindPathInTxn(MetaTxn& txn, NamespaceRecord& ns,
                                             const std::string& path, const AssetId& id) {
  AIFS_RETURN_IF_ERROR(ValidatePath(path));
  const std::string& name = ns.name();
  const std::string key = keys::Path(name, path);
  AIFS_ASSIGN_OR_RETURN(auto old, txn.Get(key));
  std::optional<AssetId> before;
  if (old) {
    before = IdOf(*old);
    if (*before == id) return before;  // already so: nothing to log
    AIFS_RETURN_IF_ERROR(txn.Delete(keys::AssetPath(name, before->bytes(), path)));
  } else {
    ns.set_path_count(ns.path_count() + 1);
  }
  const std::string raw(AsChars(id.bytes()));
  const Digest tree_key = PathTreeKey(path);
  AIFS_RETURN_IF_ERROR(txn.Put(key, raw));
  AIFS_RETURN_IF_ERROR(txn.Put(keys::AssetPath(name, id.bytes(), path), ""));
  AIFS_RETURN_IF_ERROR(txn.Put(keys::PathName(name, tree_key), path));
  AIFS_RETURN_IF_ERROR(txn.Put(keys::PathChange(name, ns.change_generation(), tree_key), raw));
  return before;
}

Result<AssetId> UnbindPathInTxn(MetaTxn& txn, NamespaceRecord& ns, const std::string& path) {
  AIFS_RETURN_IF_ERROR(ValidatePath(path));
  const std::string& name = ns.name();
  const std::string key = keys::Path(name, path);
  AIFS_ASSIGN_OR_RETURN(auto old, txn.Get(key));
  if (!old) return PathNotFound(name, path);
  const AssetId before = IdOf(*old);
  AIFS_RETURN_IF_ERROR(txn.Delete(key));
  AIFS_RETURN_IF_ERROR(txn.Delete(keys::AssetPath(name, before.bytes(), path)));
  AIFS_RETURN_IF_ERROR(
      txn.Put(keys::PathChange(name, ns.change_generation(), PathTreeKey(path)), "-"));
  ns.set_path_count(ns.path_count() - 1);
  return before;
}

Status UnbindAssetPaths(MetaStore& meta, MetaTxn& txn, NamespaceRecord& ns, const AssetId& id) {
  const std::string prefix = keys::AssetPathPrefix(ns.name(), id.bytes());
  std::vector<std::string> paths;
  AIFS_RETURN_IF_ERROR(
      meta.Scan(prefix, PrefixEnd(prefix), [&](std::string_view key, std::string_view) {
        paths.emplace_back(key.substr(prefix.size()));
        return true;
      }));
  for (const std::string& path : paths) {
    auto unbound = UnbindPathInTxn(txn, ns, path);
    if (!unbound.ok() && unbound.status().reason() != "PATH_NOT_FOUND") return unbound.status();
  }
  return Status::Ok();
}

Status PathIndex::Change(const std::string& ns,
                         const std::function<Status(MetaTxn&, NamespaceRecord&)>& change) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  return RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
    const std::string ns_key = keys::Namespace(ns);
    AIFS_ASSIGN_OR_RETURN(auto ns_rec, LoadRecord<NamespaceRecord>(txn, ns_key, "namespace"));
    if (!ns_rec) return NamespaceNotFound(ns);
    AIFS_RETURN_IF_ERROR(change(txn, *ns_rec));
    return PutNamespaceRecord(txn, *ns_rec);
  });
}

Status PathIndex::Bind(const std::string& ns, const std::string& path, const AssetId& id) {
  return Change(ns, [&](MetaTxn& txn, NamespaceRecord& rec) -> Status {
    AIFS_ASSIGN_OR_RETURN(auto asset, txn.Get(keys::Asset(ns, id.bytes())));
    if (!asset) return AssetNotFound(ns, id);
    return BindPathInTxn(txn, rec, path, id).status();
  });
}

Status PathIndex::Move(const std::string& ns, const std::string& from, const std::string& to) {
  AIFS_RETURN_IF_ERROR(ValidatePath(to));
  return Change(ns, [&](MetaTxn& txn, NamespaceRecord& rec) -> Status {
    if (from == to) return Resolve(ns, from, "").status();
    AIFS_ASSIGN_OR_RETURN(AssetId id, UnbindPathInTxn(txn, rec, from));
    return BindPathInTxn(txn, rec, to, id).status();
  });
}

Status PathIndex::Remove(const std::string& ns, const std::string& path) {
  return Change(ns, [&](MetaTxn& txn, NamespaceRecord& rec) -> Status {
    return UnbindPathInTxn(txn, rec, path).status();
  });
}

Result<CheckoutReport> PathIndex::Checkout(const std::string& ns, const std::string& ref) {
  // The paths of the snapshot `ref` names now, by ID: a branch moving
  // meanwhile cannot make the report and the paths disagree.
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, snapshots_.Get(ns, ref));
  AIFS_ASSIGN_OR_RETURN(std::vector<PathEntry> wanted, snapshots_.PathsAt(ns, s.id.ToHex(), ""));
  CheckoutReport report;
  report.snapshot = s.id;
  AIFS_RETURN_IF_ERROR(Change(ns, [&](MetaTxn& txn, NamespaceRecord& rec) -> Status {
    report = CheckoutReport{s.id};
    // The live paths now; a commit changing one after this scan rewrites the
    // namespace record, which makes this transaction conflict and re-run.
    std::map<std::string, AssetId> live;
    const std::string base = keys::PathPrefix(ns);
    AIFS_RETURN_IF_ERROR(
        ctx_.meta->Scan(base, PrefixEnd(base), [&](std::string_view key, std::string_view value) {
          live.emplace(std::string(key.substr(base.size())), IdOf(value));
          return true;
        }));
    for (const PathEntry& e : wanted) {
      auto it = live.find(e.path);
      const bool bound = it != live.end();
      const bool same = bound && it->second == e.id;
      if (bound) live.erase(it);
      if (same) continue;
      AIFS_ASSIGN_OR_RETURN(auto asset, txn.Get(keys::Asset(ns, e.id.bytes())));
      if (!asset) {
        report.missing.push_back(e.path);
        if (bound) {
          AIFS_RETURN_IF_ERROR(UnbindPathInTxn(txn, rec, e.path).status());
          ++report.unbound;
        }
        continue;
      }
      AIFS_RETURN_IF_ERROR(BindPathInTxn(txn, rec, e.path, e.id).status());
      ++report.bound;
    }
    for (const auto& [path, id] : live) {
      AIFS_RETURN_IF_ERROR(UnbindPathInTxn(txn, rec, path).status());
      ++report.unbound;
    }
    return Status::Ok();
  }));
  return report;
}

Result<AssetId> PathIndex::Resolve(const std::string& ns, const std::string& path,
                                   const AsOf& as_of) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AIFS_RETURN_IF_ERROR(ValidatePath(path));
  if (!as_of.empty()) {
    AIFS_ASSIGN_OR_RETURN(auto id, snapshots_.PathAt(ns, as_of, path));
    if (!id) return PathNotFound(ns, path);
    return *id;
  }
  AIFS_ASSIGN_OR_RETURN(auto raw, ctx_.meta->Get(keys::Path(ns, path)));
  if (!raw) {
    AIFS_ASSIGN_OR_RETURN(auto ns_rec, ctx_.meta->Get(keys::Namespace(ns)));
    if (!ns_rec) return NamespaceNotFound(ns);
    return PathNotFound(ns, path);
  }
  return IdOf(*raw);
}

Result<PathPage> PathIndex::List(const PathListOptions& options) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(options.ns));
  const size_t limit = std::clamp<size_t>(options.limit, 1, 100000);
  PathPage page;
  auto take = [&](PathEntry entry) {
    if (page.entries.size() == limit) {
      page.next_page_token = page.entries.back().path;
      return false;
    }
    page.entries.push_back(std::move(entry));
    return true;
  };
  if (!options.as_of.empty()) {
    AIFS_ASSIGN_OR_RETURN(auto all, snapshots_.PathsAt(options.ns, options.as_of, options.prefix));
    auto it = all.begin();
    if (!options.page_token.empty())
      it = std::upper_bound(all.begin(), all.end(), options.page_token,
                            [](const std::string& t, const PathEntry& e) { return t < e.path; });
    for (; it != all.end(); ++it)
      if (!take(std::move(*it))) break;
    return page;
  }
  AIFS_ASSIGN_OR_RETURN(auto ns_rec, ctx_.meta->Get(keys::Namespace(options.ns)));
  if (!ns_rec) return NamespaceNotFound(options.ns);
  const std::string base = keys::PathPrefix(options.ns);
  const std::string prefix = base + options.prefix;
  std::string begin = prefix;
  if (!options.page_token.empty())
    begin = std::max(begin, keys::Path(options.ns, options.page_token) + '\0');
  AIFS_RETURN_IF_ERROR(
      ctx_.meta->Scan(begin, PrefixEnd(prefix), [&](std::string_view key, std::string_view value) {
        return take({std::string(key.substr(base.size())), IdOf(value)});
      }));
  return page;
}

}  // namespace aifs
