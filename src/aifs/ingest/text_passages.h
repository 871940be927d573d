// Text passages: cuts a UTF-8 text into passages of at most `max_bytes`
// bytes for the embedding kinds (chunk_bytes / chunk_overlap), as byte
// ranges of the text, so each vector can say which part of its input it
// describes.
//
// The rules, in order:
//  - Leading and trailing whitespace of a passage is left out, and a passage
//    is never empty or whitespace only (a text of whitespace has none).
//  - A passage that is not the text's last ends at the best break in the
//    second half of its window of max_bytes: after a paragraph (a run of
//    whitespace holding two or more line feeds), else after a sentence ('.',
//    '!' or '?' before whitespace, a line feed, or an ideographic full stop
//    U+3002), else before any whitespace; the latest break of the best class
//    wins. With none, it is cut at max_bytes, moved back to a UTF-8 character
//    boundary: a multi-byte character is never split.
//  - With overlap > 0 the next passage starts up to `overlap` bytes before
//    the previous one ended, at the first word start in that stretch (none:
//    no overlap), so passages repeat whole words only.
// Deterministic: the same text and settings always give the same ranges.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace aifs {

inline constexpr uint64_t kMinPassageBytes = 16;
inline constexpr uint64_t kMaxPassageBytes = uint64_t{16} << 20;

struct TextRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool operator==(const TextRange&) const = default;
};

// `text` should be valid UTF-8 (invalid bytes are treated as non-whitespace
// characters of one byte). Needs kMinPassageBytes <= max_bytes and
// overlap < max_bytes / 2; other values are clamped into that range.
std::vector<TextRange> SplitPassages(std::string_view text, uint64_t max_bytes,
                                     uint64_t overlap = 0);

}  // namespace aifs
