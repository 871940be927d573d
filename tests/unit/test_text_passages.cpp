// SplitPassages: the promises of text_passages.h, checked on hand-made texts
// and as properties over many generated ones.
#include <random>

#include "aifs/core/utf8.h"
#include "aifs/ingest/text_passages.h"
#include "test_util.h"

namespace aifs {
namespace {

std::vector<std::string> Texts(std::string_view text, const std::vector<TextRange>& ranges) {
  std::vector<std::string> out;
  for (const auto& r : ranges) out.emplace_back(text.substr(r.offset, r.length));
  return out;
}

bool Space(char c) { return std::string_view(" \t\n\r\f\v").find(c) != std::string_view::npos; }

TEST(TextPassagesTest, ShortAndEmptyTexts) {
  EXPECT_TRUE(SplitPassages("", 64).empty());
  EXPECT_TRUE(SplitPassages(" \n\t \n", 64).empty());
  EXPECT_EQ(SplitPassages("  hello world \n", 64), (std::vector<TextRange>{{2, 11}}));
}

TEST(TextPassagesTest, PrefersParagraphsThenSentencesThenWords) {
  // A paragraph break in the second half of the window wins over a later
  // sentence end.
  const std::string para =
      "Alpha beta gamma delta epsilon.\n\nZeta eta. Theta iota kappa lambda mu.";
  EXPECT_EQ(Texts(para, SplitPassages(para, 48)),
            (std::vector<std::string>{"Alpha beta gamma delta epsilon.",
                                      "Zeta eta. Theta iota kappa lambda mu."}));
  // Without a paragraph: the latest sentence end.
  const std::string sent = "One two three four. Five six seven eight! Nine ten eleven twelve";
  EXPECT_EQ(Texts(sent, SplitPassages(sent, 48)),
            (std::vector<std::string>{"One two three four. Five six seven eight!",
                                      "Nine ten eleven twelve"}));
  // Without a sentence: the latest word end.
  const std::string words = "one two three four five six seven eight nine ten eleven";
  EXPECT_EQ(
      Texts(words, SplitPassages(words, 24)),
      (std::vector<std::string>{"one two three four five", "six seven eight nine ten", "eleven"}));
  // An ideographic full stop ends a sentence without a space after it.
  const std::string cjk =
      "\xe4\xb8\x80\xe4\xba\x8c\xe4\xb8\x89\xe5\x9b\x9b\xe3\x80\x82"
      "\xe4\xba\x94\xe5\x85\xad\xe4\xb8\x83\xe5\x85\xab";
  EXPECT_EQ(SplitPassages(cjk, 18), (std::vector<TextRange>{{0, 15}, {15, 12}}));
}

TEST(TextPassagesTest, NeverSplitsACharacter) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += i % 3 ? "\xc3\xa9" : "\xe2\x82\xac";  // é, €
  text += "\xf0\x9f\x98\x80";  // a 4-byte character at the end
  const auto ranges = SplitPassages(text, 17);
  ASSERT_GT(ranges.size(), 10u);
  uint64_t covered = 0;
  for (const auto& r : ranges) {
    EXPECT_LE(r.length, 17u);
    if (&r != &ranges.back()) {
      EXPECT_GE(r.length, 14u);  // cut at most 3 bytes early
    }
    EXPECT_TRUE(ValidUtf8(std::string_view(text).substr(r.offset, r.length)));
    EXPECT_EQ(r.offset, covered);  // no gaps, no overlap
    covered += r.length;
  }
  EXPECT_EQ(covered, text.size());
}

// Words, sentences, paragraphs and multi-byte characters.
std::string RandomText(std::mt19937_64& rng, size_t words) {
  static const char* kWords[] = {"tensor",
                                 "weights",
                                 "a",
                                 "über",
                                 "naïve",
                                 "embedding",
                                 "x",
                                 "λ",
                                 "中文",
                                 "layer",
                                 "supercalifragilistic"};
  std::string t;
  for (size_t i = 0; i < words; ++i) {
    t += kWords[rng() % std::size(kWords)];
    switch (rng() % 12) {
      case 0:
        t += ". ";
        break;
      case 1:
        t += "\n\n";
        break;
      case 2:
        t += "\n";
        break;
      case 3:
        t += "!  ";
        break;
      default:
        t += " ";
    }
  }
  if (rng() % 2) t += std::string(rng() % 300, 'z');  // one long word
  return t;
}

TEST(TextPassagesTest, PropertiesOverGeneratedTexts) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 300; ++round) {
    const std::string text = RandomText(rng, rng() % 200);
    const uint64_t n = 16 + rng() % 200;
    const uint64_t overlap = rng() % 2 ? 0 : rng() % ((n - 1) / 2 + 1);
    SCOPED_TRACE("n=" + std::to_string(n) + " overlap=" + std::to_string(overlap));
    const auto ranges = SplitPassages(text, n, overlap);
    EXPECT_EQ(ranges, SplitPassages(text, n, overlap));  // deterministic
    std::vector<bool> covered(text.size());
    uint64_t prev_start = 0, prev_end = 0;
    for (size_t i = 0; i < ranges.size(); ++i) {
      const TextRange& r = ranges[i];
      ASSERT_GT(r.length, 0u);
      ASSERT_LE(r.length, n);
      ASSERT_LE(r.offset + r.length, text.size());
      const std::string_view p = std::string_view(text).substr(r.offset, r.length);
      EXPECT_TRUE(ValidUtf8(p)) << p;
      EXPECT_FALSE(Space(p.front()));
      EXPECT_FALSE(Space(p.back()));
      if (i > 0) {
        EXPECT_GT(r.offset, prev_start);
        EXPECT_GE(r.offset + overlap, prev_end);  // overlaps at most `overlap` bytes
        if (overlap == 0) {
          EXPECT_GE(r.offset, prev_end);
        }
      }
      prev_start = r.offset, prev_end = r.offset + r.length;
      for (uint64_t b = r.offset; b < r.offset + r.length; ++b) covered[b] = true;
    }
    for (size_t b = 0; b < text.size(); ++b)
      if (!Space(text[b])) {
        ASSERT_TRUE(covered[b]) << "byte " << b << " is in no passage";
      }
  }
}

TEST(TextPassagesTest, OverlapRepeatsWholeWords) {
  const std::string text = "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll";
  const auto p = Texts(text, SplitPassages(text, 20, 9));
  ASSERT_GE(p.size(), 3u);
  EXPECT_EQ(p[0], "aaaa bbbb cccc dddd");
  EXPECT_EQ(p[1], "cccc dddd eeee ffff");  // the first word starting within 9 bytes of the cut
  for (const auto& s : p) EXPECT_EQ(s.size() % 5, 4u) << s;  // whole words only
}

}  // namespace
}  // namespace aifs
