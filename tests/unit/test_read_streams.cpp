// Batched reads on open streams (Aifs.ReadRangesStream, client/
// read_stream_pool.h, server/waiting_streams.h), against a real server on
// loopback: many reads share one stream and return exactly the bytes put;
// errors end a stream without harming the next read; every request is
// authorized on its own; a stream waiting between requests holds no call
// slot, is ended when idle too long (and replaced without the caller
// noticing) and does not hold up a shutdown.
#include <grpcpp/grpcpp.h>

#include <map>
#include <random>
#include <thread>

#include "aifs/client/read_stream_pool.h"
#include "aifs/rpc/range_frames.h"
#include "aifs/rpc/status_codec.h"
#include "server_fixture.h"
#include "test_util.h"

namespace aifs::test {
namespace {

class ReadStreamsTest : public ServerTest {
 protected:
  // Reads `ranges` through `pool`; each range's bytes, concatenated per range.
  static Result<std::map<size_t, Bytes>> Read(ReadStreamPool& pool,
                                              const std::vector<RangeRead>& ranges) {
    v1::ReadRangesRequest req;
    rpc::ToProto("default", ranges, false, &req);
    std::map<size_t, Bytes> got;
    AIFS_RETURN_IF_ERROR(pool.Read(req, ranges, [&](size_t i, ByteSpan b) {
      got[i].insert(got[i].end(), b.begin(), b.end());
      return Status::Ok();
    }));
    return got;
  }
  // The oracle: the bytes a range means, sliced from what was put.
  static Bytes Expected(const Bytes& data, const RangeRead& r) {
    return Slice(data, r.offset, std::min<uint64_t>(r.length, data.size() - r.offset));
  }
};

TEST_F(ReadStreamsTest, ManyReadsShareOneStreamAndGetExactlyTheBytesPut) {
  StartServer();
  const Bytes data = RandomBytes(3 << 20, 1901);
  const AssetId id = MustPut(data).asset.id;
  auto stub = RawStub();
  ReadStreamPool pool(stub.get());
  std::mt19937_64 rng(1902);
  for (int call = 0; call < 60; ++call) {
    std::vector<RangeRead> ranges;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      // Mostly small ranges, now and then one that spans several messages.
      const uint64_t len = rng() % 8 == 0 ? (1 << 20) + rng() % (1 << 20) : 1 + rng() % 9000;
      ranges.push_back({id, rng() % data.size(), len});
    }
    auto got = Read(pool, ranges);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    for (size_t i = 0; i < ranges.size(); ++i)
      ASSERT_EQ((*got)[i], Expected(data, ranges[i])) << "call " << call << ", range " << i;
  }
  EXPECT_EQ(pool.opened(), 1u);
}

TEST_F(ReadStreamsTest, AnErrorEndsItsStreamAndTheNextReadOpensAnother) {
  StartServer();
  const Bytes data = RandomBytes(10000, 1903);
  const AssetId id = MustPut(data).asset.id;
  auto stub = RawStub();
  ReadStreamPool pool(stub.get());
  ASSERT_TRUE(Read(pool, {{id, 0, 10}}).ok());
  AIFS_EXPECT_STATUS(Read(pool, {{id, 0, 10}, {id, 20000, 10}}).status(), kOutOfRange,
                     "RANGE_OUT_OF_BOUNDS");
  AIFS_EXPECT_STATUS(Read(pool, {{AssetId::FromBytes(Bytes(32, 9)).value(), 0, 10}}).status(),
                     kNotFound, "ASSET_NOT_FOUND");
  auto got = Read(pool, {{id, 9990, 100}});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)[0], Slice(data, 9990, 10));
  // The first stream served the first read and died with the second; the
  // third read's fresh stream died with it; the last read had a new one.
  EXPECT_EQ(pool.opened(), 3u);
}

TEST_F(ReadStreamsTest, EveryRequestIsAuthorizedOnItsOwn) {
  StartServer();
  const Bytes data = RandomBytes(5000, 1904);
  const AssetId id = MustPut(data).asset.id;
  auto victim = remote_->MintToken({"ops = get"});
  ASSERT_TRUE(victim.ok()) << victim.status().ToString();
  auto stub = v1::Aifs::NewStub(Channel(*victim));
  ReadStreamPool pool(stub.get());
  ASSERT_TRUE(Read(pool, {{id, 0, 100}}).ok());
  AIFS_ASSERT_OK(remote_->RevokeToken(*victim));
  // The stream opened while the token was good: its next request is refused.
  AIFS_EXPECT_STATUS(Read(pool, {{id, 0, 100}}).status(), kUnauthenticated, "TOKEN_REVOKED");
  EXPECT_EQ(pool.opened(), 1u);
}

TEST_F(ReadStreamsTest, AStreamWaitingForItsNextRequestHoldsNoCallSlot) {
  server::ServerOptions options;
  options.max_calls_per_token = 1;
  StartServer(options);
  const Bytes data = RandomBytes(5000, 1905);
  const AssetId id = MustPut(data).asset.id;
  auto stub = RawStub();
  ReadStreamPool pool(stub.get());
  ASSERT_TRUE(Read(pool, {{id, 0, 100}}).ok());
  // The pool's stream waits; the token's one slot is free for other calls.
  AIFS_EXPECT_OK(remote_->StatAsset("default", id, false).status());
  ASSERT_TRUE(Read(pool, {{id, 100, 100}}).ok());
  EXPECT_EQ(pool.opened(), 1u);
}

TEST_F(ReadStreamsTest, AnIdleStreamIsEndedAndReplacedWithoutTheCallerNoticing) {
  server::ServerOptions options;
  options.read_stream_idle = std::chrono::milliseconds(100);
  options.health_interval = std::chrono::milliseconds(20);  // the reaper's tick
  StartServer(options);
  const Bytes data = RandomBytes(5000, 1906);
  const AssetId id = MustPut(data).asset.id;
  auto stub = RawStub();
  // The client keeps streams far longer than the server does.
  ReadStreamPool pool(stub.get(), 4, std::chrono::hours(1));
  ASSERT_TRUE(Read(pool, {{id, 0, 100}}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto got = Read(pool, {{id, 4000, 2000}});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)[0], Slice(data, 4000, 1000));
  EXPECT_EQ(pool.opened(), 2u);
}

TEST_F(ReadStreamsTest, ShutdownDoesNotWaitForStreamsBetweenRequests) {
  StartServer();
  const AssetId id = MustPut(RandomBytes(5000, 1907)).asset.id;
  auto stub = RawStub();
  ReadStreamPool pool(stub.get());
  ASSERT_TRUE(Read(pool, {{id, 0, 100}}).ok());
  // Without Close() the waiting stream would hold the shutdown for its whole
  // grace (the bound below is liveness only: 60 s of grace, 30 s allowed).
  const auto start = std::chrono::steady_clock::now();
  server_->Shutdown(std::chrono::seconds(60));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  server_.reset();
  EXPECT_FALSE(Read(pool, {{id, 0, 100}}).ok());  // no server: a clear error, no hang
}

TEST_F(ReadStreamsTest, ThreadsSharingAPoolEachGetTheirOwnBytes) {
  StartServer();
  const Bytes data = RandomBytes(1 << 20, 1908);
  const AssetId id = MustPut(data).asset.id;
  auto stub = RawStub();
  ReadStreamPool pool(stub.get());
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(1909 + t);
      for (int call = 0; call < 100; ++call) {
        std::vector<RangeRead> ranges;
        for (int i = 0; i < 4; ++i) ranges.push_back({id, rng() % data.size(), 1 + rng() % 5000});
        auto got = Read(pool, ranges);
        if (!got.ok()) {
          ++bad;
          continue;
        }
        for (size_t i = 0; i < ranges.size(); ++i)
          if ((*got)[i] != Expected(data, ranges[i])) ++bad;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(pool.opened(), 4u);  // one per thread at most, reused
}

// A request that does not parse (a string field that is not UTF-8) cannot be
// told from the client's end of the stream on the server (gRPC's sync Read
// says false to both): the stream ends with no answer. RemoteApi sends such
// reads as calls, which the server answers INVALID_ARGUMENT REQUEST_MALFORMED.
TEST_F(ReadStreamsTest, AMalformedRequestGetsNoAnswerAndRemoteApiAvoidsIt) {
  StartServer();
  auto stub = RawStub();
  grpc::ClientContext ctx;
  auto stream = stub->ReadRangesStream(&ctx);
  v1::ReadRangesRequest req;
  const std::string bad("\xff\xfe", 2);
  req.set_ns(bad);  // protobuf logs it and sends it anyway
  ASSERT_TRUE(stream->Write(req));
  v1::ReadRangesResponse msg;
  EXPECT_FALSE(stream->Read(&msg));
  stream->Finish();
  const AssetId id = MustPut(RandomBytes(100, 1911)).asset.id;
  AIFS_EXPECT_STATUS(remote_->ReadRanges(bad, std::vector<RangeRead>{{id, 0, 10}},
                                         [](size_t, ByteSpan) { return Status::Ok(); }),
                     kInvalidArgument, "REQUEST_MALFORMED");
  AIFS_EXPECT_STATUS(
      remote_->ReadAsset(bad, id, ReadRange{0, 10}, [](ByteSpan) { return Status::Ok(); }),
      kInvalidArgument, "REQUEST_MALFORMED");
}

// The RemoteApi batched reads use the pool when the server offers streams,
// and the plain ReadRanges call when asked not to: the same bytes either way.
TEST_F(ReadStreamsTest, RemoteApiReadsTheSameWithAndWithoutStreams) {
  StartServer();
  const Bytes data = RandomBytes(200000, 1910);
  const AssetId id = MustPut(data).asset.id;
  const std::vector<RangeRead> ranges{{id, 5, 70000}, {id, 150000, 100000}, {id, 0, 0}};
  for (bool streams : {true, false}) {
    auto api = ConnectRemote({.target = target_, .read_streams = streams, .token = token_});
    ASSERT_TRUE(api.ok()) << api.status().ToString();
    std::map<size_t, Bytes> got;
    AIFS_ASSERT_OK((*api)->ReadRanges("default", ranges, [&](size_t i, ByteSpan b) {
      got[i].insert(got[i].end(), b.begin(), b.end());
      return Status::Ok();
    }));
    EXPECT_EQ(got[0], Slice(data, 5, 70000)) << streams;
    EXPECT_EQ(got[1], Slice(data, 150000, 50000)) << streams;
    EXPECT_EQ(got.count(2), 0u) << streams;
  }
}

}  // namespace
}  // namespace aifs::test
