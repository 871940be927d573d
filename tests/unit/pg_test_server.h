// PostgreSQL for tests: the server the CTest fixture started (environment
// AIFS_TEST_PG_DIR, see tests/CMakeLists.txt), or else one this test process
// starts itself with scripts/pg-up.sh and stops at exit. Every store gets a
// schema of its own, so tests never see each other's keys.
// When PostgreSQL is not installed, Url() is empty and callers GTEST_SKIP.
#pragma once

#include <optional>
#include <string>

namespace aifs::test {

class PgTestServer {
 public:
  // A server in `dir` (a fresh directory) on unix socket port `port`.
  PgTestServer(std::string dir, int port);
  ~PgTestServer();  // stops it when this object started it
  PgTestServer(const PgTestServer&) = delete;
  PgTestServer& operator=(const PgTestServer&) = delete;

  // The server shared by the process's tests (started on first use).
  static PgTestServer& Shared();

  // Starts (or starts again after Stop) the server; false when PostgreSQL is
  // not installed (`why` says so) or it failed to start.
  bool Start(std::string* why);
  // Stops the server, keeping its data (Start brings it back).
  void Stop();
  // The base URL of its database; empty when none runs.
  const std::string& Url() const { return url_; }
  // A URL for a store of its own: a fresh schema in the database.
  std::string NewStoreUrl(int pool = 8) const;

 private:
  std::string dir_;
  int port_;
  bool owned_ = true;        // started (and stopped) by this object
  bool remove_dir_ = false;  // the directory is this object's to remove
  bool running_ = false;
  std::string url_;
};

}  // namespace aifs::test
