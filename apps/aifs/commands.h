// The CLI's commands, written once against aifs::Api so that they behave the
// same embedded (--data) and, later, remote (--server). main.cpp only parses
// arguments (CLI11 lives in that one file) and calls these.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "aifs/api/api.h"
#include "progress.h"

namespace aifs::cli {

struct Output {
  bool json = false;
  bool quiet = false;
  bool progress = false;  // stderr is a terminal and the user did not opt out
};

// Each returns OK or the Status to report; they print results to stdout.
Status NsCreate(Api& api, const Output& out, const std::string& name,
                const std::vector<std::string>& labels);
Status NsList(Api& api, const Output& out);
Status NsShow(Api& api, const Output& out, const std::string& name);
Status NsRemove(Api& api, const Output& out, const std::string& name);

struct PutArgs {
  std::string path;  // "-" for stdin
  std::string ns;
  std::string kind = "blob";
  std::vector<std::string> meta;  // k=v
  std::vector<std::string> parents;  // ID[:transform[:digest]]
  std::vector<std::string> embeds;   // SPACE=FILE.npy
  std::string at_path;               // --path: bind this path to the asset
};
Status Put(Api& api, const Output& out, const PutArgs& args);
// Streams `fd` (read from `path`, for messages) into a new put and commits it.
Result<PutResult> PutStream(Api& api, const PutOptions& opts, int fd, const std::string& path,
                            Progress&& progress);
// The same into a writer already begun (of a transaction, say).
Result<PutResult> PutStreamTo(AssetWriter& writer, int fd, const std::string& path,
                              Progress* progress = nullptr);

Status Stat(Api& api, const Output& out, const std::string& ns, const std::string& ref,
            const AsOf& as_of, bool chunks);

struct ListArgs {
  std::string ns;
  std::vector<std::string> where;  // k=v, k^=prefix, or k (exists)
  std::string kind;
  size_t limit = 0;   // 0: all
  std::string as_of;  // a snapshot, branch or tag: its assets; "": the live head
};
Status List(Api& api, const Output& out, const ListArgs& args);

Status Remove(Api& api, const Output& out, const std::string& ns,
              const std::vector<std::string>& refs, bool force);
struct LineageArgs {
  std::string ns;
  std::string ref;
  bool down = false;
  int depth = 1;
  bool dot = false;
  std::string as_of;
};
Status Lineage(Api& api, const Output& out, const LineageArgs& args);

// Snapshots, branches, tags. `ref` is a snapshot ID, branch or tag name.
// Showing or verifying a snapshot also checks the client's pinned key.
Status SnapshotCreate(Api& api, const Output& out, const std::string& ns,
                      const std::string& ids_file, const std::string& message,
                      const std::string& branch);
Status SnapshotShow(Api& api, const Output& out, const std::string& ns, const std::string& ref,
                    bool verify_tree);
Status SnapshotList(Api& api, const Output& out, const std::string& ns);
Status BranchCreate(Api& api, const Output& out, const std::string& ns, const std::string& name,
                    const std::string& ref);
Status BranchMove(Api& api, const Output& out, const std::string& ns, const std::string& name,
                  const std::string& ref, const std::string& expect);
Status BranchRemove(Api& api, const Output& out, const std::string& ns, const std::string& name);
Status BranchList(Api& api, const Output& out, const std::string& ns);
Status BranchLog(Api& api, const Output& out, const std::string& ns, const std::string& name);
Status TagCreate(Api& api, const Output& out, const std::string& ns, const std::string& name,
                 const std::string& ref);
Status TagRemove(Api& api, const Output& out, const std::string& ns, const std::string& name);
Status TagList(Api& api, const Output& out, const std::string& ns);
Status Diff(Api& api, const Output& out, const std::string& ns, const std::string& a,
            const std::string& b);
Status Proof(Api& api, const Output& out, const std::string& ns, const std::string& asset,
             const std::string& snapshot, const std::string& output);
// Offline: needs only the proof file and a pinned (or given) key.
Status VerifyProof(const Output& out, const std::string& file, const std::string& key_hex);
Status KeyExport(Api& api, const Output& out, const std::string& ns);
// Pins `key_hex` for `ns` of `store` (by name only when `store` is empty: a
// store that reports no ID).
Status KeyPin(const Output& out, const std::string& store, const std::string& ns,
              const std::string& key_hex);

// Who the user is, for branch, tag and format logs.
std::string Who();
// An asset ID or aifs:// URI resolved against --ns (default: "default");
// INVALID_ARGUMENT NAMESPACE_MISMATCH when the URI names another namespace.
Result<AssetUri> ResolveRef(const std::string& ref, const std::string& ns);
// What a read command names: an asset ID, an aifs:// URI, or a path
// ("PATH", or "NS:PATH" when NS is a namespace name), the path resolved in
// the live head or, with `as_of`, in that snapshot.
Result<AssetUri> ResolveAsset(Api& api, const std::string& ref, const std::string& ns,
                              const AsOf& as_of);
// The same for many.
Result<std::vector<AssetUri>> ResolveRefs(const std::vector<std::string>& refs,
                                          const std::string& ns);
// The namespace a command means when --ns is not given.
std::string NsOrDefault(const std::string& ns);
// --where items: k=v (equals), k^=p (prefix), k@=a,b,c (one of), k>=N and
// k<=N (numeric bounds), k (exists).
Result<std::vector<MetaFilter>> ParseWhere(const std::vector<std::string>& items);
// Parses "ID[:transform[:digest]]" (the digest may itself contain ':').
Result<ParentRef> ParseParent(std::string_view text);
// Parses "k=v" items into a map; INVALID_ARGUMENT BAD_METADATA otherwise.
Result<Metadata> ParseKeyValues(const std::vector<std::string>& items);

}  // namespace aifs::cli
