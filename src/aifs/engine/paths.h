// Paths: names for assets within a namespace (docs/paths.md).
//
// In a namespace's live head a path names at most one asset; an asset may
// have any number of paths, or none. Binding a path that names another asset
// replaces the mapping (the old asset stays, by ID and in older snapshots);
// deleting an asset unbinds its paths. Every change is logged for the next
// snapshot, whose path tree then records path -> asset.
//
// Every commit that changes paths rewrites the namespace record, like every
// asset commit: so a snapshot racing it conflicts and is redone, and so does
// a delete of an asset that is being bound to a path.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "aifs/api/types.h"
#include "aifs/engine/snapshots.h"
#include "aifs/engine/store_context.h"
#include "aifs/meta/meta_store.h"

namespace aifs {

// Longest path, and longest component between slashes, in bytes.
inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr size_t kMaxPathComponentBytes = 255;

// A path is 1-4096 bytes of UTF-8 without NUL or other control characters,
// made of '/'-separated components of 1-255 bytes, none "." or "..", with no
// leading or trailing '/'. INVALID_ARGUMENT INVALID_PATH saying why.
Status ValidatePath(std::string_view path);

// --- Inside a metadata transaction. The caller has loaded `ns` through it
// and writes it back before committing (see the top of this file).

// Binds `path` to `id` (which the caller knows to be live) and returns the
// asset it named before, if any.
Result<std::optional<AssetId>> BindPathInTxn(MetaTxn& txn, store::v1::NamespaceRecord& ns,
                                             const std::string& path, const AssetId& id);
// Unbinds `path`; NOT_FOUND PATH_NOT_FOUND if it names nothing. Returns the
// asset it named.
Result<AssetId> UnbindPathInTxn(MetaTxn& txn, store::v1::NamespaceRecord& ns,
                                const std::string& path);
// Unbinds every path that names `id`. The list is read from `meta` (outside
// the transaction): a commit binding a new path to `id` after that rewrites
// the namespace record, which makes this transaction conflict.
Status UnbindAssetPaths(MetaStore& meta, MetaTxn& txn, store::v1::NamespaceRecord& ns,
                        const AssetId& id);

// Path lookups and changes of the embedded engine. Thread-safe.
class PathIndex {
 public:
  PathIndex(StoreContext& ctx, SnapshotManager& snapshots) : ctx_(ctx), snapshots_(snapshots) {}

  // The asset `path` names in the live head (as_of "") or in a snapshot:
  // NOT_FOUND PATH_NOT_FOUND if none.
  Result<AssetId> Resolve(const std::string& ns, const std::string& path, const AsOf& as_of);
  // Paths starting with options.prefix, in byte order, a page at a time. The
  // live head is an index scan; a snapshot's paths are read from its tree.
  Result<PathPage> List(const PathListOptions& options);
  // Binds `path` to the live asset `id` (NOT_FOUND ASSET_NOT_FOUND if not).
  Status Bind(const std::string& ns, const std::string& path, const AssetId& id);
  // Renames `from` to `to` (replacing what `to` named), like rename(2).
  Status Move(const std::string& ns, const std::string& from, const std::string& to);
  Status Remove(const std::string& ns, const std::string& path);
  // Api::Checkout.
  Result<CheckoutReport> Checkout(const std::string& ns, const std::string& ref);

 private:
  // Runs `change` in a transaction with the namespace record loaded, then
  // writes the record back.
  Status Change(const std::string& ns,
                const std::function<Status(MetaTxn&, store::v1::NamespaceRecord&)>& change);

  StoreContext& ctx_;
  SnapshotManager& snapshots_;
};

}  // namespace aifs
