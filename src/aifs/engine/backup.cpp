// Engine::Backup and RestoreBackup: an online, consistent copy of a store's
// metadata, configuration and keys, and a new store made from one.
//
// A backup directory holds:
//   backup.json        what it is: format, time, metadata sequence, source
//   aifs.json          the store's configuration
//   meta/              a RocksDB checkpoint (hard links where possible)
//   kms/master.keys    the keyfile KMS's keys (not for an HSM: it keeps them)
#include <nlohmann/json.hpp>

#include <filesystem>

#include "aifs/core/clock.h"
#include "aifs/core/file_util.h"
#include "aifs/engine/engine.h"
#include "aifs/engine/recovery.h"
#include "aifs/engine/store_config.h"
#include "aifs/meta/rocksdb/rocksdb_meta_store.h"
#include "aifs/storage/chunk_store.h"

namespace aifs {

namespace fs = std::filesystem;

namespace {

constexpr const char* kBackupFormat = "aifs-backup 1";
constexpr const char* kKeyfileScheme = "local://";

Status FsError(const std::string& what, const std::error_code& ec) {
  if (ec == std::errc::no_space_on_device)
    return err::ResourceExhausted("STORAGE_FULL", what + ": " + ec.message());
  return err::Unavailable("BACKUP_IO_ERROR", what + ": " + ec.message());
}

// Files and bytes under `dir`.
std::pair<uint64_t, uint64_t> CountFiles(const std::string& dir) {
  uint64_t files = 0, bytes = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    ++files;
    bytes += e.file_size();
  }
  return {files, bytes};
}

// The keyfile of a `local://` KMS URL resolved against the data directory.
std::string KeyfilePath(const std::string& kms_url, const std::string& data_dir) {
  const std::string resolved = ResolveStoreUrl(kms_url, data_dir);
  return resolved.substr(std::string_view(kKeyfileScheme).size());
}

}  // namespace

Result<BackupReport> Engine::Backup(const std::string& dir) {
  AIFS_RETURN_IF_ERROR(RequireWritable(SpaceUse::kNone));
  if (dir.empty() || dir.front() != '/')
    return err::InvalidArgument("BAD_BACKUP_DIR", "the backup directory must be an absolute path");
  std::error_code ec;
  if (fs::exists(dir, ec)) return err::AlreadyExists("BACKUP_EXISTS", dir + " already exists");
  // Writes go to a scratch name first: a backup that exists is complete.
  const std::string scratch = dir + ".partial";
  fs::remove_all(scratch, ec);
  AIFS_RETURN_IF_ERROR(MakeDirs(scratch, 0700));
  auto cleanup = [&](Status st) {
    std::error_code ignored;
    fs::remove_all(scratch, ignored);
    return st;
  };

  BackupReport report;
  report.dir = dir;
  auto seq = ctx_->meta->Checkpoint(scratch + "/meta");
  if (!seq.ok()) return cleanup(seq.status());
  report.sequence = *seq;
  Status st = CopyFile(StoreConfigPath(ctx_->data_dir), scratch + "/aifs.json");
  const std::string& kms_url = ctx_->config.kms_url();
  report.keys_included = kms_url.starts_with(kKeyfileScheme);
  if (st.ok() && report.keys_included) {
    st = MakeDirs(scratch + "/kms", 0700);
    if (st.ok()) st = CopyFile(KeyfilePath(kms_url, ctx_->data_dir), scratch + "/kms/master.keys");
  }
  if (!st.ok()) return cleanup(st);
  nlohmann::json manifest = {{"format", kBackupFormat},
                             {"created_unix_ns", NowUnixNanos()},
                             {"sequence", report.sequence},
                             {"source", ctx_->data_dir},
                             {"meta_url", ctx_->meta->Url()},
                             {"chunk_url", ctx_->chunks->Url()},
                             {"kms_url", kms_url},
                             {"keys_included", report.keys_included}};
  st = WriteFileAtomic(scratch + "/backup.json", manifest.dump(2) + "\n", 0600);
  if (!st.ok()) return cleanup(st);
  std::tie(report.files, report.bytes) = CountFiles(scratch);
  fs::rename(scratch, dir, ec);
  if (ec) return cleanup(FsError("renaming the backup into place", ec));
  AIFS_RETURN_IF_ERROR(FsyncDir(fs::path(dir).parent_path().string()));
  return report;
}

Result<RestoreReport> RestoreBackup(const RestoreOptions& options) {
  const std::string& from = options.backup_dir;
  const std::string& to = options.data_dir;
  auto manifest_text = ReadFileToString(from + "/backup.json");
  if (!manifest_text.ok())
    return err::InvalidArgument("BACKUP_INVALID", from + " is not an AIFS backup (no backup.json)");
  nlohmann::json manifest = nlohmann::json::parse(*manifest_text, nullptr, false);
  if (manifest.is_discarded() || manifest.value("format", "") != kBackupFormat)
    return err::InvalidArgument("BACKUP_INVALID",
                                from + "/backup.json is not a backup manifest this build reads");
  std::error_code ec;
  if (fs::exists(StoreConfigPath(to), ec))
    return err::AlreadyExists("STORE_ALREADY_INITIALIZED", "an AIFS store already exists in " + to);
  AIFS_ASSIGN_OR_RETURN(store::v1::StoreConfig config, LoadStoreConfig(from));

  RestoreReport report;
  report.sequence = manifest.value("sequence", uint64_t{0});
  report.keys_included = manifest.value("keys_included", false);
  AIFS_RETURN_IF_ERROR(MakeDirs(to, 0700));
  // A copy, not links: the restored store writes into its files.
  AIFS_RETURN_IF_ERROR(CopyTree(from + "/meta", to + "/meta"));
  report.meta_files = CountFiles(to + "/meta").first;
  // A high-water mark left by an earlier store here would not match.
  fs::remove(RocksDbMetaStore::HighWaterPath(to + "/meta"), ec);
  if (report.keys_included) {
    AIFS_RETURN_IF_ERROR(MakeDirs(to + "/kms", 0700));
    AIFS_RETURN_IF_ERROR(CopyFile(from + "/kms/master.keys", KeyfilePath(config.kms_url(), to)));
  }
  // The restored store keeps its chunks in its own directory, so its gc can
  // never reach the objects of the store the backup came from.
  config.set_meta_url("rocksdb://meta");
  config.set_chunk_url("file://chunks");
  AIFS_RETURN_IF_ERROR(OpenChunkStore(ResolveStoreUrl(config.chunk_url(), to), true).status());
  if (!options.chunks_dir.empty()) {
    for (const auto& e : fs::recursive_directory_iterator(options.chunks_dir, ec)) {
      if (!e.is_regular_file()) continue;
      const std::string name = e.path().filename().string();
      if (name.find('.') != std::string::npos) continue;  // a killed put's temp file
      const std::string target =
          to + "/chunks/" + e.path().parent_path().filename().string() + "/" + name;
      std::error_code link_ec;
      fs::create_hard_link(e.path(), target, link_ec);
      if (!link_ec) {
        ++report.chunk_objects_linked;
      } else if (link_ec == std::errc::file_exists) {
        continue;
      } else {
        AIFS_RETURN_IF_ERROR(CopyFile(e.path().string(), target));
      }
      ++report.chunk_objects;
    }
    if (ec) return FsError("reading " + options.chunks_dir, ec);
  }
  // Last: a restore that stopped half-way is not a store, and is run again.
  AIFS_RETURN_IF_ERROR(WriteStoreConfig(to, config));
  return report;
}

}  // namespace aifs
