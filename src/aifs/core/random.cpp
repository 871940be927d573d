#include "aifs/core/random.h"

#include <openssl/rand.h>

#include <climits>

namespace aifs {

Status SecureRandom(MutableByteSpan out) {
  if (out.size() > INT_MAX || RAND_bytes(out.data(), static_cast<int>(out.size())) != 1)
    return err::Internal("RANDOM_FAILED", "the system random generator failed");
  return Status::Ok();
}

}  // namespace aifs
