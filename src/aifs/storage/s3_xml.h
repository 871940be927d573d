// A minimal reader for the few XML answers S3 gives (ListBucketResult,
// Error): element text by tag name, no schema, no namespaces, no new
// dependency. S3's answers are flat enough that the first <Tag>…</Tag> (or
// each one, in order) is the element wanted.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace aifs {

// The entity-decoded text of the first <tag>…</tag> in `xml` (an element
// with attributes, <tag a="b">, counts too); nullopt when there is none.
std::optional<std::string> XmlText(std::string_view xml, std::string_view tag);

// Calls fn with the raw inner XML of each <tag>…</tag>, in order.
void ForEachXmlElement(std::string_view xml, std::string_view tag,
                       const std::function<void(std::string_view)>& fn);

// Decodes &amp; &lt; &gt; &quot; &apos; and numeric references (&#38;
// &#x26;, as UTF-8); anything else is kept as written.
std::string XmlDecode(std::string_view text);

}  // namespace aifs
