#include "aifs/ingest/exec_operator.h"

#include <string.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "aifs/kinds/npy.h"

namespace aifs {

using nlohmann::json;

namespace {

Status BadOutput(const OperatorInput& in, const std::string& what) {
  return err::InvalidArgument("EXEC_BAD_OUTPUT",
                              "the program's output for asset " + in.id.ToHex() + " " + what);
}

// The stderr tail on one line, for a message.
std::string OneLine(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return err::Echo(text, 4096);
}

std::string SignalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return std::to_string(sig) + (abbrev ? std::string(" (SIG") + abbrev + ")" : "");
}

}  // namespace

Result<std::unique_ptr<OperatorKind>> MakeExecOperator(OperatorParams& p) {
  ExecOperator::Options o;
  AIFS_ASSIGN_OR_RETURN(std::string argv_text, p.Required("argv"));
  const json argv = json::parse(argv_text, nullptr, false);
  if (!argv.is_array() || argv.empty())
    return p.Bad("argv", "must be a JSON array of strings, e.g. [\"python3\",\"embed.py\"]");
  for (const json& a : argv) {
    if (!a.is_string()) return p.Bad("argv", "must hold only strings");
    o.argv.push_back(a.get<std::string>());
    if (o.argv.back().find('\0') != std::string::npos)
      return p.Bad("argv", "must hold no NUL characters");
  }
  if (o.argv[0].empty()) return p.Bad("argv", "must start with a program");
  AIFS_ASSIGN_OR_RETURN(std::string output, p.Choice("output", "npy", {"npy", "json"}));
  o.json_output = output == "json";
  AIFS_ASSIGN_OR_RETURN(o.timeout_ms, p.Uint("timeout_ms", 30000, 1, 3600000));
  AIFS_ASSIGN_OR_RETURN(o.memory_mb, p.Uint("memory_mb", 2048, 0, uint64_t{1} << 30));
  if (o.memory_mb != 0 && o.memory_mb < 16)
    return p.Bad("memory_mb", "must be 0 (no limit) or at least 16");
  AIFS_ASSIGN_OR_RETURN(o.max_output_bytes,
                        p.Uint("max_output_bytes", uint64_t{16} << 20, 1, uint64_t{1} << 30));
  const std::string& prog = o.argv[0];
  o.model = p.String("model", prog.substr(prog.find_last_of('/') + 1));
  if (o.json_output) {
    for (const char* name : {"space", "dim", "metric", "chunk_bytes", "chunk_overlap"})
      if (p.Get(name)) return p.Bad(name, "applies only with output=npy");
  } else {
    AIFS_ASSIGN_OR_RETURN(o.vectors, ReadVectorParams(p, o.model));
  }
  AIFS_ASSIGN_OR_RETURN(o.common, ReadCommonParams(p, uint64_t{64} << 20));
  AIFS_RETURN_IF_ERROR(p.CheckAllRead());
  return std::unique_ptr<OperatorKind>(new ExecOperator(std::move(o)));
}

ExecOperator::ExecOperator(Options options)
    : options_(std::move(options)), dim_(options_.vectors.space.dim) {}

EmbeddingSpace ExecOperator::space() const {
  if (options_.json_output) return {};
  EmbeddingSpace s = options_.vectors.space;
  s.dim = dim_.dim();
  return s;
}

std::string ExecOperator::describe() const {
  std::string d =
      "exec/1 argv=" + json(options_.argv).dump(-1, ' ', false, json::error_handler_t::replace) +
      " output=" + (options_.json_output ? "json" : "npy") + " model=" + options_.model +
      " v=" + options_.common.version;
  return d + DescribePassages(options_.vectors);
}

Result<std::vector<Result<OperatorOutput>>> ExecOperator::Run(
    std::span<const OperatorInput> inputs) {
  std::vector<Result<OperatorOutput>> results;
  for (const OperatorInput& in : inputs) {
    Status whole;
    results.push_back(RunInput(in, whole));
    AIFS_RETURN_IF_ERROR(whole);
  }
  return results;
}

Result<OperatorOutput> ExecOperator::RunInput(const OperatorInput& in, Status& whole) {
  // Failing to start the program is the whole call's error; the rest, the input's.
  auto Fail = [&](const Status& s) {
    if (s.code() != Code::kInvalidArgument) whole = s;
    return s;
  };
  OperatorOutput out;
  if (options_.json_output) {
    auto r = RunOnce(in, {0, in.bytes.size()}, false);
    if (!r.ok()) return Fail(r.status());
    return ParseJson(in, *r);
  }
  AIFS_ASSIGN_OR_RETURN(auto ranges, EmbeddingRanges(in, options_.vectors, false));
  for (const TextRange& range : ranges) {
    auto r = RunOnce(in, range, options_.vectors.chunk_bytes != 0);
    if (!r.ok()) return Fail(r.status());
    AIFS_ASSIGN_OR_RETURN(std::vector<float> v, ParseVector(in, *r));
    whole = dim_.Check(v.size(), "the program " + options_.argv[0]);
    if (!whole.ok()) return whole;
    out.vectors.push_back({range.offset, range.length, std::move(v)});
  }
  return out;
}

Result<ChildResult> ExecOperator::RunOnce(const OperatorInput& in, const TextRange& range,
                                          bool passage) {
  json metadata = json::object();
  for (const auto& [k, v] : in.metadata) metadata[k] = v;
  ChildSpec spec;
  spec.argv = options_.argv;
  spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin",
              "HOME=/tmp",
              "LANG=C.UTF-8",
              "AIFS_ASSET_ID=" + in.id.ToHex(),
              "AIFS_NAMESPACE=" + in.ns,
              "AIFS_KIND=" + std::string(KindName(in.kind)),
              "AIFS_SIZE=" + std::to_string(in.size),
              "AIFS_METADATA=" + metadata.dump(-1, ' ', false, json::error_handler_t::replace)};
  if (passage) {
    spec.env.push_back("AIFS_PASSAGE_OFFSET=" + std::to_string(range.offset));
    spec.env.push_back("AIFS_PASSAGE_LENGTH=" + std::to_string(range.length));
  }
  spec.timeout_ms = options_.timeout_ms;
  spec.memory_bytes = options_.memory_mb << 20;
  spec.max_stdout_bytes = options_.max_output_bytes;
  spec.cancel = cancel_;
  AIFS_ASSIGN_OR_RETURN(
      ChildResult r, RunChildProcess(spec, ByteSpan(in.bytes).subspan(range.offset, range.length)));
  const std::string who =
      "the program " + err::Echo(options_.argv[0]) + " on asset " + in.id.ToHex() +
      (passage ? " bytes " + std::to_string(range.offset) + "+" + std::to_string(range.length)
               : "");
  const std::string tail = r.stderr_tail.empty() ? "" : "; stderr: " + OneLine(r.stderr_tail);
  if (r.cancelled)  // the whole call's: not this input's fault
    return err::Cancelled("EXEC_CANCELLED", who + " was stopped: the operator is stopping");
  if (r.timed_out)
    return err::InvalidArgument("EXEC_TIMEOUT", who + " ran longer than " +
                                                    std::to_string(options_.timeout_ms) +
                                                    " ms and was killed" + tail);
  if (r.stdout_too_large)
    return err::InvalidArgument(
        "EXEC_OUTPUT_TOO_LARGE",
        who + " wrote more than " + std::to_string(options_.max_output_bytes) + " bytes" + tail);
  if (!r.exec_error.empty())
    return err::InvalidArgument(
        "EXEC_FAILED", who + ": cannot execute it: " + r.exec_error + " (exit status 127)");
  if (r.signal != 0)
    return err::InvalidArgument("EXEC_FAILED",
                                who + " was killed by signal " + SignalName(r.signal) + tail);
  if (r.exit_code != 0)
    return err::InvalidArgument("EXEC_FAILED",
                                who + " exited with status " + std::to_string(r.exit_code) + tail);
  return r;
}

Result<std::vector<float>> ExecOperator::ParseVector(const OperatorInput& in,
                                                     const ChildResult& r) {
  auto t = ParseNpy(r.out);
  if (!t.ok()) return BadOutput(in, "is no .npy file: " + t.status().ToString());
  const auto& shape = t->shape;
  const bool vector_shape = shape.size() == 1 || (shape.size() == 2 && shape[0] == 1);
  if (!vector_shape)
    return BadOutput(in, "must have shape (dim,) or (1, dim), not " + std::to_string(shape.size()) +
                             " dimensions");
  const size_t n = static_cast<size_t>(shape.back());
  std::vector<float> v(n);
  const uint8_t* p = t->data.data();
  for (size_t i = 0; i < n; ++i) {
    switch (t->dtype) {
      case DType::kFloat16: {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        v[i] = HalfToFloat(h);
        break;
      }
      case DType::kFloat32:
        std::memcpy(&v[i], p + 4 * i, 4);
        break;
      case DType::kFloat64: {
        double d;
        std::memcpy(&d, p + 8 * i, 8);
        v[i] = static_cast<float>(d);
        break;
      }
      default:
        return BadOutput(
            in, "must be float16, float32 or float64, not " + std::string(DTypeName(t->dtype)));
    }
  }
  if (!AllFinite(v)) return BadOutput(in, "holds values that are not finite (as float32)");
  return v;
}

Result<OperatorOutput> ExecOperator::ParseJson(const OperatorInput& in, const ChildResult& r) {
  const json j = json::parse(AsChars(r.out), nullptr, false);
  if (!j.is_object())
    return BadOutput(in, "is no JSON object: \"" + err::Echo(AsChars(r.out)) + "\"");
  OperatorOutput out;
  for (const auto& [key, value] : j.items()) {
    if (key.empty() || key.starts_with("aifs."))
      return BadOutput(in, "has the key \"" + err::Echo(key) + "\" (empty or aifs.*)");
    if (value.is_string())
      out.metadata[key] = value.get<std::string>();
    else if (value.is_number() || value.is_boolean())
      out.metadata[key] = value.dump();
    else
      return BadOutput(
          in, "has a value for \"" + err::Echo(key) + "\" that is no string, number or boolean");
  }
  return out;
}

}  // namespace aifs
