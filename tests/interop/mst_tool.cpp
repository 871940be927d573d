// mst_tool: the snapshot Merkle tree from the command line, for
// tests/interop/mst_vectors.py (an independent Python implementation).
//
//   mst_tool counters N...   IDs = BLAKE3("0") .. BLAKE3("N-1"); per N prints
//                            "N <root hex> <height> <count>"
//   mst_tool root            IDs as hex lines on stdin (any order, no
//                            duplicates); prints "<root hex> <height> <count>"
//   mst_tool prove ID        IDs on stdin; prints the inclusion proof of ID,
//                            one node encoding (hex) per line, root first
//
// Exit status 1 with a message on stderr on any error.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "aifs/core/blake3.h"
#include "aifs/core/hex.h"
#include "aifs/snapshot/mst.h"

namespace {

using aifs::Digest;

int Fail(const std::string& msg) {
  std::fprintf(stderr, "mst_tool: %s\n", msg.c_str());
  return 1;
}

bool ParseId(const std::string& hex, Digest& out) {
  auto b = aifs::HexDecode(hex);
  if (!b || b->size() != out.size()) return false;
  std::copy(b->begin(), b->end(), out.begin());
  return true;
}

std::string Hex(const Digest& d) { return aifs::HexEncode(aifs::ByteSpan(d.data(), d.size())); }

bool ReadIds(std::vector<Digest>& ids, std::string& error) {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    Digest d;
    if (!ParseId(line, d)) {
      error = "not a 64-digit lowercase hex ID: " + line;
      return false;
    }
    ids.push_back(d);
  }
  std::sort(ids.begin(), ids.end());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Fail("usage: mst_tool counters N... | root | prove ID");
  const std::string cmd = argv[1];
  aifs::InMemoryMstNodeStore store;
  if (cmd == "counters") {
    for (int i = 2; i < argc; ++i) {
      const unsigned long n = std::stoul(argv[i]);
      std::vector<Digest> ids;
      for (unsigned long k = 0; k < n; ++k)
        ids.push_back(aifs::Blake3::Hash(aifs::AsBytes(std::to_string(k))));
      std::sort(ids.begin(), ids.end());
      auto r = aifs::BuildMst(ids, store);
      if (!r.ok()) return Fail(r.status().ToString());
      std::printf("%lu %s %u %llu\n", n, Hex(r->hash).c_str(), unsigned{r->height},
                  static_cast<unsigned long long>(r->count));
    }
    return 0;
  }
  if (cmd == "root" || cmd == "prove") {
    std::vector<Digest> ids;
    std::string error;
    if (!ReadIds(ids, error)) return Fail(error);
    auto r = aifs::BuildMst(ids, store);
    if (!r.ok()) return Fail(r.status().ToString());
    if (cmd == "root") {
      std::printf("%s %u %llu\n", Hex(r->hash).c_str(), unsigned{r->height},
                  static_cast<unsigned long long>(r->count));
      return 0;
    }
    Digest id;
    if (argc != 3 || !ParseId(argv[2], id)) return Fail("usage: mst_tool prove ID < ids");
    auto path = aifs::ProveInclusion(*r, id, store);
    if (!path.ok()) return Fail(path.status().ToString());
    aifs::Status st = aifs::VerifyInclusion(r->hash, id, *path);
    if (!st.ok()) return Fail(st.ToString());
    for (const aifs::MstNode& node : *path) {
      const std::string enc = node.Encode();
      std::printf("%s\n", aifs::HexEncode(aifs::AsBytes(enc)).c_str());
    }
    return 0;
  }
  return Fail("unknown command " + cmd);
}
