// Helpers of the test servers that the project's scripts start and stop
// (PgTestServer, CephTestCluster).
#pragma once

#include <fstream>
#include <string>

namespace aifs::test {

// The path of scripts/<name> in the source tree.
inline std::string ScriptPath(const char* name) {
  return std::string(AIFS_SOURCE_DIR) + "/scripts/" + name;
}

// The first line of a file a script wrote (a URL, a port); empty if none.
inline std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace aifs::test
