#include "aifs/storage/sealed_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <functional>

#include "aifs/core/file_util.h"
#include "aifs/core/random.h"

namespace aifs {

namespace {

constexpr char kMagic[8] = {'A', 'I', 'F', 'S', 'S', 'E', 'F', '1'};
constexpr size_t kHeaderSize = 8 + 8 + 12;
constexpr size_t kSegment = size_t{1} << 20;
constexpr std::string_view kDomain = "aifs/sealed-file/v1";

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

GcmNonce SegmentNonce(const uint8_t* base, uint64_t i) {
  GcmNonce n;
  std::memcpy(n.data(), base, n.size());
  for (int b = 0; b < 8; ++b) n[4 + b] ^= static_cast<uint8_t>(i >> (56 - 8 * b));
  return n;
}

Bytes SegmentAad(const uint8_t* header, uint64_t i, bool last, ByteSpan context) {
  Bytes aad(kDomain.begin(), kDomain.end());
  aad.push_back(0);
  aad.insert(aad.end(), header, header + kHeaderSize);
  for (int b = 0; b < 8; ++b) aad.push_back(static_cast<uint8_t>(i >> (8 * b)));
  aad.push_back(last ? 1 : 0);
  aad.insert(aad.end(), context.begin(), context.end());
  return aad;
}

Status ReadFull(int fd, uint8_t* p, size_t n, std::string_view what) {
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return err::FromErrno(errno, what);
    if (r == 0) return err::DataLoss("SHORT_READ", std::string(what) + ": file shrank while read");
    p += r;
    n -= static_cast<size_t>(r);
  }
  return Status::Ok();
}

// Seals `size` bytes delivered by `fill` (which fills exactly the span it
// gets) into `path`.
Status Seal(const RecordKey& key, ByteSpan context, uint64_t size,
            const std::function<Status(MutableByteSpan)>& fill, const std::string& path) {
  uint8_t header[kHeaderSize];
  std::memcpy(header, kMagic, 8);
  std::memcpy(header + 8, key.tag.data(), 8);
  AIFS_RETURN_IF_ERROR(SecureRandom(MutableByteSpan(header + 16, 12)));
  Fd out;
  out.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out.fd < 0) return err::FromErrno(errno, "create " + path);
  AIFS_RETURN_IF_ERROR(WriteAll(out.fd, ByteSpan(header, kHeaderSize), path));
  const uint64_t segments = size == 0 ? 1 : (size + kSegment - 1) / kSegment;
  Bytes plain, sealed;
  plain.reserve(std::min<uint64_t>(size, kSegment));
  sealed.reserve(std::min<uint64_t>(size, kSegment) + kGcmTagSize);
  for (uint64_t i = 0; i < segments; ++i) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kSegment, size - i * kSegment));
    plain.resize(n);
    AIFS_RETURN_IF_ERROR(fill(MutableByteSpan(plain.data(), n)));
    sealed.clear();
    const bool last = i + 1 == segments;
    AIFS_RETURN_IF_ERROR(AesGcmSeal(key.key, SegmentNonce(header + 16, i),
                                    SegmentAad(header, i, last, context), plain, sealed));
    AIFS_RETURN_IF_ERROR(WriteAll(out.fd, sealed, path));
  }
  SecureWipe(plain.data(), plain.size());
  if (::fsync(out.fd) != 0) return err::FromErrno(errno, "fsync " + path);
  return Status::Ok();
}

Status Open(const RecordKey& key, ByteSpan context, const std::string& path,
            const std::function<Status(ByteSpan)>& sink, const char* fail_reason) {
  auto corrupt = [&](const std::string& why) {
    return err::DataLoss(fail_reason, path + ": " + why);
  };
  Fd in;
  in.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) return err::FromErrno(errno, "open " + path);
  struct stat st;
  if (::fstat(in.fd, &st) != 0) return err::FromErrno(errno, "stat " + path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  uint8_t header[kHeaderSize];
  if (size < kHeaderSize + kGcmTagSize) return corrupt("too short for a sealed file");
  AIFS_RETURN_IF_ERROR(ReadFull(in.fd, header, kHeaderSize, path));
  if (std::memcmp(header, kMagic, 8) != 0) return corrupt("not a sealed file");
  if (std::memcmp(header + 8, key.tag.data(), 8) != 0)
    return corrupt("sealed under another record key");
  const uint64_t body = size - kHeaderSize;
  const uint64_t full = body / (kSegment + kGcmTagSize);
  const uint64_t rem = body % (kSegment + kGcmTagSize);
  if (rem != 0 && rem < kGcmTagSize) return corrupt("cut inside a segment tag");
  const uint64_t segments = full + (rem != 0 ? 1 : 0);
  Bytes sealed, plain;
  for (uint64_t i = 0; i < segments; ++i) {
    const bool last = i + 1 == segments;
    const size_t n = last && rem != 0 ? static_cast<size_t>(rem) : kSegment + kGcmTagSize;
    sealed.resize(n);
    AIFS_RETURN_IF_ERROR(ReadFull(in.fd, sealed.data(), n, path));
    Status st = AesGcmOpen(key.key, SegmentNonce(header + 16, i),
                           SegmentAad(header, i, last, context), sealed, plain, fail_reason);
    if (!st.ok()) return corrupt("segment " + std::to_string(i) + " does not authenticate");
    AIFS_RETURN_IF_ERROR(sink(plain));
  }
  SecureWipe(plain.data(), plain.size());
  return Status::Ok();
}

}  // namespace

Status WriteSealedFile(const RecordKey& key, ByteSpan context, int src_fd,
                       const std::string& path) {
  struct stat st;
  if (::fstat(src_fd, &st) != 0) return err::FromErrno(errno, "stat the file to seal");
  if (::lseek(src_fd, 0, SEEK_SET) != 0) return err::FromErrno(errno, "seek the file to seal");
  return Seal(
      key, context, static_cast<uint64_t>(st.st_size),
      [&](MutableByteSpan s) { return ReadFull(src_fd, s.data(), s.size(), path); }, path);
}

Status WriteSealedFile(const RecordKey& key, ByteSpan context, ByteSpan data,
                       const std::string& path) {
  size_t at = 0;
  return Seal(
      key, context, data.size(),
      [&](MutableByteSpan s) {
        std::memcpy(s.data(), data.data() + at, s.size());
        at += s.size();
        return Status::Ok();
      },
      path);
}

Status ReadSealedFile(const RecordKey& key, ByteSpan context, const std::string& path, int dst_fd,
                      const char* fail_reason) {
  return Open(
      key, context, path, [&](ByteSpan b) { return WriteAll(dst_fd, b, "sealed file plaintext"); },
      fail_reason);
}

Result<std::string> ReadSealedFile(const RecordKey& key, ByteSpan context, const std::string& path,
                                   const char* fail_reason) {
  std::string out;
  AIFS_RETURN_IF_ERROR(Open(
      key, context, path,
      [&](ByteSpan b) {
        out.append(AsChars(b));
        return Status::Ok();
      },
      fail_reason));
  return out;
}

std::optional<KeyTag> SealedFileTag(const std::string& path) {
  Fd in;
  in.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) return std::nullopt;
  uint8_t header[kHeaderSize];
  if (!ReadFull(in.fd, header, kHeaderSize, path).ok() || std::memcmp(header, kMagic, 8) != 0)
    return std::nullopt;
  KeyTag tag;
  std::memcpy(tag.data(), header + 8, tag.size());
  return tag;
}

}  // namespace aifs
