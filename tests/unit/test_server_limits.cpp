// The server's defences on real loopback sockets and a real server: the put
// stall deadline, the caps on concurrent puts, the accept loop's connection
// cap and silent-connection timeout (the spill buffer behind artifact puts:
// test_spill.cpp). Liveness bounds only ("within N seconds"); no timing limits.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <thread>

#include "aifs/client/bearer_token.h"
#include "aifs/rpc/status_codec.h"
#include "aifs/server/acceptor.h"
#include "aifs/server/call_limiter.h"
#include "aifs/server/server.h"
#include "aifs/v1/aifs.grpc.pb.h"
#include "server_fixture.h"
#include "test_util.h"

namespace aifs::test {
namespace {

using namespace std::chrono_literals;

// The fixture's server, started by each test with the limits it checks.
class ServerLimitsTest : public ServerTest {
 protected:
  std::unique_ptr<v1::Aifs::Stub> Stub(const std::string& token) {
    return v1::Aifs::NewStub(Channel(token));
  }
  static v1::PutAssetRequest Header() {
    v1::PutAssetRequest m;
    m.mutable_header()->set_ns("default");
    return m;
  }
  static v1::PutAssetRequest Frame(ByteSpan raw) {
    v1::PutAssetRequest m;
    m.mutable_data()->set_data(raw.data(), raw.size());
    m.mutable_data()->set_raw_size(static_cast<uint32_t>(raw.size()));
    return m;
  }
  size_t AssetCount() {
    ListOptions o;
    o.ns = "default";
    auto page = engine().ListAssets(o);
    EXPECT_TRUE(page.ok());
    return page.ok() ? page->assets.size() : 0;
  }
};

// One open put stream that has sent its header (and maybe data) and waits.
struct OpenPut {
  grpc::ClientContext ctx;
  v1::PutAssetResponse resp;
  std::unique_ptr<grpc::ClientWriter<v1::PutAssetRequest>> writer;
  Status Finish() {
    writer->WritesDone();
    return rpc::FromGrpc(writer->Finish());
  }
};

TEST_F(ServerLimitsTest, StalledPutIsCancelledWithItsReasonAndCommitsNothing) {
  StartServer({.put_stall_timeout = 300ms});
  auto stub = Stub(token_);
  OpenPut put;
  put.writer = stub->PutAsset(&put.ctx, &put.resp);
  ASSERT_TRUE(put.writer->Write(Header()));
  const Bytes data = RandomBytes(200000, 1);
  ASSERT_TRUE(put.writer->Write(Frame(data)));
  // The client stalls; the server gives up on it within seconds.
  std::this_thread::sleep_for(1500ms);
  AIFS_EXPECT_STATUS(put.Finish(), kDeadlineExceeded, "PUT_STALLED");
  EXPECT_EQ(AssetCount(), 0u);
  // A put that keeps sending is not cut off, however long it takes in all.
  OpenPut slow;
  slow.writer = stub->PutAsset(&slow.ctx, &slow.resp);
  ASSERT_TRUE(slow.writer->Write(Header()));
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(slow.writer->Write(Frame(ByteSpan(data).subspan(i * 1000, 1000))));
  }
  v1::PutAssetRequest fin;
  fin.mutable_finish();
  ASSERT_TRUE(slow.writer->Write(fin));
  AIFS_EXPECT_OK(slow.Finish());
  EXPECT_EQ(AssetCount(), 1u);
}

TEST_F(ServerLimitsTest, ConcurrentPutsAreCappedInTotalAndPerToken) {
  StartServer({.max_puts = 3, .max_puts_per_token = 2, .put_stall_timeout = 0ms});
  auto stub = Stub(token_);
  // Two puts of the admin token, admitted (the server has read their headers
  // once a third one is refused).
  OpenPut a, b;
  for (OpenPut* p : {&a, &b}) {
    p->writer = stub->PutAsset(&p->ctx, &p->resp);
    ASSERT_TRUE(p->writer->Write(Header()));
  }
  // Both admitted before any probe: a probe the server reached first would
  // take a slot of this token and leave one of them refused (under load the
  // server may take the calls in any order).
  auto wait_in_flight = [&](double n) {
    auto in_flight = [&] { return Metric(MetricsText(), "aifs_puts_in_flight"); };
    for (int i = 0; i < 500 && in_flight() != n; ++i) std::this_thread::sleep_for(20ms);
    ASSERT_EQ(in_flight(), n);
  };
  wait_in_flight(2);
  auto third = [&](v1::Aifs::Stub& s) {
    OpenPut p;
    p.writer = s.PutAsset(&p.ctx, &p.resp);
    p.writer->Write(Header());
    return p.Finish();  // admitted: PUT_TRUNCATED (no finish message)
  };
  Status st;
  for (int i = 0; i < 100; ++i) {
    st = third(*stub);
    if (st.reason() == "TOO_MANY_PUTS") break;
    std::this_thread::sleep_for(100ms);
  }
  AIFS_EXPECT_STATUS(st, kResourceExhausted, "TOO_MANY_PUTS");
  EXPECT_NE(st.message().find("this token"), std::string::npos) << st.message();
  // Another token still has room under the total cap: one more, then full.
  auto other = engine().tokens().Mint({});
  ASSERT_TRUE(other.ok());
  auto other_stub = Stub(*other);
  AIFS_EXPECT_STATUS(third(*other_stub), kInvalidArgument, "PUT_TRUNCATED");
  OpenPut c;
  c.writer = other_stub->PutAsset(&c.ctx, &c.resp);
  ASSERT_TRUE(c.writer->Write(Header()));
  wait_in_flight(3);
  for (int i = 0; i < 100; ++i) {
    st = third(*other_stub);
    if (st.reason() == "TOO_MANY_PUTS") break;
    std::this_thread::sleep_for(100ms);
  }
  AIFS_EXPECT_STATUS(st, kResourceExhausted, "TOO_MANY_PUTS");
  EXPECT_NE(st.message().find("the server"), std::string::npos) << st.message();
  for (OpenPut* p : {&a, &b, &c})
    AIFS_EXPECT_STATUS(p->Finish(), kInvalidArgument, "PUT_TRUNCATED");
  EXPECT_EQ(AssetCount(), 0u);
}

TEST(CallLimiter, SlotsAreGivenBackAndZeroMeansUnlimited) {
  server::CallLimiter limiter({.total = 2, .per_caller = 1}, "TOO_MANY_PUTS", "puts");
  auto a = limiter.Acquire("a");
  ASSERT_TRUE(a.ok());
  AIFS_EXPECT_STATUS(limiter.Acquire("a").status(), kResourceExhausted, "TOO_MANY_PUTS");
  auto b = limiter.Acquire("b");
  ASSERT_TRUE(b.ok());
  AIFS_EXPECT_STATUS(limiter.Acquire("c").status(), kResourceExhausted, "TOO_MANY_PUTS");
  { auto gone = std::move(*a); }
  EXPECT_EQ(limiter.in_use(), 1u);
  EXPECT_TRUE(limiter.Acquire("a").ok());
  server::CallLimiter unlimited({}, "X", "calls");
  std::vector<server::CallLimiter::Slot> slots;
  for (int i = 0; i < 1000; ++i) {
    auto slot = unlimited.Acquire("a");
    ASSERT_TRUE(slot.ok());
    slots.push_back(std::move(slot.value()));
  }
  EXPECT_EQ(unlimited.in_use(), 1000u);
}

TEST(CancelMessage, CarriesTheReasonWithoutDetails) {
  const grpc::Status wire(grpc::StatusCode::DEADLINE_EXCEEDED,
                          rpc::CancelMessage("PUT_STALLED", "no data for 5 s"));
  AIFS_EXPECT_STATUS(rpc::FromGrpc(wire), kDeadlineExceeded, "PUT_STALLED");
  EXPECT_EQ(rpc::FromGrpc(wire).message(), "no data for 5 s");
  // Ordinary transport messages keep the code as their reason.
  const grpc::Status other(grpc::StatusCode::UNAVAILABLE, "aifs:not a reason: x");
  AIFS_EXPECT_STATUS(rpc::FromGrpc(other), kUnavailable, "UNAVAILABLE");
}

// A client socket to 127.0.0.1:port (blocking).
int Dial(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}
// True when the server closes (or resets) `fd` within `limit`.
bool ClosedWithin(int fd, std::chrono::milliseconds limit) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  if (poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
  char c;
  return recv(fd, &c, 1, 0) <= 0;
}

TEST(Acceptor, CapsHeldConnectionsClosesSilentOnesAndHandsOffTalkers) {
  std::atomic<int> handed{0};
  std::vector<int> taken;
  std::mutex mu;
  auto a =
      server::Acceptor::Listen("127.0.0.1:0", {.max_connections = 2, .first_byte_timeout = 500ms});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  (*a)->Start([&](int fd) {
    std::lock_guard lock(mu);
    taken.push_back(fd);
    ++handed;
  });
  const int port = (*a)->port();
  // A talker is handed off (and then counts as held while its fd lives).
  const int talker = Dial(port);
  ASSERT_EQ(send(talker, "x", 1, 0), 1);
  for (int i = 0; i < 100 && handed == 0; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(handed.load(), 1);
  // One silent connection fills the cap; the next is reset at once.
  const int silent = Dial(port);
  std::this_thread::sleep_for(100ms);
  const int over = Dial(port);
  EXPECT_TRUE(ClosedWithin(over, 5000ms));
  // The silent one is closed after first_byte_timeout.
  EXPECT_TRUE(ClosedWithin(silent, 5000ms));
  // Once the handed-off connection is gone, there is room again.
  {
    std::lock_guard lock(mu);
    for (int fd : taken) close(fd);
  }
  std::this_thread::sleep_for(300ms);
  const int again = Dial(port);
  ASSERT_EQ(send(again, "y", 1, 0), 1);
  for (int i = 0; i < 100 && handed < 2; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(handed.load(), 2);
  EXPECT_GE((*a)->stats().shed_over_cap, 1u);
  EXPECT_GE((*a)->stats().silent_closed, 1u);
  (*a)->Stop();
  std::lock_guard lock(mu);
  for (int fd : {talker, silent, over, again}) close(fd);
  for (size_t i = 1; i < taken.size(); ++i) close(taken[i]);
}

// A unix-socket connection gets a send buffer larger than the socket default
// (~208 KiB), so a 1 MiB read message is not five blocked writes.
TEST(Acceptor, UnixConnectionsGetALargerSendBuffer) {
  TempDir dir;
  const std::string path = dir.Sub("s.sock");
  auto a = server::Acceptor::Listen("unix:" + path, {.max_connections = 4});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  std::atomic<int> taken{-1};
  (*a)->Start([&](int fd) { taken = fd; });
  const int client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(send(client, "x", 1, 0), 1);
  for (int i = 0; i < 100 && taken < 0; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_GE(taken.load(), 0);
  auto send_buffer = [](int fd) {
    int bytes = 0;
    socklen_t len = sizeof bytes;
    EXPECT_EQ(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, &len), 0);
    return bytes;
  };
  const int fresh = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);  // the default, as oracle
  EXPECT_GT(send_buffer(taken), send_buffer(fresh));
  (*a)->Stop();
  for (int fd : {client, fresh, taken.load()}) close(fd);
}

}  // namespace
}  // namespace aifs::test
