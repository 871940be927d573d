// AssetWriter::WriteFrom: a put filled straight into the writer's memory
// (the engine's block, which `aifs put FILE` reads into, or the gRPC
// client's next data frame, with and without zstd) stores the same asset as
// Write of the same bytes; a source's error stops the put and leaves nothing.
// Oracles: BLAKE3 of the source bytes, the bytes read back, chunk lists of
// the same bytes put with Write, and the files under chunks/.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "server_fixture.h"
#include "test_util.h"

namespace aifs::test {
namespace {

// A source of `data` that hands out pieces of random sizes (never more
// than asked), as read() from a pipe does.
AssetWriter::FillFn Source(const Bytes& data, size_t& fed, uint64_t seed, size_t max_piece) {
  auto rng = std::make_shared<std::mt19937_64>(seed);
  return [&data, &fed, rng, max_piece](MutableByteSpan room) -> Result<size_t> {
    const size_t want = 1 + (*rng)() % max_piece;
    const size_t n = std::min({want, room.size(), data.size() - fed});
    std::copy_n(data.begin() + static_cast<ptrdiff_t>(fed), n, room.begin());
    fed += n;
    return n;
  };
}

Result<PutResult> PutFrom(Api& api, const Bytes& data, uint64_t seed, size_t max_piece) {
  AIFS_ASSIGN_OR_RETURN(auto writer, api.BeginPut(PutOptions{}));
  size_t fed = 0;
  AIFS_RETURN_IF_ERROR(writer->WriteFrom(Source(data, fed, seed, max_piece)));
  if (fed != data.size()) return err::Internal("TEST", "the source was not drained");
  return writer->Commit();
}

// `data` put as Write of its first 1,000 bytes, WriteFrom of the bytes up to
// `write_from_end` (pieces of at most `max_piece`), Write of the rest.
Result<PutResult> PutMixed(Api& api, const Bytes& data, size_t write_from_end, uint64_t seed,
                           size_t max_piece) {
  AIFS_ASSIGN_OR_RETURN(auto w, api.BeginPut(PutOptions{}));
  AIFS_RETURN_IF_ERROR(w->Write(ByteSpan(data).first(1000)));
  const Bytes middle(data.begin() + 1000, data.begin() + static_cast<ptrdiff_t>(write_from_end));
  size_t fed = 0;
  AIFS_RETURN_IF_ERROR(w->WriteFrom(Source(middle, fed, seed, max_piece)));
  AIFS_RETURN_IF_ERROR(w->Write(ByteSpan(data).subspan(write_from_end)));
  return w->Commit();
}

// A put of 3 MiB whose source fails after 2 MiB: WriteFrom's status. The
// writer is then destroyed without Commit (an abort).
Status PutFromBrokenSource(Api& api, uint64_t seed) {
  const Bytes data = RandomBytes(3 << 20, seed);
  AIFS_ASSIGN_OR_RETURN(auto w, api.BeginPut(PutOptions{}));
  size_t fed = 0;
  AssetWriter::FillFn good = Source(data, fed, seed, 100000);
  return w->WriteFrom([&](MutableByteSpan room) -> Result<size_t> {
    if (fed > (2 << 20)) return err::Unavailable("SOURCE_GONE", "the source broke");
    return good(room);
  });
}

class WriteFromTest : public EngineFixture {};

TEST_F(WriteFromTest, StoresWhatWriteStores) {
  // The engine's large blocks hold 2 x the largest chunk: 3 MiB crosses
  // many of them with the small test chunking (the next test crosses
  // several with the default chunking).
  InitStore();
  for (size_t size : {size_t{0}, size_t{1}, size_t{4095}, size_t{70000}, size_t{3} << 20}) {
    const Bytes data = RandomBytes(size, size + 11);
    for (size_t max_piece : {size_t{1} << 30, size_t{777}}) {
      auto from = PutFrom(engine(), data, size, max_piece);
      ASSERT_TRUE(from.ok()) << from.status().ToString();
      EXPECT_EQ(from->asset.id, IdOf(data)) << size;
      EXPECT_EQ(from->asset.size, size);
      EXPECT_EQ(MustRead(from->asset.id), data) << size;
    }
    auto by_write = PutBytes(engine(), data);
    ASSERT_TRUE(by_write.ok());
    EXPECT_FALSE(by_write->created);  // the same asset, already there
  }
}

TEST_F(WriteFromTest, CutsTheSameChunksAsWriteWithTheDefaultChunking) {
  InitStore(InitOptions{});
  const Bytes data = RandomBytes(size_t{40} << 20, 5);
  PutOptions o;
  o.ns = "via-write";
  ASSERT_TRUE(engine().CreateNamespace("via-write", {}).ok());
  auto by_write = PutBytes(engine(), data, o, {size_t{3} << 20});
  ASSERT_TRUE(by_write.ok());
  auto from = PutFrom(engine(), data, 9, size_t{5} << 20);
  ASSERT_TRUE(from.ok()) << from.status().ToString();
  EXPECT_EQ(from->asset.id, IdOf(data));
  auto a = engine().StatAsset("via-write", by_write->asset.id, true);
  auto b = engine().StatAsset("default", from->asset.id, true);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_GT(b->chunks.size(), 10u);
  ASSERT_EQ(a->chunks.size(), b->chunks.size());
  for (size_t i = 0; i < a->chunks.size(); ++i) {
    EXPECT_EQ(a->chunks[i].hash, b->chunks[i].hash) << i;
    EXPECT_EQ(a->chunks[i].length, b->chunks[i].length) << i;
  }
  EXPECT_EQ(MustRead(from->asset.id), data);
}

TEST_F(WriteFromTest, MixesWithWrite) {
  InitStore();
  const Bytes data = RandomBytes(900000, 21);
  auto r = PutMixed(engine(), data, 600000, 3, 50000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->asset.id, IdOf(data));
  EXPECT_EQ(MustRead(r->asset.id), data);
}

TEST_F(WriteFromTest, ASourceErrorStopsThePutAndLeavesNothing) {
  InitStore();
  AIFS_EXPECT_STATUS(PutFromBrokenSource(engine(), 31), kUnavailable, "SOURCE_GONE");
  EXPECT_EQ(TallyFiles(ChunkDir()).files, 0u);
  EXPECT_EQ(MustNs().asset_count, 0u);
  auto gc = engine().CollectGarbage(true);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->orphan_objects, 0u);
}

TEST_F(WriteFromTest, ASourceThatWritesPastItsRoomIsRefused) {
  InitStore();
  auto w = engine().BeginPut(PutOptions{});
  ASSERT_TRUE(w.ok());
  const Status st =
      (*w)->WriteFrom([](MutableByteSpan room) -> Result<size_t> { return room.size() + 1; });
  AIFS_EXPECT_STATUS(st, kInternal, "FILL_OVERRUN");
}

// With the default chunking a put's blocks after the first (8 MiB) are
// larger than the piece a source is lent at a time: the first write past
// the piece is refused, not only one past the block.
TEST_F(WriteFromTest, ASourceThatWritesPastItsPieceIsRefused) {
  InitStore(InitOptions{});
  auto w = engine().BeginPut(PutOptions{});
  ASSERT_TRUE(w.ok());
  int calls = 0, overruns = 0;
  const Status st = (*w)->WriteFrom([&](MutableByteSpan room) -> Result<size_t> {
    if (calls++ == 0) {  // the first, small block: filled
      std::fill(room.begin(), room.end(), uint8_t{7});
      return room.size();
    }
    ++overruns;  // the next is lent a piece of the first large block
    return room.size() + 1;
  });
  AIFS_EXPECT_STATUS(st, kInternal, "FILL_OVERRUN");
  EXPECT_EQ(overruns, 1);
}

TEST_F(WriteFromTest, DeclaredSizeIsEnforced) {
  InitStore();
  const Bytes data = RandomBytes(200000, 41);
  PutOptions o;
  o.expected_size = data.size() - 1;
  auto w = engine().BeginPut(o);
  ASSERT_TRUE(w.ok());
  size_t fed = 0;
  AIFS_EXPECT_STATUS((*w)->WriteFrom(Source(data, fed, 5, 1 << 20)), kInvalidArgument,
                     "SIZE_MISMATCH");
}

class RemoteWriteFromTest : public ServerTest {};

// Sizes around the client's 1 MiB data frames, random (sent raw) and text
// (compressed in the frame when zstd is on), in one piece and in pieces.
TEST_F(RemoteWriteFromTest, TheClientsFramesCarryWhatWriteSends) {
  StartServer();
  for (bool zstd : {true, false}) {
    auto api = Connect(zstd);
    ASSERT_NE(api, nullptr);
    for (size_t size : {size_t{0}, size_t{1}, size_t{1} << 20, (size_t{1} << 20) + 1,
                        size_t{6} << 20}) {
      for (const Bytes& data : {RandomBytes(size, size + 51), TextBytes(size, size + 52)}) {
        for (size_t max_piece : {size_t{1} << 30, size_t{100003}}) {
          auto from = PutFrom(*api, data, size + max_piece, max_piece);
          ASSERT_TRUE(from.ok()) << from.status().ToString();
          EXPECT_EQ(from->asset.id, IdOf(data)) << size << " zstd " << zstd;
          auto back = ReadBytes(*api, "default", from->asset.id);
          ASSERT_TRUE(back.ok());
          EXPECT_EQ(*back, data) << size << " zstd " << zstd;
        }
      }
    }
  }
}

TEST_F(RemoteWriteFromTest, MixesWithWrite) {
  StartServer();
  const Bytes data = TextBytes(size_t{3} << 20, 61);
  auto r = PutMixed(*remote_, data, 2500000, 7, 300000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->asset.id, IdOf(data));
  auto back = ReadBytes(*remote_, "default", r->asset.id);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
}

TEST_F(RemoteWriteFromTest, ASourceErrorOrOverrunStopsThePutAndCommitsNothing) {
  StartServer();
  AIFS_EXPECT_STATUS(PutFromBrokenSource(*remote_, 71), kUnavailable, "SOURCE_GONE");
  {
    auto w = remote_->BeginPut(PutOptions{});
    ASSERT_TRUE(w.ok());
    const Status st =
        (*w)->WriteFrom([](MutableByteSpan room) -> Result<size_t> { return room.size() + 1; });
    AIFS_EXPECT_STATUS(st, kInternal, "FILL_OVERRUN");
  }
  // The aborts reach the server: nothing is visible, no object is left. (The
  // client's cancel returns before the server's put has cleaned up: a
  // shutdown waits for its handlers.)
  remote_.reset();
  server_->Shutdown(std::chrono::seconds(10));
  EXPECT_EQ(MustNs().asset_count, 0u);
  EXPECT_EQ(TallyFiles(ChunkDir()).files, 0u);
}

// A connection keeps its put messages for the next puts: puts that end every
// way (committed, aborted half-way, with a frame compressed or not) leave
// nothing of theirs in the next one.
TEST_F(RemoteWriteFromTest, PutsOnOneConnectionReuseMessagesCleanly) {
  StartServer();
  const Bytes text = TextBytes((size_t{2} << 20) + 300, 81);
  const Bytes random = RandomBytes((size_t{1} << 20) + 7, 82);
  for (int round = 0; round < 3; ++round) {
    {
      auto w = remote_->BeginPut(PutOptions{});
      ASSERT_TRUE(w.ok());
      AIFS_ASSERT_OK((*w)->Write(ByteSpan(random).first(700000)));  // abandoned mid-frame
    }
    auto t = PutFrom(*remote_, text, 9 + round, 300000);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->asset.id, IdOf(text));
    auto r = PutBytes(*remote_, random);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->asset.id, IdOf(random));
    auto small = PutBytes(*remote_, ByteSpan(text).first(10));
    ASSERT_TRUE(small.ok());
    EXPECT_EQ(small->asset.id, IdOf(ByteSpan(text).first(10)));
  }
  auto back = ReadBytes(*remote_, "default", IdOf(text));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text);
  EXPECT_EQ(MustNs().asset_count, 3u);
}

}  // namespace
}  // namespace aifs::test
