#include "aifs/api/api.h"

namespace aifs {

Status AssetWriter::WriteFrom(const FillFn& fill) {
  Bytes buffer(size_t{4} << 20);
  for (;;) {
    AIFS_ASSIGN_OR_RETURN(const size_t n, fill(MutableByteSpan(buffer)));
    if (n == 0) return Status::Ok();
    AIFS_RETURN_IF_ERROR(Write(ByteSpan(buffer.data(), n)));
  }
}

}  // namespace aifs
