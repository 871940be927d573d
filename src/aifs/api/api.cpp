#include "aifs/api/api.h"

namespace aifs {

Status AssetWriter::WriteFrom(const FillFn& fill) {
  // Write() copies what it is given, so one buffer per thread serves every
  // put (a fresh 4 MiB per call cost each small file of `put -r` a memset).
  thread_local Bytes buffer(size_t{4} << 20);
  for (;;) {
    AIFS_ASSIGN_OR_RETURN(const size_t n, fill(MutableByteSpan(buffer)));
    if (n == 0) return Status::Ok();
    AIFS_RETURN_IF_ERROR(Write(ByteSpan(buffer.data(), n)));
  }
}

}  // namespace aifs
