// Cryptographically secure random bytes (OpenSSL's DRBG).
#pragma once

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"

namespace aifs {

Status SecureRandom(MutableByteSpan out);

}  // namespace aifs
