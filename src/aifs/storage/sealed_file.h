// SealedFile: a whole file encrypted and authenticated with AES-256-GCM under
// a record key, in 1 MiB segments, for derived files that would otherwise
// hold plaintext at rest (the vector index checkpoints).
//
// Layout (docs/storage-format.md, "Sealed files"):
//   "AIFSSEF1" | key tag (8) | nonce base (12) | segment 0 | segment 1 | ...
// Every segment is ciphertext of 1 MiB of plaintext (the last one shorter,
// possibly empty) followed by its 16-byte GCM tag. Segment i is sealed with
// the nonce base whose last 8 bytes are XORed with i (big-endian), and
// AAD = "aifs/sealed-file/v1" 0x00 | the 28 header bytes | i (u64 LE) |
// 1 if it is the last segment else 0 | context. So a file cut, extended,
// reordered or moved to another context (another index) does not open.
//
// Memory is one segment at a time, whatever the file size. Thread-safe
// (pure functions). Writes are not atomic by themselves: callers write into
// a temporary location and rename (the files are fsynced before return).
#pragma once

#include <string>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"
#include "aifs/storage/sealed_value.h"

namespace aifs {

// Seals the bytes of `src_fd` (from offset 0 to its size) into a new file
// `path` (mode 0600, replaced if present). I/O errors map through errno.
Status WriteSealedFile(const RecordKey& key, ByteSpan context, int src_fd, const std::string& path);
Status WriteSealedFile(const RecordKey& key, ByteSpan context, ByteSpan data,
                       const std::string& path);

// Opens `path` and writes the plaintext to `dst_fd` (at its current offset)
// or returns it. A wrong key, another context, a cut or any changed byte is
// DATA_LOSS `fail_reason`; nothing unauthenticated is written past the
// segment that failed (callers discard the output on error).
Status ReadSealedFile(const RecordKey& key, ByteSpan context, const std::string& path, int dst_fd,
                      const char* fail_reason);
Result<std::string> ReadSealedFile(const RecordKey& key, ByteSpan context, const std::string& path,
                                   const char* fail_reason);

// The record key tag a sealed file names; nullopt when `path` does not start
// like a sealed file (an older plaintext checkpoint, say). I/O errors too
// are nullopt: the read that follows reports them.
std::optional<KeyTag> SealedFileTag(const std::string& path);

}  // namespace aifs
