#include "aifs/core/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace aifs {

namespace {
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace

Result<std::string> ReadFileToString(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return err::FromErrno(errno, "open " + path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return err::FromErrno(errno, "read " + path);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status WriteAll(int fd, ByteSpan data, std::string_view what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return err::FromErrno(errno, what);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status FsyncDir(const std::string& dir_or_empty) {
  const std::string dir = dir_or_empty.empty() ? "." : dir_or_empty;
  Fd f{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (f.fd < 0) return err::FromErrno(errno, "open directory " + dir);
  if (::fsync(f.fd) != 0) return err::FromErrno(errno, "fsync directory " + dir);
  return Status::Ok();
}

Status MakeDirs(const std::string& path, int mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return err::FromErrno(ec.value(), "create directory " + path);
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
  return Status::Ok();
}

bool IsSpecialFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

Status WriteFileAtomic(const std::string& path, std::string_view data, int mode) {
  if (IsSpecialFile(path)) {
    Fd f{::open(path.c_str(), O_WRONLY | O_CLOEXEC)};
    if (f.fd < 0) return err::FromErrno(errno, "open " + path);
    return WriteAll(f.fd, AsBytes(data), "write " + path);
  }
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)};
    if (f.fd < 0) return err::FromErrno(errno, "create " + tmp);
    ::fchmod(f.fd, static_cast<mode_t>(mode));  // umask must not widen nor narrow it
    Status st = WriteAll(f.fd, AsBytes(data), "write " + tmp);
    if (st.ok() && ::fsync(f.fd) != 0) st = err::FromErrno(errno, "fsync " + tmp);
    if (!st.ok()) {
      ::unlink(tmp.c_str());
      return st;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = err::FromErrno(errno, "rename " + tmp);
    ::unlink(tmp.c_str());
    return st;
  }
  return FsyncDir(std::filesystem::path(path).parent_path().string());
}

Status CopyFile(const std::string& from, const std::string& to) {
  AIFS_ASSIGN_OR_RETURN(std::string data, ReadFileToString(from));
  return WriteFileAtomic(to, data, 0600);
}

Status CopyTree(const std::string& from, const std::string& to) {
  AIFS_RETURN_IF_ERROR(MakeDirs(to, 0700));
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(from, ec)) {
    const std::string target = to + "/" + e.path().filename().string();
    if (e.is_directory()) {
      AIFS_RETURN_IF_ERROR(CopyTree(e.path().string(), target));
    } else if (e.is_regular_file()) {
      AIFS_RETURN_IF_ERROR(CopyFile(e.path().string(), target));
    }
  }
  if (ec) return err::FromErrno(ec.value(), "read directory " + from);
  return FsyncDir(to);
}

}  // namespace aifs
