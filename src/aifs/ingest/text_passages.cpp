#include "aifs/ingest/text_passages.h"

#include <algorithm>

namespace aifs {

namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }

// How good a passage end is.
enum BreakClass { kNone = 0, kWord = 1, kSentence = 2, kParagraph = 3 };

// The class of ending a passage at `p` (exclusive end), given the text
// continues after it.
BreakClass ClassAt(std::string_view t, size_t p) {
  if (p == 0 || p >= t.size() || IsSpace(t[p - 1])) return kNone;
  if (p >= 3 && t.substr(p - 3, 3) == "\xe3\x80\x82") return kSentence;  // U+3002
  if (!IsSpace(t[p])) return kNone;
  int newlines = 0;
  for (size_t i = p; i < t.size() && IsSpace(t[i]) && newlines < 2; ++i) newlines += t[i] == '\n';
  if (newlines >= 2) return kParagraph;
  const char last = t[p - 1];
  if (newlines == 1 || last == '.' || last == '!' || last == '?') return kSentence;
  return kWord;
}

size_t SkipSpace(std::string_view t, size_t i) {
  while (i < t.size() && IsSpace(t[i])) ++i;
  return i;
}

}  // namespace

std::vector<TextRange> SplitPassages(std::string_view text, uint64_t max_bytes, uint64_t overlap) {
  const size_t n = static_cast<size_t>(std::max(max_bytes, kMinPassageBytes));
  const size_t o = static_cast<size_t>(std::min<uint64_t>(overlap, (n - 1) / 2));
  std::vector<TextRange> out;
  size_t start = SkipSpace(text, 0);
  while (start < text.size()) {
    if (text.size() - start <= n) {
      size_t end = text.size();
      while (end > start && IsSpace(text[end - 1])) --end;
      out.push_back({start, end - start});
      break;
    }
    // The best break in the second half of the window [start, start + n].
    size_t cut = 0;
    BreakClass best = kNone;
    for (size_t p = start + n; p > start + n / 2; --p) {
      const BreakClass c = ClassAt(text, p);
      if (c > best) best = c, cut = p;
      if (best == kParagraph) break;
    }
    if (best == kNone) {
      cut = start + n;
      while (cut > start + 1 && IsContinuation(text[cut])) --cut;
    }
    size_t end = cut;  // a hard cut may follow whitespace
    while (end > start && IsSpace(text[end - 1])) --end;
    out.push_back({start, end - start});
    // The next passage: the first word start within `o` bytes before the cut.
    size_t next = cut;
    if (o > 0) {
      for (size_t p = cut - o; p < cut; ++p) {
        if (!IsSpace(text[p]) && IsSpace(text[p - 1])) {
          next = p;
          break;
        }
      }
    }
    start = SkipSpace(text, next);
  }
  return out;
}

}  // namespace aifs
