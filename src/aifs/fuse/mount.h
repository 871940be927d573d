// Mount: a namespace of AIFS as a read-only POSIX file system (FUSE),
// written against aifs::Api so it works embedded (the Engine) and remote
// (RemoteApi) alike (docs/fuse.md).
//
//   MOUNT/head/...            the live path tree
//   MOUNT/branches/B/...      the path tree of branch B's snapshot; follows
//                             the branch within `refresh`
//   MOUNT/tags/T/...          the path tree of tag T's snapshot (fixed)
//   MOUNT/snapshots/ID/...    the path tree of snapshot ID (fixed)
//   MOUNT/by-id/HEX           every live asset by its ID
//
// Files are read-only (writes: EROFS), sizes are asset lengths, times come
// from the snapshot (head: the asset's commit time); xattrs user.aifs.id,
// user.aifs.kind, user.aifs.parents, user.aifs.meta.<key>. Inode numbers are
// stable: derived from what a node is (view, path and asset ID), so the same
// file has the same inode in every mount, and a path rebound to other bytes
// is another inode (which is what makes the kernel page cache safe to keep).
//
// Errors never surface as wrong bytes: data that fails authentication is
// EIO (logged with its reason); a lost server is ENOTCONN until it returns.
//
// Thread-safe: the FUSE loop runs several threads over one Mount.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "aifs/api/api.h"

namespace aifs::fuse {

struct MountOptions {
  std::string mountpoint;
  std::string ns = "default";
  // How long head/ and branches/B/ may show an older state of a moving tree.
  std::chrono::milliseconds refresh{2000};
  size_t threads = 8;        // most FUSE worker threads at once
  bool allow_other = false;  // other users may read (needs user_allow_other unless root)
  // Warnings (corrupt data, lost server); default: stderr.
  std::function<void(const std::string&)> log;
};

class Mount {
 public:
  // Mounts `options.mountpoint`. FAILED_PRECONDITION FUSE_UNAVAILABLE when
  // /dev/fuse is missing or not ours to open; INVALID_ARGUMENT BAD_MOUNTPOINT
  // when the mountpoint is not an empty-or-not directory we can use;
  // UNAVAILABLE MOUNT_FAILED when the kernel refuses. `api` must outlive the
  // Mount.
  static Result<std::unique_ptr<Mount>> Start(Api& api, const MountOptions& options);
  virtual ~Mount() = default;  // unmounts if still mounted

  // Serves requests until the file system is unmounted (`aifs umount`,
  // fusermount3 -u, umount) or a SIGINT/SIGTERM/SIGHUP arrives; then
  // unmounts and returns.
  virtual Status Serve() = 0;
};

// Whether an AIFS file system is mounted at `mountpoint` (by
// /proc/self/mountinfo; also one whose process died).
bool IsMounted(const std::string& mountpoint);

// Unmounts an AIFS mount (also one whose process died): fusermount3 -u.
// NOT_FOUND NOT_MOUNTED when nothing is mounted there.
Status Unmount(const std::string& mountpoint);

}  // namespace aifs::fuse
