// OperatorKind: the work of one ingest operator on a batch of inputs,
// without any knowledge of the store. The engine (engine/operator_runner.h)
// picks the inputs from the event log, reads their bytes, calls Run, and
// commits what comes back as assets with lineage; everything here is a pure
// function of the inputs and the operator's settings (plus the outside
// program or server it calls).
//
// Thread safety: an OperatorKind is used by one thread at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "aifs/api/operator_spec.h"
#include "aifs/core/bytes.h"

namespace aifs {

struct OperatorInput {
  std::string ns;
  AssetId id;
  AssetKind kind = AssetKind::kBlob;
  Metadata metadata;
  uint64_t size = 0;  // the asset's size
  Bytes bytes;        // the whole asset, or its first prefix_bytes()
};

// One vector describing the byte range [offset, offset + length) of the
// input (the whole input: 0, size).
struct PassageVector {
  uint64_t offset = 0;
  uint64_t length = 0;
  std::vector<float> values;
};

struct OperatorOutput {
  // Vectors for the kind's embedding space (embedding kinds).
  std::vector<PassageVector> vectors;
  // Extracted metadata (tensor-stats, sniff, exec with json output); the
  // engine stores it on a derived record asset.
  Metadata metadata;
};

class OperatorKind {
 public:
  virtual ~OperatorKind() = default;

  // The result for each input, in order. An input's own error (the server
  // refused that input with a 4xx, the program failed or timed out on it,
  // its output was unreadable) is that input's entry: the engine tries it
  // again alone and then puts it on the dead-letter list with the reason.
  // An error of the whole call is the returned Status: the server is down,
  // timed out or answered 5xx/429 (UNAVAILABLE / DEADLINE_EXCEEDED), or it
  // misbehaves for everyone: garbage JSON, a wrong dimension, non-finite
  // values, 401/403 (FAILED_PRECONDITION EMBEDDER_BAD_RESPONSE,
  // EMBEDDER_WRONG_DIMENSION, EMBEDDER_AUTH). The engine backs off and
  // retries the batch later and never dead-letters for those: a broken
  // embedder stalls its operator (status says why), not the data.
  // A batch answered 4xx as a whole is split by the kind itself into
  // single-input calls, so one poison input fails alone.
  virtual Result<std::vector<Result<OperatorOutput>>> Run(
      std::span<const OperatorInput> inputs) = 0;

  // Inputs per Run call (1 for kinds that take one at a time).
  virtual size_t batch_size() const = 0;
  // Larger inputs fail with INVALID_ARGUMENT INPUT_TOO_LARGE before Run.
  virtual uint64_t max_input_bytes() const = 0;
  // Non-zero: the kind looks only at the first prefix_bytes() of an input
  // (sniffing); the engine reads no more and never refuses for size.
  virtual uint64_t prefix_bytes() const { return 0; }
  // For embedding kinds: the space (name, dim, metric) the vectors go to;
  // dim 0 when the operator learns it from the first answer. Empty name for
  // kinds that make no vectors.
  virtual EmbeddingSpace space() const { return {}; }
  // Goes into the lineage transform digest, e.g. "http-embed/1 model=m v=1".
  virtual std::string describe() const = 0;

  // A flag (owned by the caller, outliving the kind) that, once set, makes a
  // Run in progress give up soon (within ~100 ms: its request aborted, its
  // program killed) with CANCELLED: a server shutting down does not wait out
  // a hung embedder's timeout.
  void set_cancel(const std::atomic<bool>* cancel) { cancel_ = cancel; }

 protected:
  const std::atomic<bool>* cancel_ = nullptr;
};

// Checks `spec.params` for `spec.kind` and builds it: INVALID_ARGUMENT
// UNKNOWN_OPERATOR_KIND, BAD_OPERATOR_PARAM (naming the parameter and what
// is wrong). Reads secret files (auth headers) here, so a missing one fails
// the add, never a later call.
Result<std::unique_ptr<OperatorKind>> MakeOperatorKind(const OperatorSpec& spec);

// The names MakeOperatorKind knows, for help texts and errors.
std::vector<std::string> OperatorKindNames();

}  // namespace aifs
