#include "ceph_test_cluster.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "test_scripts.h"

namespace aifs::test {

CephTestCluster::CephTestCluster(std::string dir, int mon_port, int rgw_port, int osds)
    : dir_(std::move(dir)), mon_port_(mon_port), rgw_port_(rgw_port), osds_(osds) {}

CephTestCluster::~CephTestCluster() { Stop(); }

CephTestCluster& CephTestCluster::Shared() {
  static std::unique_ptr<CephTestCluster> shared = [] {
    if (const char* dir = std::getenv("AIFS_TEST_CEPH_DIR"); dir && *dir) {
      auto c = std::make_unique<CephTestCluster>(dir, 0);
      c->owned_ = false;
      c->rados_url_ = ReadFirstLine(std::string(dir) + "/rados-url");  // empty: the fixture skipped
      c->running_ = !c->rados_url_.empty();
      return c;
    }
    // Ports apart from the fixture's (20000-28191) and from private clusters.
    const int port = 30000 + 2 * static_cast<int>(::getpid() % 5000);
    auto c = std::make_unique<CephTestCluster>("/tmp/aifs-ceph-" + std::to_string(::getpid()), port,
                                               port + 1);
    std::string why;
    c->Start(&why);
    return c;
  }();
  return *shared;
}

int CephTestCluster::PrivatePort(int k) {
  return 40000 + 4 * static_cast<int>(::getpid() % 5000) + k;
}

bool CephTestCluster::Start(std::string* why) {
  if (!owned_) return running_;
  if (running_) return true;
  const std::string log = dir_ + ".up.log";  // ceph-up.sh makes DIR afresh
  std::string cmd = ScriptPath("ceph-up.sh") + " '" + dir_ + "' --mon-port " +
                    std::to_string(mon_port_) + " --osds " + std::to_string(osds_);
  if (rgw_port_ != 0) cmd += " --rgw " + std::to_string(rgw_port_);
  const int rc = std::system((cmd + " >'" + log + "' 2>&1").c_str());
  if (rc != 0) {
    if (why)
      *why = WIFEXITED(rc) && WEXITSTATUS(rc) == 77 ? "Ceph is not installed"
                                                    : "ceph-up.sh failed, see " + log;
    return false;
  }
  std::remove(log.c_str());
  rados_url_ = ReadFirstLine(dir_ + "/rados-url");
  running_ = !rados_url_.empty();
  return running_;
}

void CephTestCluster::Stop() {
  if (!owned_ || !running_) return;
  (void)std::system((ScriptPath("ceph-down.sh") + " '" + dir_ + "' >/dev/null 2>&1").c_str());
  running_ = false;
  rados_url_.clear();
}

std::string CephTestCluster::NewRadosUrl(const std::string& extra) const {
  static std::atomic<int> counter{0};
  if (rados_url_.empty()) return "";
  std::ostringstream s;
  s << rados_url_ << "&namespace=t" << ::getpid() << "_" << counter.fetch_add(1) << extra;
  return s.str();
}

std::string CephTestCluster::S3Endpoint() const {
  return running_ ? ReadFirstLine(dir_ + "/s3-endpoint") : "";
}

std::string CephTestCluster::S3CredentialsFile() const {
  const std::string path = dir_ + "/s3-credentials";
  return running_ && std::ifstream(path).good() ? path : "";
}

int CephTestCluster::Pid(const std::string& name) const {
  std::ifstream in(dir_ + "/pids");
  std::string n;
  int pid = 0;
  while (in >> n >> pid)
    if (n == name) return pid;
  return 0;
}

}  // namespace aifs::test
