// Batched reads (Api::ReadRanges), the same cases against the embedded engine
// and through a real server on loopback (zstd frames off and on): bytes
// checked against the bytes put, order and edge cases, errors naming the
// range, limits, tokens. Then the wire protocol itself: what the server packs
// into a message, and the client's checks on streams a correct server never
// sends (fed to the unpacker directly).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "aifs/auth/token_verifier.h"
#include "aifs/rpc/convert.h"
#include "aifs/rpc/range_frames.h"
#include "aifs/rpc/status_codec.h"
#include "server_fixture.h"
#include "test_util.h"

namespace aifs::test {
namespace {

enum class Face { kEngine, kRemote, kRemoteZstd };

const char* Name(Face f) {
  switch (f) {
    case Face::kEngine:
      return "Engine";
    case Face::kRemote:
      return "Remote";
    case Face::kRemoteZstd:
      return "RemoteZstd";
  }
  return "?";
}
std::string FaceName(const ::testing::TestParamInfo<Face>& info) { return Name(info.param); }
// Test names in CTest read "... # GetParam() = Engine".
void PrintTo(Face f, std::ostream* os) { *os << Name(f); }

// What a sink saw: each range's bytes, and the order of the calls.
struct Received {
  std::map<size_t, Bytes> bytes;
  std::vector<size_t> calls;  // the index of every call
  RangeSink Sink() {
    return [this](size_t i, ByteSpan b) {
      calls.push_back(i);
      bytes[i].insert(bytes[i].end(), b.begin(), b.end());
      return Status::Ok();
    };
  }
};

// The independent oracle: the bytes a range means, sliced from what was put.
Bytes Expected(const Bytes& data, const RangeRead& r) {
  if (r.offset >= data.size()) return {};
  return Slice(data, r.offset, std::min<uint64_t>(r.length, data.size() - r.offset));
}

class ReadRangesTest : public ServerTest, public ::testing::WithParamInterface<Face> {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    if (GetParam() == Face::kEngine) return;
    StartServer();
    remote_ = Connect(GetParam() == Face::kRemoteZstd);
  }
  Api& api() { return GetParam() == Face::kEngine ? static_cast<Api&>(engine()) : *remote_; }

  // Puts `data` into "default" and remembers it by ID.
  AssetId Put(const Bytes& data) {
    const AssetId id = MustPut(data).asset.id;
    assets_[id.bytes()] = data;
    return id;
  }

  // Reads `ranges` and checks every byte against the oracle, and the order.
  void ExpectExact(const std::vector<RangeRead>& ranges) {
    Received got;
    AIFS_ASSERT_OK(api().ReadRanges("default", ranges, got.Sink()));
    EXPECT_TRUE(std::is_sorted(got.calls.begin(), got.calls.end())) << "ranges out of order";
    for (size_t i = 0; i < ranges.size(); ++i) {
      const Bytes want = Expected(assets_.at(ranges[i].id.bytes()), ranges[i]);
      if (want.empty()) {
        EXPECT_EQ(got.bytes.count(i), 0u) << "range " << i << " has no bytes but got a call";
        continue;
      }
      ASSERT_EQ(got.bytes[i].size(), want.size()) << "range " << i;
      EXPECT_TRUE(got.bytes[i] == want) << "range " << i << " differs";
    }
  }

  std::map<Digest, Bytes> assets_;
};

TEST_P(ReadRangesTest, ReturnsExactlyTheBytesPutInRequestOrder) {
  // Several small chunks (4-64 KiB) per asset, so ranges cross chunk ends.
  const Bytes random = RandomBytes(3 << 20, 1601), text = TextBytes(700000, 1602),
              tiny = ToBytes("seven b"), empty;
  const AssetId r = Put(random), t = Put(text), y = Put(tiny), e = Put(empty);
  const uint64_t rs = random.size();
  ExpectExact({
      {t, 1000, 5000},       // plain
      {r, rs - 10, 4096},    // clipped at the end
      {r, 0, 4096},          // unsorted: an earlier offset after a later one
      {r, 100, 0},           // zero length
      {r, rs, 4096},         // at the end: nothing
      {t, 2000, 10000},      // overlaps the first range
      {r, 65530, 20},        // across a (likely) chunk boundary
      {e, 0, 10},            // an empty asset
      {y, 3, ~uint64_t{0}},  // to the end, however far
      {r, 12345, 1500000},   // larger than a wire message
      {t, 0, text.size()},   // a whole asset
      {t, 1000, 5000},       // the very same range again
  });
  // Many tiny ranges, more than the server packs into one message.
  std::mt19937_64 rng(16);
  std::vector<RangeRead> many;
  for (int i = 0; i < 10000; ++i) {
    const uint64_t off = rng() % rs;
    many.push_back({i % 7 == 0 ? y : r, i % 7 == 0 ? rng() % 8 : off, rng() % 9});
  }
  ExpectExact(many);
}

TEST_P(ReadRangesTest, AnEmptyBatchReadsNothing) {
  Received got;
  AIFS_EXPECT_OK(api().ReadRanges("default", {}, got.Sink()));
  EXPECT_TRUE(got.calls.empty());
}

TEST_P(ReadRangesTest, BadRangesAreRefusedBeforeAnyByteNamingTheRange) {
  const Bytes data = RandomBytes(100000, 1603);
  const AssetId id = Put(data);
  const AssetId unknown = IdOf(ToBytes("never stored"));
  auto refused = [&](std::vector<RangeRead> ranges, Code code, const std::string& reason,
                     const std::string& names) {
    Received got;
    Status st = api().ReadRanges("default", ranges, got.Sink());
    EXPECT_EQ(st.code(), code) << st.ToString();
    EXPECT_EQ(st.reason(), reason) << st.ToString();
    EXPECT_NE(st.message().find(names), std::string::npos) << st.ToString();
    EXPECT_TRUE(got.calls.empty()) << "bytes delivered before the refusal";
  };
  refused({{id, 0, 10}, {id, 10, 10}, {id, data.size() + 1, 1}}, Code::kOutOfRange,
          "RANGE_OUT_OF_BOUNDS", "range 2");
  refused({{id, 0, 10}, {unknown, 0, 10}}, Code::kNotFound, "ASSET_NOT_FOUND", "range 1");
  // Offset beyond the end even with nothing to read.
  refused({{id, data.size() + 1, 0}}, Code::kOutOfRange, "RANGE_OUT_OF_BOUNDS", "range 0");
  // The engine and the wire say the same for a namespace that does not exist.
  Received got;
  Status engine_says =
      engine().ReadRanges("nowhere", std::vector<RangeRead>{{id, 0, 1}}, got.Sink());
  Status st = api().ReadRanges("nowhere", std::vector<RangeRead>{{id, 0, 1}}, got.Sink());
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), engine_says.code());
  EXPECT_EQ(st.reason(), engine_says.reason());
}

TEST_P(ReadRangesTest, BatchLimitsAreInvalidArgumentAtTheEdge) {
  const Bytes data = RandomBytes(1 << 20, 1604);
  const AssetId id = Put(data);
  Received got;
  std::vector<RangeRead> ranges(kMaxBatchRanges + 1, RangeRead{id, 0, 1});
  AIFS_EXPECT_STATUS(api().ReadRanges("default", ranges, got.Sink()), kInvalidArgument,
                     "BATCH_TOO_LARGE");
  EXPECT_TRUE(got.calls.empty());
  // Bytes are counted once clipped: 256 whole 1 MiB reads fit exactly ...
  ranges.assign(kMaxBatchBytes / data.size(), RangeRead{id, 0, ~uint64_t{0}});
  uint64_t total = 0;
  size_t wrong = 0;
  AIFS_ASSERT_OK(api().ReadRanges("default", ranges, [&](size_t, ByteSpan b) {
    // Offsets within the asset follow from the running total.
    const uint64_t at = total % data.size();
    if (std::memcmp(b.data(), data.data() + at, b.size()) != 0) ++wrong;
    total += b.size();
    return Status::Ok();
  }));
  EXPECT_EQ(total, kMaxBatchBytes);
  EXPECT_EQ(wrong, 0u);
  // ... one byte more is refused, naming the range that crossed the limit.
  ranges.push_back({id, 0, 1});
  Status st = api().ReadRanges("default", ranges, got.Sink());
  AIFS_EXPECT_STATUS(st, kInvalidArgument, "BATCH_TOO_LARGE");
  EXPECT_NE(st.message().find("range " + std::to_string(ranges.size() - 1)), std::string::npos)
      << st.ToString();
  EXPECT_TRUE(got.calls.empty());
}

TEST_P(ReadRangesTest, ASinkErrorStopsTheReadAndComesBackAsItIs) {
  const Bytes data = RandomBytes(4 << 20, 1605);
  const AssetId id = Put(data);
  std::vector<RangeRead> ranges(64, RangeRead{id, 0, 1 << 20});
  size_t calls = 0;
  Status st = api().ReadRanges("default", ranges, [&](size_t i, ByteSpan) {
    ++calls;
    return i >= 2 ? err::Aborted("SINK_FULL", "enough") : Status::Ok();
  });
  AIFS_EXPECT_STATUS(st, kAborted, "SINK_FULL");
  EXPECT_EQ(st.message(), "enough");
  EXPECT_GE(calls, 3u);
  // The stream ended and the face still works.
  ExpectExact({{id, 5, 5}});
}

INSTANTIATE_TEST_SUITE_P(Faces, ReadRangesTest,
                         ::testing::Values(Face::kEngine, Face::kRemote, Face::kRemoteZstd),
                         FaceName);

// ---------------------------------------------------------------------------
// Over the wire only.

class ReadRangesServerTest : public ServerTest {
 protected:
  std::unique_ptr<Api> With(const std::vector<std::string>& caveats) {
    auto t = auth::AttenuateToken(token_, caveats);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    auto r = ConnectRemote({.target = target_, .token = t.ok() ? *t : ""});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : nullptr;
  }
};

TEST_F(ReadRangesServerTest, TokensNeedGetOnTheNamespace) {
  StartServer();
  const Bytes data = RandomBytes(5000, 1606);
  const AssetId id = MustPut(data).asset.id;
  const std::vector<RangeRead> ranges{{id, 0, 100}, {id, 4000, 2000}};
  Received got;
  AIFS_EXPECT_STATUS(With({"ops = list,put"})->ReadRanges("default", ranges, got.Sink()),
                     kPermissionDenied, "OPERATION_NOT_ALLOWED");
  AIFS_EXPECT_STATUS(With({"ns = other"})->ReadRanges("default", ranges, got.Sink()),
                     kPermissionDenied, "WRONG_NAMESPACE");
  EXPECT_TRUE(got.calls.empty());
  AIFS_ASSERT_OK(With({"ops = get", "ns = default"})->ReadRanges("default", ranges, got.Sink()));
  EXPECT_EQ(got.bytes[0], Slice(data, 0, 100));
  EXPECT_EQ(got.bytes[1], Slice(data, 4000, 1000));
}

// Small ranges travel many to a message, and every piece is tagged with its
// range and asset offset; the last message reports every range's length.
TEST_F(ReadRangesServerTest, SmallRangesArePackedManyToAMessage) {
  StartServer();
  const Bytes data = RandomBytes(2 << 20, 1607);
  const AssetId id = MustPut(data).asset.id;
  std::vector<RangeRead> ranges;
  for (uint64_t i = 0; i < 1000; ++i) ranges.push_back({id, (i * 7919 % 500) * 4096, 4096});
  ranges.push_back({id, data.size() - 100, 4096});  // clipped to 100
  v1::ReadRangesRequest req;
  rpc::ToProto("default", ranges, false, &req);
  grpc::ClientContext ctx;
  auto stream = RawStub()->ReadRanges(&ctx, req);
  v1::ReadRangesResponse msg;
  std::vector<v1::ReadRangesResponse> msgs;
  while (stream->Read(&msg)) msgs.push_back(msg);
  AIFS_ASSERT_OK(rpc::FromGrpc(stream->Finish()));
  // 4 MiB in at most 1 MiB messages, the last one's pieces with `done`.
  ASSERT_GE(msgs.size(), 4u);
  EXPECT_LE(msgs.size(), 5u);
  size_t next = 0;
  for (const auto& m : msgs) {
    EXPECT_LE(m.data().raw_size(), rpc::kMaxFrameBytes);
    size_t at = 0;
    for (const v1::RangePiece& p : m.pieces()) {
      if (p.index() != next) {  // a range's first piece starts at its offset
        EXPECT_EQ(p.index(), next + 1);
        ++next;
        EXPECT_EQ(p.offset(), ranges[p.index()].offset);
      }
      EXPECT_EQ(std::memcmp(m.data().data().data() + at, data.data() + p.offset(), p.length()), 0)
          << "piece of range " << p.index();
      at += p.length();
    }
    EXPECT_EQ(at, m.data().data().size());
  }
  EXPECT_EQ(next, ranges.size() - 1);
  const auto& last = msgs.back();
  EXPECT_TRUE(last.done());
  ASSERT_EQ(static_cast<size_t>(last.lengths_size()), ranges.size());
  EXPECT_EQ(last.lengths(0), 4096u);
  EXPECT_EQ(last.lengths(1000), 100u);
}

TEST_F(ReadRangesServerTest, AMalformedIdIsInvalidArgumentNamingTheRange) {
  StartServer();
  v1::ReadRangesRequest req;
  req.set_ns("default");
  req.add_ranges()->set_id(std::string(32, '\x01'));
  req.add_ranges()->set_id("short");
  grpc::ClientContext ctx;
  auto stream = RawStub()->ReadRanges(&ctx, req);
  v1::ReadRangesResponse msg;
  EXPECT_FALSE(stream->Read(&msg));
  Status st = rpc::FromGrpc(stream->Finish());
  AIFS_EXPECT_STATUS(st, kInvalidArgument, "BAD_ASSET_ID");
  EXPECT_NE(st.message().find("range 1"), std::string::npos) << st.ToString();
}

// A batched read holds one of its token's call slots while it streams, like
// every other call, and gives it back when the client goes away.
TEST_F(ReadRangesServerTest, AStreamingBatchCountsAgainstTheTokensCallLimit) {
  server::ServerOptions options;
  options.max_calls_per_token = 1;
  StartServer(options);
  const Bytes data = RandomBytes(4 << 20, 1608);
  const AssetId id = MustPut(data).asset.id;
  std::vector<RangeRead> ranges(60, RangeRead{id, 0, data.size()});  // 240 MiB
  v1::ReadRangesRequest req;
  rpc::ToProto("default", ranges, false, &req);
  auto stub = RawStub();
  auto slow = std::make_unique<grpc::ClientContext>();
  auto stream = stub->ReadRanges(slow.get(), req);
  v1::ReadRangesResponse msg;
  ASSERT_TRUE(stream->Read(&msg));  // the call is running; now stop reading
  Received got;
  AIFS_EXPECT_STATUS(
      remote_->ReadRanges("default", std::vector<RangeRead>{{id, 0, 10}}, got.Sink()),
      kResourceExhausted, "TOO_MANY_CALLS");
  slow->TryCancel();
  while (stream->Read(&msg)) {
  }
  EXPECT_EQ(rpc::FromGrpc(stream->Finish()).code(), Code::kCancelled);
  // The slot comes back once the handler has noticed (liveness bound only).
  Status st;
  for (int i = 0; i < 300; ++i) {
    st = remote_->ReadRanges("default", std::vector<RangeRead>{{id, 0, 10}}, got.Sink());
    if (st.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  AIFS_EXPECT_OK(st);
  EXPECT_EQ(got.bytes[0], Slice(data, 0, 10));
}

// ---------------------------------------------------------------------------
// The packer and the unpacker, without a server: a round trip, then streams
// only a broken or hostile server would send.

std::vector<v1::ReadRangesResponse> Pack(const std::vector<RangeRead>& ranges,
                                         const std::vector<std::pair<size_t, Bytes>>& adds,
                                         bool zstd) {
  std::vector<v1::ReadRangesResponse> out;
  rpc::RangePacker packer(ranges, zstd, [&](const v1::ReadRangesResponse& m) {
    out.push_back(m);
    return Status::Ok();
  });
  for (const auto& [i, b] : adds) EXPECT_TRUE(IsOk(packer.Add(i, b)));
  EXPECT_TRUE(IsOk(packer.Finish()));
  return out;
}

Status Unpack(const std::vector<RangeRead>& ranges, const std::vector<v1::ReadRangesResponse>& msgs,
              Received& got) {
  const RangeSink sink = got.Sink();
  rpc::RangeUnpacker unpacker(ranges, sink);
  for (const auto& m : msgs) AIFS_RETURN_IF_ERROR(unpacker.Take(m));
  return unpacker.Finish();
}

TEST(RangeFrames, PackedPiecesUnpackToTheSameBytes) {
  const AssetId id = IdOf(ToBytes("x"));
  const Bytes text = TextBytes(3 << 20, 1609);
  for (bool zstd : {false, true}) {
    // A large range arriving in odd pieces, tiny ones, an empty one.
    std::vector<RangeRead> ranges{{id, 100, 2500000}, {id, 0, 0}, {id, 7, 3}, {id, 9, 500000}};
    std::vector<std::pair<size_t, Bytes>> adds;
    for (size_t at = 0; at < 2500000;) {
      const size_t n = std::min<size_t>(2500000 - at, 1 + at % 700001);
      adds.push_back({0, Slice(text, 100 + at, n)});
      at += n;
    }
    adds.push_back({2, Slice(text, 7, 3)});
    adds.push_back({3, Slice(text, 9, 400000)});  // clipped by the engine
    auto msgs = Pack(ranges, adds, zstd);
    for (const auto& m : msgs) EXPECT_LE(m.data().raw_size(), rpc::kMaxFrameBytes);
    if (zstd) {
      EXPECT_EQ(msgs.front().data().encoding(), v1::DataFrame::ZSTD);
    }
    Received got;
    AIFS_ASSERT_OK(Unpack(ranges, msgs, got));
    EXPECT_EQ(got.bytes[0], Slice(text, 100, 2500000));
    EXPECT_EQ(got.bytes.count(1), 0u);
    EXPECT_EQ(got.bytes[2], Slice(text, 7, 3));
    EXPECT_EQ(got.bytes[3], Slice(text, 9, 400000));
  }
}

TEST(RangeFrames, ThePackerRefusesIndexesGoingBack) {
  const AssetId id = IdOf(ToBytes("x"));
  std::vector<RangeRead> ranges{{id, 0, 10}, {id, 0, 10}};
  rpc::RangePacker packer(ranges, false,
                          [](const v1::ReadRangesResponse&) { return Status::Ok(); });
  AIFS_ASSERT_OK(packer.Add(1, ToBytes("ab")));
  AIFS_EXPECT_STATUS(packer.Add(0, ToBytes("ab")), kInternal, "RANGE_SINK_ORDER");
  AIFS_EXPECT_STATUS(packer.Add(2, ToBytes("ab")), kInternal, "RANGE_SINK_ORDER");
}

TEST(RangeFrames, TheUnpackerRefusesBrokenStreams) {
  const AssetId id = IdOf(ToBytes("x"));
  const std::vector<RangeRead> ranges{{id, 0, 10}, {id, 100, 10}};
  const Bytes ten = RandomBytes(10, 1610);
  // A good stream, then one change at a time.
  const auto good = Pack(ranges, {{0, ten}, {1, ten}}, false);
  ASSERT_EQ(good.size(), 1u);  // the pieces travel with `done`
  Received ok;
  AIFS_ASSERT_OK(Unpack(ranges, good, ok));

  auto broken = [&](const std::function<void(std::vector<v1::ReadRangesResponse>&)>& edit,
                    const std::string& reason) {
    auto msgs = good;
    edit(msgs);
    Received got;
    Status st = Unpack(ranges, msgs, got);
    EXPECT_EQ(st.code(), Code::kDataLoss) << st.ToString();
    EXPECT_EQ(st.reason(), reason) << st.ToString();
  };
  broken([](auto& m) { m[0].mutable_pieces(1)->set_offset(101); }, "READ_STREAM_GAP");
  broken([](auto& m) { m[0].mutable_pieces(0)->set_offset(1); }, "READ_STREAM_GAP");
  broken([](auto& m) { m[0].mutable_pieces(1)->set_index(0); }, "READ_STREAM_GAP");
  broken([](auto& m) { m[0].mutable_pieces(1)->set_index(2); }, "READ_STREAM_GAP");
  broken([](auto& m) { m[0].mutable_pieces(0)->set_length(11); }, "READ_STREAM_GAP");
  broken([](auto& m) { m[0].mutable_pieces(0)->set_length(9); }, "READ_STREAM_GAP");
  broken([](auto& m) { m[0].mutable_data()->set_raw_size(19); }, "BAD_FRAME");
  broken([](auto& m) { m.push_back(m.back()); }, "READ_STREAM_GAP");
  broken([](auto& m) { m.pop_back(); }, "READ_STREAM_INCOMPLETE");
  broken([](auto& m) { m.back().set_lengths(1, 11); }, "READ_STREAM_INCOMPLETE");
  broken([](auto& m) { m.back().mutable_lengths()->RemoveLast(); }, "READ_STREAM_INCOMPLETE");
  // Pieces that stop short of a range's reported length.
  broken(
      [&](auto& m) {
        m[0].mutable_pieces()->RemoveLast();
        m[0].mutable_data()->set_data(std::string(ten.begin(), ten.end()));
        m[0].mutable_data()->set_raw_size(10);
      },
      "READ_STREAM_INCOMPLETE");
}

}  // namespace
}  // namespace aifs::test
