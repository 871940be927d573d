#include "aifs/storage/file_chunk_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include "aifs/core/file_util.h"

namespace aifs {

namespace fs = std::filesystem;

Result<std::unique_ptr<ChunkStore>> FileChunkStore::Open(const std::string& root, bool create) {
  if (create) {
    AIFS_RETURN_IF_ERROR(MakeDirs(root));
    // All 256 fan-out directories up front: creating them on demand made
    // nearly every early put pay for a mkdir.
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 256; ++i) {
      const std::string dir = root + "/" + kHex[i >> 4] + kHex[i & 15];
      if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return err::FromErrno(errno, "create chunk directory " + dir);
    }
  }
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return err::FromErrno(errno, "open chunk directory " + root);
  return std::unique_ptr<ChunkStore>(new FileChunkStore(root, fd));
}

FileChunkStore::~FileChunkStore() { ::close(root_fd_); }

Result<std::string> FileChunkStore::PathFor(const std::string& name) const {
  if (name.size() < 8 || name.find('/') != std::string::npos || name[0] == '.')
    return err::InvalidArgument("BAD_OBJECT_NAME", "bad chunk object name '" + name + "'");
  return root_ + "/" + name.substr(0, 2) + "/" + name;
}

namespace {

constexpr size_t kDirectAlign = 4096;

// Page-aligned scratch memory for O_DIRECT writes, one per thread.
class AlignedScratch {
 public:
  ~AlignedScratch() { std::free(data_); }
  uint8_t* Get(size_t size) {
    if (size > capacity_) {
      std::free(data_);
      capacity_ = std::max(size, 2 * capacity_);
      data_ = static_cast<uint8_t*>(std::aligned_alloc(kDirectAlign, capacity_));
      if (!data_) capacity_ = 0;
    }
    return data_;
  }

 private:
  uint8_t* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace

// O_DIRECT moves the bytes straight to the device: on virtualised disks it
// costs a tenth of the CPU of page-cache writeback, and Sync() then only has
// file metadata left to flush. The object is padded to the block size for
// the write and truncated to its length afterwards. Filesystems without
// O_DIRECT (tmpfs) get ordinary buffered writes.
Status FileChunkStore::WriteObject(const std::string& tmp, ByteSpan data) {
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  int fd = -1;
  if (use_direct_.load(std::memory_order_relaxed)) {
    fd = ::open(tmp.c_str(), flags | O_DIRECT, 0600);
    if (fd < 0 && errno == EINVAL) use_direct_ = false;
  }
  const bool direct = fd >= 0;
  if (!direct) fd = ::open(tmp.c_str(), flags, 0600);
  if (fd < 0) return err::FromErrno(errno, "create chunk object");
  Status st;
  if (direct) {
    // The block-aligned head goes straight to the device; the tail (under one
    // block) is written through the page cache. Padding the tail and
    // truncating instead would make ext4 read the last block back per object.
    const size_t head = data.size() / kDirectAlign * kDirectAlign;
    thread_local AlignedScratch scratch;
    uint8_t* buf = head ? scratch.Get(head) : nullptr;
    if (head && !buf) {
      st = err::ResourceExhausted("OUT_OF_MEMORY", "no memory for a chunk write buffer");
    } else if (head) {
      std::memcpy(buf, data.data(), head);
      st = WriteAll(fd, ByteSpan(buf, head), "write chunk object");
    }
    if (st.ok() && head < data.size()) {
      if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_DIRECT) != 0)
        st = err::FromErrno(errno, "switch chunk object to buffered I/O");
      else
        st = WriteAll(fd, data.subspan(head), "write chunk object");
    }
  } else {
    st = WriteAll(fd, data, "write chunk object");
    if (st.ok()) ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  }
  // Flush now, on the worker thread, overlapping with other chunks' work; the
  // commit's Sync() then only has directory entries left.
  if (st.ok() && ::fdatasync(fd) != 0) st = err::FromErrno(errno, "fdatasync chunk object");
  if (::close(fd) != 0 && st.ok()) st = err::FromErrno(errno, "close chunk object");
  return st;
}

Status FileChunkStore::Put(const std::string& name, ByteSpan data) {
  AIFS_ASSIGN_OR_RETURN(std::string path, PathFor(name));
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                    std::to_string(tmp_counter_.fetch_add(1));
  Status st = WriteObject(tmp, data);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    st = err::FromErrno(errno, "rename chunk object");
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  std::lock_guard lock(mu_);
  unsynced_dirs_.insert(name.substr(0, 2));
  return st;
}

Result<int> FileChunkStore::OpenObject(const std::string& name) const {
  AIFS_ASSIGN_OR_RETURN(std::string path, PathFor(name));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) return fd;
  if (errno == ENOENT)
    return err::NotFound("CHUNK_MISSING", "chunk object " + name + " is missing from " + root_);
  return err::FromErrno(errno, "open chunk object " + name);
}

namespace {

// Reads exactly out.size() bytes at `offset`.
Status PreadAll(int fd, uint64_t offset, Bytes& out, const std::string& name) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return err::FromErrno(errno, "read chunk object " + name);
    if (n == 0)
      return err::DataLoss("CHUNK_TRUNCATED", "chunk object " + name + " is shorter than " +
                                                  std::to_string(offset + out.size()) + " bytes");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Status FileChunkStore::Get(const std::string& name, Bytes& out) {
  AIFS_ASSIGN_OR_RETURN(int fd, OpenObject(name));
  struct stat st;
  Status status;
  if (::fstat(fd, &st) != 0) {
    status = err::FromErrno(errno, "stat chunk object " + name);
  } else {
    out.resize(static_cast<size_t>(st.st_size));
    status = PreadAll(fd, 0, out, name);
  }
  ::close(fd);
  return status;
}

Status FileChunkStore::GetRange(const std::string& name, uint64_t offset, uint64_t length,
                                Bytes& out) {
  return ReadRange(name, offset, length, false, out);
}

Status FileChunkStore::GetRandomRange(const std::string& name, uint64_t offset, uint64_t length,
                                      Bytes& out) {
  return ReadRange(name, offset, length, true, out);
}

Status FileChunkStore::ReadRange(const std::string& name, uint64_t offset, uint64_t length,
                                 bool random, Bytes& out) {
  AIFS_ASSIGN_OR_RETURN(int fd, OpenObject(name));
  // Every read opens the object afresh, and a fresh open's first read reads
  // ahead: 128 KiB around a 64 KiB segment of an evicted object (twice the
  // disk reads, page cache to fill). Packs keep it: their small chunks are
  // read in the order they were written (a cold read of 3,000 packed files
  // took twice as long without). Only this open is affected; a failure is
  // harmless.
  if (random) (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
  out.resize(length);
  Status status = PreadAll(fd, offset, out, name);
  struct stat st;
  if (status.ok() && length == 0) {  // nothing read: the offset must still be inside
    if (::fstat(fd, &st) != 0)
      status = err::FromErrno(errno, "stat chunk object " + name);
    else if (offset > static_cast<uint64_t>(st.st_size))
      status = err::DataLoss("CHUNK_TRUNCATED", "chunk object " + name + " is shorter than " +
                                                    std::to_string(offset) + " bytes");
  }
  ::close(fd);
  return status;
}

Status FileChunkStore::Delete(const std::string& name) {
  AIFS_ASSIGN_OR_RETURN(std::string path, PathFor(name));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return err::FromErrno(errno, "delete chunk object " + name);
  return Status::Ok();
}

Status FileChunkStore::Sync() {
  std::set<std::string> dirs;
  {
    std::lock_guard lock(mu_);
    dirs.swap(unsynced_dirs_);
  }
  for (const std::string& d : dirs) {
    Status st = FsyncDir(root_ + "/" + d);
    if (!st.ok()) {
      std::lock_guard lock(mu_);
      unsynced_dirs_.insert(dirs.begin(), dirs.end());  // retried by the next Sync
      return st;
    }
  }
  return Status::Ok();
}

Status FileChunkStore::List(const std::function<bool(const std::string&, uint64_t)>& fn) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root_, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it.depth() != 1 || !it->is_regular_file(ec)) continue;
    const std::string name = it->path().filename().string();
    // Only files where PathFor() puts them are objects; anything else is not ours.
    auto path = PathFor(name);
    if (!path.ok() || *path != it->path().string()) continue;
    const uint64_t size = it->file_size(ec);
    if (ec) {
      if (ec == std::errc::no_such_file_or_directory) {  // deleted while listing
        ec.clear();
        continue;
      }
      break;
    }
    if (!fn(name, size)) return Status::Ok();
  }
  if (ec) return err::FromErrno(ec.value(), "list chunk directory " + root_);
  return Status::Ok();
}

}  // namespace aifs
