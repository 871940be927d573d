// Fuzzes the artifact validator (central directory walk, libzip, bomb limits,
// path rules, manifest schema, member hashing), ReadManifest and the manifest
// JSON parser. Never extracts to a real directory. Properties: no crash or
// sanitizer report; a valid artifact's manifest is what ReadManifest lists;
// a parsed manifest survives serialize -> parse unchanged.
#include <cstdint>
#include <cstdlib>

#include "aifs/kinds/artifact.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const aifs::ByteSpan in(data, size);
  aifs::ArtifactLimits limits;  // smaller totals keep each run fast
  limits.max_members = 10000;
  limits.max_total_uncompressed = uint64_t{64} << 20;
  limits.max_member_uncompressed = uint64_t{16} << 20;
  auto valid = aifs::ValidateArtifact(in, limits);
  auto listed = aifs::ReadManifest(in);
  if (valid.ok() && (!listed.ok() || !(*listed == *valid))) std::abort();

  auto parsed = aifs::ParseManifest(aifs::AsChars(in));
  if (parsed.ok()) {
    auto again = aifs::ParseManifest(aifs::SerializeManifest(*parsed));
    if (!again.ok() || !(*again == *parsed)) std::abort();
  }
  return 0;
}
