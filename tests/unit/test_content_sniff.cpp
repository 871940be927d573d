// The sniff operator kind: samples made by Python's standard library (and
// zstd), their types compared with `file --mime-type` where file and the
// WHATWG rules agree, and the AI formats file does not know checked against
// their specifications.
#include <fstream>

#include "aifs/ingest/content_sniff.h"
#include "aifs/kinds/npy.h"
#include "aifs/kinds/tensor.h"
#include "ingest_test_util.h"
#include "test_util.h"

namespace aifs {
namespace {

constexpr const char* kSamples = R"PY(
import gzip, io, json, os, struct, sys, zipfile, zlib
d = sys.argv[1]
def w(name, data):
    open(os.path.join(d, name), "wb").write(data)
def chunk(t, b):
    return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)) + \
      chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
w("png", png)
w("pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
w("gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
w("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9")
w("webp", b"RIFF" + struct.pack("<I", 26) + b"WEBPVP8L" + struct.pack("<I", 14) + b"\x2f\x00\x00\x00\x00" + b"\x00" * 9)
b = io.BytesIO()
with zipfile.ZipFile(b, "w") as z:
    z.writestr("a.txt", "hello")
w("zip", b.getvalue())
w("gzip", gzip.compress(b"hello world" * 10))
w("json", b'  {"a": [1, 2, {"b": "\xc3\xa9"}]}\n')
w("json_array", b'[1,2,3]')
w("text", "Hello, wörld!\nA plain text file.\n".encode())
w("binary", bytes(range(256)) * 4)
header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
w("safetensors", struct.pack("<Q", len(header)) + header + b"\x00" * 8)
w("empty", b"")
)PY";

class ContentSniffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kind = MakeOperatorKind(test::Spec("sniff", {}));
    AIFS_ASSERT_OK(kind.status());
    kind_ = std::move(kind).value();
  }
  // The kind's metadata for `bytes` (the engine gives at most prefix_bytes()).
  Metadata Sniff(const Bytes& bytes) {
    OperatorInput in;
    in.size = bytes.size();
    in.bytes.assign(bytes.begin(), bytes.begin() + std::min<size_t>(bytes.size(), 4096));
    auto r = kind_->Run(std::span<const OperatorInput>(&in, 1));
    EXPECT_TRUE(r.ok() && (*r)[0].ok());
    return r.ok() && (*r)[0].ok() ? (*r)[0]->metadata : Metadata{};
  }
  std::string Type(const Bytes& bytes) { return Sniff(bytes)["sniff.content_type"]; }

  test::TempDir dir_;
  std::unique_ptr<OperatorKind> kind_;
};

TEST_F(ContentSniffTest, AgreesWithFile) {
  AIFS_NEED_PYTHON("zipfile");
  int status = -1;
  test::Shell("file --version >/dev/null 2>&1", &status);
  if (status != 0) GTEST_SKIP() << "the file command is needed";
  std::ofstream(dir_.Sub("gen.py")) << kSamples;
  test::Shell(std::string(test::kPython) + " " + dir_.Sub("gen.py") + " " + dir_.path());
  bool have_zstd = false;
  test::Shell("echo hello | zstd -q > " + dir_.Sub("zstd") + " 2>/dev/null", &status);
  have_zstd = status == 0;
  for (const char* name :
       {"png", "pdf", "gif", "jpeg", "webp", "zip", "gzip", "json", "json_array", "text", "zstd"}) {
    SCOPED_TRACE(name);
    if (std::string(name) == "zstd" && !have_zstd) continue;
    const std::string path = dir_.Sub(name);
    std::string want = test::Shell("file -b --mime-type " + path);
    while (!want.empty() && want.back() == '\n') want.pop_back();
    const Metadata m = Sniff(test::ReadFileBytes(path));
    const std::string got = m.at("sniff.content_type");
    EXPECT_EQ(got.substr(0, got.find(';')), want);
    const bool text = want == "text/plain" || want == "application/json";
    EXPECT_EQ(m.at("sniff.text"), text ? "true" : "false");
  }
  EXPECT_EQ(Type(test::ReadFileBytes(dir_.Sub("text"))), "text/plain; charset=utf-8");
  // What file does not know (or guesses otherwise).
  EXPECT_EQ(Type(test::ReadFileBytes(dir_.Sub("safetensors"))), "application/x-safetensors");
  EXPECT_EQ(Type(test::ReadFileBytes(dir_.Sub("binary"))), "application/octet-stream");
  EXPECT_EQ(Type(test::ReadFileBytes(dir_.Sub("empty"))), "application/x-empty");
}

TEST_F(ContentSniffTest, TensorFormats) {
  const std::vector<int64_t> shape = {2, 3};
  const std::vector<float> values = {1, 2, 3, 4, 5, 6};
  const ByteSpan data(reinterpret_cast<const uint8_t*>(values.data()), values.size() * 4);
  Bytes npy, ipc;
  AIFS_ASSERT_OK(EncodeNpy(DType::kFloat32, shape, data, npy));
  AIFS_ASSERT_OK(EncodeTensorIpc({DType::kFloat32, shape, data}, 1, ipc));
  EXPECT_EQ(Type(npy), "application/x-npy");
  EXPECT_EQ(Type(ipc), "application/vnd.apache.arrow.stream");
  EXPECT_EQ(Type(test::ToBytes(std::string("ARROW1\0\0", 8) + std::string(64, '\0'))),
            "application/vnd.apache.arrow.file");
  EXPECT_EQ(Sniff(npy)["sniff.text"], "false");
}

TEST_F(ContentSniffTest, TextRules) {
  // A character cut by the 4096-byte prefix is forgiven; a whole invalid one is not.
  std::string text(4095, 'a');
  text += "\xc3\xa9 and more text after the prefix";
  EXPECT_EQ(Type(test::ToBytes(text)), "text/plain; charset=utf-8");
  EXPECT_EQ(Type(test::ToBytes("caf\xc3")), "application/octet-stream");
  EXPECT_EQ(Type(test::ToBytes("latin-1 caf\xe9 text")), "application/octet-stream");
  EXPECT_EQ(Type(test::ToBytes(std::string("nul\0inside", 10))), "application/octet-stream");
  EXPECT_EQ(Type(test::ToBytes("tabs\tand\r\nform\ffeeds\x1b[0m")), "text/plain; charset=utf-8");
  EXPECT_EQ(Type(test::ToBytes("\n\t [\"json\"]")), "application/json");
  EXPECT_EQ(Type(test::ToBytes("{ not really json but text")), "application/json");
  EXPECT_EQ(kind_->prefix_bytes(), 4096u);
  EXPECT_EQ(kind_->describe(), "sniff/1 v=1");
}

}  // namespace
}  // namespace aifs
