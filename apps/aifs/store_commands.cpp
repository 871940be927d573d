// `aifs verify`, `gc`, `key`, `info`, `backup`, `restore`, `recover`.
#include "store_commands.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "progress.h"

namespace aifs::cli {

using nlohmann::json;

namespace {

void PrintJson(const json& j) { std::cout << j.dump(2) << "\n"; }

json MetadataJson(const MetadataCheck& m) {
  return {{"meta_url", m.meta_url},           {"sequence", m.sequence},
          {"high_water", m.high_water},       {"files_checked", m.files_checked},
          {"bytes_checked", m.bytes_checked}, {"not_checked", m.not_checked}};
}

void PrintList(const char* title, const std::vector<std::string>& items) {
  if (items.empty()) return;
  std::cout << title << ":\n";
  for (const std::string& i : items) std::cout << "  " << i << "\n";
}

}  // namespace

Status Verify(Api& api, const Output& out, const std::string& ns,
              const std::vector<std::string>& refs, bool all_ns) {
  AIFS_ASSIGN_OR_RETURN(auto uris, ResolveRefs(refs, ns));
  if (uris.empty()) {
    std::vector<std::string> namespaces{NsOrDefault(ns)};
    if (all_ns) {
      namespaces.clear();
      AIFS_ASSIGN_OR_RETURN(auto list, api.ListNamespaces());
      for (const auto& n : list) namespaces.push_back(n.name);
    }
    for (const auto& n : namespaces) {
      ListOptions opts;
      opts.ns = n;
      do {
        AIFS_ASSIGN_OR_RETURN(AssetPage page, api.ListAssets(opts));
        for (const AssetInfo& a : page.assets) uris.push_back(a.Uri());
        opts.page_token = page.next_page_token;
      } while (!opts.page_token.empty());
    }
  }
  json results = json::array();
  size_t failed = 0;
  uint64_t bytes = 0;
  Status first_failure;
  for (const AssetUri& u : uris) {
    AIFS_ASSIGN_OR_RETURN(VerifyReport r, api.VerifyAsset(*u.ns, u.id));
    bytes += r.bytes_checked;
    if (!r.result.ok()) {
      ++failed;
      if (first_failure.ok()) first_failure = r.result;
    }
    if (out.json) {
      json e = {{"uri", u.ToString()},
                {"ok", r.result.ok()},
                {"chunks", r.chunks_checked},
                {"bytes", r.bytes_checked}};
      if (!r.result.ok()) e["reason"] = r.result.reason(), e["message"] = r.result.message();
      results.push_back(e);
    } else if (!r.result.ok() || !out.quiet) {
      std::cout << (r.result.ok() ? "ok      " : "FAILED  ") << u.ToString()
                << (r.result.ok() ? "" : "  " + r.result.ToString()) << "\n";
    }
  }
  AIFS_ASSIGN_OR_RETURN(MetadataCheck meta, api.CheckMetadata());
  AIFS_ASSIGN_OR_RETURN(GcReport gc, api.CollectGarbage(/*dry_run=*/true));
  if (out.json) {
    PrintJson({{"assets", uris.size()},
               {"failed", failed},
               {"bytes_checked", bytes},
               {"orphan_objects", gc.orphan_objects},
               {"orphan_bytes", gc.orphan_bytes},
               {"metadata", MetadataJson(meta)},
               {"results", results}});
  } else if (!out.quiet) {
    if (!meta.not_checked.empty())
      std::cout << "metadata: not checked here (" << meta.not_checked << ")\n";
    else
      std::cout << "metadata: " << meta.meta_url << " whole, sequence " << meta.sequence
                << (meta.high_water
                        ? " (committed high water " + std::to_string(meta.high_water) + ")"
                        : "")
                << ", " << meta.files_checked << " files (" << HumanBytes(meta.bytes_checked)
                << ") re-read\n";
    std::cout << uris.size() - failed << "/" << uris.size() << " assets verified, "
              << HumanBytes(bytes) << " checked; " << gc.orphan_objects
              << " orphaned chunk objects (" << HumanBytes(gc.orphan_bytes)
              << "), reclaim with `aifs gc`\n";
  }
  if (failed)
    return Status(first_failure.code(), first_failure.reason(),
                  std::to_string(failed) + " of " + std::to_string(uris.size()) +
                      " assets failed verification; first: " + first_failure.message());
  return Status::Ok();
}

Status Gc(Api& api, const Output& out, bool dry_run) {
  AIFS_ASSIGN_OR_RETURN(GcReport r, api.CollectGarbage(dry_run));
  if (out.json) {
    PrintJson({{"dry_run", r.dry_run},
               {"objects_scanned", r.objects_scanned},
               {"orphan_objects", r.orphan_objects},
               {"orphan_bytes", r.orphan_bytes},
               {"reclaimed_objects", r.reclaimed_objects},
               {"assets_released", r.assets_released},
               {"chunks_released", r.chunks_released},
               {"bytes_released", r.bytes_released},
               {"assets_retained", r.assets_retained},
               {"objects_leased", r.objects_leased},
               {"leases_revoked", r.leases_revoked},
               {"packs_rewritten", r.packs_rewritten},
               {"pack_bytes_freed", r.pack_bytes_freed}});
  } else {
    std::cout << r.assets_released << " removed assets "
              << (dry_run ? "no snapshot holds (to release)" : "released") << " ("
              << r.chunks_released << " chunks, " << HumanBytes(r.bytes_released) << "), "
              << r.assets_retained << " kept for snapshots\n";
    std::cout << r.objects_scanned << " objects scanned, " << r.orphan_objects << " orphaned ("
              << HumanBytes(r.orphan_bytes) << ")"
              << (dry_run ? ", nothing deleted (dry run)"
                          : ", " + std::to_string(r.reclaimed_objects) + " reclaimed");
    if (r.objects_leased)
      std::cout << ", " << r.objects_leased << " left to other servers' puts in flight";
    std::cout << "\n";
    if (r.packs_rewritten)
      std::cout << r.packs_rewritten << " packs of small chunks "
                << (dry_run ? "to rewrite" : "rewritten") << " (" << HumanBytes(r.pack_bytes_freed)
                << (dry_run ? " to free" : " freed") << ")\n";
  }
  return Status::Ok();
}

Status KeyRotate(Api& api, const Output& out) {
  AIFS_ASSIGN_OR_RETURN(std::string key, api.RotateKey());
  if (out.json)
    PrintJson({{"current_key", key}});
  else
    std::cout << "new chunks are now sealed with " << key << "\n";
  return Status::Ok();
}

Status KeyRewrap(Api& api, const Output& out, const RewrapOptions& options) {
  AIFS_ASSIGN_OR_RETURN(RewrapReport r, api.RewrapKeys(options, nullptr));
  if (out.json) {
    PrintJson({{"target_key", r.target_key},
               {"resumed", r.resumed},
               {"complete", r.complete},
               {"chunks_scanned", r.chunks_scanned},
               {"chunks_rewrapped", r.chunks_rewrapped},
               {"namespaces_rewrapped", r.namespaces_rewrapped},
               {"root_keys_rewrapped", r.root_keys_rewrapped},
               {"records_resealed", r.records_resealed},
               {"vectors_resealed", r.vectors_resealed},
               {"compacted", r.compacted}});
    return Status::Ok();
  }
  std::cout << (r.resumed ? "resumed: " : "") << "rewrapped " << r.chunks_rewrapped << " of "
            << r.chunks_scanned << " chunk keys and " << r.namespaces_rewrapped
            << " signing keys and " << r.root_keys_rewrapped << " token root keys to "
            << r.target_key << "\n";
  if (r.records_resealed || r.vectors_resealed || r.compacted)
    std::cout << "sealed " << r.records_resealed << " metadata records and " << r.vectors_resealed
              << " vectors written in clear by format 1"
              << (r.compacted ? "; metadata compacted, no file keeps them in clear" : "") << "\n";
  if (!r.complete) std::cout << "stopped early; run `aifs key rewrap` again to go on\n";
  return Status::Ok();
}

Status Upgrade(Engine& engine, const Output& out, const UpgradeOptions& options) {
  AIFS_ASSIGN_OR_RETURN(UpgradeReport r, engine.Upgrade(options, nullptr));
  if (out.json) {
    PrintJson({{"complete", r.complete},
               {"chunks_scanned", r.chunks_scanned},
               {"chunks_rewritten", r.chunks_rewritten},
               {"bytes_rewritten", r.bytes_rewritten},
               {"assets_scanned", r.assets_scanned},
               {"asset_tables_written", r.asset_tables_written}});
    return Status::Ok();
  }
  std::cout << "rewrote " << r.chunks_rewritten << " of " << r.chunks_scanned
            << " chunks in segments (" << r.bytes_rewritten << " bytes) and moved "
            << r.asset_tables_written << " of " << r.assets_scanned
            << " asset chunk lists to tables\n";
  if (!r.complete) std::cout << "stopped early; run `aifs upgrade` again to go on\n";
  return Status::Ok();
}

Status Info(Api& api, const Output& out) {
  AIFS_ASSIGN_OR_RETURN(StoreDescription d, api.DescribeStore());
  json j = {{"store_id", d.store_id},
            {"data_dir", d.data_dir},
            {"meta_url", d.meta_url},
            {"chunk_url", d.chunk_url},
            {"kms", d.kms_kind},
            {"kms_current_key", d.kms_current_key},
            {"chunking", {{"min", d.chunk_min}, {"avg", d.chunk_avg}, {"max", d.chunk_max}}},
            {"zstd_level", d.zstd_level},
            {"read_only", d.read_only}};
  if (out.json) {
    PrintJson(j);
  } else {
    std::cout << "store id:    " << (d.store_id.empty() ? "-" : d.store_id)
              << "\ndata dir:    " << d.data_dir << "\nmetadata:    " << d.meta_url
              << "\nchunks:      " << d.chunk_url << "\nkms:         " << d.kms_kind << " ("
              << d.kms_current_key << ")\nchunking:    min " << HumanBytes(d.chunk_min) << ", avg "
              << HumanBytes(d.chunk_avg) << ", max " << HumanBytes(d.chunk_max)
              << "\nzstd level:  " << d.zstd_level << "\n";
  }
  return Status::Ok();
}

Status Backup(Api& api, const Output& out, const std::string& dir) {
  AIFS_ASSIGN_OR_RETURN(BackupReport r, api.Backup(dir));
  if (out.json) {
    PrintJson({{"dir", r.dir},
               {"sequence", r.sequence},
               {"files", r.files},
               {"bytes", r.bytes},
               {"keys_included", r.keys_included}});
  } else if (!out.quiet) {
    std::cout << "backup of the metadata at sequence " << r.sequence << " in " << r.dir << " ("
              << r.files << " files, " << HumanBytes(r.bytes) << ")"
              << (r.keys_included ? ", with the store's keys (keep it as safe as they are)"
                                  : ", without keys (the HSM keeps them)")
              << "\nchunk objects are not in it: restore with `aifs restore " << r.dir
              << " --chunks DIR`\n";
  }
  return Status::Ok();
}

Status Restore(const Output& out, const RestoreOptions& options) {
  AIFS_ASSIGN_OR_RETURN(RestoreReport r, RestoreBackup(options));
  if (out.json) {
    PrintJson({{"data_dir", options.data_dir},
               {"sequence", r.sequence},
               {"meta_files", r.meta_files},
               {"chunk_objects", r.chunk_objects},
               {"chunk_objects_linked", r.chunk_objects_linked},
               {"keys_included", r.keys_included}});
  } else if (!out.quiet) {
    std::cout << "restored the metadata at sequence " << r.sequence << " into " << options.data_dir
              << " with " << r.chunk_objects << " chunk objects (" << r.chunk_objects_linked
              << " hard-linked)\n";
    if (options.chunks_dir.empty())
      std::cout << "no chunk objects given (--chunks): assets stay unreadable until they are "
                   "copied in\n";
    std::cout << "check it with `aifs --data " << options.data_dir << " verify --all-namespaces`\n";
  }
  return Status::Ok();
}

Status Recover(const Output& out, const RecoverOptions& options) {
  AIFS_ASSIGN_OR_RETURN(RecoverReport r, RecoverStore(options));
  if (out.json) {
    PrintJson({{"dry_run", r.dry_run},
               {"damaged", r.damaged},
               {"damage", r.damage},
               {"saved_copy", r.saved_copy},
               {"skipped", r.skipped},
               {"sequence", r.sequence},
               {"assets", r.assets},
               {"chunk_records", r.chunk_records},
               {"refcounts_fixed", r.refcounts_fixed},
               {"child_counts_fixed", r.child_counts_fixed},
               {"namespaces_fixed", r.namespaces_fixed},
               {"lost_assets", r.lost_assets},
               {"assets_rebuilt", r.assets_rebuilt},
               {"rebuilt", r.rebuilt},
               {"orphan_objects", r.orphan_objects},
               {"orphan_bytes", r.orphan_bytes},
               {"lost_found", r.lost_found}});
    return Status::Ok();
  }
  const char* would = r.dry_run ? "would be " : "";
  if (r.damaged) {
    std::cout << "metadata damaged: " << r.damage << "\n";
    if (!r.saved_copy.empty())
      std::cout << "the damaged metadata is kept in " << r.saved_copy << "\n";
    PrintList("skipped while salvaging", r.skipped);
    std::cout << "salvaged history ends at sequence " << r.sequence << "\n";
  } else {
    std::cout << "metadata opens cleanly (sequence " << r.sequence
              << "); checked its consistency\n";
  }
  std::cout << r.assets << " assets, " << r.chunk_records << " chunk records; " << r.refcounts_fixed
            << " chunk reference counts, " << r.child_counts_fixed << " child counts and "
            << r.namespaces_fixed << " namespace totals " << would << "corrected\n";
  std::cout << r.assets_rebuilt << " assets " << would
            << "rebuilt from chunks whose asset records were lost (metadata recovered=<time>)\n";
  PrintList("rebuilt", r.rebuilt);
  PrintList("LOST (data unreadable)", r.lost_assets);
  std::cout << r.orphan_objects << " chunk objects no record names (" << HumanBytes(r.orphan_bytes)
            << ") " << (r.dry_run ? "would be moved" : "moved") << " out of gc's reach"
            << (r.lost_found.empty() ? "" : " to " + r.lost_found) << "\n";
  return Status::Ok();
}

}  // namespace aifs::cli
