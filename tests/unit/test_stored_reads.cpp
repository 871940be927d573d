// Reads as stored (issue 16): Api::ReadAssetStoredAt hands on zstd segments
// without decompressing them, and the gRPC server sends them as they are to a
// client that asks with accept_stored. Checked with libzstd's own decoder as
// the oracle: the pieces decode to exactly the asset's bytes, compressed where
// the store keeps them compressed, plain where they must be (cut by the
// range, byte-grouped); a damaged segment stops the read before any of its
// chunk goes out; the client checks a whole read against the asset ID.
#include <zstd.h>

#include "aifs/engine/chunk_index.h"
#include "segment_damage.h"
#include "server_fixture.h"
#include "test_util.h"

namespace aifs::test {
namespace {

// What a stored read delivered, decoded independently.
struct Decoded {
  Bytes bytes;
  size_t zstd_pieces = 0;
  size_t plain_pieces = 0;
  bool bad_piece = false;  // a zstd piece that is not frames of its raw size
};

Decoded Decode(const std::vector<std::pair<Bytes, StoredPiece>>& pieces) {
  Decoded d;
  for (const auto& [data, piece] : pieces) {
    if (!piece.zstd) {
      ++d.plain_pieces;
      d.bytes.insert(d.bytes.end(), data.begin(), data.end());
      continue;
    }
    ++d.zstd_pieces;
    Bytes out(piece.raw_size);
    const size_t n = ZSTD_decompress(out.data(), out.size(), data.data(), data.size());
    if (ZSTD_isError(n) || n != piece.raw_size) d.bad_piece = true;
    d.bytes.insert(d.bytes.end(), out.begin(), out.end());
  }
  return d;
}

class StoredReadTest : public ServerTest {
 protected:
  // Default chunking (~1 MiB chunks) and 64 KiB segments, as a real store.
  void SetUp() override { InitStore(InitOptions{}); }

  // How many segments the asset's chunks are sealed in.
  size_t Segments(const AssetId& id) {
    auto info = engine().StatAsset("default", id, true);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    size_t n = 0;
    if (info.ok())
      for (const ChunkInfo& c : info->chunks)
        n += (c.length + kDefaultSegmentSize - 1) / kDefaultSegmentSize;
    return n;
  }

  Result<Decoded> ReadStored(const AssetId& id, ReadRange range = {}) {
    std::vector<std::pair<Bytes, StoredPiece>> pieces;
    Status st = engine().ReadAssetStoredAt("default", id, "", range, [&](const StoredPiece& piece) {
      pieces.emplace_back(Bytes(piece.data.begin(), piece.data.end()), piece);
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return Decode(pieces);
  }
};

TEST_F(StoredReadTest, TextComesAsStoredFramesAndDecodesToTheBytes) {
  const Bytes text = TextBytes(3 << 20, 1);
  const AssetId id = MustPut(text).asset.id;
  auto whole = ReadStored(id);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->bytes, text);
  EXPECT_FALSE(whole->bad_piece);
  // Every segment of text is stored compressed, and handed on so.
  EXPECT_EQ(whole->zstd_pieces, Segments(id));
  EXPECT_EQ(whole->plain_pieces, 0u);

  // Large ranges that start and end inside segments: the cut segments come
  // plain and trimmed, the ones between as stored.
  for (ReadRange r : {ReadRange{1, 2 << 20}, ReadRange{3 * 65536 + 7, 1536 * 1024},
                      ReadRange{(1 << 20) + 5, 4 << 20}}) {
    auto got = ReadStored(id, r);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    const uint64_t n = std::min<uint64_t>(r.length, text.size() - r.offset);
    EXPECT_EQ(got->bytes, Slice(text, r.offset, n)) << r.offset << "+" << r.length;
    EXPECT_FALSE(got->bad_piece);
    EXPECT_GT(got->zstd_pieces, 0u);
    EXPECT_GE(got->plain_pieces, 1u);
  }
  // Small ranges go through the segment cache: plaintext only.
  for (ReadRange r : {ReadRange{100, 4096}, ReadRange{text.size() - 10, 1 << 20}}) {
    auto got = ReadStored(id, r);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->bytes,
              Slice(text, r.offset, std::min<uint64_t>(r.length, text.size() - r.offset)));
    EXPECT_EQ(got->zstd_pieces, 0u);
  }
  // Nothing to read, and past the end, as ReadAssetAt.
  auto none = ReadStored(id, {text.size(), 10});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->bytes.empty());
  AIFS_EXPECT_STATUS(ReadStored(id, {text.size() + 1, 10}).status(), kOutOfRange,
                     "RANGE_OUT_OF_BOUNDS");
}

TEST_F(StoredReadTest, RandomGroupedAndEmptyAssetsComePlain) {
  // Incompressible: stored raw, delivered decrypted where it was read.
  const Bytes random = RandomBytes(3 << 20, 2);
  // A float blob is byte-grouped: its segments must be opened and ungrouped.
  const Bytes floats = FloatField(1 << 20, 3);
  for (const Bytes* data : {&random, &floats}) {
    const AssetId id = MustPut(*data).asset.id;
    auto got = ReadStored(id);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->bytes, *data);
    EXPECT_EQ(got->zstd_pieces, 0u);
  }
  const AssetId empty = MustPut(Bytes{}).asset.id;
  auto got = ReadStored(empty);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->bytes.empty());
}

TEST_F(StoredReadTest, DamagedSegmentStopsTheReadBeforeItsChunkGoesOut) {
  const Bytes text = TextBytes(4 << 20, 4);
  const AssetId id = MustPut(text).asset.id;
  const SegmentLocation w = LocateSegment(engine(), dir_, id, 2 << 20);
  ASSERT_GT(w.chunk_start, 0u);
  engine_.reset();
  FlipByte(w.object_path, w.object_offset);
  Reopen();
  std::vector<std::pair<Bytes, StoredPiece>> pieces;
  Status st = engine().ReadAssetStoredAt("default", id, "", {}, [&](const StoredPiece& piece) {
    pieces.emplace_back(Bytes(piece.data.begin(), piece.data.end()), piece);
    return Status::Ok();
  });
  AIFS_EXPECT_STATUS(st, kDataLoss, "CHUNK_CORRUPT");
  const Decoded d = Decode(pieces);
  EXPECT_LE(d.bytes.size(), w.chunk_start);
  EXPECT_EQ(d.bytes, Slice(text, 0, d.bytes.size()));

  // Over gRPC: the same error, nothing of the damaged chunk delivered.
  StartServer();
  Bytes got;
  st = remote_->ReadAsset("default", id, {}, [&](ByteSpan b) {
    got.insert(got.end(), b.begin(), b.end());
    return Status::Ok();
  });
  AIFS_EXPECT_STATUS(st, kDataLoss, "CHUNK_CORRUPT");
  EXPECT_LE(got.size(), w.chunk_start);
  EXPECT_EQ(got, Slice(text, 0, got.size()));
}

// Raw ReadAsset calls: what the server puts in the frames.
struct Frames {
  Bytes bytes;
  size_t zstd = 0;
  size_t concatenated = 0;  // zstd frames holding more than one zstd frame
  bool contiguous = true;
  bool ok = false;
};

class StoredReadWireTest : public StoredReadTest {
 protected:
  Frames Read(const AssetId& id, bool accept_zstd, bool accept_stored) {
    v1::ReadAssetRequest req;
    req.set_ns("default");
    req.set_id(std::string(AsChars(id.bytes())));
    req.set_accept_zstd(accept_zstd);
    req.set_accept_stored(accept_stored);
    grpc::ClientContext ctx;
    auto stub = RawStub();
    auto stream = stub->ReadAsset(&ctx, req);
    v1::ReadAssetResponse msg;
    Frames f;
    while (stream->Read(&msg)) {
      const v1::DataFrame& frame = msg.data();
      if (msg.offset() != f.bytes.size()) f.contiguous = false;
      EXPECT_LE(frame.raw_size(), 1u << 20);
      if (frame.encoding() == v1::DataFrame::ZSTD) {
        ++f.zstd;
        const std::string& z = frame.data();
        if (ZSTD_findFrameCompressedSize(z.data(), z.size()) < z.size()) ++f.concatenated;
        Bytes out(frame.raw_size());
        const size_t n = ZSTD_decompress(out.data(), out.size(), z.data(), z.size());
        EXPECT_EQ(n, frame.raw_size());
        f.bytes.insert(f.bytes.end(), out.begin(), out.end());
      } else {
        f.bytes.insert(f.bytes.end(), frame.data().begin(), frame.data().end());
      }
    }
    f.ok = stream->Finish().ok();
    return f;
  }
};

TEST_F(StoredReadWireTest, StoredSegmentsTravelAsConcatenatedFramesOnlyWhenAsked) {
  const Bytes text = TextBytes(5 << 20, 5);
  const AssetId id = MustPut(text).asset.id;
  StartServer();
  const Frames stored = Read(id, true, true);
  ASSERT_TRUE(stored.ok);
  EXPECT_TRUE(stored.contiguous);
  EXPECT_EQ(stored.bytes, text);
  // Several stored segments per message (each at most 1 MiB raw).
  EXPECT_GT(stored.concatenated, 0u);
  EXPECT_LT(stored.zstd, Segments(id) / 4);

  // A client that did not ask gets one zstd frame per message, as before.
  const Frames classic = Read(id, true, false);
  ASSERT_TRUE(classic.ok);
  EXPECT_EQ(classic.bytes, text);
  EXPECT_GT(classic.zstd, 0u);
  EXPECT_EQ(classic.concatenated, 0u);
  // Stored but no zstd: the server decompresses.
  const Frames identity = Read(id, false, true);
  ASSERT_TRUE(identity.ok);
  EXPECT_EQ(identity.bytes, text);
  EXPECT_EQ(identity.zstd, 0u);

  // The client API reads it exactly, with zstd on and off.
  for (bool zstd : {true, false}) {
    auto api = Connect(zstd);
    auto got = ReadBytes(*api, "default", id);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, text);
    auto part = ReadBytes(*api, "default", id, {12345, 3 << 20});
    ASSERT_TRUE(part.ok()) << part.status().ToString();
    EXPECT_EQ(*part, Slice(text, 12345, 3 << 20));
  }
}

// Segments authenticate under their own chunk, so a chunk table that names
// another (valid) chunk of the same size passes every segment check: only
// the asset ID check sees it, which a stored read leaves to the client.
TEST_F(StoredReadWireTest, ClientChecksAWholeReadAgainstTheAssetId) {
  const Bytes a = TextBytes(200000, 6), b = TextBytes(200000, 7);
  const AssetId ida = MustPut(a).asset.id, idb = MustPut(b).asset.id;
  engine_.reset();
  {
    auto meta = OpenMetaStore("rocksdb://" + dir_.Sub("meta"), {});
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    auto ta = (*meta)->Get(keys::ChunkIndex("default", ida.bytes()));
    auto tb = (*meta)->Get(keys::ChunkIndex("default", idb.bytes()));
    ASSERT_TRUE(ta.ok() && tb.ok() && ta->has_value() && tb->has_value());
    ASSERT_EQ((*ta)->size(), ChunkIndex::kEntrySize);  // one chunk each
    std::string swapped = **ta;
    swapped.replace(0, 32, (*tb)->substr(0, 32));
    auto txn = (*meta)->Begin();
    AIFS_ASSERT_OK(txn->Put(keys::ChunkIndex("default", ida.bytes()), swapped));
    AIFS_ASSERT_OK(txn->Commit());
  }
  Reopen();
  AIFS_EXPECT_STATUS(ReadBytes(engine(), "default", ida).status(), kDataLoss, "ASSET_CORRUPT");
  StartServer();
  for (bool zstd : {true, false}) {
    auto api = Connect(zstd);
    AIFS_EXPECT_STATUS(ReadBytes(*api, "default", ida).status(), kDataLoss, "ASSET_CORRUPT");
    // A range has no asset-wide check: its bytes are what the table names.
    auto part = ReadBytes(*api, "default", ida, {0, 1000});
    ASSERT_TRUE(part.ok()) << part.status().ToString();
    EXPECT_EQ(*part, Slice(b, 0, 1000));
  }
}

}  // namespace
}  // namespace aifs::test
