#include "commands.h"

#include "vector_commands.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "aifs/client/proof_json.h"
#include "aifs/client/trust_store.h"
#include "aifs/core/clock.h"
#include "aifs/core/file_util.h"
#include "aifs/core/hex.h"
#include "aifs/snapshot/snapshot_format.h"
#include "progress.h"

namespace aifs::cli {

using nlohmann::json;

namespace {

void PrintJson(const json& j) { std::cout << j.dump(2) << "\n"; }

json MetadataJson(const Metadata& m) {
  json j = json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

json NamespaceJson(const NamespaceInfo& ns) {
  return {
      {"name", ns.name},
      {"created", FormatUnixNanos(ns.created_unix_ns)},
      {"labels", MetadataJson(ns.labels)},
      {"assets", ns.asset_count},
      {"logical_bytes", ns.logical_bytes},
      {"chunks", ns.chunk_count},
      {"stored_bytes", ns.stored_bytes},
      {"retired_assets", ns.retired_count},
      {"retired_bytes", ns.retired_bytes},
      {"head_version", ns.head_version},
      {"policy",
       {{"max_logical_bytes", ns.policy.max_logical_bytes},
        {"max_assets", ns.policy.max_assets},
        {"zstd_level", ns.policy.zstd_level ? json(*ns.policy.zstd_level) : json(nullptr)},
        {"keep_snapshots", ns.policy.keep_snapshots},
        {"keep_snapshot_seconds", ns.policy.keep_snapshot_seconds},
        {"keep_daily", ns.policy.keep_daily},
        {"keep_weekly", ns.policy.keep_weekly},
        {"keep_monthly", ns.policy.keep_monthly},
        {"kms_key_id", ns.policy.kms_key_id},
        {"segment_size", ns.policy.segment_size ? json(ns.policy.segment_size) : json(nullptr)}}}};
}

json AssetJson(const AssetInfo& a) {
  json j = {{"id", a.id.ToHex()},
            {"uri", a.Uri().ToString()},
            {"namespace", a.ns},
            {"kind", KindName(a.kind)},
            {"size", a.size},
            {"created", FormatUnixNanos(a.created_unix_ns)},
            {"chunks", a.chunk_count},
            {"metadata", MetadataJson(a.metadata)}};
  if (!a.parents.empty()) {
    json parents = json::array();
    for (const ParentRef& p : a.parents)
      parents.push_back({{"id", p.parent.ToHex()},
                         {"transform", p.transform},
                         {"transform_digest", p.transform_digest}});
    j["parents"] = parents;
  }
  if (a.deleted) j["deleted"] = true;
  if (!a.chunks.empty()) {
    json chunks = json::array();
    for (const ChunkInfo& c : a.chunks)
      chunks.push_back({{"hash", HexEncode(c.hash)},
                        {"offset", c.offset},
                        {"length", c.length},
                        {"stored_size", c.stored_size},
                        {"compressed", c.compressed},
                        {"kms_key_id", c.kms_key_id},
                        {"object", c.object},
                        {"object_offset", c.object_offset}});
    j["chunk_list"] = chunks;
  }
  return j;
}

}  // namespace

Result<PutResult> PutStreamTo(AssetWriter& writer, int fd, const std::string& path,
                              Progress* progress) {
  // Straight into the writer's buffer: an embedded put copies the bytes
  // once, out of the page cache. The room is filled (a pipe gives 64 KiB
  // per read), so the writer hashes and chunks in large pieces.
  bool eof = false;
  AIFS_RETURN_IF_ERROR(writer.WriteFrom([&](MutableByteSpan room) -> Result<size_t> {
    size_t filled = 0;
    while (filled < room.size() && !eof) {
      const ssize_t n = ::read(fd, room.data() + filled, room.size() - filled);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return err::FromErrno(errno, "read " + path);
      eof = n == 0;
      filled += static_cast<size_t>(n);
    }
    if (progress) progress->Add(filled);
    return filled;
  }));
  return writer.Commit();
}

Result<PutResult> PutStream(Api& api, const PutOptions& opts, int fd, const std::string& path,
                            Progress&& progress) {
  AIFS_ASSIGN_OR_RETURN(auto writer, api.BeginPut(opts));
  return PutStreamTo(*writer, fd, path, &progress);
}

Result<AssetUri> ResolveRef(const std::string& ref, const std::string& ns) {
  AIFS_ASSIGN_OR_RETURN(AssetUri uri, ParseAssetRef(ref));
  if (uri.ns && !ns.empty() && *uri.ns != ns)
    return err::InvalidArgument("NAMESPACE_MISMATCH", "the URI names namespace '" + *uri.ns +
                                                          "' but --ns is '" + ns + "'");
  if (!uri.ns) uri.ns = ns.empty() ? "default" : ns;
  return uri;
}

Result<std::vector<AssetUri>> ResolveRefs(const std::vector<std::string>& refs,
                                          const std::string& ns) {
  std::vector<AssetUri> out;
  for (const auto& r : refs) {
    AIFS_ASSIGN_OR_RETURN(AssetUri u, ResolveRef(r, ns));
    out.push_back(std::move(u));
  }
  return out;
}

std::string NsOrDefault(const std::string& ns) { return ns.empty() ? "default" : ns; }

Result<std::vector<MetaFilter>> ParseWhere(const std::vector<std::string>& items) {
  std::vector<MetaFilter> out;
  for (const std::string& w : items) {
    MetaFilter f;
    const size_t eq = w.find('=');
    auto number = [&](const std::string& text) -> Result<double> {
      char* end = nullptr;
      const double x = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size())
        return err::InvalidArgument("BAD_FILTER", "'" + w + "' needs a number");
      return x;
    };
    // The operator is the one or two characters ending at the first '='.
    const char op = eq != std::string::npos && eq > 0 ? w[eq - 1] : 0;
    if (op == '^' || op == '@' || op == '>' || op == '<') {
      f.key = w.substr(0, eq - 1);
      const std::string v = w.substr(eq + 1);
      if (op == '^') {
        f.op = MetaFilter::Op::kPrefix;
        f.value = v;
      } else if (op == '@') {
        f.op = MetaFilter::Op::kIn;
        for (size_t pos = 0; pos <= v.size();) {
          size_t comma = v.find(',', pos);
          if (comma == std::string::npos) comma = v.size();
          f.values.push_back(v.substr(pos, comma - pos));
          pos = comma + 1;
        }
      } else {
        f.op = MetaFilter::Op::kRange;
        AIFS_ASSIGN_OR_RETURN(double x, number(v));
        (op == '>' ? f.min : f.max) = x;
      }
    } else if (eq != std::string::npos) {
      f = {w.substr(0, eq), MetaFilter::Op::kEquals, w.substr(eq + 1), {}, {}, {}};
    } else {
      f = {w, MetaFilter::Op::kExists, "", {}, {}, {}};
    }
    if (f.key.empty())
      return err::InvalidArgument("BAD_FILTER", "filter '" + w + "' has no key");
    out.push_back(std::move(f));
  }
  return out;
}

Result<Metadata> ParseKeyValues(const std::vector<std::string>& items) {
  Metadata m;
  for (const auto& item : items) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      return err::InvalidArgument("BAD_METADATA", "expected key=value, got '" + item + "'");
    m[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return m;
}

Result<ParentRef> ParseParent(std::string_view text) {
  ParentRef p;
  size_t colon = text.find(':');
  AIFS_ASSIGN_OR_RETURN(p.parent, AssetId::Parse(text.substr(0, colon)));
  if (colon != std::string_view::npos) {
    std::string_view rest = text.substr(colon + 1);
    size_t next = rest.find(':');
    p.transform = std::string(rest.substr(0, next));
    if (next != std::string_view::npos) p.transform_digest = std::string(rest.substr(next + 1));
  }
  return p;
}

Status NsCreate(Api& api, const Output& out, const std::string& name,
                const std::vector<std::string>& labels) {
  AIFS_ASSIGN_OR_RETURN(Metadata l, ParseKeyValues(labels));
  AIFS_ASSIGN_OR_RETURN(NamespaceInfo ns, api.CreateNamespace(name, l));
  if (out.json)
    PrintJson(NamespaceJson(ns));
  else if (!out.quiet)
    std::cout << "created namespace " << ns.name << "\n";
  return Status::Ok();
}

Status NsList(Api& api, const Output& out) {
  AIFS_ASSIGN_OR_RETURN(auto list, api.ListNamespaces());
  if (out.json) {
    json j = json::array();
    for (const auto& ns : list) j.push_back(NamespaceJson(ns));
    PrintJson(j);
    return Status::Ok();
  }
  for (const auto& ns : list)
    std::cout << ns.name << "\t" << ns.asset_count << " assets\t" << HumanBytes(ns.logical_bytes)
              << "\n";
  return Status::Ok();
}

Status NsShow(Api& api, const Output& out, const std::string& name) {
  AIFS_ASSIGN_OR_RETURN(NamespaceInfo ns, api.GetNamespace(name));
  if (out.json) {
    PrintJson(NamespaceJson(ns));
    return Status::Ok();
  }
  std::cout << "namespace:     " << ns.name << "\n"
            << "created:       " << FormatUnixNanos(ns.created_unix_ns) << "\n"
            << "assets:        " << ns.asset_count << "\n"
            << "logical bytes: " << ns.logical_bytes << " (" << HumanBytes(ns.logical_bytes)
            << ")\n"
            << "chunks:        " << ns.chunk_count << "\n"
            << "stored bytes:  " << ns.stored_bytes << " (" << HumanBytes(ns.stored_bytes)
            << ")\n";
  if (ns.retired_count)
    std::cout << "removed, kept for snapshots: " << ns.retired_count << " assets ("
              << HumanBytes(ns.retired_bytes) << ")\n";
  for (const auto& [k, v] : ns.labels) std::cout << "label:         " << k << "=" << v << "\n";
  const NamespacePolicy& p = ns.policy;
  if (p.max_logical_bytes) std::cout << "quota bytes:   " << p.max_logical_bytes << "\n";
  if (p.max_assets) std::cout << "quota assets:  " << p.max_assets << "\n";
  if (p.zstd_level) std::cout << "zstd level:    " << *p.zstd_level << "\n";
  if (p.keep_snapshots) std::cout << "keep snaps:    " << p.keep_snapshots << "\n";
  if (p.keep_snapshot_seconds) std::cout << "keep snaps s:  " << p.keep_snapshot_seconds << "\n";
  if (p.keep_daily) std::cout << "keep daily:    " << p.keep_daily << "\n";
  if (p.keep_weekly) std::cout << "keep weekly:   " << p.keep_weekly << "\n";
  if (p.keep_monthly) std::cout << "keep monthly:  " << p.keep_monthly << "\n";
  if (!p.kms_key_id.empty()) std::cout << "kms key:       " << p.kms_key_id << "\n";
  if (p.segment_size) std::cout << "segment size:  " << HumanBytes(p.segment_size) << "\n";
  return Status::Ok();
}

Status NsRemove(Api& api, const Output& out, const std::string& name) {
  AIFS_RETURN_IF_ERROR(api.DeleteNamespace(name));
  if (out.json)
    PrintJson({{"deleted", name}});
  else if (!out.quiet)
    std::cout << "deleted namespace " << name << "\n";
  return Status::Ok();
}

Status Put(Api& api, const Output& out, const PutArgs& args) {
  AIFS_ASSIGN_OR_RETURN(Metadata meta, ParseKeyValues(args.meta));
  AIFS_ASSIGN_OR_RETURN(AssetKind kind, ParseKind(args.kind));
  const bool from_stdin = args.path == "-";
  int fd = from_stdin ? STDIN_FILENO : ::open(args.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return err::FromErrno(errno, "open " + args.path);
  struct Closer {
    int fd;
    bool owned;
    ~Closer() {
      if (owned) ::close(fd);
    }
  } closer{fd, !from_stdin};
  struct stat st;
  if (::fstat(fd, &st) != 0) return err::FromErrno(errno, "stat " + args.path);
  if (S_ISDIR(st.st_mode))
    return err::InvalidArgument("BAD_PATH", args.path + " is a directory");
  const uint64_t total = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;

  PutOptions opts;
  opts.ns = NsOrDefault(args.ns);
  opts.kind = kind;
  opts.metadata = std::move(meta);
  if (!args.at_path.empty()) opts.path = args.at_path;
  for (const auto& text : args.parents) {
    AIFS_ASSIGN_OR_RETURN(ParentRef p, ParseParent(text));
    opts.parents.push_back(std::move(p));
  }
  AIFS_ASSIGN_OR_RETURN(opts.embeddings, ParseEmbeddings(args.embeds));
  // A put that deduplicated against a chunk deleted meanwhile is retried
  // when the input can be read again.
  Result<PutResult> committed = err::Internal("PUT_NOT_RUN", "put did not run");
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0 && ::lseek(fd, 0, SEEK_SET) != 0) break;
    committed = PutStream(api, opts, fd, args.path, Progress(out.progress, "put", total));
    if (committed.ok() || committed.status().reason() != "CHUNK_RECLAIMED" || !S_ISREG(st.st_mode))
      break;
  }
  AIFS_RETURN_IF_ERROR(committed.status());
  PutResult& r = *committed;
  if (!r.created && r.asset.metadata != opts.metadata && !out.quiet)
    std::cerr << "note: these bytes were already stored as " << r.asset.Uri().ToString()
              << "; its original metadata is kept\n";
  if (out.json) {
    json j = AssetJson(r.asset);
    j["created_now"] = r.created;
    j["chunks_new"] = r.chunks_new;
    j["bytes_stored"] = r.bytes_stored;
    PrintJson(j);
  } else {
    std::cout << r.asset.id.ToHex() << "\n";
  }
  return Status::Ok();
}

Status Stat(Api& api, const Output& out, const std::string& ns, const std::string& ref,
            const AsOf& as_of, bool chunks) {
  AIFS_ASSIGN_OR_RETURN(AssetUri uri, ResolveAsset(api, ref, ns, as_of));
  AIFS_ASSIGN_OR_RETURN(AssetInfo a, api.StatAssetAt(*uri.ns, uri.id, as_of, chunks));
  if (out.json) {
    PrintJson(AssetJson(a));
    return Status::Ok();
  }
  std::cout << "id:        " << a.id.ToHex() << "\n"
            << "uri:       " << a.Uri().ToString() << "\n"
            << "kind:      " << KindName(a.kind) << "\n"
            << "size:      " << a.size << " (" << HumanBytes(a.size) << ")\n"
            << "created:   " << FormatUnixNanos(a.created_unix_ns) << "\n"
            << "chunks:    " << a.chunk_count << "\n";
  for (const auto& [k, v] : a.metadata) std::cout << "meta:      " << k << "=" << v << "\n";
  for (const ParentRef& p : a.parents)
    std::cout << "parent:    " << p.parent.ToHex()
              << (p.transform.empty() ? "" : "  via " + p.transform)
              << (p.transform_digest.empty() ? "" : " @" + p.transform_digest) << "\n";
  for (const ChunkInfo& c : a.chunks)
    std::cout << "chunk:     " << HexEncode(c.hash) << " @" << c.offset << " +" << c.length
              << " stored=" << c.stored_size << (c.compressed ? " zstd" : "") << " key="
              << c.kms_key_id << " in=" << c.object << "@" << c.object_offset << "\n";
  return Status::Ok();
}

Status List(Api& api, const Output& out, const ListArgs& args) {
  ListOptions opts;
  opts.ns = NsOrDefault(args.ns);
  opts.as_of = args.as_of;
  if (!args.kind.empty()) {
    AIFS_ASSIGN_OR_RETURN(opts.kind, ParseKind(args.kind));
  }
  AIFS_ASSIGN_OR_RETURN(opts.filters, ParseWhere(args.where));
  json all = json::array();
  size_t shown = 0;
  do {
    opts.limit = 1000;
    AIFS_ASSIGN_OR_RETURN(AssetPage page, api.ListAssets(opts));
    for (const AssetInfo& a : page.assets) {
      if (args.limit && shown == args.limit) break;
      ++shown;
      if (out.json)
        all.push_back(AssetJson(a));
      else
        std::cout << a.id.ToHex() << "\t" << KindName(a.kind) << "\t" << a.size << "\t"
                  << FormatUnixNanos(a.created_unix_ns) << "\n";
    }
    opts.page_token = page.next_page_token;
  } while (!opts.page_token.empty() && !(args.limit && shown == args.limit));
  if (out.json) PrintJson(all);
  return Status::Ok();
}

Status Remove(Api& api, const Output& out, const std::string& ns,
              const std::vector<std::string>& refs, bool force) {
  AIFS_ASSIGN_OR_RETURN(auto uris, ResolveRefs(refs, ns));
  json j = json::array();
  for (const AssetUri& u : uris) {
    AIFS_RETURN_IF_ERROR(api.DeleteAsset(*u.ns, u.id, force));
    j.push_back(u.ToString());
    if (!out.json && !out.quiet) std::cout << "deleted " << u.ToString() << "\n";
  }
  if (out.json) PrintJson({{"deleted", j}});
  return Status::Ok();
}

Status Lineage(Api& api, const Output& out, const LineageArgs& args) {
  AIFS_ASSIGN_OR_RETURN(AssetUri uri, ResolveAsset(api, args.ref, args.ns, args.as_of));
  AIFS_ASSIGN_OR_RETURN(
      LineageGraph g,
      api.GetLineage(*uri.ns, uri.id, args.down ? LineageDirection::kDown : LineageDirection::kUp,
                     args.depth));
  if (out.json) {
    json edges = json::array();
    for (const LineageEdge& e : g.edges)
      edges.push_back({{"parent", e.parent.ToHex()}, {"child", e.child.ToHex()},
                       {"transform", e.transform}, {"transform_digest", e.transform_digest},
                       {"depth", e.depth}});
    json assets = json::array();
    for (const AssetInfo& a : g.assets) assets.push_back(AssetJson(a));
    PrintJson({{"root", g.root.ToHex()}, {"edges", edges}, {"assets", assets}});
  } else if (args.dot) {
    // Graphviz: nodes are short IDs; deleted (tombstoned) assets are dashed.
    std::cout << "digraph lineage {\n  rankdir=LR;\n  node [shape=box, fontname=monospace];\n";
    for (const AssetInfo& a : g.assets)
      std::cout << "  \"" << a.id.ToHex() << "\" [label=\"" << a.id.ToHex().substr(0, 12) << "\\n"
                << KindName(a.kind) << ", " << HumanBytes(a.size) << "\""
                << (a.deleted ? ", style=dashed" : "") << (a.id == g.root ? ", penwidth=2" : "")
                << "];\n";
    for (const LineageEdge& e : g.edges) {
      std::string label = e.transform;
      for (char& c : label)
        if (c == '"' || c == '\\') c = '_';
      std::cout << "  \"" << e.parent.ToHex() << "\" -> \"" << e.child.ToHex() << "\" [label=\""
                << label << "\"];\n";
    }
    std::cout << "}\n";
  } else {
    for (const LineageEdge& e : g.edges)
      std::cout << std::string(2 * static_cast<size_t>(e.depth - 1), ' ')
                << (args.down ? e.child.ToHex() : e.parent.ToHex()) << "  "
                << (e.transform.empty() ? "-" : e.transform)
                << (e.transform_digest.empty() ? "" : " @" + e.transform_digest) << "\n";
  }
  return Status::Ok();
}

std::string Who() {
  if (const char* u = std::getenv("USER"); u && *u) return u;
  if (const passwd* pw = ::getpwuid(::getuid())) return pw->pw_name;
  return "uid:" + std::to_string(::getuid());
}

namespace {

// The client-side check: the snapshot's key must be the one pinned for its
// store and namespace (pinned now if none was).
Status CheckPinned(Api& api, const Output& out, const SnapshotInfo& s) {
  AIFS_ASSIGN_OR_RETURN(StoreDescription store, api.DescribeStore());
  AIFS_ASSIGN_OR_RETURN(TrustStore trust, TrustStore::Load(TrustStore::DefaultPath()));
  bool pinned_now = false;
  AIFS_RETURN_IF_ERROR(trust.Check(store.store_id, s.ns, s.public_key, &pinned_now));
  if (pinned_now && !out.quiet)
    std::cerr << "note: pinned the signing key of namespace '" << s.ns << "'"
              << (store.store_id.empty() ? "" : " of store " + store.store_id)
              << " (trust on first use): " << HexEncode(s.public_key) << "\n";
  return Status::Ok();
}

void PrintSnapshot(const Output& out, const SnapshotInfo& s) {
  if (out.json) {
    PrintJson(SnapshotToJson(s));
    return;
  }
  std::cout << "snapshot:  " << SnapshotUri{s.ns, s.id}.ToString() << "\n"
            << "root:      " << HexEncode(s.root) << " (height " << int(s.height) << ")\n"
            << "assets:    " << s.count << (s.explicit_set ? " (explicit set)" : "") << "\n";
  if (s.version >= 2) std::cout << "paths:     " << s.path_count << "\n";
  if (!s.message.empty()) std::cout << "message:   " << s.message << "\n";
  if (!s.author.empty()) std::cout << "author:    " << s.author << "\n";
  for (const SnapshotId& p : s.parents) std::cout << "parent:    " << p.ToHex() << "\n";
  std::cout << "created:   " << FormatUnixNanos(s.created_unix_ns) << "\n"
            << "signed by: " << HexEncode(s.public_key) << "\n";
}

json BranchJson(const BranchInfo& b) {
  return {{"name", b.name}, {"snapshot", b.snapshot.ToHex()},
          {"updated", FormatUnixNanos(b.updated_unix_ns)}, {"updated_by", b.updated_by},
          {"moves", b.moves}};
}

}  // namespace

Status SnapshotCreate(Api& api, const Output& out, const std::string& ns,
                      const std::string& ids_file, const std::string& message,
                      const std::string& branch) {
  std::vector<AssetId> ids;
  if (!ids_file.empty()) {
    AIFS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(ids_file));
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? text.size() : nl + 1;
      if (line.empty()) continue;
      AIFS_ASSIGN_OR_RETURN(AssetUri u, ResolveRef(line, ns));
      ids.push_back(u.id);
    }
  }
  const SnapshotOptions options{.ids = ids_file.empty() ? nullptr : &ids,
                                .message = message,
                                .author = Who(),
                                .branch = branch};
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, api.CreateSnapshot(NsOrDefault(ns), options));
  if (out.json || !out.quiet) PrintSnapshot(out, s);
  else std::cout << s.id.ToHex() << "\n";
  return Status::Ok();
}

Status SnapshotShow(Api& api, const Output& out, const std::string& ns, const std::string& ref,
                    bool verify_tree) {
  std::string n = NsOrDefault(ns), r = ref;
  if (auto uri = ParseSnapshotUri(ref); uri.ok()) {
    n = uri->ns;
    r = uri->id.ToHex();
  }
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, api.GetSnapshot(n, r));
  AIFS_RETURN_IF_ERROR(CheckPinned(api, out, s));
  if (verify_tree) {
    AIFS_RETURN_IF_ERROR(api.VerifySnapshot(n, r));
    if (!out.json && !out.quiet)
      std::cout << "verified: signature by the pinned key, root recomputed from " << s.count
                << " assets\n";
  }
  if (!verify_tree || out.json) PrintSnapshot(out, s);
  return Status::Ok();
}

Status SnapshotList(Api& api, const Output& out, const std::string& ns) {
  AIFS_ASSIGN_OR_RETURN(auto list, api.ListSnapshots(NsOrDefault(ns)));
  json j = json::array();
  for (const SnapshotInfo& s : list) {
    if (out.json) j.push_back(SnapshotToJson(s));
    else
      std::cout << s.id.ToHex() << "\t" << FormatUnixNanos(s.created_unix_ns) << "\t" << s.count
                << " assets" << (s.explicit_set ? "\texplicit" : "") << "\n";
  }
  if (out.json) PrintJson(j);
  return Status::Ok();
}

Status BranchCreate(Api& api, const Output& out, const std::string& ns, const std::string& name,
                    const std::string& ref) {
  AIFS_ASSIGN_OR_RETURN(BranchInfo b, api.CreateBranch(NsOrDefault(ns), name, ref, Who()));
  if (out.json) PrintJson(BranchJson(b));
  else if (!out.quiet) std::cout << "branch " << b.name << " -> " << b.snapshot.ToHex() << "\n";
  return Status::Ok();
}

Status BranchMove(Api& api, const Output& out, const std::string& ns, const std::string& name,
                  const std::string& ref, const std::string& expect) {
  SnapshotId expected;
  if (expect.empty()) {
    // No --expect: move from what the branch points at now; the engine's
    // compare-and-swap still catches a concurrent mover.
    AIFS_ASSIGN_OR_RETURN(SnapshotInfo current, api.GetSnapshot(NsOrDefault(ns), name));
    expected = current.id;
  } else {
    AIFS_ASSIGN_OR_RETURN(expected, SnapshotId::Parse(expect));
  }
  AIFS_ASSIGN_OR_RETURN(BranchInfo b, api.MoveBranch(NsOrDefault(ns), name, expected, ref, Who()));
  if (out.json) PrintJson(BranchJson(b));
  else if (!out.quiet)
    std::cout << "branch " << b.name << ": " << expected.ToHex() << " -> " << b.snapshot.ToHex()
              << "\n";
  return Status::Ok();
}

Status BranchRemove(Api& api, const Output& out, const std::string& ns, const std::string& name) {
  AIFS_RETURN_IF_ERROR(api.DeleteBranch(NsOrDefault(ns), name, Who()));
  if (out.json) PrintJson({{"deleted", name}});
  else if (!out.quiet) std::cout << "deleted branch " << name << "\n";
  return Status::Ok();
}

Status BranchList(Api& api, const Output& out, const std::string& ns) {
  AIFS_ASSIGN_OR_RETURN(auto list, api.ListBranches(NsOrDefault(ns)));
  json j = json::array();
  for (const BranchInfo& b : list) {
    if (out.json) j.push_back(BranchJson(b));
    else std::cout << b.name << "\t" << b.snapshot.ToHex() << "\t" << FormatUnixNanos(b.updated_unix_ns) << "\n";
  }
  if (out.json) PrintJson(j);
  return Status::Ok();
}

Status BranchLog(Api& api, const Output& out, const std::string& ns, const std::string& name) {
  AIFS_ASSIGN_OR_RETURN(auto log, api.BranchLog(NsOrDefault(ns), name));
  json j = json::array();
  for (const BranchMoveInfo& m : log) {
    std::string from = m.old_snapshot ? m.old_snapshot->ToHex() : "-";
    std::string to = m.new_snapshot ? m.new_snapshot->ToHex() : "-";
    if (out.json)
      j.push_back({{"old", from}, {"new", to}, {"time", FormatUnixNanos(m.unix_ns)}, {"who", m.who}});
    else
      std::cout << FormatUnixNanos(m.unix_ns) << "\t" << from << " -> " << to << "\t" << m.who << "\n";
  }
  if (out.json) PrintJson(j);
  return Status::Ok();
}

Status TagCreate(Api& api, const Output& out, const std::string& ns, const std::string& name,
                 const std::string& ref) {
  AIFS_ASSIGN_OR_RETURN(TagInfo t, api.CreateTag(NsOrDefault(ns), name, ref, Who()));
  if (out.json) PrintJson({{"name", t.name}, {"snapshot", t.snapshot.ToHex()}});
  else if (!out.quiet) std::cout << "tag " << t.name << " -> " << t.snapshot.ToHex() << "\n";
  return Status::Ok();
}

Status TagRemove(Api& api, const Output& out, const std::string& ns, const std::string& name) {
  AIFS_RETURN_IF_ERROR(api.DeleteTag(NsOrDefault(ns), name, Who()));
  if (out.json) PrintJson({{"deleted", name}});
  else if (!out.quiet) std::cout << "deleted tag " << name << " (recorded in the tag audit log)\n";
  return Status::Ok();
}

Status TagList(Api& api, const Output& out, const std::string& ns) {
  AIFS_ASSIGN_OR_RETURN(auto list, api.ListTags(NsOrDefault(ns)));
  json j = json::array();
  for (const TagInfo& t : list) {
    if (out.json)
      j.push_back({{"name", t.name}, {"snapshot", t.snapshot.ToHex()},
                   {"created", FormatUnixNanos(t.created_unix_ns)}, {"created_by", t.created_by}});
    else std::cout << t.name << "\t" << t.snapshot.ToHex() << "\t" << FormatUnixNanos(t.created_unix_ns) << "\n";
  }
  if (out.json) PrintJson(j);
  return Status::Ok();
}

Status Diff(Api& api, const Output& out, const std::string& ns, const std::string& a,
            const std::string& b) {
  AIFS_ASSIGN_OR_RETURN(SnapshotDiff d, api.DiffSnapshots(NsOrDefault(ns), a, b));
  if (out.json) {
    json added = json::array(), removed = json::array();
    for (const AssetId& id : d.added) added.push_back(id.ToHex());
    for (const AssetId& id : d.removed) removed.push_back(id.ToHex());
    json paths = json::array();
    for (const PathChange& c : d.paths)
      paths.push_back({{"path", c.path},
                       {"before", c.before ? json(c.before->ToHex()) : json()},
                       {"after", c.after ? json(c.after->ToHex()) : json()}});
    PrintJson({{"added", added}, {"removed", removed}, {"paths", paths}});
    return Status::Ok();
  }
  // Paths first, like `git diff --name-status`: A(dded), D(eleted), M(odified).
  for (const PathChange& c : d.paths) {
    const char* what = !c.before ? "A" : !c.after ? "D" : "M";
    std::cout << what << "\t" << c.path << "\t"
              << (c.before ? c.before->ToHex().substr(0, 12) : "-") << " -> "
              << (c.after ? c.after->ToHex().substr(0, 12) : "-") << "\n";
  }
  for (const AssetId& id : d.removed) std::cout << "- " << id.ToHex() << "\n";
  for (const AssetId& id : d.added) std::cout << "+ " << id.ToHex() << "\n";
  return Status::Ok();
}

Status Proof(Api& api, const Output& out, const std::string& ns, const std::string& asset,
             const std::string& snapshot, const std::string& output) {
  SnapshotProof p;
  const bool by_id = asset.starts_with("aifs:") ||
                     (asset.size() == 2 * AssetId::kSize && AssetId::Parse(asset).ok());
  if (by_id) {
    AIFS_ASSIGN_OR_RETURN(AssetUri uri, ResolveRef(asset, ns));
    AIFS_ASSIGN_OR_RETURN(p, api.ProveAsset(*uri.ns, snapshot, uri.id));
  } else {
    AIFS_ASSIGN_OR_RETURN(p, api.ProvePath(NsOrDefault(ns), snapshot, asset));
  }
  AIFS_ASSIGN_OR_RETURN(StoreDescription store, api.DescribeStore());
  p.store_id = store.store_id;
  const std::string text = ProofToJson(p).dump(2) + "\n";
  if (output.empty() || output == "-") {
    std::cout << text;
    return Status::Ok();
  }
  AIFS_RETURN_IF_ERROR(WriteFileAtomic(output, text, 0644));
  if (!out.quiet && !out.json) std::cerr << "wrote proof to " << output << "\n";
  return Status::Ok();
}

Status VerifyProof(const Output& out, const std::string& file, const std::string& key_hex) {
  AIFS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(file));
  auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return err::InvalidArgument("BAD_PROOF_FILE", file + " is not JSON");
  AIFS_ASSIGN_OR_RETURN(SnapshotProof p, ProofFromJson(j));
  Ed25519PublicKey key;
  if (!key_hex.empty()) {
    AIFS_ASSIGN_OR_RETURN(key, ParsePublicKey(key_hex));
    AIFS_RETURN_IF_ERROR(VerifySnapshotProof(p, key));
  } else {
    // The pin of the proof's store; a proof without a store ID (written
    // before they existed) is checked against every key pinned for its
    // namespace name, as such proofs always were.
    AIFS_ASSIGN_OR_RETURN(TrustStore trust, TrustStore::Load(TrustStore::DefaultPath()));
    std::vector<Ed25519PublicKey> keys;
    if (p.store_id.empty())
      keys = trust.PinnedAnyStore(p.snapshot.ns);
    else if (auto pinned = trust.Pinned(p.store_id, p.snapshot.ns))
      keys.push_back(*pinned);
    if (keys.empty())
      return err::FailedPrecondition("KEY_NOT_PINNED",
                                     "no key pinned for namespace '" + p.snapshot.ns + "'" +
                                         (p.store_id.empty() ? "" : " of store " + p.store_id) +
                                         ": `aifs key pin` it or pass --key");
    Status verified;
    for (const Ed25519PublicKey& k : keys) {
      verified = VerifySnapshotProof(p, k);
      key = k;
      if (verified.ok()) break;
    }
    AIFS_RETURN_IF_ERROR(verified);
  }
  if (out.json)
    PrintJson({{"valid", true}, {"asset", p.asset.ToHex()},
               {"snapshot", SnapshotUri{p.snapshot.ns, p.snapshot.id}.ToString()}});
  else if (!out.quiet && p.path)
    std::cout << "valid: '" << *p.path << "' names " << p.asset.ToHex() << " in "
              << SnapshotUri{p.snapshot.ns, p.snapshot.id}.ToString() << " (signed by "
              << HexEncode(key) << ")\n";
  else if (!out.quiet)
    std::cout << "valid: " << p.asset.ToHex() << " is in "
              << SnapshotUri{p.snapshot.ns, p.snapshot.id}.ToString() << " (signed by "
              << HexEncode(key) << ")\n";
  return Status::Ok();
}

Status KeyExport(Api& api, const Output& out, const std::string& ns) {
  AIFS_ASSIGN_OR_RETURN(NamespaceInfo n, api.GetNamespace(NsOrDefault(ns)));
  AIFS_ASSIGN_OR_RETURN(StoreDescription store, api.DescribeStore());
  if (out.json)
    PrintJson({{"namespace", n.name},
               {"store", store.store_id},
               {"algorithm", "ed25519"},
               {"public_key", HexEncode(n.signing_public_key)}});
  else
    std::cout << HexEncode(n.signing_public_key) << "\n";
  return Status::Ok();
}

Status KeyPin(const Output& out, const std::string& store, const std::string& ns,
              const std::string& key_hex) {
  AIFS_ASSIGN_OR_RETURN(Ed25519PublicKey key, ParsePublicKey(key_hex));
  AIFS_ASSIGN_OR_RETURN(TrustStore trust, TrustStore::Load(TrustStore::DefaultPath()));
  AIFS_RETURN_IF_ERROR(trust.Pin(store, NsOrDefault(ns), key));
  if (!out.quiet && !out.json)
    std::cout << "pinned " << key_hex << " for namespace " << NsOrDefault(ns)
              << (store.empty() ? " (by name: the store has no ID)" : " of store " + store) << "\n";
  return Status::Ok();
}

}  // namespace aifs::cli
