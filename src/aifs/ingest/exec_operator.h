// The "exec" operator kind: runs a program of the operator's owner on each
// input, the asset's bytes on its stdin (with chunk_bytes: once per text
// passage, the passage on stdin), and reads its stdout:
//   output=npy   a NumPy .npy of float16/32/64, shape (dim,) or (1, dim):
//                one vector (an embedding model in Python, say);
//   output=json  a JSON object whose values (strings, numbers, booleans)
//                become metadata of the derived record (keys not "aifs.*").
//
// The program is executed directly (child_process.h: execve, no shell; argv
// exactly as given). Asset facts reach it only through its environment,
// which is this and nothing else:
//   PATH=/usr/local/bin:/usr/bin:/bin  HOME=/tmp  LANG=C.UTF-8
//   AIFS_ASSET_ID (hex)  AIFS_NAMESPACE  AIFS_KIND (blob, tensor, ...)
//   AIFS_SIZE (the asset's bytes)  AIFS_METADATA (its metadata, a JSON object)
//   AIFS_PASSAGE_OFFSET  AIFS_PASSAGE_LENGTH (with chunk_bytes)
// It runs in a process group of its own, with RLIMIT_AS = memory_mb (the
// address space, not the resident size: Python with torch maps several GiB
// before it computes anything; give it 8192 or more, or 0 for no limit).
//
// An input's own errors (INVALID_ARGUMENT):
//   EXEC_TIMEOUT           still running after timeout_ms: its process group
//                          was killed (SIGKILL)
//   EXEC_FAILED            exit status not 0, or killed by a signal (the
//                          message says which, and ends with its stderr's
//                          last 2 KiB); a program that cannot be executed
//                          exits 127
//   EXEC_OUTPUT_TOO_LARGE  more than max_output_bytes on stdout
//   EXEC_BAD_OUTPUT        stdout is no .npy vector of finite values / no
//                          JSON object of plain values
//   NOT_TEXT, EMPTY_INPUT  with chunk_bytes: the input is no UTF-8 text
// Errors of the whole Run: UNAVAILABLE EXEC_SPAWN_FAILED (cannot fork),
// FAILED_PRECONDITION EMBEDDER_WRONG_DIMENSION (a vector of another
// dimension than `dim` or the first answer's).
//
// Thread safety: one thread at a time (OperatorKind).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "aifs/ingest/child_process.h"
#include "aifs/ingest/embedding_input.h"
#include "aifs/ingest/operator_kind.h"
#include "aifs/ingest/operator_params.h"

namespace aifs {

// Reads argv, output, timeout_ms, memory_mb, max_output_bytes, model,
// space, dim, metric, chunk_bytes, chunk_overlap, version, max_input_bytes
// (docs/operators.md).
Result<std::unique_ptr<OperatorKind>> MakeExecOperator(OperatorParams& p);

class ExecOperator : public OperatorKind {
 public:
  struct Options {
    std::vector<std::string> argv;
    bool json_output = false;  // else npy
    uint64_t timeout_ms = 30000;
    uint64_t memory_mb = 2048;  // 0: unlimited
    uint64_t max_output_bytes = 16u << 20;
    std::string model;
    VectorParams vectors;  // npy output only
    CommonParams common;
  };
  explicit ExecOperator(Options options);

  Result<std::vector<Result<OperatorOutput>>> Run(std::span<const OperatorInput> inputs) override;
  size_t batch_size() const override { return 1; }
  uint64_t max_input_bytes() const override { return options_.common.max_input_bytes; }
  EmbeddingSpace space() const override;
  std::string describe() const override;

 private:
  // One program run on `range` of the input: the child's result, or the
  // input's error.
  Result<ChildResult> RunOnce(const OperatorInput& in, const TextRange& range, bool passage);
  Result<OperatorOutput> ParseJson(const OperatorInput& in, const ChildResult& r);
  Result<std::vector<float>> ParseVector(const OperatorInput& in, const ChildResult& r);
  Result<OperatorOutput> RunInput(const OperatorInput& in, Status& whole);

  Options options_;
  DimensionCheck dim_;
};

}  // namespace aifs
