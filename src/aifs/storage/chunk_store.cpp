#include "aifs/storage/chunk_store.h"

#include "aifs/storage/file_chunk_store.h"
#include "aifs/storage/rados_chunk_store.h"
#include "aifs/storage/s3_chunk_store.h"

namespace aifs {

Status ChunkStore::GetRange(const std::string& name, uint64_t offset, uint64_t length, Bytes& out) {
  Bytes whole;
  AIFS_RETURN_IF_ERROR(Get(name, whole));
  if (offset > whole.size() || whole.size() - offset < length)
    return err::DataLoss("CHUNK_TRUNCATED", "chunk object " + name + " is shorter than " +
                                                std::to_string(offset + length) + " bytes");
  out.assign(whole.begin() + static_cast<ptrdiff_t>(offset),
             whole.begin() + static_cast<ptrdiff_t>(offset + length));
  return Status::Ok();
}

Result<std::unique_ptr<ChunkStore>> OpenChunkStore(const std::string& url, bool create) {
  constexpr std::string_view kFile = "file://";
  constexpr std::string_view kRados = "rados://";
  if (url.starts_with(kFile)) return FileChunkStore::Open(url.substr(kFile.size()), create);
  if (url.starts_with(kRados)) return RadosChunkStore::Open(url, create);
  if (url.starts_with("s3://")) return S3ChunkStore::Open(url, create);
  return err::InvalidArgument("UNSUPPORTED_CHUNK_STORE",
                              "no chunk store backend for '" + url + "'");
}

}  // namespace aifs
