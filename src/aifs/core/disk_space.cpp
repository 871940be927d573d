#include "aifs/core/disk_space.h"

#include <sys/statvfs.h>

namespace aifs {

std::optional<DiskSpace> DiskSpaceOf(const std::string& path) {
  struct statvfs vfs;
  if (::statvfs(path.c_str(), &vfs) != 0) return std::nullopt;
  return DiskSpace{static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize,
                   static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize};
}

}  // namespace aifs
