#include "aifs/storage/s3_xml.h"

#include <cstdlib>

namespace aifs {

namespace {

// Position just after the opening tag of the next <tag> or <tag ...> at or
// after `from`, and the position of its "</tag>"; false when there is none.
bool FindElement(std::string_view xml, std::string_view tag, size_t from, size_t& inner,
                 size_t& close) {
  const std::string open = "<" + std::string(tag);
  const std::string end = "</" + std::string(tag) + ">";
  for (size_t at = xml.find(open, from); at != std::string_view::npos;
       at = xml.find(open, at + 1)) {
    const size_t after = at + open.size();
    if (after >= xml.size()) return false;
    const char c = xml[after];
    if (c != '>' && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '/') continue;
    const size_t gt = xml.find('>', after);
    if (gt == std::string_view::npos) return false;
    if (xml[gt - 1] == '/') {  // <tag/>: empty
      inner = close = gt + 1;
      return true;
    }
    inner = gt + 1;
    close = xml.find(end, inner);
    return close != std::string_view::npos;
  }
  return false;
}

void AppendUtf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::optional<std::string> XmlText(std::string_view xml, std::string_view tag) {
  size_t inner = 0, close = 0;
  if (!FindElement(xml, tag, 0, inner, close)) return std::nullopt;
  return XmlDecode(xml.substr(inner, close - inner));
}

void ForEachXmlElement(std::string_view xml, std::string_view tag,
                       const std::function<void(std::string_view)>& fn) {
  size_t from = 0, inner = 0, close = 0;
  while (FindElement(xml, tag, from, inner, close)) {
    fn(xml.substr(inner, close - inner));
    from = close;
  }
}

std::string XmlDecode(std::string_view text) {
  static constexpr std::pair<std::string_view, char> kNamed[] = {
      {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const size_t semi = text[i] == '&' ? text.find(';', i) : std::string_view::npos;
    if (semi == std::string_view::npos || semi - i > 10) {
      out += text[i];
      continue;
    }
    const std::string_view name = text.substr(i + 1, semi - i - 1);
    bool decoded = false;
    if (name.size() > 1 && name[0] == '#') {
      const bool hex = name[1] == 'x' || name[1] == 'X';
      const std::string digits(name.substr(hex ? 2 : 1));
      char* end = nullptr;
      const unsigned long cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (!digits.empty() && *end == '\0' && cp > 0 && cp <= 0x10FFFF &&
          (cp < 0xD800 || cp > 0xDFFF)) {
        AppendUtf8(out, cp);
        decoded = true;
      }
    } else {
      for (const auto& [n, c] : kNamed)
        if (name == n) {
          out += c;
          decoded = true;
        }
    }
    if (!decoded) {
      out += text[i];
      continue;
    }
    i = semi;
  }
  return out;
}

}  // namespace aifs
