// FileChunkStore: one file per object under a local directory, fanned out as
// <root>/<name[0:2]>/<name> over 256 directories made when the store is
// created (names are random, so they fill evenly).
//
// Put writes <name>.tmp.<pid>.<n> (with O_DIRECT where the filesystem has
// it), fdatasyncs it on the calling (worker) thread and renames it into
// place; Sync() then only fsyncs the directories that gained entries, so a
// commit never waits for other processes' dirty data. Leftover .tmp files from a crash are
// listed like any object, so garbage collection reclaims them.
#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <string>

#include "aifs/storage/chunk_store.h"

namespace aifs {

class FileChunkStore : public ChunkStore {
 public:
  static Result<std::unique_ptr<ChunkStore>> Open(const std::string& root, bool create);
  ~FileChunkStore() override;

  std::string Url() const override { return "file://" + root_; }
  std::optional<DiskSpace> Space() const override { return DiskSpaceOf(root_); }
  Status Put(const std::string& name, ByteSpan data) override;
  Status Get(const std::string& name, Bytes& out) override;
  Status GetRange(const std::string& name, uint64_t offset, uint64_t length, Bytes& out) override;
  Status GetRandomRange(const std::string& name, uint64_t offset, uint64_t length,
                        Bytes& out) override;
  Status Delete(const std::string& name) override;
  Status Sync() override;
  Status List(const std::function<bool(const std::string&, uint64_t)>& fn) override;

 private:
  FileChunkStore(std::string root, int root_fd) : root_(std::move(root)), root_fd_(root_fd) {}
  Result<std::string> PathFor(const std::string& name) const;
  Status WriteObject(const std::string& tmp, ByteSpan data);
  Result<int> OpenObject(const std::string& name) const;
  // GetRange, with the kernel's read-ahead off for this open when `random`.
  Status ReadRange(const std::string& name, uint64_t offset, uint64_t length, bool random,
                   Bytes& out);

  std::string root_;
  int root_fd_;
  std::atomic<uint64_t> tmp_counter_{0};
  std::atomic<bool> use_direct_{true};
  std::mutex mu_;
  std::set<std::string> unsynced_dirs_;  // fan-out directories renamed into since Sync
};

}  // namespace aifs
