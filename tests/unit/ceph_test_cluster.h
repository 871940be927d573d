// Ceph for tests: the cluster the CTest fixture aifs_ceph started (environment
// AIFS_TEST_CEPH_DIR, see tests/CMakeLists.txt), or else one this test process
// starts itself with scripts/ceph-up.sh (one memstore OSD and radosgw) and
// stops at exit; tests that need a cluster of their own (several OSDs, one to
// stop) make a private one. Every store gets a RADOS namespace of its own, so
// tests never see each other's objects. When Ceph is not installed,
// RadosUrl() is empty and callers GTEST_SKIP.
#pragma once

#include <string>

namespace aifs::test {

class CephTestCluster {
 public:
  // A cluster in `dir` (made fresh by ceph-up.sh, removed by ceph-down.sh)
  // with its monitor on `mon_port`, radosgw on `rgw_port` (0: none) and
  // `osds` memstore OSDs (pool size min(osds, 3)).
  CephTestCluster(std::string dir, int mon_port, int rgw_port = 0, int osds = 1);
  ~CephTestCluster();  // stops it when this object started it
  CephTestCluster(const CephTestCluster&) = delete;
  CephTestCluster& operator=(const CephTestCluster&) = delete;

  // The cluster shared by the process's tests (started on first use).
  static CephTestCluster& Shared();
  // Ports for a private cluster of this process: `k` (0-3) picks one of four.
  static int PrivatePort(int k);

  // Starts the cluster; false when Ceph is not installed (`why` says so) or
  // it failed to start (`why` names the log).
  bool Start(std::string* why);
  // Stops the cluster (all daemons, then its directory is gone).
  void Stop();

  const std::string& Dir() const { return dir_; }
  std::string Conf() const { return dir_ + "/ceph.conf"; }
  // rados://aifs?conf=DIR/ceph.conf&id=admin; empty when none runs.
  const std::string& RadosUrl() const { return rados_url_; }
  // RadosUrl() with a fresh namespace (and `extra` parameters appended).
  std::string NewRadosUrl(const std::string& extra = "") const;
  // radosgw: its endpoint (http://127.0.0.1:PORT) and the path of an
  // AWS-style credentials file; empty without radosgw.
  std::string S3Endpoint() const;
  std::string S3CredentialsFile() const;
  // The PID of daemon `name` ("mon.a", "osd.0", "rgw.x") from DIR/pids; 0 if none.
  int Pid(const std::string& name) const;

 private:
  std::string dir_;
  int mon_port_, rgw_port_, osds_;
  bool owned_ = true;  // started (and stopped) by this object
  bool running_ = false;
  std::string rados_url_;
};

}  // namespace aifs::test
