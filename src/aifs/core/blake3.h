// BLAKE3-256: asset IDs, chunk hashes, read-time verification.
#pragma once

#include <array>
#include <cstring>

#include "aifs/core/bytes.h"

namespace aifs {

using Digest = std::array<uint8_t, 32>;

// For hash tables keyed by digests: a digest is already uniform, so its
// first bytes are the hash.
struct DigestHash {
  size_t operator()(const Digest& d) const noexcept {
    size_t h;
    static_assert(sizeof(h) <= sizeof(Digest));
    std::memcpy(&h, d.data(), sizeof(h));
    return h;
  }
};

// Incremental hasher; Update() may be called any number of times.
class Blake3 {
 public:
  Blake3();
  // Keyed mode (BLAKE3 keyed_hash) for MACs and domain-separated IDs.
  explicit Blake3(const Digest& key);
  ~Blake3();
  Blake3(const Blake3&) = delete;
  Blake3& operator=(const Blake3&) = delete;

  void Update(ByteSpan data);
  Digest Finalize() const;

  static Digest Hash(ByteSpan data);

 private:
  alignas(64) unsigned char state_[2048];  // opaque blake3_hasher storage
};

}  // namespace aifs
