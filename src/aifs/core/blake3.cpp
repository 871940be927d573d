#include "aifs/core/blake3.h"

#include <blake3.h>

namespace aifs {

static_assert(sizeof(blake3_hasher) <= 2048, "grow Blake3::state_");

static blake3_hasher* H(unsigned char* s) { return reinterpret_cast<blake3_hasher*>(s); }
static const blake3_hasher* H(const unsigned char* s) {
  return reinterpret_cast<const blake3_hasher*>(s);
}

Blake3::Blake3() { blake3_hasher_init(H(state_)); }
Blake3::Blake3(const Digest& key) { blake3_hasher_init_keyed(H(state_), key.data()); }
Blake3::~Blake3() = default;

void Blake3::Update(ByteSpan data) { blake3_hasher_update(H(state_), data.data(), data.size()); }

Digest Blake3::Finalize() const {
  Digest d;
  blake3_hasher_finalize(H(state_), d.data(), d.size());
  return d;
}

Digest Blake3::Hash(ByteSpan data) {
  Blake3 h;
  h.Update(data);
  return h.Finalize();
}

}  // namespace aifs
