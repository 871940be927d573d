// DiskSpace: how much room the file system under a path has left.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace aifs {

struct DiskSpace {
  uint64_t available = 0;  // bytes an unprivileged writer may still use
  uint64_t total = 0;      // size of the file system
};

// statvfs(2) of `path`; nullopt when it cannot be asked.
std::optional<DiskSpace> DiskSpaceOf(const std::string& path);

}  // namespace aifs
