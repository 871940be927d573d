#include "pg_test_server.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "test_scripts.h"

namespace aifs::test {

PgTestServer::PgTestServer(std::string dir, int port) : dir_(std::move(dir)), port_(port) {}

PgTestServer::~PgTestServer() {
  if (owned_ && running_)
    (void)std::system((ScriptPath("pg-down.sh") + " '" + dir_ + "' >/dev/null 2>&1").c_str());
  std::error_code ec;
  if (remove_dir_) std::filesystem::remove_all(dir_, ec);
}

PgTestServer& PgTestServer::Shared() {
  static std::unique_ptr<PgTestServer> shared = [] {
    if (const char* dir = std::getenv("AIFS_TEST_PG_DIR"); dir && *dir) {
      auto s = std::make_unique<PgTestServer>(dir, 0);
      s->owned_ = false;
      s->url_ = ReadFirstLine(std::string(dir) + "/url");  // empty: the fixture could not start one
      s->running_ = !s->url_.empty();
      return s;
    }
    char tmpl[] = "/tmp/aifs-pg-XXXXXX";
    const char* dir = ::mkdtemp(tmpl);
    auto s = std::make_unique<PgTestServer>(dir ? dir : "/tmp/aifs-pg-failed",
                                            20000 + static_cast<int>(::getpid() % 20000));
    s->remove_dir_ = dir != nullptr;
    std::string why;
    s->Start(&why);
    return s;
  }();
  return *shared;
}

bool PgTestServer::Start(std::string* why) {
  if (!owned_) return running_;
  const std::string cmd = ScriptPath("pg-up.sh") + " '" + dir_ + "' " + std::to_string(port_) +
                          " >'" + dir_ + "/up.log' 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    if (why)
      *why = WIFEXITED(rc) && WEXITSTATUS(rc) == 77 ? "PostgreSQL is not installed"
                                                    : "pg-up.sh failed, see " + dir_ + "/up.log";
    return false;
  }
  url_ = ReadFirstLine(dir_ + "/url");
  running_ = !url_.empty();
  return running_;
}

void PgTestServer::Stop() {
  if (!owned_ || !running_) return;
  (void)std::system((ScriptPath("pg-down.sh") + " '" + dir_ + "' --keep >/dev/null 2>&1").c_str());
  running_ = false;
}

std::string PgTestServer::NewStoreUrl(int pool) const {
  static std::atomic<int> counter{0};
  if (url_.empty()) return "";
  std::ostringstream s;
  s << url_ << "&pool=" << pool << "&schema=t" << ::getpid() << "_" << counter.fetch_add(1);
  return s.str();
}

}  // namespace aifs::test
