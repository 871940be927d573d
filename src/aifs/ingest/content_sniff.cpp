#include "aifs/ingest/content_sniff.h"

#include <cstring>

#include "aifs/core/utf8.h"

namespace aifs {

namespace {

bool StartsWith(ByteSpan b, std::string_view magic, size_t at = 0) {
  return b.size() >= at + magic.size() &&
         std::memcmp(b.data() + at, magic.data(), magic.size()) == 0;
}

uint64_t LittleEndian(ByteSpan b, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{b[at + i]} << (8 * i);
  return v;
}

// WHATWG MIME Sniffing, "binary data byte": 0x00-0x08, 0x0B, 0x0E-0x1A, 0x1C-0x1F.
bool IsBinaryByte(uint8_t c) {
  return c <= 0x08 || c == 0x0b || (c >= 0x0e && c <= 0x1a) || (c >= 0x1c && c <= 0x1f);
}

// Valid UTF-8 with no binary bytes; a character the prefix cut off at its
// end is forgiven when the input goes on.
bool IsText(ByteSpan b, bool truncated) {
  for (uint8_t c : b)
    if (IsBinaryByte(c)) return false;
  std::string_view s = AsChars(b);
  if (ValidUtf8(s)) return true;
  if (!truncated) return false;
  // Drop the last character's start and its continuation bytes (at most 3).
  for (size_t drop = 1; drop <= 3 && drop <= s.size(); ++drop) {
    const auto c = static_cast<unsigned char>(s[s.size() - drop]);
    if ((c & 0xc0) != 0x80) return (c & 0xc0) == 0xc0 && ValidUtf8(s.substr(0, s.size() - drop));
  }
  return false;
}

}  // namespace

std::string SniffContentType(ByteSpan b, bool truncated) {
  if (b.empty() && !truncated) return "application/x-empty";
  if (StartsWith(b, "%PDF-")) return "application/pdf";
  if (StartsWith(b, "\x89PNG\r\n\x1a\n")) return "image/png";
  if (StartsWith(b, "\xff\xd8\xff")) return "image/jpeg";
  if (StartsWith(b, "GIF87a") || StartsWith(b, "GIF89a")) return "image/gif";
  if (StartsWith(b, "RIFF") && StartsWith(b, "WEBPVP", 8)) return "image/webp";
  if (StartsWith(b, "PK\x03\x04") || StartsWith(b, "PK\x05\x06")) return "application/zip";
  if (StartsWith(b, "\x1f\x8b\x08")) return "application/gzip";
  if (StartsWith(b, "\x28\xb5\x2f\xfd")) return "application/zstd";
  if (StartsWith(b, "\x93NUMPY")) return "application/x-npy";
  if (StartsWith(b, "ARROW1")) return "application/vnd.apache.arrow.file";
  if (StartsWith(b, "\xff\xff\xff\xff") && b.size() >= 8) {
    const uint64_t len = LittleEndian(b, 4, 4);
    if (len > 0 && len % 8 == 0 && len < (uint64_t{1} << 31))
      return "application/vnd.apache.arrow.stream";
  }
  if (b.size() >= 9 && b[8] == '{') {
    const uint64_t len = LittleEndian(b, 0, 8);
    if (len >= 2 && len <= (uint64_t{100} << 20)) return "application/x-safetensors";
  }
  if (IsText(b, truncated)) {
    for (uint8_t c : b) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') continue;
      if (c == '{' || c == '[') return "application/json";
      break;
    }
    return "text/plain; charset=utf-8";
  }
  return "application/octet-stream";
}

Result<std::unique_ptr<OperatorKind>> MakeContentSniff(OperatorParams& p) {
  AIFS_ASSIGN_OR_RETURN(CommonParams common, ReadCommonParams(p, uint64_t{1} << 40));
  AIFS_RETURN_IF_ERROR(p.CheckAllRead());
  return std::unique_ptr<OperatorKind>(new ContentSniff(std::move(common)));
}

Result<std::vector<Result<OperatorOutput>>> ContentSniff::Run(
    std::span<const OperatorInput> inputs) {
  std::vector<Result<OperatorOutput>> results;
  for (const OperatorInput& in : inputs) {
    const ByteSpan prefix =
        ByteSpan(in.bytes).first(std::min<size_t>(in.bytes.size(), kSniffPrefixBytes));
    const std::string type = SniffContentType(prefix, in.size > prefix.size());
    OperatorOutput out;
    out.metadata["sniff.content_type"] = type;
    out.metadata["sniff.text"] =
        type == "application/json" || type.starts_with("text/plain") ? "true" : "false";
    results.push_back(std::move(out));
  }
  return results;
}

}  // namespace aifs
