#include "aifs/ingest/http_embedder.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "aifs/core/file_util.h"

namespace aifs {

using nlohmann::json;

namespace {

Status BadResponse(const std::string& message) {
  return err::FailedPrecondition("EMBEDDER_BAD_RESPONSE", message);
}

// The human part of a server's error body: OpenAI's {"error": {"message"}},
// Ollama's and TEI's {"error": "..."}, FastAPI's {"detail": ...}, else the
// body itself.
std::string ErrorText(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    for (const char* key : {"error", "detail", "message"}) {
      auto it = j.find(key);
      if (it == j.end()) continue;
      if (it->is_string()) return it->get<std::string>();
      if (it->is_object() && it->contains("message") && (*it)["message"].is_string())
        return (*it)["message"].get<std::string>();
      return it->dump(-1, ' ', false, json::error_handler_t::replace);
    }
  }
  return body;
}

}  // namespace

struct HttpEmbedder::Item {
  size_t input = 0;
  TextRange range;
  std::vector<float> vector;
};

struct HttpEmbedder::Reply {
  bool rejected = false;  // a 4xx that may be the inputs' fault
  std::string message;
  std::vector<std::vector<float>> vectors;
};

Result<std::string> EmbeddingsEndpoint(OperatorParams& p, const std::string& url) {
  const size_t scheme = url.find("://");
  const std::string s = scheme == std::string::npos ? "" : url.substr(0, scheme);
  if (s != "http" && s != "https")
    return p.Bad("url", "must start with http:// or https://, not \"" + err::Echo(url) + "\"");
  for (char c : url)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f || c == '?' || c == '#')
      return p.Bad("url", "must have no spaces, control characters, query or fragment");
  const size_t path = url.find('/', scheme + 3);
  if (path == scheme + 3 || scheme + 3 == url.size()) return p.Bad("url", "has no host");
  std::string out = url;
  while (out.size() > scheme + 3 && out.back() == '/') out.pop_back();
  auto ends_with = [&](std::string_view tail) {
    return out.size() - (scheme + 3) > tail.size() && out.ends_with(tail);
  };
  if (ends_with("/embeddings")) return out;
  if (ends_with("/v1")) return out + "/embeddings";
  return out + "/v1/embeddings";
}

Result<std::unique_ptr<OperatorKind>> MakeHttpEmbedder(OperatorParams& p) {
  HttpEmbedder::Options o;
  AIFS_ASSIGN_OR_RETURN(std::string url, p.Required("url"));
  AIFS_ASSIGN_OR_RETURN(o.endpoint, EmbeddingsEndpoint(p, url));
  AIFS_ASSIGN_OR_RETURN(o.model, p.Required("model"));
  AIFS_ASSIGN_OR_RETURN(o.vectors, ReadVectorParams(p, o.model));
  AIFS_ASSIGN_OR_RETURN(o.batch, p.Uint("batch", 32, 1, 2048));
  AIFS_ASSIGN_OR_RETURN(o.timeout_ms, p.Uint("timeout_ms", 30000, 1, 3600000));
  AIFS_ASSIGN_OR_RETURN(o.common, ReadCommonParams(p, uint64_t{8} << 20));
  if (auto file = p.Get("auth_file")) {
    auto secret = ReadFileToString(*file);
    if (!secret.ok()) return p.Bad("auth_file", "cannot be read: " + secret.status().message());
    std::string& s = secret.value();
    const size_t b = s.find_first_not_of(" \t\r\n");
    const size_t e = s.find_last_not_of(" \t\r\n");
    if (b != std::string::npos) o.bearer_token = s.substr(b, e - b + 1);
    SecureWipe(s.data(), s.size());
    if (o.bearer_token.empty()) return p.Bad("auth_file", "is empty");
    for (char c : o.bearer_token)
      if (static_cast<unsigned char>(c) < ' ' || c == 0x7f)
        return p.Bad("auth_file", "holds a control character (a token is one line)");
  }
  AIFS_RETURN_IF_ERROR(p.CheckAllRead());
  return std::unique_ptr<OperatorKind>(new HttpEmbedder(std::move(o)));
}

HttpEmbedder::HttpEmbedder(Options options)
    : options_(std::move(options)), dim_(options_.vectors.space.dim) {}

HttpEmbedder::~HttpEmbedder() {
  SecureWipe(options_.bearer_token.data(), options_.bearer_token.size());
}

EmbeddingSpace HttpEmbedder::space() const {
  EmbeddingSpace s = options_.vectors.space;
  s.dim = dim_.dim();
  return s;
}

std::string HttpEmbedder::describe() const {
  return "http-embed/1 model=" + options_.model + " v=" + options_.common.version +
         DescribePassages(options_.vectors);
}

Result<std::vector<Result<OperatorOutput>>> HttpEmbedder::Run(
    std::span<const OperatorInput> inputs) {
  std::vector<Result<OperatorOutput>> results(inputs.size(), OperatorOutput{});
  std::vector<Item> items;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto ranges = EmbeddingRanges(inputs[i], options_.vectors);
    if (!ranges.ok()) {
      results[i] = ranges.status();
      continue;
    }
    for (const TextRange& r : *ranges) items.push_back({i, r, {}});
  }
  AIFS_RETURN_IF_ERROR(Send(inputs, items, results));
  for (Item& item : items) {
    if (!results[item.input].ok()) continue;
    results[item.input]->vectors.push_back(
        {item.range.offset, item.range.length, std::move(item.vector)});
  }
  return results;
}

// Sends `items` (ordered by input) in requests of up to `batch` texts,
// skipping inputs that failed already. A request refused with a 4xx is sent
// again one input at a time; refused alone, the input fails.
Status HttpEmbedder::Send(std::span<const OperatorInput> inputs, std::span<Item> items,
                          std::vector<Result<OperatorOutput>>& results) {
  size_t next = 0;
  while (next < items.size()) {
    std::vector<Item*> chunk;
    for (; next < items.size() && chunk.size() < options_.batch; ++next)
      if (results[items[next].input].ok()) chunk.push_back(&items[next]);
    if (chunk.empty()) break;
    AIFS_ASSIGN_OR_RETURN(Reply reply, Request(inputs, chunk));
    if (!reply.rejected) {
      for (size_t k = 0; k < chunk.size(); ++k) chunk[k]->vector = std::move(reply.vectors[k]);
      continue;
    }
    if (chunk.front()->input == chunk.back()->input) {
      results[chunk.front()->input] =
          err::InvalidArgument("EMBEDDER_REJECTED_INPUT",
                               "the embedder refused asset " +
                                   inputs[chunk.front()->input].id.ToHex() + ": " + reply.message);
      continue;
    }
    // An input's items are contiguous in `items`: resend each input's alone.
    for (size_t k = 0; k < chunk.size();) {
      size_t end = k;
      while (end < chunk.size() && chunk[end]->input == chunk[k]->input) ++end;
      AIFS_RETURN_IF_ERROR(Send(inputs, std::span<Item>(chunk[k], end - k), results));
      k = end;
    }
  }
  return Status::Ok();
}

Result<HttpEmbedder::Reply> HttpEmbedder::Request(std::span<const OperatorInput> inputs,
                                                  std::span<Item* const> items) {
  json texts = json::array();
  for (const Item* item : items)
    texts.push_back(
        AsChars(inputs[item->input].bytes).substr(item->range.offset, item->range.length));
  const json request = {
      {"model", options_.model}, {"input", std::move(texts)}, {"encoding_format", "float"}};
  std::vector<std::string> headers = {"Content-Type: application/json", "Accept: application/json"};
  if (!options_.bearer_token.empty())
    headers.push_back("Authorization: Bearer " + options_.bearer_token);
  auto answer = http_.Post(options_.endpoint, headers,
                           request.dump(-1, ' ', false, json::error_handler_t::replace),
                           options_.timeout_ms, kEmbedderMaxResponseBytes, cancel_);
  if (!options_.bearer_token.empty()) SecureWipe(headers.back().data(), headers.back().size());
  if (!answer.ok()) {
    const Status& st = answer.status();
    if (st.reason() == "HTTP_TIMEOUT")
      return Status(Code::kDeadlineExceeded, "EMBEDDER_TIMEOUT", st.message());
    if (st.reason() == "HTTP_UNAVAILABLE")
      return err::Unavailable("EMBEDDER_UNAVAILABLE", st.message());
    if (st.reason() == "HTTP_TOO_LARGE") return BadResponse(st.message());
    return st;
  }
  const long status = answer->status;
  const std::string where = "the embedder at " + options_.endpoint;
  const std::string said = " (HTTP " + std::to_string(status) + ")";
  if (status >= 200 && status < 300) {
    Reply reply;
    AIFS_ASSIGN_OR_RETURN(reply.vectors, ParseAnswer(answer->body, items.size()));
    return reply;
  }
  if (status >= 500 || status == 429 || status == 408)
    return err::Unavailable("EMBEDDER_UNAVAILABLE",
                            where + " is not available" + said + ": " + Quote(answer->body));
  if (status == 401 || status == 403)
    return err::FailedPrecondition(
        "EMBEDDER_AUTH", where + " refused the credentials" + said + ": " + Quote(answer->body));
  if (status >= 400 && status != 404 && status != 405 && status != 415) {
    Reply reply;
    reply.rejected = true;
    reply.message = "HTTP " + std::to_string(status) + ": " + Quote(answer->body);
    return reply;
  }
  return BadResponse(where + " is no embeddings endpoint for model " + err::Echo(options_.model) +
                     said + ": " + Quote(answer->body));
}

Result<std::vector<std::vector<float>>> HttpEmbedder::ParseAnswer(const std::string& body,
                                                                  size_t count) {
  const std::string where = "the embedder at " + options_.endpoint;
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return BadResponse(where + " answered no JSON object: " + Quote(body));
  auto data = j.find("data");
  if (data == j.end() || !data->is_array())
    return BadResponse(where + " answered no \"data\" array: " + Quote(body));
  if (data->size() != count)
    return BadResponse(where + " answered " + std::to_string(data->size()) + " embeddings for " +
                       std::to_string(count) + " texts");
  std::vector<std::vector<float>> out(count);
  std::vector<bool> seen(count);
  for (const json& e : *data) {
    auto index = e.is_object() ? e.find("index") : e.end();
    auto embedding = e.is_object() ? e.find("embedding") : e.end();
    if (index == e.end() || !index->is_number_integer() || embedding == e.end() ||
        !embedding->is_array())
      return BadResponse(where +
                         " answered an entry without an integer \"index\" and an "
                         "\"embedding\" array of numbers");
    const int64_t i = index->get<int64_t>();
    if (i < 0 || static_cast<uint64_t>(i) >= count || seen[i])
      return BadResponse(
          where + " answered index " + std::to_string(i) +
          (i >= 0 && static_cast<uint64_t>(i) < count ? " twice" : ", out of range"));
    seen[i] = true;
    std::vector<float>& v = out[i];
    v.reserve(embedding->size());
    for (const json& x : *embedding) {
      if (!x.is_number()) return BadResponse(where + " answered a value that is not a number");
      const double d = x.get<double>();
      v.push_back(static_cast<float>(d));
      if (!std::isfinite(v.back()))
        return BadResponse(where + " answered a value that is not finite as a float: " + x.dump());
    }
  }
  AIFS_RETURN_IF_ERROR(dim_.CheckAll(out, where));
  return out;
}

std::string HttpEmbedder::Quote(std::string_view server_text) const {
  std::string text = ErrorText(std::string(server_text));
  const std::string& token = options_.bearer_token;
  for (size_t at; !token.empty() && (at = text.find(token)) != std::string::npos;)
    text.replace(at, token.size(), "<token>");
  return "\"" + err::Echo(text, 300) + "\"";
}

}  // namespace aifs
