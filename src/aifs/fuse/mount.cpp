// Mount over libfuse3's low-level API. Low-level rather than the high-level
// (path) API because AIFS names files by what they are, not by where: the
// low-level API lets us choose inode numbers (stable, content-derived), set
// entry/attribute timeouts and keep_cache per node, and answer lookups from
// our own trees without libfuse re-walking path strings for every call.
#define FUSE_USE_VERSION 35
#include "aifs/fuse/mount.h"

#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "aifs/core/blake3.h"
#include "aifs/core/hex.h"

namespace aifs::fuse {

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kFixedTimeout = 3600;  // seconds: nodes that never change

// What a node is. Views: "head", "branch/NAME", "tag/NAME", "snap/HEX".
enum class Kind { kRoot, kCategory, kDir, kFile, kIdFile };
bool IsFile(Kind k) { return k == Kind::kFile || k == Kind::kIdFile; }

struct Node {
  Kind kind = Kind::kRoot;
  std::string view;  // kDir, kFile: the view; kCategory: "branches", ...
  std::string path;  // kDir, kFile: the path in the view ("" is its root)
  AssetId id;        // kFile, kIdFile
};

// One view's path tree, immutable once built.
struct Tree {
  std::string as_of;    // what reads name: "" (head) or a snapshot ID
  int64_t time_ns = 0;  // the snapshot's time (head: 0, files use their own)
  bool fixed = false;   // tags and snapshots never change
  uint64_t head_version = 0;        // head: the namespace's when listed (0: unknown)
  mutable Clock::time_point built;  // or last found unchanged; under trees_mu_ once cached
  Clock::duration build_time{};     // what building it took
  std::map<std::string, std::vector<std::string>> dirs;  // "" is the root
  std::unordered_map<std::string, AssetId> files;
};

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}
std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

int ErrnoOf(const Status& st) {
  switch (st.code()) {
    case Code::kNotFound:
      return ENOENT;
    case Code::kPermissionDenied:
    case Code::kUnauthenticated:
      return EACCES;
    case Code::kInvalidArgument:
      return EINVAL;
    case Code::kUnavailable:
    case Code::kDeadlineExceeded:
      return ENOTCONN;
    case Code::kOutOfRange:
      return EINVAL;
    default:
      return EIO;
  }
}

class FuseMount final : public Mount {
 public:
  FuseMount(Api& api, MountOptions options) : api_(api), o_(std::move(options)) {}
  ~FuseMount() override { Close(); }

  Status Open();
  Status Serve() override;

 private:
  // ---- nodes ---------------------------------------------------------------
  // Inode numbers are BLAKE3 of what a node is, so they are the same in
  // every mount. The kernel holds a node from the lookup (or readdirplus
  // entry) that hands it out until it forgets it as often: only held nodes
  // are kept here, so memory follows what the kernel caches, not what was
  // ever seen.
  static std::string KeyOf(const Node& n) {
    std::string key = std::to_string(static_cast<int>(n.kind)) + "\n" + n.view + "\n" + n.path;
    if (IsFile(n.kind)) key += "\n" + n.id.ToHex();
    return key;
  }
  // The number `n` has (or would get), registering nothing.
  fuse_ino_t InodeOf(const Node& n) {
    if (n.kind == Kind::kRoot) return FUSE_ROOT_ID;
    const std::string key = KeyOf(n);
    std::lock_guard lock(nodes_mu_);
    return InodeLocked(key);
  }
  // `n` handed to the kernel once more; returns its number.
  fuse_ino_t Remember(const Node& n) {
    if (n.kind == Kind::kRoot) return FUSE_ROOT_ID;
    std::string key = KeyOf(n);
    std::lock_guard lock(nodes_mu_);
    const fuse_ino_t ino = InodeLocked(key);
    auto [it, fresh] = nodes_.try_emplace(ino, Held{n, 0, key});
    if (fresh) by_key_.emplace(std::move(key), ino);
    ++it->second.lookups;
    return ino;
  }
  // The kernel dropped `count` of its references to `ino`.
  void Forget(fuse_ino_t ino, uint64_t count) {
    std::lock_guard lock(nodes_mu_);
    auto it = nodes_.find(ino);
    if (it == nodes_.end()) return;
    if (it->second.lookups > count) {
      it->second.lookups -= count;
      return;
    }
    by_key_.erase(it->second.key);
    nodes_.erase(it);
  }
  fuse_ino_t InodeLocked(const std::string& key) {
    if (auto it = by_key_.find(key); it != by_key_.end()) return it->second;
    const Digest d = Blake3::Hash(AsBytes(key));
    uint64_t ino = 0;
    std::memcpy(&ino, d.data(), sizeof(ino));
    ino = (ino >> 2) | 2;             // never 0 or 1 (the root)
    while (nodes_.count(ino)) ++ino;  // a collision: the next free number
    return ino;
  }
  size_t held_nodes() {
    std::lock_guard lock(nodes_mu_);
    return nodes_.size();
  }
  std::optional<Node> NodeOf(fuse_ino_t ino) {
    if (ino == FUSE_ROOT_ID) return Node{};
    std::lock_guard lock(nodes_mu_);
    auto it = nodes_.find(ino);
    if (it == nodes_.end()) return std::nullopt;
    return it->second.node;
  }

  // ---- trees ---------------------------------------------------------------
  // The cached tree of `view` while it is still good (a fixed view's always,
  // a moving one's for `refresh`, or for ten times what building it took if
  // that is longer: re-listing a large tree then costs at most a tenth of a
  // core); null otherwise. With `stale`, any cached tree.
  std::shared_ptr<const Tree> FreshTree(const std::string& view, bool stale = false) {
    std::lock_guard lock(trees_mu_);
    auto it = trees_.find(view);
    if (it == trees_.end()) return nullptr;
    const Tree& t = *it->second;
    if (stale || t.fixed ||
        Clock::now() - t.built < std::max<Clock::duration>(o_.refresh, 10 * t.build_time))
      return it->second;
    return nullptr;
  }

  // The tree of `view`, rebuilt when a moving view's is no longer fresh. One
  // build runs at a time; while it does, others go on with the old tree.
  Result<std::shared_ptr<const Tree>> TreeOf(const std::string& view) {
    if (auto tree = FreshTree(view)) return tree;
    std::unique_lock build(build_mu_, std::try_to_lock);
    if (!build.owns_lock()) {
      if (auto old = FreshTree(view, /*stale=*/true)) return old;
      build.lock();
    }
    if (auto tree = FreshTree(view)) return tree;  // built while this one waited
    auto tree = std::make_shared<Tree>();
    tree->built = Clock::now();
    const Clock::time_point start = tree->built;
    if (view == "head") {
      // A head that has not changed keeps its tree: one point read instead
      // of listing every path again. The version is read before the listing,
      // so a change during it only makes the next check rebuild. A token
      // that may not read the namespace lists every time.
      auto ns = api_.GetNamespace(o_.ns);
      tree->head_version = ns.ok() ? ns->head_version : 0;
      std::lock_guard lock(trees_mu_);
      auto it = trees_.find(view);
      if (it != trees_.end() && tree->head_version != 0 &&
          it->second->head_version == tree->head_version) {
        it->second->built = tree->built;
        return std::shared_ptr<const Tree>(it->second);
      }
    } else {
      const size_t slash = view.find('/');
      const std::string kind = view.substr(0, slash), name = view.substr(slash + 1);
      AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, api_.GetSnapshot(o_.ns, name));
      tree->as_of = s.id.ToHex();
      tree->time_ns = s.created_unix_ns;
      tree->fixed = kind != "branch";
      // A branch that has not moved keeps its tree.
      std::lock_guard lock(trees_mu_);
      auto it = trees_.find(view);
      if (it != trees_.end() && it->second->as_of == tree->as_of) {
        it->second->built = tree->built;
        return std::shared_ptr<const Tree>(it->second);
      }
    }
    tree->dirs[""];
    PathListOptions lo{.ns = o_.ns, .as_of = tree->as_of, .limit = 1000};
    do {
      AIFS_ASSIGN_OR_RETURN(PathPage page, api_.ListPaths(lo));
      for (const PathEntry& e : page.entries) {
        tree->files[e.path] = e.id;
        // Link the path into its directories, up to one already linked.
        std::string child = e.path;
        while (true) {
          const std::string dir = Parent(child);
          auto [it, fresh] = tree->dirs.try_emplace(dir);
          const std::string name = dir.empty() ? child : child.substr(dir.size() + 1);
          // Paths come in byte order: a repeated name is the same directory again.
          if (it->second.empty() || it->second.back() != name) it->second.push_back(name);
          if (!fresh || dir.empty()) break;
          child = dir;
        }
      }
      lo.page_token = page.next_page_token;
    } while (!lo.page_token.empty());
    for (auto& [dir, names] : tree->dirs) {
      std::sort(names.begin(), names.end());
      names.erase(std::unique(names.begin(), names.end()), names.end());
    }
    AIFS_RETURN_IF_ERROR(PrefetchInfos(*tree));
    tree->build_time = Clock::now() - start;
    std::lock_guard lock(trees_mu_);
    trees_[view] = tree;
    return std::shared_ptr<const Tree>(tree);
  }

  // `ls -l` of a large tree would stat every asset one call at a time: when
  // many of a tree's assets are not known yet, one paged listing of the
  // namespace's live assets fetches them all (assets only older snapshots
  // hold are still stat'ed one by one).
  Status PrefetchInfos(const Tree& tree) {
    constexpr size_t kWorthAListing = 64;
    size_t unknown = 0;
    {
      std::lock_guard lock(info_mu_);
      for (const auto& [path, id] : tree.files)
        if (!infos_.count(id) && ++unknown >= kWorthAListing) break;
    }
    if (unknown < kWorthAListing) return Status::Ok();
    return EachLiveAsset([](const AssetInfo&) {});
  }

  // Calls `fn` with every live asset of the namespace, page by page, keeping
  // each one's record in the cache on the way.
  Status EachLiveAsset(const std::function<void(const AssetInfo&)>& fn) {
    ListOptions lo{.ns = o_.ns};
    do {
      AIFS_ASSIGN_OR_RETURN(AssetPage page, api_.ListAssets(lo));
      {
        std::lock_guard lock(info_mu_);
        for (const AssetInfo& a : page.assets) infos_.emplace(a.id, a);
      }
      for (const AssetInfo& a : page.assets) fn(a);
      lo.page_token = page.next_page_token;
    } while (!lo.page_token.empty());
    return Status::Ok();
  }

  // The ref a file node's asset is read as of: its view's snapshot (head: "").
  Result<std::string> AsOfOf(const Node& n) {
    if (n.kind != Kind::kFile) return std::string();
    AIFS_ASSIGN_OR_RETURN(auto tree, TreeOf(n.view));
    return tree->as_of;
  }

  // The asset's record as the view reads it, cached by ID (immutable).
  Result<AssetInfo> InfoOf(const AssetId& id, const std::string& as_of) {
    {
      std::lock_guard lock(info_mu_);
      if (auto it = infos_.find(id); it != infos_.end()) return it->second;
    }
    AIFS_ASSIGN_OR_RETURN(AssetInfo info, api_.StatAssetAt(o_.ns, id, as_of, false));
    std::lock_guard lock(info_mu_);
    if (infos_.size() > 1'000'000) infos_.clear();
    infos_[id] = info;
    return info;
  }

  // ---- attributes ----------------------------------------------------------
  static struct stat DirStat(fuse_ino_t ino, int64_t time_ns) {
    struct stat st {};
    st.st_ino = ino;
    st.st_mode = S_IFDIR | 0555;
    st.st_nlink = 2;
    st.st_uid = getuid();
    st.st_gid = getgid();
    st.st_mtim = {time_ns / 1'000'000'000, time_ns % 1'000'000'000};
    st.st_ctim = st.st_atim = st.st_mtim;
    return st;
  }
  static struct stat FileStat(fuse_ino_t ino, const AssetInfo& a, int64_t time_ns) {
    struct stat st = DirStat(ino, time_ns ? time_ns : a.created_unix_ns);
    st.st_mode = S_IFREG | 0444;
    st.st_nlink = 1;
    st.st_size = static_cast<off_t>(a.size);
    st.st_blksize = 128 << 10;
    st.st_blocks = static_cast<blkcnt_t>((a.size + 511) / 512);
    return st;
  }
  // The stat of a node and how long the kernel may keep it.
  Result<std::pair<struct stat, double>> Attr(fuse_ino_t ino, const Node& n) {
    const double moving = std::chrono::duration<double>(o_.refresh).count();
    switch (n.kind) {
      case Kind::kRoot:
      case Kind::kCategory:
        return std::pair{DirStat(ino, started_ns_), moving};
      case Kind::kDir: {
        AIFS_ASSIGN_OR_RETURN(auto tree, TreeOf(n.view));
        if (!tree->dirs.count(n.path)) return err::NotFound("NO_SUCH_DIR", n.path);
        return std::pair{DirStat(ino, tree->time_ns ? tree->time_ns : started_ns_),
                         tree->fixed ? kFixedTimeout : moving};
      }
      case Kind::kFile: {
        AIFS_ASSIGN_OR_RETURN(auto tree, TreeOf(n.view));
        AIFS_ASSIGN_OR_RETURN(AssetInfo a, InfoOf(n.id, tree->as_of));
        return std::pair{FileStat(ino, a, tree->time_ns), tree->fixed ? kFixedTimeout : moving};
      }
      case Kind::kIdFile: {
        AIFS_ASSIGN_OR_RETURN(AssetInfo a, InfoOf(n.id, ""));
        return std::pair{FileStat(ino, a, 0), kFixedTimeout};
      }
    }
    return err::Internal("BAD_NODE", "unknown node kind");
  }

  // The child `name` of `parent`; NOT_FOUND when there is none.
  Result<Node> Child(const Node& parent, const std::string& name) {
    switch (parent.kind) {
      case Kind::kRoot:
        if (name == "head") return Node{Kind::kDir, "head", "", {}};
        if (name == "branches" || name == "tags" || name == "snapshots" || name == "by-id")
          return Node{Kind::kCategory, name, "", {}};
        break;
      case Kind::kCategory:
        if (parent.view == "by-id") {
          AIFS_ASSIGN_OR_RETURN(AssetId id, AssetId::Parse(name));
          AIFS_RETURN_IF_ERROR(InfoOf(id, "").status());
          return Node{Kind::kIdFile, "by-id", "", id};
        } else {
          const std::string kind = parent.view == "branches" ? "branch"
                                   : parent.view == "tags"   ? "tag"
                                                             : "snap";
          if (kind == "snap" && !SnapshotId::Parse(name).ok()) break;
          const std::string view = kind + "/" + name;
          AIFS_RETURN_IF_ERROR(TreeOf(view).status());
          return Node{Kind::kDir, view, "", {}};
        }
      case Kind::kDir: {
        AIFS_ASSIGN_OR_RETURN(auto tree, TreeOf(parent.view));
        const std::string path = Join(parent.path, name);
        if (tree->dirs.count(path)) return Node{Kind::kDir, parent.view, path, {}};
        if (auto f = tree->files.find(path); f != tree->files.end())
          return Node{Kind::kFile, parent.view, path, f->second};
        break;
      }
      default:
        break;
    }
    return err::NotFound("NO_SUCH_ENTRY", name);
  }

  // The names in a directory node.
  Result<std::vector<std::pair<std::string, Node>>> List(const Node& dir) {
    std::vector<std::pair<std::string, Node>> out;
    switch (dir.kind) {
      case Kind::kRoot:
        out.push_back({"head", {Kind::kDir, "head", "", {}}});
        for (const char* c : {"branches", "tags", "snapshots", "by-id"})
          out.push_back({c, {Kind::kCategory, c, "", {}}});
        return out;
      case Kind::kCategory:
        if (dir.view == "branches") {
          AIFS_ASSIGN_OR_RETURN(auto bs, api_.ListBranches(o_.ns));
          for (const BranchInfo& b : bs)
            out.push_back({b.name, {Kind::kDir, "branch/" + b.name, "", {}}});
        } else if (dir.view == "tags") {
          AIFS_ASSIGN_OR_RETURN(auto ts, api_.ListTags(o_.ns));
          for (const TagInfo& t : ts)
            out.push_back({t.name, {Kind::kDir, "tag/" + t.name, "", {}}});
        } else if (dir.view == "snapshots") {
          AIFS_ASSIGN_OR_RETURN(auto ss, api_.ListSnapshots(o_.ns));
          for (const SnapshotInfo& s : ss)
            out.push_back({s.id.ToHex(), {Kind::kDir, "snap/" + s.id.ToHex(), "", {}}});
        } else {
          AIFS_RETURN_IF_ERROR(EachLiveAsset([&](const AssetInfo& a) {
            out.push_back({a.id.ToHex(), {Kind::kIdFile, "by-id", "", a.id}});
          }));
        }
        return out;
      case Kind::kDir: {
        AIFS_ASSIGN_OR_RETURN(auto tree, TreeOf(dir.view));
        auto it = tree->dirs.find(dir.path);
        if (it == tree->dirs.end()) return err::NotFound("NO_SUCH_DIR", dir.path);
        for (const std::string& name : it->second) {
          AIFS_ASSIGN_OR_RETURN(Node n, Child(dir, name));
          out.push_back({name, n});
        }
        return out;
      }
      default:
        return err::InvalidArgument("NOT_A_DIRECTORY", "not a directory");
    }
  }

  // ---- libfuse callbacks -----------------------------------------------------
  static FuseMount& Self(fuse_req_t req) {
    return *static_cast<FuseMount*>(fuse_req_userdata(req));
  }
  void Warn(const std::string& line) {
    if (o_.log)
      o_.log(line);
    else
      std::cerr << "aifs mount: " << line << std::endl;
  }
  int Fail(const Status& st, const char* op) {
    const int e = ErrnoOf(st);
    if (e == EIO || e == ENOTCONN) Warn(std::string(op) + ": " + st.ToString());
    return e;
  }

  static void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    FuseMount& m = Self(req);
    auto p = m.NodeOf(parent);
    if (!p) return (void)fuse_reply_err(req, ESTALE);
    auto child = m.Child(*p, name);
    if (!child.ok()) return (void)fuse_reply_err(req, m.Fail(child.status(), "lookup"));
    const fuse_ino_t ino = m.InodeOf(*child);
    auto attr = m.Attr(ino, *child);
    if (!attr.ok()) return (void)fuse_reply_err(req, m.Fail(attr.status(), "lookup"));
    fuse_entry_param e{};
    e.ino = m.Remember(*child);
    e.attr = attr->first;
    e.attr_timeout = e.entry_timeout = attr->second;
    fuse_reply_entry(req, &e);
  }

  static void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    FuseMount& m = Self(req);
    auto n = m.NodeOf(ino);
    if (!n) return (void)fuse_reply_err(req, ESTALE);
    auto attr = m.Attr(ino, *n);
    if (!attr.ok()) return (void)fuse_reply_err(req, m.Fail(attr.status(), "getattr"));
    fuse_reply_attr(req, &attr->first, attr->second);
  }

  // A listing taken at opendir, served by offset: ".", "..", then the names.
  struct Entry {
    std::string name;
    fuse_ino_t ino;
    Node node;
    mode_t mode() const { return IsFile(node.kind) ? S_IFREG : S_IFDIR; }
  };
  struct Listing {
    std::vector<Entry> entries;
  };

  static void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    FuseMount& m = Self(req);
    auto n = m.NodeOf(ino);
    if (!n) return (void)fuse_reply_err(req, ESTALE);
    auto names = m.List(*n);
    if (!names.ok()) return (void)fuse_reply_err(req, m.Fail(names.status(), "opendir"));
    auto listing = std::make_unique<Listing>();
    listing->entries.push_back({".", ino, *n});
    listing->entries.push_back({"..", FUSE_ROOT_ID, Node{}});
    for (auto& [name, node] : *names) listing->entries.push_back({name, m.InodeOf(node), node});
    fi->fh = reinterpret_cast<uint64_t>(listing.release());
    fi->cache_readdir = 0;
    fuse_reply_open(req, fi);
  }

  static void ReadDir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    auto* l = reinterpret_cast<Listing*>(fi->fh);
    std::string buf(size, '\0');
    size_t used = 0;
    for (size_t i = static_cast<size_t>(off); i < l->entries.size(); ++i) {
      const Entry& entry = l->entries[i];
      struct stat st {};
      st.st_ino = entry.ino;
      st.st_mode = entry.mode();
      const size_t need = fuse_add_direntry(req, buf.data() + used, size - used, entry.name.c_str(),
                                            &st, static_cast<off_t>(i + 1));
      if (need > size - used) break;
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
  }

  // readdir with each entry's attributes: `ls -l` and `find` need no
  // lookup per entry. "." and ".." are not counted as lookups (libfuse's
  // rule); every other entry that fits is, as a lookup would be.
  static void ReadDirPlus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    FuseMount& m = Self(req);
    auto* l = reinterpret_cast<Listing*>(fi->fh);
    std::string buf(size, '\0');
    size_t used = 0;
    for (size_t i = static_cast<size_t>(off); i < l->entries.size(); ++i) {
      fuse_entry_param e{};
      const bool dots = i < 2;
      if (!dots) {
        auto attr = m.Attr(l->entries[i].ino, l->entries[i].node);
        if (!attr.ok()) {
          if (used == 0) return (void)fuse_reply_err(req, m.Fail(attr.status(), "readdirplus"));
          break;
        }
        e.ino = l->entries[i].ino;
        e.attr = attr->first;
        e.attr_timeout = e.entry_timeout = attr->second;
      } else {
        e.attr.st_ino = l->entries[i].ino;
        e.attr.st_mode = S_IFDIR;
      }
      const size_t need =
          fuse_add_direntry_plus(req, buf.data() + used, size - used, l->entries[i].name.c_str(),
                                 &e, static_cast<off_t>(i + 1));
      if (need > size - used) break;
      if (!dots) m.Remember(l->entries[i].node);  // the kernel holds what fit
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
  }

  static void ReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    delete reinterpret_cast<Listing*>(fi->fh);
    fuse_reply_err(req, 0);
  }

  // An open file: the asset and the ref it is read as of (fixed at open, so
  // a branch that moves does not pull an open file's bytes away), and a
  // read-ahead block for sequential readers.
  struct OpenFile {
    AssetId id;
    std::string as_of;
    uint64_t size = 0;
    std::mutex mu;
    uint64_t next = 0;       // where a sequential reader reads next
    uint64_t block_off = 0;  // the read-ahead block: [block_off, +block.size())
    std::string block;
    // The blocks after it, in order, being fetched in the background while
    // `block` is served: fetching, decrypting and checking overlap each
    // other (on two cores) and the kernel's copies. A future's destructor
    // (std::async's) waits for its fetch.
    struct Ahead {
      uint64_t off;
      std::future<Result<std::string>> data;
    };
    std::deque<Ahead> ahead;
  };
  // Sequential reads fetch this much per Api call, and so many blocks ahead.
  static constexpr uint64_t kReadAhead = 4 << 20;
  static constexpr size_t kBlocksAhead = 2;

  // Bytes [off, off+len) of an open file, by one Api call.
  Result<std::string> Fetch(const OpenFile& f, uint64_t off, uint64_t len) {
    std::string out;
    out.reserve(len);
    AIFS_RETURN_IF_ERROR(api_.ReadAssetAt(o_.ns, f.id, f.as_of, {off, len}, [&](ByteSpan b) {
      out.append(reinterpret_cast<const char*>(b.data()), b.size());
      return Status::Ok();
    }));
    return out;
  }

  static void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    FuseMount& m = Self(req);
    auto n = m.NodeOf(ino);
    if (!n) return (void)fuse_reply_err(req, ESTALE);
    if (!IsFile(n->kind)) return (void)fuse_reply_err(req, EISDIR);
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
      return (void)fuse_reply_err(req, EROFS);
    auto as_of = m.AsOfOf(*n);
    if (!as_of.ok()) return (void)fuse_reply_err(req, m.Fail(as_of.status(), "open"));
    auto file = std::make_unique<OpenFile>();
    file->id = n->id;
    file->as_of = std::move(*as_of);
    auto info = m.InfoOf(n->id, file->as_of);
    if (!info.ok()) return (void)fuse_reply_err(req, m.Fail(info.status(), "open"));
    file->size = info->size;
    fi->fh = reinterpret_cast<uint64_t>(file.release());
    // An inode is one asset's bytes, forever: the page cache may keep them.
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
  }

  static void Release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    delete reinterpret_cast<OpenFile*>(fi->fh);
    fuse_reply_err(req, 0);
  }

  static void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    FuseMount& m = Self(req);
    auto* f = reinterpret_cast<OpenFile*>(fi->fh);
    const uint64_t first = static_cast<uint64_t>(off);
    if (first >= f->size) return (void)fuse_reply_buf(req, nullptr, 0);
    const uint64_t want = std::min<uint64_t>(size, f->size - first);
    std::lock_guard lock(f->mu);
    auto holds = [&] { return first >= f->block_off && first + want <= f->block_off + f->block.size(); };
    // The next block fetched ahead, when the reader has reached it.
    if (!holds() && !f->ahead.empty() && first >= f->ahead.front().off) {
      auto next = f->ahead.front().data.get();
      if (next.ok()) {
        f->block = std::move(*next);
        f->block_off = f->ahead.front().off;
      }
      f->ahead.pop_front();
    }
    if (!holds()) {
      // Blocks fetched ahead for another position are of no use now.
      f->ahead.clear();
      // A sequential reader gets a block ahead; a random one what it asked.
      const bool sequential = first == f->next;
      const uint64_t len = std::min<uint64_t>(
          f->size - first, sequential ? std::max<uint64_t>(want, kReadAhead) : want);
      auto got = m.Fetch(*f, first, len);
      if (!got.ok()) {
        f->block.clear();
        return (void)fuse_reply_err(req, m.Fail(got.status(), ("read " + f->id.ToHex()).c_str()));
      }
      f->block = std::move(*got);
      f->block_off = first;
    }
    f->next = first + want;
    // A sequential reader past the middle of its block: keep the next blocks
    // coming.
    if (f->block.size() >= kReadAhead && f->next >= f->block_off + f->block.size() / 2) {
      uint64_t off =
          f->ahead.empty() ? f->block_off + f->block.size() : f->ahead.back().off + kReadAhead;
      for (; f->ahead.size() < kBlocksAhead && off < f->size; off += kReadAhead) {
        const uint64_t len = std::min<uint64_t>(kReadAhead, f->size - off);
        f->ahead.push_back({off, std::async(std::launch::async,
                                            [&m, f, off, len] { return m.Fetch(*f, off, len); })});
      }
    }
    fuse_reply_buf(req, f->block.data() + (first - f->block_off), want);
  }

  // xattrs of files: user.aifs.id, .kind, .parents, .meta.<key>; of the root:
  // user.aifs.ns, user.aifs.mount.inodes
  Result<std::map<std::string, std::string>> XattrsOf(const Node& n) {
    std::map<std::string, std::string> out;
    if (n.kind == Kind::kRoot) {
      // The mount's own state: what it shows, and how many nodes the kernel
      // holds (what the mount keeps in memory for them).
      out["user.aifs.ns"] = o_.ns;
      out["user.aifs.mount.inodes"] = std::to_string(held_nodes());
    }
    if (!IsFile(n.kind)) return out;
    AIFS_ASSIGN_OR_RETURN(std::string as_of, AsOfOf(n));
    AIFS_ASSIGN_OR_RETURN(AssetInfo a, InfoOf(n.id, as_of));
    out["user.aifs.id"] = a.id.ToHex();
    out["user.aifs.kind"] = std::string(KindName(a.kind));
    std::string parents;
    for (const ParentRef& p : a.parents) parents += (parents.empty() ? "" : ",") + p.parent.ToHex();
    if (!parents.empty()) out["user.aifs.parents"] = parents;
    for (const auto& [k, v] : a.metadata) out["user.aifs.meta." + k] = v;
    return out;
  }

  static void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    // The mount has user.aifs.* xattrs and nothing else: no ACLs, no SELinux
    // labels. `ls -l` asks every file for both; "not supported" (rather than
    // "none") makes it stop asking for the rest of the file system, which
    // halves the round trips of `ls -lR` (docs/fuse.md).
    if (std::strncmp(name, "user.", 5) != 0) return (void)fuse_reply_err(req, EOPNOTSUPP);
    if (std::strncmp(name, "user.aifs.", 10) != 0) return (void)fuse_reply_err(req, ENODATA);
    FuseMount& m = Self(req);
    auto n = m.NodeOf(ino);
    if (!n) return (void)fuse_reply_err(req, ESTALE);
    auto all = m.XattrsOf(*n);
    if (!all.ok()) return (void)fuse_reply_err(req, m.Fail(all.status(), "getxattr"));
    auto it = all->find(name);
    if (it == all->end()) return (void)fuse_reply_err(req, ENODATA);
    if (size == 0) return (void)fuse_reply_xattr(req, it->second.size());
    if (size < it->second.size()) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, it->second.data(), it->second.size());
  }

  static void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    FuseMount& m = Self(req);
    auto n = m.NodeOf(ino);
    if (!n) return (void)fuse_reply_err(req, ESTALE);
    auto all = m.XattrsOf(*n);
    if (!all.ok()) return (void)fuse_reply_err(req, m.Fail(all.status(), "listxattr"));
    std::string names;
    for (const auto& [k, v] : *all) names.append(k).push_back('\0');
    if (size == 0) return (void)fuse_reply_xattr(req, names.size());
    if (size < names.size()) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, names.data(), names.size());
  }

  // The kernel reads ahead 1 MiB (its default is 128 KiB): fewer, larger
  // requests, each a round trip through /dev/fuse.
  static void Init(void*, fuse_conn_info* conn) {
    conn->max_readahead = 1 << 20;
    conn->max_read = 0;
  }

  static void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t count) {
    Self(req).Forget(ino, count);
    fuse_reply_none(req);
  }
  static void ForgetMulti(fuse_req_t req, size_t n, fuse_forget_data* forgets) {
    for (size_t i = 0; i < n; ++i) Self(req).Forget(forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
  }

  // `df`: the namespace's live assets (size: their bytes, inodes: their
  // number), nothing free (the mount is read-only).
  static void StatFs(fuse_req_t req, fuse_ino_t) {
    FuseMount& m = Self(req);
    auto ns = m.api_.GetNamespace(m.o_.ns);
    if (!ns.ok()) return (void)fuse_reply_err(req, m.Fail(ns.status(), "statfs"));
    struct statvfs s {};
    s.f_bsize = s.f_frsize = 4096;
    s.f_blocks = (ns->logical_bytes + 4095) / 4096;
    s.f_files = ns->asset_count;
    s.f_namemax = 255;
    fuse_reply_statfs(req, &s);
  }

  void Close() {
    if (!session_) return;
    if (mounted_) fuse_session_unmount(session_);
    mounted_ = false;
    fuse_remove_signal_handlers(session_);
    fuse_session_destroy(session_);
    session_ = nullptr;
  }

  Api& api_;
  const MountOptions o_;
  // Directories without a snapshot time (the root, head/) show the mount's.
  const int64_t started_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  fuse_session* session_ = nullptr;
  bool mounted_ = false;
  std::mutex nodes_mu_;
  struct Held {
    Node node;
    uint64_t lookups = 0;  // references the kernel holds
    std::string key;       // its by_key_ entry
  };
  std::unordered_map<fuse_ino_t, Held> nodes_;  // the nodes the kernel holds
  std::unordered_map<std::string, fuse_ino_t> by_key_;
  std::mutex trees_mu_, build_mu_;
  std::map<std::string, std::shared_ptr<Tree>> trees_;
  std::mutex info_mu_;
  std::unordered_map<AssetId, AssetInfo, AssetIdHash> infos_;

  friend Result<std::unique_ptr<Mount>> Mount::Start(Api&, const MountOptions&);
  static const fuse_lowlevel_ops kOps;
};

const fuse_lowlevel_ops FuseMount::kOps = [] {
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.lookup = Lookup;
  ops.getattr = GetAttr;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.readdirplus = ReadDirPlus;
  ops.releasedir = ReleaseDir;
  ops.open = Open;
  ops.read = Read;
  ops.release = Release;
  ops.getxattr = GetXattr;
  ops.listxattr = ListXattr;
  ops.statfs = StatFs;
  ops.forget = Forget;
  ops.forget_multi = ForgetMulti;
  return ops;
}();

Status FuseMount::Open() {
  const int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return err::FailedPrecondition("FUSE_UNAVAILABLE",
                                   std::string("cannot open /dev/fuse: ") + std::strerror(errno) +
                                       " (install fuse3; in a container, pass --device /dev/fuse)");
  ::close(fd);
  struct stat st {};
  if (::stat(o_.mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return err::InvalidArgument("BAD_MOUNTPOINT", o_.mountpoint + " is not a directory");
  std::vector<std::string> argv = {"aifs", "-o",
                                   "ro,default_permissions,fsname=aifs:" + o_.ns + ",subtype=aifs"};
  if (o_.allow_other) argv.back() += ",allow_other";
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(cargv.size()), cargv.data());
  session_ = fuse_session_new(&args, &kOps, sizeof(kOps), this);
  fuse_opt_free_args(&args);
  if (!session_) return err::Unavailable("MOUNT_FAILED", "libfuse could not start a session");
  if (fuse_set_signal_handlers(session_) != 0)
    return err::Unavailable("MOUNT_FAILED", "cannot install signal handlers");
  if (fuse_session_mount(session_, o_.mountpoint.c_str()) != 0)
    return err::Unavailable("MOUNT_FAILED", "the kernel refused to mount " + o_.mountpoint +
                                                " (is it already mounted? aifs umount it)");
  mounted_ = true;
  return Status::Ok();
}

Status FuseMount::Serve() {
  fuse_loop_config config{};
  config.clone_fd = 0;
  config.max_idle_threads = static_cast<unsigned>(o_.threads);
  const int rc = fuse_session_loop_mt(session_, &config);
  Close();
  if (rc != 0 && rc != SIGINT && rc != SIGTERM && rc != SIGHUP)
    return err::Internal("FUSE_LOOP_FAILED", "the FUSE loop ended with " + std::to_string(rc));
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Mount>> Mount::Start(Api& api, const MountOptions& options) {
  auto m = std::make_unique<FuseMount>(api, options);
  AIFS_RETURN_IF_ERROR(m->Open());
  return std::unique_ptr<Mount>(std::move(m));
}

namespace {

// `path` as mountinfo spells it (absolute, symlinks resolved).
std::string RealPath(const std::string& path) {
  char real[PATH_MAX];
  return realpath(path.c_str(), real) ? real : path;
}

}  // namespace

bool IsMounted(const std::string& mountpoint) {
  const std::string want = " " + RealPath(mountpoint) + " ";
  std::ifstream mounts("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mounts, line))
    if (line.find(want) != std::string::npos && line.find("fuse.aifs") != std::string::npos)
      return true;
  return false;
}

Status Unmount(const std::string& mountpoint) {
  if (!IsMounted(mountpoint)) return err::NotFound("NOT_MOUNTED", "no AIFS mount at " + mountpoint);
  const std::string want = RealPath(mountpoint);
  const pid_t pid = fork();
  if (pid == 0) {
    execlp("fusermount3", "fusermount3", "-u", "-z", want.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return err::Unavailable("UNMOUNT_FAILED", "fusermount3 -u " + want + " failed");
  return Status::Ok();
}

}  // namespace aifs::fuse
