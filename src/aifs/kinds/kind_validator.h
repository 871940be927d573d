// KindValidator: checks that the bytes of a typed asset (tensor, embed,
// artifact) are a valid encoding of its kind, as they stream into a put.
//
// Promise: the engine feeds every byte of the asset, in order, to Update()
// and calls Finish() before anything becomes visible; an error from either
// aborts the put (INVALID_ARGUMENT with a kind-specific reason such as
// TENSOR_SHAPE_OVERFLOW, EMBED_NAN, ARTIFACT_PATH_TRAVERSAL). Validators bound
// the memory they use; a kind that needs the whole encoding (a ZIP's central
// directory sits at its end) buffers it up to a documented limit and fails
// with RESOURCE_EXHAUSTED beyond it, keeping only a bounded part in RAM.
#pragma once

#include <memory>
#include <string>

#include "aifs/api/types.h"

namespace aifs {

// A vector a typed asset offers to the embedding index by itself.
struct IndexableVector {
  std::string space;  // the space of this name in the asset's namespace, if there is one
  std::vector<float> values;
  std::optional<AssetId> source;  // the asset the vector describes
};

class KindValidator {
 public:
  virtual ~KindValidator() = default;
  virtual Status Update(ByteSpan data) = 0;
  virtual Status Finish() = 0;
  // After a successful Finish(): the vector to index automatically, if any.
  virtual std::optional<IndexableVector> Indexable() const { return std::nullopt; }
  // Bytes per value of the asset's element data once the bytes seen so far
  // declare it (a tensor's dtype size), else 0. The engine byte-groups the
  // chunks of values 2 or 4 bytes wide by it (chunk_sealer.h).
  virtual uint32_t ValueWidth() const { return 0; }
};

// How a validator that must see a whole encoding buffers it (artifacts).
struct ArtifactBuffering {
  std::string spill_dir;           // empty: $TMPDIR, else /tmp
  size_t max_memory = size_t{1} << 20;  // bytes kept in RAM per put; the rest spills to disk
};

// nullptr for blobs, which are any bytes.
std::unique_ptr<KindValidator> NewKindValidator(AssetKind kind,
                                                const ArtifactBuffering& buffering = {});

}  // namespace aifs
