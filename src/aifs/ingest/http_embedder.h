// The "http-embed" operator kind: embeds text inputs with an
// OpenAI-compatible embeddings server (POST /v1/embeddings, as Ollama,
// llama.cpp's server, vLLM and Text Embeddings Inference serve it).
//
// Request:  {"model": M, "input": [texts], "encoding_format": "float"}
// Answer:   {"data": [{"index": i, "embedding": [floats]}, ...], ...}
// Each input is one text (or, with chunk_bytes, its passages:
// text_passages.h); up to `batch` texts go in one request, in input order.
// Every index must be answered exactly once, with finite values of the
// space's dimension.
//
// Errors of the whole Run (the engine backs off and retries the batch):
//   UNAVAILABLE EMBEDDER_UNAVAILABLE          cannot connect, dropped, 5xx, 408, 429
//   DEADLINE_EXCEEDED EMBEDDER_TIMEOUT        no answer within timeout_ms
//   FAILED_PRECONDITION EMBEDDER_AUTH         401 / 403
//   FAILED_PRECONDITION EMBEDDER_BAD_RESPONSE not JSON, indices missing or
//       repeated, non-numbers or non-finite values, an answer over 256 MiB,
//       a 3xx, or 404/405/415 (no embeddings endpoint or model at that URL)
//   FAILED_PRECONDITION EMBEDDER_WRONG_DIMENSION  a vector of another dim
// An input's own errors (INVALID_ARGUMENT): NOT_TEXT (not UTF-8),
// EMPTY_INPUT (whitespace only), EMBEDDER_REJECTED_INPUT (any other 4xx:
// a request holding texts of several inputs is sent again one input at a
// time, so only the input the server refuses fails; the message quotes the
// server's error, bounded and sanitized).
//
// The bearer token (auth_file) is read once when the kind is made; it is
// sent only in the Authorization header and never appears in a message.
//
// Thread safety: one thread at a time (OperatorKind).
#pragma once

#include <memory>
#include <string>

#include "aifs/ingest/embedding_input.h"
#include "aifs/ingest/http_client.h"
#include "aifs/ingest/operator_kind.h"
#include "aifs/ingest/operator_params.h"

namespace aifs {

inline constexpr uint64_t kEmbedderMaxResponseBytes = uint64_t{256} << 20;

// The endpoint for the `url` parameter: http:// or https:// only, no query
// or fragment; a path ending in /embeddings is kept, one ending in /v1 gets
// /embeddings, any other gets /v1/embeddings. BAD_OPERATOR_PARAM otherwise.
Result<std::string> EmbeddingsEndpoint(OperatorParams& p, const std::string& url);

// Reads url, model, space, dim, metric, batch, timeout_ms, auth_file,
// chunk_bytes, chunk_overlap, version, max_input_bytes (docs/operators.md).
Result<std::unique_ptr<OperatorKind>> MakeHttpEmbedder(OperatorParams& p);

class HttpEmbedder : public OperatorKind {
 public:
  struct Options {
    std::string endpoint;  // the full URL POSTed to
    std::string model;
    VectorParams vectors;
    uint64_t batch = 32;  // texts per request
    uint64_t timeout_ms = 30000;
    std::string bearer_token;  // "": no Authorization header
    CommonParams common;
  };
  explicit HttpEmbedder(Options options);
  ~HttpEmbedder() override;

  Result<std::vector<Result<OperatorOutput>>> Run(std::span<const OperatorInput> inputs) override;
  size_t batch_size() const override { return options_.batch; }
  uint64_t max_input_bytes() const override { return options_.common.max_input_bytes; }
  // The dimension is the learnt one once the first answer came.
  EmbeddingSpace space() const override;
  std::string describe() const override;

 private:
  struct Item;
  struct Reply;
  Status Send(std::span<const OperatorInput> inputs, std::span<Item> items,
              std::vector<Result<OperatorOutput>>& results);
  Result<Reply> Request(std::span<const OperatorInput> inputs, std::span<Item* const> items);
  Result<std::vector<std::vector<float>>> ParseAnswer(const std::string& body, size_t count);
  std::string Quote(std::string_view server_text) const;

  Options options_;
  DimensionCheck dim_;
  HttpClient http_;
};

}  // namespace aifs
