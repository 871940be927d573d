// Artifact assets: a ZIP archive of a directory (model weights, config,
// tokenizer, ...) with a MANIFEST.json at its root listing every file's path,
// size, media type and BLAKE3, plus dependencies and free metadata.
// docs/artifact-format.md is the format: layout, determinism rules, the
// manifest schema and every rejection reason.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aifs/core/blake3.h"
#include "aifs/core/bytes.h"
#include "aifs/core/ids.h"
#include "aifs/core/random_access.h"
#include "aifs/core/status.h"
#include "aifs/kinds/kind_validator.h"

namespace aifs {

inline constexpr char kArtifactFormat[] = "aifs-artifact/1";
inline constexpr char kArtifactManifestName[] = "MANIFEST.json";

struct ArtifactFile {
  std::string path;  // relative, '/'-separated, see docs/artifact-format.md
  uint64_t size = 0;
  std::string media_type;
  Digest blake3{};
  bool operator==(const ArtifactFile&) const = default;
};

// Exactly one of `asset` (another AIFS asset) and `uri` (anything external).
struct ArtifactDependency {
  std::string name;
  std::optional<AssetId> asset;
  std::optional<std::string> uri;
  bool operator==(const ArtifactDependency&) const = default;
};

struct ArtifactManifest {
  std::string format = kArtifactFormat;
  std::vector<ArtifactFile> files;  // sorted by path (bytewise), unique
  std::vector<ArtifactDependency> dependencies;
  std::map<std::string, std::string> metadata;
  bool operator==(const ArtifactManifest&) const = default;
};

// What ValidateArtifact accepts. The defaults are what the engine enforces.
struct ArtifactLimits {
  uint64_t max_members = 100000;                      // ZIP entries, directories included
  uint64_t max_total_uncompressed = uint64_t{64} << 30;  // sum over members
  uint64_t max_member_uncompressed = uint64_t{32} << 30;
  // A member larger than ratio_min_size may not expand more than max_ratio:1,
  // and neither may all deflated members together once they declare more
  // than ratio_min_size (the archive's inflation budget: many small members
  // each under the per-member threshold must not add up to a bomb).
  uint64_t max_ratio = 200;
  uint64_t ratio_min_size = uint64_t{1} << 20;
  uint64_t max_manifest_bytes = uint64_t{32} << 20;
};

struct ArtifactOptions {
  std::vector<ArtifactDependency> dependencies;  // kept in this order; names unique
  std::map<std::string, std::string> metadata;
  ArtifactLimits limits;  // the packed result must pass ValidateArtifact with these
};

// The media type PackDirectory records for a path (by extension, lowercase
// match; application/octet-stream when unknown) and whether it is deflated.
std::string MediaTypeForPath(std::string_view path);
bool IsCompressibleMediaType(std::string_view media_type);

// Canonical MANIFEST.json text (what PackDirectory writes) and the strict
// parser (ARTIFACT_BAD_MANIFEST on any schema violation).
std::string SerializeManifest(const ArtifactManifest& m);
Result<ArtifactManifest> ParseManifest(std::string_view json);

// Packs every regular file under `dir` (recursively) into a deterministic
// artifact: same directory contents and options => same bytes => same
// AssetID. Refuses symlinks (ARTIFACT_SYMLINK), other non-regular files
// (ARTIFACT_SPECIAL_FILE), names that would be invalid in an artifact
// (ARTIFACT_PATH_TRAVERSAL, ARTIFACT_DUPLICATE_NAME) and a root-level
// MANIFEST.json (ARTIFACT_RESERVED_NAME). The result is validated before it
// is returned, so a file changed while packing fails the pack.
Status PackDirectory(const std::string& dir, const ArtifactOptions& opts, Bytes& out);

// Full validation: structure, paths, limits, manifest schema, and every member
// decompressed (streaming, bounded memory) and hashed against the manifest.
// Reads the archive where it needs to (end of central directory, central
// directory, local headers, members one at a time), never all at once; the
// reader's own errors (I/O, a spill file changed on disk) come back as they
// are, not as a malformed archive.
Result<ArtifactManifest> ValidateArtifact(RandomAccessReader& zip,
                                          const ArtifactLimits& limits = {});
Result<ArtifactManifest> ValidateArtifact(ByteSpan zip, const ArtifactLimits& limits = {});

// Validates, then writes the listed files (not MANIFEST.json) under
// target_dir, which is created if missing. Never writes outside it: every path
// component is opened relative to its parent's fd with O_NOFOLLOW, files are
// created O_EXCL. On failure the files and directories it created are removed.
Status ExtractArtifact(ByteSpan zip, const std::string& target_dir);

// The manifest only (no member hashing), for listing an already stored artifact.
Result<ArtifactManifest> ReadManifest(ByteSpan zip);

// KindValidator for AssetKind::kArtifact: buffers up to max_bytes
// (RESOURCE_EXHAUSTED ARTIFACT_TOO_LARGE beyond; a ZIP's central directory is
// at its end) and runs ValidateArtifact with default limits on Finish().
// At most buffering.max_memory bytes stay in RAM; the rest goes, encrypted
// under a key that lives only in memory, to an unnamed temporary file
// (storage/spill_buffer.h), so in-flight artifact puts cost the server disk,
// not memory, and the disk never holds their bytes in clear. Errors of that
// file (STORAGE_FULL, ...) fail Update; SPILL_CORRUPT fails Finish.
std::unique_ptr<KindValidator> NewArtifactValidator(uint64_t max_bytes,
                                                    const ArtifactBuffering& buffering = {});

}  // namespace aifs
