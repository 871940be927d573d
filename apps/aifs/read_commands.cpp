#include "read_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "aifs/core/file_util.h"
#include "progress.h"

namespace aifs::cli {

namespace {

// Output through a buffer: many small ranges become few write()s.
class BufferedOut {
 public:
  explicit BufferedOut(int fd) : fd_(fd) { buf_.reserve(kSize); }
  Status Write(ByteSpan b) {
    if (buf_.size() + b.size() > kSize) AIFS_RETURN_IF_ERROR(Flush());
    if (b.size() >= kSize) return WriteAll(fd_, b, "write output");
    buf_.insert(buf_.end(), b.begin(), b.end());
    return Status::Ok();
  }
  Status Flush() {
    Status st = WriteAll(fd_, buf_, "write output");
    buf_.clear();
    return st;
  }

 private:
  static constexpr size_t kSize = 1 << 20;
  int fd_;
  Bytes buf_;
};

// One range of the list, as written on line `line`.
struct ListedRange {
  AssetId id;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// "ID OFFSET LENGTH" (any blanks between); ID may be an aifs:// URI of `ns`.
Result<ListedRange> ParseRangeLine(std::string_view text, size_t line, const std::string& ns) {
  auto bad = [&](const std::string& why) {
    return err::InvalidArgument("BAD_RANGE_LINE", "line " + std::to_string(line) + ": " + why);
  };
  std::vector<std::string_view> words;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = text.find_first_not_of(" \t\r", pos);
    if (start == std::string_view::npos) break;
    const size_t end = std::min(text.find_first_of(" \t\r", start), text.size());
    words.push_back(text.substr(start, end - start));
    pos = end;
  }
  if (words.size() != 3) return bad("expected 'ID OFFSET LENGTH', got '" + std::string(text) + "'");
  auto number = [](std::string_view s, uint64_t& v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
  };
  ListedRange r;
  if (!number(words[1], r.offset) || !number(words[2], r.length))
    return bad("OFFSET and LENGTH are decimal byte counts, got '" + std::string(text) + "'");
  auto uri = ResolveRef(std::string(words[0]), ns);
  if (!uri.ok())
    return Status(uri.status().code(), uri.status().reason(),
                  "line " + std::to_string(line) + ": " + uri.status().message());
  r.id = uri->id;
  return r;
}

// Gathers listed ranges into batches within the Api's limits, reads each
// batch into `out`, and keeps the index: every listed range's place in the
// output. A range longer than kMaxBatchBytes is cut to its asset first and
// read in several pieces.
class RangeBatcher {
 public:
  RangeBatcher(Api& api, std::string ns, std::string as_of, BufferedOut& out, std::ostream* index)
      : api_(api), ns_(std::move(ns)), as_of_(std::move(as_of)), out_(out), index_(index) {}

  Status Add(const ListedRange& r, size_t line) {
    const Owner owner{line, entries_++, r.length};
    if (r.length <= kMaxBatchBytes) return Push(RangeRead{r.id, r.offset, r.length}, owner);
    AIFS_ASSIGN_OR_RETURN(AssetInfo info, api_.StatAssetAt(ns_, r.id, as_of_, false));
    // An offset beyond the end goes to the reader as it is, to be refused.
    if (r.offset > info.size) return Push(RangeRead{r.id, r.offset, 0}, owner);
    const uint64_t end = r.offset + std::min(r.length, info.size - r.offset);
    uint64_t at = r.offset;
    do {
      const uint64_t n = std::min(kMaxBatchBytes, end - at);
      AIFS_RETURN_IF_ERROR(Push(RangeRead{r.id, at, n}, owner));
      at += n;
    } while (at < end);
    return Status::Ok();
  }

  Status Finish() {
    AIFS_RETURN_IF_ERROR(Read());
    if (open_) AIFS_RETURN_IF_ERROR(CloseEntry());
    return out_.Flush();
  }

  // Listed ranges that got fewer bytes than they asked for.
  size_t short_ranges() const { return short_; }

 private:
  // The listed range a batch range belongs to.
  struct Owner {
    size_t line;
    size_t entry;    // position in the list, blank lines aside
    uint64_t asked;  // its requested length
  };

  Status Push(const RangeRead& r, const Owner& owner) {
    if (batch_.size() == kMaxBatchRanges || bytes_ + r.length > kMaxBatchBytes)
      AIFS_RETURN_IF_ERROR(Read());
    batch_.push_back(r);
    owners_.push_back(owner);
    bytes_ += r.length;
    return Status::Ok();
  }

  Status Read() {
    if (batch_.empty()) return Status::Ok();
    std::vector<uint64_t> got(batch_.size(), 0);
    Status st = api_.ReadRangesAt(ns_, as_of_, batch_, [&](size_t i, ByteSpan b) {
      got[i] += b.size();
      return out_.Write(b);
    });
    if (!st.ok()) return NameTheLine(st);
    for (size_t i = 0; i < batch_.size(); ++i) {
      if (open_ && owners_[i].entry != entry_.entry) AIFS_RETURN_IF_ERROR(CloseEntry());
      if (!open_) {
        open_ = true;
        entry_ = owners_[i];
        entry_bytes_ = 0;
      }
      entry_bytes_ += got[i];
    }
    batch_.clear();
    owners_.clear();
    bytes_ = 0;
    return Status::Ok();
  }

  // "range N: why" from the reader becomes "line L: why".
  Status NameTheLine(const Status& st) const {
    unsigned long long n = 0;
    int used = 0;
    if (std::sscanf(st.message().c_str(), "range %llu: %n", &n, &used) != 1 || used == 0 ||
        n >= owners_.size())
      return st;
    return Status(st.code(), st.reason(),
                  "line " + std::to_string(owners_[n].line) + ": " + st.message().substr(used));
  }

  Status CloseEntry() {
    open_ = false;
    if (entry_bytes_ < entry_.asked) ++short_;
    if (index_) {
      *index_ << written_ << " " << entry_bytes_ << "\n";
      if (!*index_) return err::FromErrno(errno, "write the index");
    }
    written_ += entry_bytes_;
    return Status::Ok();
  }

  Api& api_;
  const std::string ns_;
  const std::string as_of_;  // "": the live head
  BufferedOut& out_;
  std::ostream* index_;
  std::vector<RangeRead> batch_;
  std::vector<Owner> owners_;  // per batch range
  uint64_t bytes_ = 0;         // requested by the batch
  size_t entries_ = 0;
  bool open_ = false;  // a listed range whose bytes are still being counted
  Owner entry_{};
  uint64_t entry_bytes_ = 0;
  uint64_t written_ = 0;
  size_t short_ = 0;
};

}  // namespace

Result<ReadRange> ParseRange(std::string_view text) {
  auto bad = [&] {
    return err::InvalidArgument("BAD_RANGE",
                                "range '" + std::string(text) + "' is not A-B (inclusive) or A-");
  };
  size_t dash = text.find('-');
  if (dash == std::string_view::npos || dash == 0) return bad();
  auto number = [](std::string_view s, uint64_t& v) {
    if (s.empty() || s.size() > 19) return false;
    v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return true;
  };
  ReadRange r;
  if (!number(text.substr(0, dash), r.offset)) return bad();
  std::string_view last = text.substr(dash + 1);
  if (!last.empty()) {
    uint64_t end = 0;
    if (!number(last, end) || end < r.offset) return bad();
    r.length = end - r.offset + 1;
  }
  return r;
}

Status Get(Api& api, const Output& out, const GetArgs& args) {
  AIFS_ASSIGN_OR_RETURN(AssetUri uri, ResolveAsset(api, args.ref, args.ns, args.as_of));
  ReadRange range;
  if (!args.range.empty()) {
    AIFS_ASSIGN_OR_RETURN(range, ParseRange(args.range));
  }
  AIFS_ASSIGN_OR_RETURN(AssetInfo info, api.StatAssetAt(*uri.ns, uri.id, args.as_of, false));

  const bool to_stdout = args.output.empty() || args.output == "-";
  // A file output is written beside its target and renamed into place only
  // after every byte verified, so a failed read never leaves a wrong file. A
  // device or FIFO (-o /dev/null) cannot be replaced: it is written in place.
  const bool replace = !to_stdout && !IsSpecialFile(args.output);
  const std::string target = replace ? args.output + ".aifs-partial" : args.output;
  int fd = STDOUT_FILENO;
  if (!to_stdout) {
    fd = replace ? ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
                 : ::open(target.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return err::FromErrno(errno, "open " + target);
  }
  uint64_t expect =
      range.offset >= info.size ? 0 : std::min<uint64_t>(range.length, info.size - range.offset);
  Progress progress(out.progress && !to_stdout, "get", expect);
  Status st = api.ReadAssetAt(*uri.ns, uri.id, args.as_of, range, [&](ByteSpan b) {
    progress.Add(b.size());
    return WriteAll(fd, b, "write output");
  });
  if (!to_stdout) {
    if (replace && st.ok() && ::fsync(fd) != 0) st = err::FromErrno(errno, "fsync " + target);
    ::close(fd);
    if (replace && st.ok() && ::rename(target.c_str(), args.output.c_str()) != 0)
      st = err::FromErrno(errno, "rename to " + args.output);
    if (replace && !st.ok()) ::unlink(target.c_str());
  }
  return st;
}

Status ReadRanges(Api& api, const Output& out, const ReadRangesArgs& args) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (args.list != "-") {
    file.open(args.list);
    if (!file) return err::FromErrno(errno, "open " + args.list);
    in = &file;
  }
  std::ofstream index;
  if (!args.index.empty()) {
    index.open(args.index, std::ios::trunc);
    if (!index) return err::FromErrno(errno, "create " + args.index);
  }
  const std::string ns = NsOrDefault(args.ns);
  BufferedOut stdout_buf(STDOUT_FILENO);
  RangeBatcher batcher(api, ns, args.as_of, stdout_buf, args.index.empty() ? nullptr : &index);
  std::string text;
  for (size_t line = 1; std::getline(*in, text); ++line) {
    const size_t first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos || text[first] == '#') continue;  // blank or comment
    AIFS_ASSIGN_OR_RETURN(ListedRange r, ParseRangeLine(text, line, ns));
    AIFS_RETURN_IF_ERROR(batcher.Add(r, line));
  }
  if (in->bad()) return err::FromErrno(errno, "read " + args.list);
  AIFS_RETURN_IF_ERROR(batcher.Finish());
  if (!args.index.empty()) {
    index.close();
    if (!index) return err::FromErrno(errno, "write " + args.index);
  }
  if (batcher.short_ranges() > 0 && !out.quiet)
    std::cerr << "note: " << batcher.short_ranges()
              << " range(s) reached their asset's end and are shorter than asked"
              << (args.index.empty() ? " (--index FILE lists every range's length)" : "") << "\n";
  return Status::Ok();
}

}  // namespace aifs::cli
