// Interop helper for tests/interop/test_embed_python.sh.
//   embed_tool write OUT.fb   writes the fixed EmbedRecord below with EncodeEmbed
//   embed_tool read IN.fb     decodes with DecodeEmbed and prints the record as JSON;
//                             on rejection prints "<CODE> <REASON>: msg" to stderr, exit 1
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "aifs/core/hex.h"
#include "aifs/kinds/embed.h"

namespace {

aifs::EmbedRecord KnownRecord() {
  aifs::EmbedRecord r;
  r.model = "aifs-test/minilm-l6-v2";
  r.model_digest = "blake3:9f4e0d6c2a1b";
  r.dim = 4;
  r.metric = aifs::Metric::kL2;
  // Values exactly representable in float16 too, so the FLOAT16 variant the
  // Python side builds decodes to the same record.
  r.vectors = {{0.5f, -1.25f, 3.0f, 0.09375f}, {1.0f, 2.0f, -3.5f, 1024.0f}, {0.0f, -0.125f, 7.75f, -65504.0f}};
  std::array<uint8_t, 32> src;
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 7 + 1);
  r.source = src;
  r.chunk_index = 7;
  r.metadata = {{"lang", "en"}, {"split", "train"}, {"\xc3\xbcnicode", "caf\xc3\xa9"}};
  return r;
}

nlohmann::json ToJson(const aifs::EmbedRecord& r) {
  nlohmann::json j;
  j["model"] = r.model;
  j["model_digest"] = r.model_digest;
  j["dim"] = r.dim;
  j["metric"] = std::string(aifs::MetricName(r.metric));
  j["vectors"] = nlohmann::json::array();
  for (const auto& v : r.vectors) {
    nlohmann::json row = nlohmann::json::array();
    for (float f : v) row.push_back(static_cast<double>(f));
    j["vectors"].push_back(row);
  }
  j["source"] = r.source ? nlohmann::json(aifs::HexEncode(*r.source)) : nlohmann::json(nullptr);
  j["chunk_index"] = r.chunk_index ? nlohmann::json(*r.chunk_index) : nlohmann::json(nullptr);
  j["metadata"] = nlohmann::json::object();
  for (const auto& [k, v] : r.metadata) j["metadata"][k] = v;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: embed_tool write OUT.fb | read IN.fb\n");
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "write") {
    aifs::Bytes out;
    aifs::Status st = aifs::EncodeEmbed(KnownRecord(), out);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      return 1;
    }
    std::ofstream f(argv[2], std::ios::binary);
    f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
    return f ? 0 : 1;
  }
  if (cmd == "read") {
    std::ifstream f(argv[2], std::ios::binary);
    if (!f) {
      std::fprintf(stderr, "cannot open %s\n", argv[2]);
      return 2;
    }
    aifs::Bytes in((std::istreambuf_iterator<char>(f)), {});
    auto r = aifs::DecodeEmbed(in);
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
      return 1;
    }
    std::cout << ToJson(*r).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::fprintf(stderr, "unknown command %s\n", argv[1]);
  return 2;
}
