#include "aifs/kinds/artifact.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "aifs/core/file_util.h"
#include "aifs/core/hex.h"
#include "aifs/core/utf8.h"
#include "aifs/storage/spill_buffer.h"

namespace aifs {

namespace {

using nlohmann::json;

constexpr size_t kMaxPathBytes = 4096;
constexpr size_t kMaxComponentBytes = 255;
constexpr size_t kIoBuffer = 1 << 16;
// Deflate only members this small (see docs/artifact-format.md: larger files
// are stored, which keeps them dedupable by AIFS chunking and keeps every
// deflated member under the ratio check's 1 MiB threshold).
constexpr uint64_t kDeflateMaxSize = uint64_t{1} << 20;
// 1980-01-01 00:00:00, the MS-DOS epoch, for every member.
constexpr uint16_t kDosTime = 0;
constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;

Status NotZip(std::string msg) { return err::InvalidArgument("ARTIFACT_NOT_ZIP", std::move(msg)); }
Status BadManifest(std::string msg) {
  return err::InvalidArgument("ARTIFACT_BAD_MANIFEST", std::move(msg));
}
Status Mismatch(std::string msg) {
  return err::InvalidArgument("ARTIFACT_MANIFEST_MISMATCH", std::move(msg));
}
// A name for an error message: at most 200 bytes, control characters as '?'.
std::string Shown(std::string_view name) { return err::Echo(name, 200); }
Status Traversal(std::string_view path, std::string why) {
  return err::InvalidArgument("ARTIFACT_PATH_TRAVERSAL", "unsafe path '" + Shown(path) + "': " + why);
}
Status Bomb(std::string msg) { return err::InvalidArgument("ARTIFACT_ZIP_BOMB", std::move(msg)); }
// Damaged bytes inside a well-formed archive: a CRC or deflate error, a
// member producing another size than declared (and not beyond the bomb
// bound), headers that disagree. Only a ratio beyond the limits is a bomb.
Status Corrupt(std::string msg) { return err::InvalidArgument("ARTIFACT_CORRUPT", std::move(msg)); }

// The path rules of docs/artifact-format.md (for a file path, no trailing '/').
Status CheckPath(std::string_view p) {
  if (p.empty()) return Traversal(p, "empty path");
  if (p.size() > kMaxPathBytes) return Traversal(p, "longer than 4096 bytes");
  if (p.find('\0') != std::string_view::npos) return Traversal(p, "contains a NUL byte");
  if (p.find('\\') != std::string_view::npos) return Traversal(p, "contains a backslash");
  if (p[0] == '/') return Traversal(p, "absolute path");
  if (p.size() >= 2 && p[1] == ':' &&
      ((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z'))) {
    return Traversal(p, "drive letter");
  }
  for (char c : p) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Traversal(p, "contains a control character");
    }
  }
  if (!ValidUtf8(p)) return Traversal(p, "not valid UTF-8");
  size_t start = 0;
  while (true) {
    size_t end = p.find('/', start);
    std::string_view comp = p.substr(start, end == std::string_view::npos ? p.npos : end - start);
    if (comp.empty()) return Traversal(p, "empty path component");
    if (comp == "." || comp == "..") return Traversal(p, "'.' or '..' component");
    if (comp.size() > kMaxComponentBytes) return Traversal(p, "component longer than 255 bytes");
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return Status::Ok();
}

std::string FoldCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// ---------------------------------------------------------------------------
// Central directory walker. libzip reads the members, but its API hides what
// a validator must see: it turns NUL bytes in names into spaces and does not
// expose where each member's data lies. This walk reads the raw records so
// that names are checked byte for byte and overlapping members (the
// "overlapping files" zip bomb) are refused; the result is then cross-checked
// against libzip's view, entry by entry.

struct RawEntry {
  std::string name;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint8_t made_by_os = 0;
  uint32_t ext_attr = 0;
  uint64_t comp_size = 0;
  uint64_t size = 0;
  uint64_t local_offset = 0;
  uint64_t data_end = 0;  // end of the member's compressed data
  uint32_t crc = 0;
  // Why the local header disagrees with this record (name, method, CRC or
  // sizes); empty when it agrees.
  std::string local_mismatch;
};

uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t Le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
uint64_t Le64(const uint8_t* p) { return uint64_t{Le32(p)} | (uint64_t{Le32(p + 4)} << 32); }

Result<std::vector<RawEntry>> WalkCentralDirectory(RandomAccessReader& in,
                                                   const ArtifactLimits& limits) {
  const uint64_t n = in.size();
  if (n < 22) return NotZip("too short to be a ZIP archive");
  // End of central directory record: the last one whose comment reaches the
  // end, so within the last 22 + 65535 bytes.
  const uint64_t tail_start = n >= 22 + 65535 ? n - 22 - 65535 : 0;
  Bytes tail(static_cast<size_t>(n - tail_start));
  AIFS_RETURN_IF_ERROR(in.ReadAt(tail_start, tail));
  uint64_t eocd = n;
  for (uint64_t i = tail.size() - 22 + 1; i-- > 0;) {
    if (Le32(tail.data() + i) == 0x06054b50 &&
        tail_start + i + 22 + Le16(tail.data() + i + 20) == n) {
      eocd = tail_start + i;
      break;
    }
  }
  if (eocd == n) return NotZip("no end of central directory record");
  const uint8_t* e = tail.data() + (eocd - tail_start);
  if (Le16(e + 4) != 0 || Le16(e + 6) != 0 || Le16(e + 8) != Le16(e + 10)) {
    return NotZip("multi-disk archives are not supported");
  }
  uint64_t count = Le16(e + 10);
  uint64_t cd_size = Le32(e + 12);
  uint64_t cd_offset = Le32(e + 16);
  uint64_t cd_limit = eocd;  // the central directory ends before this
  if (count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    uint8_t locator[20], z64[56];
    if (eocd >= 20) AIFS_RETURN_IF_ERROR(in.ReadAt(eocd - 20, locator));
    if (eocd < 20 || Le32(locator) != 0x07064b50) {
      return NotZip("ZIP64 end of central directory locator missing");
    }
    const uint64_t z = Le64(locator + 8);
    if (z > eocd - 20 || eocd - 20 - z < 56)
      return NotZip("bad ZIP64 end of central directory record");
    AIFS_RETURN_IF_ERROR(in.ReadAt(z, z64));
    if (Le32(z64) != 0x06064b50) return NotZip("bad ZIP64 end of central directory record");
    if (Le32(z64 + 16) != 0 || Le32(z64 + 20) != 0 || Le64(z64 + 24) != Le64(z64 + 32)) {
      return NotZip("multi-disk archives are not supported");
    }
    count = Le64(z64 + 32);
    cd_size = Le64(z64 + 40);
    cd_offset = Le64(z64 + 48);
    cd_limit = z;
  }
  if (count > limits.max_members) {
    return Bomb(std::to_string(count) + " members exceed the limit of " +
                std::to_string(limits.max_members));
  }
  if (cd_offset > cd_limit || cd_size > cd_limit - cd_offset) {
    return NotZip("central directory lies outside the archive");
  }
  // Each central record is at least 46 bytes: bounds the count before reserving.
  if (count > cd_size / 46) return NotZip("central directory is shorter than its entry count");

  std::vector<RawEntry> entries;
  entries.reserve(count);
  uint64_t pos = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  uint8_t c[46];
  Bytes var;  // a record's name and extra field
  uint8_t local[30];
  for (uint64_t i = 0; i < count; ++i) {
    if (cd_end - pos >= 46) AIFS_RETURN_IF_ERROR(in.ReadAt(pos, c));
    if (cd_end - pos < 46 || Le32(c) != 0x02014b50) {
      return NotZip("bad central directory record " + std::to_string(i));
    }
    RawEntry r;
    r.made_by_os = c[5];
    r.flags = Le16(c + 8);
    r.method = Le16(c + 10);
    r.crc = Le32(c + 16);
    uint64_t comp = Le32(c + 20), size = Le32(c + 24);
    const uint16_t name_len = Le16(c + 28), extra_len = Le16(c + 30), comment_len = Le16(c + 32);
    uint64_t disk = Le16(c + 34);
    r.ext_attr = Le32(c + 38);
    uint64_t offset = Le32(c + 42);
    const uint64_t rec_len = uint64_t{46} + name_len + extra_len + comment_len;
    if (cd_end - pos < rec_len) return NotZip("central directory record " + std::to_string(i) + " is truncated");
    var.resize(size_t{name_len} + extra_len);
    AIFS_RETURN_IF_ERROR(in.ReadAt(pos + 46, var));
    r.name.assign(reinterpret_cast<const char*>(var.data()), name_len);
    // ZIP64 extended information: present fields replace the 0xffff.. ones, in order.
    const uint8_t* x = var.data() + name_len;
    const uint8_t* x_end = x + extra_len;
    while (x_end - x >= 4) {
      const uint16_t id = Le16(x), len = Le16(x + 2);
      if (x_end - x - 4 < len) return NotZip("bad extra field in record " + std::to_string(i));
      if (id == 0x0001) {
        const uint8_t* f = x + 4;
        const uint8_t* f_end = f + len;
        auto take = [&](uint64_t& v) -> bool {
          if (f_end - f < 8) return false;
          v = Le64(f);
          f += 8;
          return true;
        };
        if ((size == 0xffffffff && !take(size)) || (comp == 0xffffffff && !take(comp)) ||
            (offset == 0xffffffff && !take(offset))) {
          return NotZip("bad ZIP64 extra field in record " + std::to_string(i));
        }
        if (disk == 0xffff) {
          if (f_end - f < 4) return NotZip("bad ZIP64 extra field");
          disk = Le32(f);
        }
      }
      x += 4 + len;
    }
    if (disk != 0) return NotZip("multi-disk archives are not supported");
    r.comp_size = comp;
    r.size = size;
    r.local_offset = offset;
    // The local header and the data it introduces must lie before the central directory.
    if (offset <= cd_offset && cd_offset - offset >= 30)
      AIFS_RETURN_IF_ERROR(in.ReadAt(offset, local));
    if (offset > cd_offset || cd_offset - offset < 30 || Le32(local) != 0x04034b50) {
      return NotZip("bad local header for member " + std::to_string(i));
    }
    const uint64_t data_start = offset + 30 + Le16(local + 26) + Le16(local + 28);
    if (data_start > cd_offset || comp > cd_offset - data_start) {
      return NotZip("member " + std::to_string(i) + " extends past the central directory");
    }
    r.data_end = data_start + comp;
    // The local header repeats the name, method and (without a data
    // descriptor, flag bit 3) CRC and sizes; a ZIP64 local size is 0xffffffff.
    const uint16_t local_name_len = Le16(local + 26);
    var.resize(local_name_len);
    AIFS_RETURN_IF_ERROR(in.ReadAt(offset + 30, var));
    auto differs = [](uint32_t local_value, uint64_t central) {
      return local_value != 0xffffffff && local_value != central;
    };
    if (std::string_view(reinterpret_cast<const char*>(var.data()), var.size()) != r.name)
      r.local_mismatch = "name";
    else if (Le16(local + 8) != r.method)
      r.local_mismatch = "compression method";
    else if (!(r.flags & 0x0008) && (Le32(local + 14) != r.crc || differs(Le32(local + 18), comp) ||
                                     differs(Le32(local + 22), size)))
      r.local_mismatch = "CRC or sizes";
    entries.push_back(std::move(r));
    pos += rec_len;
  }
  // Members may not share bytes: a later member starts at or after the end of
  // the previous one's data. Two records sharing one local header, or a whole
  // local header inside another member's data, reuse data on purpose (the
  // "overlapping files" bomb); anything else is damage: a local header that
  // disagrees with its record, or data running a few bytes into the next
  // header (too few to hold one).
  std::vector<const RawEntry*> by_offset;
  by_offset.reserve(entries.size());
  for (const auto& r : entries) by_offset.push_back(&r);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const RawEntry* a, const RawEntry* b) { return a->local_offset < b->local_offset; });
  auto overlap = [&](size_t i) {
    return "members '" + Shown(by_offset[i - 1]->name) + "' and '" + Shown(by_offset[i]->name) +
           "' overlap";
  };
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->local_offset == by_offset[i - 1]->local_offset) return Bomb(overlap(i));
  for (const RawEntry& r : entries)
    if (!r.local_mismatch.empty())
      return Corrupt("the local header of member '" + Shown(r.name) +
                     "' disagrees with the central directory (" + r.local_mismatch + ")");
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const RawEntry& prev = *by_offset[i - 1];
    if (by_offset[i]->local_offset >= prev.data_end) continue;
    if (by_offset[i]->local_offset + 30 <= prev.data_end) return Bomb(overlap(i));
    return Corrupt(overlap(i) + " by " +
                   std::to_string(prev.data_end - by_offset[i]->local_offset) +
                   " bytes (a damaged header)");
  }
  return entries;
}

// ---------------------------------------------------------------------------
// libzip handles.

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using ZipFilePtr = std::unique_ptr<zip_file_t, ZipFileCloser>;

// A libzip source over a RandomAccessReader, so libzip reads only the parts
// it needs (the central directory, local headers, one member at a time)
// instead of a span of the whole archive. libzip only learns that a read
// failed; the reader's own error is kept here to report instead, since an
// I/O error or a spill file changed on disk is not a malformed archive.
class ReaderSource {
 public:
  explicit ReaderSource(RandomAccessReader& in) : in_(in) { zip_error_init(&error_); }
  ~ReaderSource() { zip_error_fini(&error_); }
  // The reader's error when a read failed, else `libzip_error`.
  Status Or(Status libzip_error) const { return read_error_.ok() ? libzip_error : read_error_; }

  static zip_int64_t Callback(void* self, void* data, zip_uint64_t len, zip_source_cmd_t cmd) {
    return static_cast<ReaderSource*>(self)->Command(data, len, cmd);
  }

 private:
  zip_int64_t Command(void* data, zip_uint64_t len, zip_source_cmd_t cmd) {
    switch (cmd) {
      case ZIP_SOURCE_OPEN:
        offset_ = 0;
        return 0;
      case ZIP_SOURCE_READ: {
        const uint64_t n = std::min<uint64_t>(len, in_.size() - std::min(offset_, in_.size()));
        if (n == 0) return 0;
        Status st = in_.ReadAt(offset_, MutableByteSpan(static_cast<uint8_t*>(data), n));
        if (!st.ok()) {
          read_error_ = std::move(st);
          zip_error_set(&error_, ZIP_ER_READ, EIO);
          return -1;
        }
        offset_ += n;
        return static_cast<zip_int64_t>(n);
      }
      case ZIP_SOURCE_CLOSE:
      case ZIP_SOURCE_FREE:  // owned by the ZipArchive
        return 0;
      case ZIP_SOURCE_STAT: {
        zip_stat_t* st = ZIP_SOURCE_GET_ARGS(zip_stat_t, data, len, &error_);
        if (st == nullptr) return -1;
        zip_stat_init(st);
        st->size = in_.size();
        st->valid |= ZIP_STAT_SIZE;
        return sizeof(zip_stat_t);
      }
      case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&error_, data, len);
      case ZIP_SOURCE_SEEK: {
        const zip_int64_t to =
            zip_source_seek_compute_offset(offset_, in_.size(), data, len, &error_);
        if (to < 0) return -1;
        offset_ = static_cast<uint64_t>(to);
        return 0;
      }
      case ZIP_SOURCE_TELL:
        return static_cast<zip_int64_t>(offset_);
      case ZIP_SOURCE_SUPPORTS:
        return ZIP_SOURCE_SUPPORTS_SEEKABLE;
      default:
        zip_error_set(&error_, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
  }

  RandomAccessReader& in_;
  uint64_t offset_ = 0;
  zip_error_t error_;
  Status read_error_;
};

// An archive opened by libzip (read-only, consistency-checked) over a reader.
struct ZipArchive {
  std::unique_ptr<ReaderSource> source;  // outlives za
  ZipPtr za;
};

Result<ZipArchive> OpenZip(RandomAccessReader& in) {
  ZipArchive zip;
  zip.source = std::make_unique<ReaderSource>(in);
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* src = zip_source_function_create(&ReaderSource::Callback, zip.source.get(), &ze);
  if (src == nullptr) {
    std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    return err::Internal("ZIP_SOURCE", "libzip: " + msg);
  }
  zip_t* za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
  if (za == nullptr) {
    std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    zip_source_free(src);
    return zip.source->Or(NotZip("libzip cannot open it: " + msg));
  }
  zip_error_fini(&ze);
  zip.za.reset(za);
  return zip;
}

// How much a member may inflate to before it is a bomb: what the ratio
// limit allows for its compressed size (at least ratio_min_size).
uint64_t InflationBound(const RawEntry& r, const ArtifactLimits& limits) {
  const uint64_t ratio = std::max<uint64_t>(limits.max_ratio, 1);
  const uint64_t by_ratio = r.comp_size > UINT64_MAX / ratio ? UINT64_MAX : r.comp_size * ratio;
  return std::max(limits.ratio_min_size, by_ratio);
}

// Streams member `index` into `sink`. The declared size is never trusted:
// `sink` gets at most `declared` bytes. A member producing more is inflated
// on (into nothing) up to `bomb_bound` bytes: past it, it is a bomb; ending
// before, it is corrupt (damaged data or a wrong size, harmless either way).
template <typename Sink>
Status ReadMember(const ZipArchive& zip, zip_uint64_t index, std::string_view name,
                  uint64_t declared, uint64_t bomb_bound, Sink&& sink) {
  zip_t* za = zip.za.get();
  ZipFilePtr f(zip_fopen_index(za, index, 0));
  if (!f)
    return zip.source->Or(
        NotZip("cannot open member '" + std::string(name) + "': " + zip_strerror(za)));
  std::vector<uint8_t> buf(kIoBuffer);
  uint64_t produced = 0;
  while (true) {
    const uint64_t want = std::min<uint64_t>(buf.size(), declared + 1 - produced);
    const zip_int64_t r = zip_fread(f.get(), buf.data(), want);
    if (r < 0) {
      return zip.source->Or(
          Corrupt("member '" + Shown(name) + "' is corrupt: " + zip_file_strerror(f.get())));
    }
    if (r == 0) break;
    produced += static_cast<uint64_t>(r);
    if (produced > declared) {
      while (produced <= bomb_bound) {
        const zip_int64_t more = zip_fread(f.get(), buf.data(), buf.size());
        if (more <= 0) break;  // ended (or broke) within the bound
        produced += static_cast<uint64_t>(more);
      }
      if (produced > bomb_bound)
        return Bomb("member '" + Shown(name) + "' decompresses to more than " +
                    std::to_string(bomb_bound) + " bytes, declaring " + std::to_string(declared));
      return Corrupt("member '" + Shown(name) + "' decompresses to more than its declared " +
                     std::to_string(declared) + " bytes");
    }
    AIFS_RETURN_IF_ERROR(sink(ByteSpan(buf.data(), static_cast<size_t>(r))));
  }
  if (produced != declared) {
    return Corrupt("member '" + Shown(name) + "' is truncated: " + std::to_string(produced) +
                   " of " + std::to_string(declared) + " bytes");
  }
  return Status::Ok();
}

// The checked structure of an archive.
struct Checked {
  ZipArchive zip;
  std::vector<RawEntry> entries;
  std::unordered_map<std::string, size_t> files;  // path -> entry index (no dirs, no manifest)
  std::optional<size_t> manifest;                 // entry index of MANIFEST.json
};

Result<Checked> CheckStructure(RandomAccessReader& zip, const ArtifactLimits& limits) {
  Checked ck;
  AIFS_ASSIGN_OR_RETURN(ck.entries, WalkCentralDirectory(zip, limits));
  // (folded path with '/' mapped to '\x01', is directory entry), for the
  // duplicate and file-versus-directory checks below.
  std::vector<std::pair<std::string, bool>> folded;
  folded.reserve(ck.entries.size());
  uint64_t total = 0;
  uint64_t deflated_in = 0, deflated_out = 0;  // compressed and declared sizes
  for (size_t i = 0; i < ck.entries.size(); ++i) {
    const RawEntry& r = ck.entries[i];
    const bool is_dir = !r.name.empty() && r.name.back() == '/';
    const std::string_view path =
        is_dir ? std::string_view(r.name).substr(0, r.name.size() - 1) : std::string_view(r.name);
    AIFS_RETURN_IF_ERROR(CheckPath(path));
    // Flag bits: 0 encrypted, 6 strong encryption, 13 encrypted central directory.
    if (r.flags & (0x0001 | 0x0040 | 0x2000)) {
      return err::InvalidArgument("ARTIFACT_ENCRYPTED", "member '" + r.name + "' is encrypted");
    }
    const uint32_t mode = r.ext_attr >> 16;
    const uint32_t type = mode & S_IFMT;
    if (type == S_IFLNK) {
      return err::InvalidArgument("ARTIFACT_SYMLINK", "member '" + r.name + "' is a symbolic link");
    }
    if (!(type == 0 || (type == S_IFREG && !is_dir) || (type == S_IFDIR && is_dir)) ||
        (is_dir && r.size != 0)) {
      return err::InvalidArgument("ARTIFACT_SPECIAL_FILE",
                                  "member '" + r.name + "' is not a regular file or directory");
    }
    if (r.method != ZIP_CM_STORE && r.method != ZIP_CM_DEFLATE) {
      return err::InvalidArgument("ARTIFACT_UNSUPPORTED_COMPRESSION",
                                  "member '" + r.name + "' uses compression method " +
                                      std::to_string(r.method) + " (only store and deflate)");
    }
    if (r.size > limits.max_member_uncompressed) {
      return Bomb("member '" + r.name + "' declares " + std::to_string(r.size) + " bytes");
    }
    if (r.size > limits.ratio_min_size && r.size / std::max<uint64_t>(limits.max_ratio, 1) > r.comp_size) {
      return Bomb("member '" + r.name + "' expands " + std::to_string(r.comp_size) + " -> " +
                  std::to_string(r.size) + " bytes, more than " + std::to_string(limits.max_ratio) +
                  ":1");
    }
    if (r.method == ZIP_CM_DEFLATE) {
      // The inflation budget of the whole archive: members under
      // ratio_min_size skip the per-member ratio check, so without it a
      // thousand 1 MiB members of zeros (about 1 KiB each deflated) would
      // make us inflate a gigabyte from a megabyte.
      deflated_in += r.comp_size;
      deflated_out += r.size;
      const uint64_t ratio = std::max<uint64_t>(limits.max_ratio, 1);
      if (deflated_out > limits.ratio_min_size && deflated_out / ratio > deflated_in) {
        return Bomb("deflated members expand " + std::to_string(deflated_in) + " -> " +
                    std::to_string(deflated_out) + " bytes in total (up to member '" + r.name +
                    "'), more than the archive's inflation budget of " +
                    std::to_string(limits.max_ratio) + ":1");
      }
    }
    total += r.size;
    if (total > limits.max_total_uncompressed) {
      return Bomb("members declare more than " + std::to_string(limits.max_total_uncompressed) +
                  " bytes in total");
    }
    std::string f = FoldCase(path);
    std::replace(f.begin(), f.end(), '/', '\x01');
    folded.emplace_back(std::move(f), is_dir);
    if (!is_dir) {
      if (r.name == kArtifactManifestName) {
        ck.manifest = i;
      } else {
        ck.files.emplace(r.name, i);
      }
    }
  }
  // Names equal after ASCII case folding collide on case-insensitive file
  // systems (directory entries included: libzip refuses any repeated name),
  // and a file may not also be a directory. With '/' mapped below
  // every character a path may hold, everything under directory `p` sorts
  // right after `p` itself, so comparing neighbours finds every conflict in
  // O(n log n) (no per-prefix sets, which deep paths would make quadratic).
  std::sort(folded.begin(), folded.end());
  for (size_t i = 1; i < folded.size(); ++i) {
    const auto& [a, a_dir] = folded[i - 1];
    const auto& [b, b_dir] = folded[i];
    const bool same = a == b;
    const bool under = b.size() > a.size() && b[a.size()] == '\x01' && b.compare(0, a.size(), a) == 0;
    if (same || (under && !a_dir)) {
      std::string shown = b;
      std::replace(shown.begin(), shown.end(), '\x01', '/');
      return err::InvalidArgument("ARTIFACT_DUPLICATE_NAME",
                                  same ? "'" + shown + "' appears twice (names compare case-insensitively)"
                                       : "'" + shown + "' is inside a path that is also a file");
    }
  }
  if (!ck.manifest) {
    return err::InvalidArgument("ARTIFACT_NO_MANIFEST", "no MANIFEST.json at the archive root");
  }
  // Only now (the raw records are sane) libzip opens the archive; it must see
  // the same members (names without NUL bytes are reported as they are).
  AIFS_ASSIGN_OR_RETURN(ck.zip, OpenZip(zip));
  const zip_int64_t n = zip_get_num_entries(ck.zip.za.get(), 0);
  if (n < 0 || static_cast<uint64_t>(n) != ck.entries.size()) {
    return NotZip("libzip and the central directory disagree about the member count");
  }
  for (size_t i = 0; i < ck.entries.size(); ++i) {
    const RawEntry& r = ck.entries[i];
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(ck.zip.za.get(), i, ZIP_FL_ENC_RAW, &st) != 0 || st.name == nullptr ||
        r.name != st.name || !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE) ||
        st.size != r.size || st.comp_size != r.comp_size ||
        ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)) {
      return NotZip("libzip and the central directory disagree about member " + std::to_string(i));
    }
  }
  return ck;
}

Result<ArtifactManifest> ReadManifestMember(const ZipArchive& zip, const RawEntry& r, size_t index,
                                            const ArtifactLimits& limits) {
  if (r.size > limits.max_manifest_bytes) {
    return BadManifest("MANIFEST.json is " + std::to_string(r.size) + " bytes, limit " +
                       std::to_string(limits.max_manifest_bytes));
  }
  std::string text;
  text.reserve(std::min<uint64_t>(r.size, uint64_t{1} << 20));  // the declared size may lie
  AIFS_RETURN_IF_ERROR(
      ReadMember(zip, index, r.name, r.size, InflationBound(r, limits), [&](ByteSpan b) {
        text.append(AsChars(b));
        return Status::Ok();
      }));
  return ParseManifest(text);
}

Result<Checked> CheckAll(RandomAccessReader& zip, const ArtifactLimits& limits,
                         ArtifactManifest& manifest) {
  AIFS_ASSIGN_OR_RETURN(Checked ck, CheckStructure(zip, limits));
  const RawEntry& mr = ck.entries[*ck.manifest];
  AIFS_ASSIGN_OR_RETURN(manifest, ReadManifestMember(ck.zip, mr, *ck.manifest, limits));
  // The manifest and the members list the same files with the same sizes.
  for (const ArtifactFile& f : manifest.files) {
    auto it = ck.files.find(f.path);
    if (it == ck.files.end()) return Mismatch("'" + f.path + "' is in the manifest but not in the archive");
    if (ck.entries[it->second].size != f.size) {
      return Mismatch("'" + f.path + "' is " + std::to_string(ck.entries[it->second].size) +
                      " bytes, the manifest says " + std::to_string(f.size));
    }
  }
  if (ck.files.size() != manifest.files.size()) {
    std::unordered_set<std::string_view> listed;
    for (const ArtifactFile& f : manifest.files) listed.insert(f.path);
    for (const auto& [path, idx] : ck.files) {
      if (!listed.count(path)) return Mismatch("'" + path + "' is in the archive but not in the manifest");
    }
  }
  // Every member decompressed and hashed (bounded memory: one I/O buffer).
  for (const ArtifactFile& f : manifest.files) {
    const size_t idx = ck.files.at(f.path);
    Blake3 h;
    AIFS_RETURN_IF_ERROR(ReadMember(ck.zip, idx, f.path, f.size,
                                    InflationBound(ck.entries[idx], limits), [&](ByteSpan b) {
                                      h.Update(b);
                                      return Status::Ok();
                                    }));
    if (h.Finalize() != f.blake3) return Mismatch("BLAKE3 of '" + f.path + "' differs from the manifest");
  }
  return ck;
}

// ---------------------------------------------------------------------------
// Manifest JSON.

// Duplicate keys and nesting are checked while parsing (nlohmann keeps the
// last of duplicate keys silently; the schema nests at most 3 deep).
class ManifestParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool IsUnsigned(const json& j) { return j.is_number_unsigned(); }

Status CheckKeys(const json& obj, std::initializer_list<std::string_view> allowed, std::string_view what) {
  for (const auto& [k, v] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      return BadManifest("unknown key '" + k + "' in " + std::string(what));
    }
  }
  return Status::Ok();
}

}  // namespace

std::string MediaTypeForPath(std::string_view path) {
  static const std::unordered_map<std::string_view, std::string_view> kTypes = {
      {"json", "application/json"},
      {"jsonl", "application/jsonl"},
      {"txt", "text/plain"},
      {"md", "text/markdown"},
      {"py", "text/x-python"},
      {"yaml", "application/yaml"},
      {"yml", "application/yaml"},
      {"toml", "application/toml"},
      {"csv", "text/csv"},
      {"tsv", "text/tab-separated-values"},
      {"xml", "application/xml"},
      {"html", "text/html"},
      {"sh", "text/x-shellscript"},
      {"cfg", "text/plain"},
      {"ini", "text/plain"},
      {"safetensors", "application/octet-stream"},
      {"bin", "application/octet-stream"},
      {"pt", "application/octet-stream"},
      {"pth", "application/octet-stream"},
      {"ckpt", "application/octet-stream"},
      {"gguf", "application/octet-stream"},
      {"model", "application/octet-stream"},
      {"npy", "application/x-npy"},
      {"npz", "application/zip"},
      {"onnx", "application/x-onnx"},
      {"parquet", "application/vnd.apache.parquet"},
      {"arrow", "application/vnd.apache.arrow.file"},
      {"h5", "application/x-hdf5"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gz", "application/gzip"},
      {"zst", "application/zstd"},
      {"tar", "application/x-tar"},
      {"pdf", "application/pdf"},
  };
  const size_t slash = path.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = base.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "application/octet-stream";
  const std::string ext = FoldCase(base.substr(dot + 1));
  auto it = kTypes.find(ext);
  return std::string(it == kTypes.end() ? "application/octet-stream" : it->second);
}

bool IsCompressibleMediaType(std::string_view t) {
  return t.starts_with("text/") || t == "application/json" || t == "application/jsonl" ||
         t == "application/yaml" || t == "application/toml" || t == "application/xml";
}

std::string SerializeManifest(const ArtifactManifest& m) {
  json files = json::array();
  for (const ArtifactFile& f : m.files) {
    files.push_back({{"path", f.path},
                     {"size", f.size},
                     {"media_type", f.media_type},
                     {"blake3", HexEncode(f.blake3)}});
  }
  json deps = json::array();
  for (const ArtifactDependency& d : m.dependencies) {
    json j = {{"name", d.name}};
    if (d.asset) j["asset"] = d.asset->ToHex();
    if (d.uri) j["uri"] = *d.uri;
    deps.push_back(std::move(j));
  }
  json meta = json::object();
  for (const auto& [k, v] : m.metadata) meta[k] = v;
  json root = {{"format", m.format}, {"files", std::move(files)}, {"dependencies", std::move(deps)},
               {"metadata", std::move(meta)}};
  // Keys come out sorted (std::map); UTF-8 is written as is. PackDirectory
  // checks every string is UTF-8 first; `replace` only keeps this total.
  return root.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<ArtifactManifest> ParseManifest(std::string_view text) {
  json root;
  try {
    std::vector<std::set<std::string>> keys;  // one set per open object
    json::parser_callback_t cb = [&keys](int depth, json::parse_event_t ev, json& parsed) {
      if (depth > 4) throw ManifestParseError("nested deeper than the schema allows");
      switch (ev) {
        case json::parse_event_t::object_start: keys.emplace_back(); break;
        case json::parse_event_t::object_end:
          if (!keys.empty()) keys.pop_back();
          break;
        case json::parse_event_t::key:
          if (keys.empty() || !keys.back().insert(parsed.get<std::string>()).second) {
            throw ManifestParseError("duplicate key '" + parsed.get<std::string>() + "'");
          }
          break;
        default: break;
      }
      return true;
    };
    root = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const ManifestParseError& e) {
    return BadManifest(std::string("MANIFEST.json: ") + e.what());
  } catch (const json::exception& e) {
    return BadManifest(std::string("MANIFEST.json is not valid JSON: ") + e.what());
  }
  if (!root.is_object()) return BadManifest("MANIFEST.json is not a JSON object");
  AIFS_RETURN_IF_ERROR(CheckKeys(root, {"format", "files", "dependencies", "metadata"}, "the manifest"));
  ArtifactManifest m;
  auto fmt = root.find("format");
  if (fmt == root.end() || !fmt->is_string() || fmt->get<std::string>() != kArtifactFormat) {
    return BadManifest("\"format\" must be \"" + std::string(kArtifactFormat) + "\"");
  }
  auto files = root.find("files");
  if (files == root.end() || !files->is_array()) return BadManifest("\"files\" must be an array");
  m.files.reserve(files->size());
  for (const json& f : *files) {
    if (!f.is_object()) return BadManifest("a \"files\" entry is not an object");
    AIFS_RETURN_IF_ERROR(CheckKeys(f, {"path", "size", "media_type", "blake3"}, "a file entry"));
    auto p = f.find("path"), s = f.find("size"), t = f.find("media_type"), b = f.find("blake3");
    if (p == f.end() || s == f.end() || t == f.end() || b == f.end()) {
      return BadManifest("a file entry lacks path, size, media_type or blake3");
    }
    if (!p->is_string() || !IsUnsigned(*s) || !t->is_string() || !b->is_string()) {
      return BadManifest("a file entry has a field of the wrong type");
    }
    ArtifactFile af;
    af.path = p->get<std::string>();
    if (Status st = CheckPath(af.path); !st.ok()) return BadManifest("file " + st.message());
    if (af.path == kArtifactManifestName) return BadManifest("MANIFEST.json lists itself");
    if (!m.files.empty() && !(m.files.back().path < af.path)) {
      return BadManifest("files are not sorted by path, or a path repeats: '" + af.path + "'");
    }
    af.size = s->get<uint64_t>();
    af.media_type = t->get<std::string>();
    if (af.media_type.empty() || af.media_type.size() > 255 ||
        af.media_type.find_first_of(std::string("\0\r\n", 3)) != std::string::npos) {
      return BadManifest("bad media_type for '" + af.path + "'");
    }
    const std::string hex = b->get<std::string>();
    auto digest = HexDecode(hex);
    if (!digest || digest->size() != 32) {
      return BadManifest("blake3 of '" + af.path + "' is not 64 lowercase hex digits");
    }
    std::copy(digest->begin(), digest->end(), af.blake3.begin());
    m.files.push_back(std::move(af));
  }
  if (auto deps = root.find("dependencies"); deps != root.end()) {
    if (!deps->is_array()) return BadManifest("\"dependencies\" must be an array");
    std::set<std::string> names;
    for (const json& d : *deps) {
      if (!d.is_object()) return BadManifest("a dependency is not an object");
      AIFS_RETURN_IF_ERROR(CheckKeys(d, {"name", "asset", "uri"}, "a dependency"));
      auto n = d.find("name"), a = d.find("asset"), u = d.find("uri");
      if (n == d.end() || !n->is_string() || n->get<std::string>().empty()) {
        return BadManifest("a dependency has no name");
      }
      ArtifactDependency dep;
      dep.name = n->get<std::string>();
      if (!names.insert(dep.name).second) return BadManifest("dependency '" + dep.name + "' repeats");
      if ((a == d.end()) == (u == d.end())) {
        return BadManifest("dependency '" + dep.name + "' needs exactly one of asset and uri");
      }
      if (a != d.end()) {
        if (!a->is_string()) return BadManifest("asset of dependency '" + dep.name + "' is not a string");
        auto id = AssetId::Parse(a->get<std::string>());
        if (!id.ok()) return BadManifest("asset of dependency '" + dep.name + "' is not an AssetID");
        dep.asset = *id;
      } else {
        if (!u->is_string() || u->get<std::string>().empty()) {
          return BadManifest("uri of dependency '" + dep.name + "' is not a non-empty string");
        }
        dep.uri = u->get<std::string>();
      }
      m.dependencies.push_back(std::move(dep));
    }
  }
  if (auto meta = root.find("metadata"); meta != root.end()) {
    if (!meta->is_object()) return BadManifest("\"metadata\" must be an object");
    for (const auto& [k, v] : meta->items()) {
      if (!v.is_string()) return BadManifest("metadata value of '" + k + "' is not a string");
      m.metadata.emplace(k, v.get<std::string>());
    }
  }
  return m;
}

// ---------------------------------------------------------------------------

Result<ArtifactManifest> ValidateArtifact(RandomAccessReader& zip, const ArtifactLimits& limits) {
  ArtifactManifest m;
  AIFS_ASSIGN_OR_RETURN(Checked ck, CheckAll(zip, limits, m));
  (void)ck;
  return m;
}

Result<ArtifactManifest> ValidateArtifact(ByteSpan zip, const ArtifactLimits& limits) {
  SpanReader in(zip);
  return ValidateArtifact(in, limits);
}

Result<ArtifactManifest> ReadManifest(ByteSpan bytes) {
  ArtifactLimits limits;
  SpanReader zip(bytes);
  AIFS_ASSIGN_OR_RETURN(std::vector<RawEntry> entries, WalkCentralDirectory(zip, limits));
  std::optional<size_t> idx;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].name == kArtifactManifestName) {
      if (idx) return err::InvalidArgument("ARTIFACT_DUPLICATE_NAME", "MANIFEST.json appears twice");
      idx = i;
    }
  }
  if (!idx) return err::InvalidArgument("ARTIFACT_NO_MANIFEST", "no MANIFEST.json at the archive root");
  const RawEntry& r = entries[*idx];
  if (r.flags & 0x0001) return err::InvalidArgument("ARTIFACT_ENCRYPTED", "MANIFEST.json is encrypted");
  if (r.method != ZIP_CM_STORE && r.method != ZIP_CM_DEFLATE) {
    return err::InvalidArgument("ARTIFACT_UNSUPPORTED_COMPRESSION", "MANIFEST.json compression method");
  }
  AIFS_ASSIGN_OR_RETURN(ZipArchive archive, OpenZip(zip));
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(archive.za.get(), *idx, ZIP_FL_ENC_RAW, &st) != 0 || st.name == nullptr ||
      r.name != st.name || st.size != r.size) {
    return NotZip("libzip and the central directory disagree about MANIFEST.json");
  }
  return ReadManifestMember(archive, r, *idx, limits);
}

// ---------------------------------------------------------------------------
// Packing.

namespace {

struct FdCloser {
  int fd = -1;
  explicit FdCloser(int f) : fd(f) {}
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
};

struct PackEntry {
  std::string path;
  uint64_t size = 0;
};

Status Walk(int dirfd, const std::string& prefix, int depth, std::vector<PackEntry>& out) {
  if (depth > 128) return Traversal(prefix, "directory nesting deeper than 128");
  const int dup_fd = ::dup(dirfd);
  if (dup_fd < 0) return err::FromErrno(errno, "dup");
  DIR* dir = ::fdopendir(dup_fd);
  if (dir == nullptr) {
    const int e = errno;
    ::close(dup_fd);
    return err::FromErrno(e, "opendir " + prefix);
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* de = ::readdir(dir)) {
    std::string name = de->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
    errno = 0;
  }
  const int read_errno = errno;
  ::closedir(dir);
  if (read_errno != 0) return err::FromErrno(read_errno, "readdir " + prefix);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string rel = prefix.empty() ? name : prefix + "/" + name;
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return err::FromErrno(errno, "stat " + rel);
    }
    if (S_ISLNK(st.st_mode)) {
      return err::InvalidArgument("ARTIFACT_SYMLINK", "'" + rel + "' is a symbolic link");
    }
    if (S_ISDIR(st.st_mode)) {
      AIFS_RETURN_IF_ERROR(CheckPath(rel));
      FdCloser sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub.fd < 0) return err::FromErrno(errno, "open " + rel);
      AIFS_RETURN_IF_ERROR(Walk(sub.fd, rel, depth + 1, out));
    } else if (S_ISREG(st.st_mode)) {
      AIFS_RETURN_IF_ERROR(CheckPath(rel));
      if (rel == kArtifactManifestName) {
        return err::InvalidArgument("ARTIFACT_RESERVED_NAME",
                                    "MANIFEST.json at the directory root is reserved for the manifest");
      }
      out.push_back({rel, static_cast<uint64_t>(st.st_size)});
    } else {
      return err::InvalidArgument("ARTIFACT_SPECIAL_FILE",
                                  "'" + rel + "' is not a regular file or directory");
    }
  }
  return Status::Ok();
}

Status HashFile(const std::string& full, ArtifactFile& f) {
  FdCloser fd(::open(full.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.fd < 0) return err::FromErrno(errno, "open " + full);
  Blake3 h;
  std::vector<uint8_t> buf(size_t{1} << 20);
  uint64_t total = 0;
  while (true) {
    const ssize_t r = ::read(fd.fd, buf.data(), buf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      return err::FromErrno(errno, "read " + full);
    }
    if (r == 0) break;
    h.Update(ByteSpan(buf.data(), static_cast<size_t>(r)));
    total += static_cast<uint64_t>(r);
  }
  f.size = total;
  f.blake3 = h.Finalize();
  return Status::Ok();
}

Status ZipError(zip_t* za, std::string_view what) {
  return err::Internal("ARTIFACT_PACK_FAILED", std::string(what) + ": " + zip_strerror(za));
}

Status SetEntryAttributes(zip_t* za, zip_uint64_t idx, bool deflate) {
  if (zip_set_file_compression(za, idx, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0 ||
      zip_file_set_dostime(za, idx, kDosTime, kDosDate, 0) != 0 ||
      zip_file_set_external_attributes(za, idx, 0, ZIP_OPSYS_UNIX, (S_IFREG | 0644u) << 16) != 0) {
    return ZipError(za, "setting member attributes");
  }
  return Status::Ok();
}

}  // namespace

Status PackDirectory(const std::string& dir, const ArtifactOptions& opts, Bytes& out) {
  std::vector<PackEntry> entries;
  {
    FdCloser root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (root.fd < 0) return err::FromErrno(errno, "open directory " + dir);
    AIFS_RETURN_IF_ERROR(Walk(root.fd, "", 0, entries));
  }
  std::sort(entries.begin(), entries.end(),
            [](const PackEntry& a, const PackEntry& b) { return a.path < b.path; });
  if (entries.size() + 1 > opts.limits.max_members) {
    return Bomb(std::to_string(entries.size()) + " files exceed the member limit");
  }
  {
    std::set<std::string> folded;
    for (const PackEntry& e : entries) {
      if (!folded.insert(FoldCase(e.path)).second) {
        return err::InvalidArgument("ARTIFACT_DUPLICATE_NAME",
                                    "'" + e.path + "' differs from another path only in case");
      }
    }
  }
  {
    std::set<std::string> names;
    for (const ArtifactDependency& d : opts.dependencies) {
      if (d.name.empty() || d.asset.has_value() == d.uri.has_value() || (d.uri && d.uri->empty()) ||
          !names.insert(d.name).second) {
        return BadManifest("dependency '" + d.name +
                           "': needs a unique non-empty name and exactly one of asset and uri");
      }
      if (!ValidUtf8(d.name) || (d.uri && !ValidUtf8(*d.uri))) {
        return BadManifest("dependency names and URIs must be UTF-8");
      }
    }
    for (const auto& [k, v] : opts.metadata) {
      if (!ValidUtf8(k) || !ValidUtf8(v)) return BadManifest("metadata must be UTF-8");
    }
  }

  ArtifactManifest m;
  m.dependencies = opts.dependencies;
  m.metadata = opts.metadata;
  m.files.reserve(entries.size());
  for (const PackEntry& e : entries) {
    ArtifactFile f;
    f.path = e.path;
    f.media_type = MediaTypeForPath(e.path);
    AIFS_RETURN_IF_ERROR(HashFile(dir + "/" + e.path, f));
    m.files.push_back(std::move(f));
  }
  const std::string manifest = SerializeManifest(m);

  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* sink = zip_source_buffer_create(nullptr, 0, 0, &ze);
  if (sink == nullptr) {
    zip_error_fini(&ze);
    return err::Internal("ARTIFACT_PACK_FAILED", "libzip buffer");
  }
  zip_t* za = zip_open_from_source(sink, ZIP_TRUNCATE, &ze);
  if (za == nullptr) {
    std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    zip_source_free(sink);
    return err::Internal("ARTIFACT_PACK_FAILED", "libzip open: " + msg);
  }
  zip_error_fini(&ze);
  zip_source_keep(sink);  // survives zip_close, which writes the archive into it
  auto fail = [&](Status st) {
    zip_discard(za);
    zip_source_free(sink);
    return st;
  };

  // MANIFEST.json first, then the files in path order.
  zip_source_t* ms = zip_source_buffer(za, manifest.data(), manifest.size(), 0);
  if (ms == nullptr) return fail(ZipError(za, "manifest source"));
  zip_int64_t idx = zip_file_add(za, kArtifactManifestName, ms, ZIP_FL_ENC_UTF_8);
  if (idx < 0) {
    zip_source_free(ms);
    return fail(ZipError(za, "adding MANIFEST.json"));
  }
  if (Status st = SetEntryAttributes(za, static_cast<zip_uint64_t>(idx), true); !st.ok()) return fail(st);
  for (const ArtifactFile& f : m.files) {
    const std::string full = dir + "/" + f.path;
    zip_source_t* fs = zip_source_file(za, full.c_str(), 0, static_cast<zip_int64_t>(f.size));
    if (fs == nullptr) return fail(ZipError(za, "source for " + f.path));
    idx = zip_file_add(za, f.path.c_str(), fs, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
      zip_source_free(fs);
      return fail(ZipError(za, "adding " + f.path));
    }
    const bool deflate = IsCompressibleMediaType(f.media_type) && f.size <= kDeflateMaxSize;
    if (Status st = SetEntryAttributes(za, static_cast<zip_uint64_t>(idx), deflate); !st.ok()) {
      return fail(st);
    }
  }
  if (zip_close(za) != 0) return fail(ZipError(za, "writing the archive"));

  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_source_stat(sink, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || zip_source_open(sink) != 0) {
    zip_source_free(sink);
    return err::Internal("ARTIFACT_PACK_FAILED", "reading back the archive");
  }
  Bytes result(st.size);
  zip_int64_t got = st.size == 0 ? 0 : zip_source_read(sink, result.data(), st.size);
  zip_source_close(sink);
  zip_source_free(sink);
  if (got < 0 || static_cast<uint64_t>(got) != st.size) {
    return err::Internal("ARTIFACT_PACK_FAILED", "reading back the archive");
  }

  // What was packed must validate; files changing under us show up here.
  Result<ArtifactManifest> check = ValidateArtifact(result, opts.limits);
  if (!check.ok()) {
    if (check.status().reason() == "ARTIFACT_MANIFEST_MISMATCH") {
      return err::Aborted("ARTIFACT_SOURCE_CHANGED",
                          "a file changed while packing: " + check.status().message());
    }
    return check.status().WithContext("packed artifact does not validate");
  }
  out = std::move(result);
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Extraction.

namespace {

class Extractor {
 public:
  ~Extractor() {
    for (auto& [path, fd] : dirs_) ::close(fd);
  }

  Status Open(const std::string& target) {
    if (::mkdir(target.c_str(), 0755) == 0) {
      created_root_ = target;
    } else if (errno != EEXIST) {
      return err::FromErrno(errno, "mkdir " + target);
    }
    const int fd = ::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return err::FromErrno(errno, "open " + target);
    dirs_[""] = fd;
    return Status::Ok();
  }

  // The fd of directory `rel` ("" = target), creating missing components.
  // A component that is a symlink (or not a directory) fails: O_NOFOLLOW.
  Result<int> Dir(const std::string& rel) {
    auto it = dirs_.find(rel);
    if (it != dirs_.end()) return it->second;
    const size_t slash = rel.rfind('/');
    const std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash);
    const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
    AIFS_ASSIGN_OR_RETURN(int pfd, Dir(parent));
    if (::mkdirat(pfd, name.c_str(), 0755) == 0) {
      created_dirs_.push_back({pfd, name});
    } else if (errno != EEXIST) {
      return err::FromErrno(errno, "mkdir " + rel);
    }
    const int fd = ::openat(pfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR) {
        return err::FailedPrecondition("ARTIFACT_UNSAFE_TARGET",
                                       "'" + rel + "' in the target is not a plain directory");
      }
      return err::FromErrno(errno, "open " + rel);
    }
    dirs_[rel] = fd;
    return fd;
  }

  Status WriteFile(const ZipArchive& zip, zip_uint64_t index, const ArtifactFile& f,
                   uint64_t bomb_bound) {
    const size_t slash = f.path.rfind('/');
    const std::string parent = slash == std::string::npos ? "" : f.path.substr(0, slash);
    const std::string name = slash == std::string::npos ? f.path : f.path.substr(slash + 1);
    AIFS_ASSIGN_OR_RETURN(int pfd, Dir(parent));
    FdCloser fd(::openat(pfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (fd.fd < 0) {
      if (errno == EEXIST) {
        return err::AlreadyExists("ARTIFACT_TARGET_EXISTS", "'" + f.path + "' already exists in the target");
      }
      return err::FromErrno(errno, "create " + f.path);
    }
    created_files_.push_back({pfd, name});
    Blake3 h;
    AIFS_RETURN_IF_ERROR(ReadMember(zip, index, f.path, f.size, bomb_bound, [&](ByteSpan b) {
      h.Update(b);
      return WriteAll(fd.fd, b, f.path);
    }));
    if (h.Finalize() != f.blake3) return Mismatch("BLAKE3 of '" + f.path + "' differs from the manifest");
    return Status::Ok();
  }

  void Rollback() {
    for (auto it = created_files_.rbegin(); it != created_files_.rend(); ++it) {
      ::unlinkat(it->first, it->second.c_str(), 0);
    }
    for (auto it = created_dirs_.rbegin(); it != created_dirs_.rend(); ++it) {
      ::unlinkat(it->first, it->second.c_str(), AT_REMOVEDIR);
    }
    if (!created_root_.empty()) ::rmdir(created_root_.c_str());
  }

 private:
  std::unordered_map<std::string, int> dirs_;
  std::vector<std::pair<int, std::string>> created_files_;
  std::vector<std::pair<int, std::string>> created_dirs_;
  std::string created_root_;
};

}  // namespace

Status ExtractArtifact(ByteSpan bytes, const std::string& target_dir) {
  ArtifactManifest m;
  SpanReader zip(bytes);
  const ArtifactLimits limits;
  AIFS_ASSIGN_OR_RETURN(Checked ck, CheckAll(zip, limits, m));
  Extractor x;
  AIFS_RETURN_IF_ERROR(x.Open(target_dir));
  for (const ArtifactFile& f : m.files) {
    const size_t idx = ck.files.at(f.path);
    Status st = x.WriteFile(ck.zip, idx, f, InflationBound(ck.entries[idx], limits));
    if (!st.ok()) {
      x.Rollback();
      return st;
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------

namespace {
class ArtifactValidator : public KindValidator {
 public:
  ArtifactValidator(uint64_t max_bytes, const ArtifactBuffering& buffering)
      : max_bytes_(max_bytes), buf_(buffering.spill_dir, buffering.max_memory) {}
  Status Update(ByteSpan data) override {
    if (data.size() > max_bytes_ - buf_.size()) {
      return err::ResourceExhausted("ARTIFACT_TOO_LARGE",
                                    "artifact exceeds the limit of " + std::to_string(max_bytes_) + " bytes");
    }
    return buf_.Append(data);
  }
  Status Finish() override {
    Status st = ValidateArtifact(buf_).status();
    buf_.Release();
    return st;
  }

 private:
  uint64_t max_bytes_;
  SpillBuffer buf_;
};
}  // namespace

std::unique_ptr<KindValidator> NewArtifactValidator(uint64_t max_bytes,
                                                    const ArtifactBuffering& buffering) {
  return std::make_unique<ArtifactValidator>(max_bytes, buffering);
}

}  // namespace aifs
