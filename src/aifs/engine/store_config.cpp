#include "aifs/engine/store_config.h"

#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <array>

#include "aifs/core/file_util.h"
#include "aifs/core/hex.h"
#include "aifs/core/random.h"
#include "aifs/storage/chunk_sealer.h"

namespace aifs {

std::string StoreConfigPath(const std::string& data_dir) { return data_dir + "/aifs.json"; }

Result<std::string> NewStoreId() {
  std::array<uint8_t, 16> id;
  AIFS_RETURN_IF_ERROR(SecureRandom(id));
  return HexEncode(id);
}

std::string ResolveStoreUrl(const std::string& url, const std::string& data_dir) {
  // Only local files may be relative; databases, clusters, buckets and HSMs
  // ("postgresql://user@host/db", "rados://pool?...", "s3://bucket?...",
  // "pkcs11:...") name no directory.
  if (!url.starts_with("file://") && !url.starts_with("rocksdb://") && !url.starts_with("local://"))
    return url;
  size_t sep = url.find("://");
  if (sep == std::string::npos) return url;
  std::string path = url.substr(sep + 3);
  if (path.starts_with("/")) return url;
  return url.substr(0, sep + 3) + data_dir + "/" + path;
}

Result<store::v1::StoreConfig> LoadStoreConfig(const std::string& data_dir) {
  const std::string path = StoreConfigPath(data_dir);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return err::FailedPrecondition("STORE_NOT_INITIALIZED",
                                   "no AIFS store in " + data_dir + " (run `aifs init`)");
  AIFS_ASSIGN_OR_RETURN(std::string json, ReadFileToString(path));
  store::v1::StoreConfig config;
  if (!google::protobuf::util::JsonStringToMessage(json, &config).ok())
    return err::DataLoss("CONFIG_CORRUPT", path + " is not a valid store config");
  if (config.format_version() < kOldestStoreFormatVersion ||
      config.format_version() > kStoreFormatVersion)
    return err::FailedPrecondition("UNSUPPORTED_FORMAT",
                                   "store format " + std::to_string(config.format_version()) +
                                       " is not supported by this build");
  return config;
}

Status WriteStoreConfig(const std::string& data_dir, const store::v1::StoreConfig& config) {
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(config, &json, print);
  return WriteFileAtomic(StoreConfigPath(data_dir), json, 0600);
}

uint32_t SegmentSizeOf(const store::v1::StoreConfig& config) {
  return config.segment_size() ? config.segment_size() : kDefaultSegmentSize;
}

}  // namespace aifs
