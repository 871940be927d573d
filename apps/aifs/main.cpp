// aifs: the command-line face of AIFS. This file only parses arguments (it is
// the one translation unit that includes CLI11) and dispatches to commands.h.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "admin_commands.h"
#include "aifs/client/remote_api.h"
#include "aifs/engine/engine.h"
#include "aifs/rpc/grpc_process.h"
#include "commands.h"
#include "history_commands.h"
#include "kind_commands.h"
#include "mount_commands.h"
#include "operator_commands.h"
#include "path_commands.h"
#include "query_commands.h"
#include "read_commands.h"
#include "store_commands.h"
#include "token_commands.h"
#include "url_commands.h"
#include "vector_commands.h"

namespace {

using aifs::Status;

struct Globals {
  std::string data_dir;
  aifs::RemoteOptions remote;  // remote mode when remote.target is set
  bool json = false;
  bool quiet = false;
  bool no_progress = false;
  size_t threads = 0;
  uint64_t cache_bytes = uint64_t{256} << 20;
  double lease_ttl_s = 30;
};

int Report(const Status& st, const Globals& g) {
  if (st.ok()) return 0;
  if (g.json) {
    nlohmann::json j = {{"error",
                         {{"code", std::string(aifs::CodeName(st.code()))},
                          {"reason", st.reason()},
                          {"message", st.message()}}}};
    std::cerr << j.dump() << "\n";
  } else {
    std::cerr << "aifs: error: " << st.ToString() << "\n";
  }
  return 1;
}

// After a failed parse: the word that was meant as a command but names none
// ("aifs mount", "aifs ns frob"), as an error that says so. CLI11 itself only
// reports that a subcommand is required, or that arguments were left over.
std::optional<Status> UnknownCommand(const CLI::App& app) {
  const CLI::App* cur = &app;
  std::string path = "aifs";
  for (bool deeper = true; deeper;) {
    deeper = false;
    for (const CLI::App* sub : cur->get_subcommands()) {
      cur = sub;
      path += " " + sub->get_name();
      deeper = true;
      break;
    }
  }
  if (cur->get_require_subcommand_min() == 0) return {};  // a leaf: extra arguments, not a command
  for (const std::string& word : app.remaining(true)) {
    if (word.starts_with("-")) continue;
    return aifs::err::InvalidArgument("UNKNOWN_COMMAND", "unknown command '" + word + "' for '" +
                                                             path + "' (see " + path +
                                                             " --help for the commands)");
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  aifs::rpc::SkipMutexDeadlockDetection();  // before any thread
  Globals g;
  const char* env_data = std::getenv("AIFS_DATA");
  g.data_dir = env_data && *env_data ? env_data : "./aifs-data";
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  g.remote.target = env("AIFS_SERVER");
  g.remote.tls_ca_file = env("AIFS_TLS_CA");
  g.remote.tls_cert_file = env("AIFS_TLS_CERT");
  g.remote.tls_key_file = env("AIFS_TLS_KEY");
  std::string token = env("AIFS_TOKEN");

  CLI::App app{"AIFS: content-addressed, encrypted, deduplicating storage for ML assets"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  app.option_defaults()->always_capture_default();
  app.add_option("--data", g.data_dir, "data directory (default: $AIFS_DATA or ./aifs-data)");
  app.add_flag("--json", g.json, "machine-readable output");
  app.add_flag("-q,--quiet", g.quiet, "print only what scripts need");
  app.add_flag("--no-progress", g.no_progress, "never draw a progress bar");
  app.add_option("--threads", g.threads, "worker threads (default: one per core)");
  app.add_option("--cache-size", g.cache_bytes,
                 "memory for opened chunk segments, e.g. 1GiB or 0 (default 256 MiB)")
      ->transform(CLI::AsSizeValue(false));
  app.add_option("--lease-ttl", g.lease_ttl_s,
                 "seconds the chunks this process writes stay safe from any server's gc "
                 "after it dies (default 30)");
  app.add_option("--server", g.remote.target,
                 "use the AIFS server at host:port instead of --data (default: $AIFS_SERVER)");
  app.add_option("--tls-ca", g.remote.tls_ca_file,
                 "remote: CA certificate to verify the server with; enables TLS ($AIFS_TLS_CA)");
  app.add_option("--tls-client-cert", g.remote.tls_cert_file,
                 "remote: client certificate for mutual TLS ($AIFS_TLS_CERT)");
  app.add_option("--tls-client-key", g.remote.tls_key_file,
                 "remote: client key for mutual TLS ($AIFS_TLS_KEY)");
  app.add_option("--token", token,
                 "remote: the AIFS token sent with every call, or @FILE to read it ($AIFS_TOKEN)");
  app.add_option("--tls-server-name", g.remote.tls_server_name,
                 "remote: the name to expect in the server certificate");
  app.add_flag("--no-zstd", [&](int64_t) { g.remote.zstd = aifs::RemoteOptions::Zstd::kOff; },
               "remote: never compress data frames");
  app.add_flag("--zstd", [&](int64_t) { g.remote.zstd = aifs::RemoteOptions::Zstd::kOn; },
               "remote: compress data frames even on loopback (default: only off loopback)");

  // The command to run once parsing succeeded, and whether it only reads.
  std::function<Status(aifs::Api&, const aifs::cli::Output&)> run;
  bool read_only = false;
  auto set = [&](bool ro, auto fn) {
    read_only = ro;
    run = fn;
  };

  // init
  aifs::InitOptions init;
  auto* init_cmd = app.add_subcommand("init", "create a new store in the data directory");
  init_cmd->add_option("--chunk-min", init.chunking.min_size, "minimum chunk size in bytes");
  init_cmd->add_option("--chunk-avg", init.chunking.avg_size, "average chunk size in bytes");
  init_cmd->add_option("--chunk-max", init.chunking.max_size, "maximum chunk size in bytes");
  init_cmd->add_option("--zstd-level", init.zstd_level, "zstd level per chunk (0: off)");
  init_cmd->add_option("--kms", init.kms_url,
                       "KMS URL (default: a keyfile in the data directory; "
                       "pkcs11:token=...: a key on an HSM, see docs/kms.md)");
  init_cmd->add_option("--meta", init.meta_url,
                       "metadata store URL (default: RocksDB in the data directory; "
                       "postgresql://user@host:port/db?schema=...: PostgreSQL, see "
                       "docs/scale-out.md)");
  init_cmd->add_option("--chunks", init.chunk_url,
                       "chunk store URL (default: a directory in the data directory; "
                       "rados://pool?conf=...&id=...: Ceph RADOS; s3://bucket?endpoint=...: "
                       "S3, see docs/scale-out.md). With --meta naming a store other servers "
                       "use, init joins it");

  // ns
  auto* ns_cmd = app.add_subcommand("ns", "manage namespaces");
  ns_cmd->require_subcommand(1);
  std::string ns_name;
  std::vector<std::string> labels;
  auto* ns_create = ns_cmd->add_subcommand("create", "create a namespace");
  ns_create->add_option("name", ns_name)->required();
  ns_create->add_option("--label", labels, "label key=value (repeatable)");
  ns_create->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::NsCreate(api, out, ns_name, labels); });
  });
  ns_cmd->add_subcommand("ls", "list namespaces")->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::NsList(api, out); });
  });
  auto* ns_show = ns_cmd->add_subcommand("show", "show a namespace and its usage");
  ns_show->add_option("name", ns_name)->required();
  ns_show->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::NsShow(api, out, ns_name); });
  });
  auto* ns_rm = ns_cmd->add_subcommand("rm", "delete an empty namespace");
  ns_rm->add_option("name", ns_name)->required();
  ns_rm->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::NsRemove(api, out, ns_name); });
  });

  aifs::cli::PolicyArgs policy;
  auto* ns_policy = ns_cmd->add_subcommand("policy", "set quotas, compression and retention");
  ns_policy->add_option("name", policy.ns)->required();
  ns_policy->add_option("--max-bytes", policy.max_bytes, "quota on logical bytes (0: none)");
  ns_policy->add_option("--max-assets", policy.max_assets, "quota on assets (0: none)");
  ns_policy->add_option("--zstd-level", policy.zstd_level,
                        "chunk compression for new puts (0: off, -1: store default)");
  ns_policy->add_option("--keep-snapshots", policy.keep_snapshots,
                        "pruning keeps the newest N snapshots (0: no count limit)");
  ns_policy->add_option("--keep-seconds", policy.keep_seconds,
                        "pruning keeps snapshots younger than this (0: no age limit)");
  ns_policy->add_option("--keep-last", policy.keep_snapshots, "the same as --keep-snapshots");
  ns_policy->add_option("--keep-daily", policy.keep_daily,
                        "pruning keeps the newest snapshot of each of the last N UTC days");
  ns_policy->add_option("--keep-weekly", policy.keep_weekly, "... of each of the last N ISO weeks");
  ns_policy->add_option("--keep-monthly", policy.keep_monthly, "... of each of the last N months");
  ns_policy->add_option("--kms-key", policy.kms_key,
                        "KMS key wrapping new chunks' data keys (\"\": the current key)");
  ns_policy
      ->add_option("--segment-size", policy.segment_size,
                   "plaintext bytes per sealed segment of new chunks, 4KiB-16MiB, e.g. "
                   "16KiB for small random reads (0: the store's, 64 KiB by default)")
      ->transform(CLI::AsSizeValue(false));
  ns_policy->add_option("--quarantine-embeddings", policy.quarantine_embeddings,
                        "hold new vectors out of search until approved (true/false)");
  ns_policy->add_option("--dp-epsilon", policy.privacy.total,
                        "differential privacy: the total epsilon of aggregate queries (0: off)");
  ns_policy->add_option("--dp-max-query", policy.privacy.max_query,
                        "the most epsilon one query may spend (0: up to what is left)");
  ns_policy->add_option("--dp-delta", policy.privacy.total_delta,
                        "the total delta of gaussian queries, e.g. 1e-5 (0: gaussian refused)");
  ns_policy->add_option("--dp-max-query-delta", policy.privacy.max_query_delta,
                        "the most delta one query may spend (0: up to what is left)");
  ns_policy->add_option("--dp-unit", policy.privacy.unit_key,
                        "metadata key naming an individual (\"\": each asset is one)");
  ns_policy->add_option("--dp-contributions", policy.privacy.contributions,
                        "assets per individual a query counts");
  ns_policy->add_option("--dp-field", policy.privacy.fields,
                        "NAME:LOWER:UPPER[:DECIMALS], clamping bounds of a queryable field "
                        "(@size: asset bytes); repeatable");
  ns_policy->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::NsPolicy(api, out, policy); });
  });

  // put
  std::string ns_opt, ref;
  aifs::cli::EmbedArgs embed;
  aifs::cli::PutArgs& put = embed.put;
  auto* put_cmd = app.add_subcommand("put", "store a file (or - for stdin); prints its ID");
  put_cmd->add_option("file", put.path, "file to store, - for stdin (tensor: .npy, "
                                        ".safetensors or Arrow IPC)");
  put_cmd->add_option("--vector", put.path, "embed: .npy of one vector (dim) or many (n, dim)");
  put_cmd->add_option("--model", embed.model, "embed: model / embedding space name");
  put_cmd->add_option("--model-digest", embed.model_digest, "embed: model digest");
  put_cmd->add_option("--metric", embed.metric, "embed: cosine, l2 or inner_product");
  put_cmd->add_option("--source", embed.source, "embed: asset ID the vectors describe");
  put_cmd->add_option("--chunk-index", embed.chunk_index, "embed: chunk of the source");
  put_cmd->add_option("--ns", put.ns, "namespace (default: default)");
  put_cmd->add_option("--meta", put.meta, "metadata key=value (repeatable)");
  put_cmd->add_option("--kind", put.kind, "asset kind (blob)");
  put_cmd->add_option("--embed", put.embeds,
                      "attach a vector: SPACE=FILE.npy (float32, shape (dim,)); repeatable");
  put_cmd->add_option("--parent", put.parents,
                      "lineage parent ID[:transform[:digest]] (repeatable; must be committed)");
  put_cmd->add_option("--path", put.at_path, "bind this path of the namespace to the asset");
  bool put_recursive = false;
  aifs::cli::PutTreeArgs tree;
  put_cmd->add_flag("-r,--recursive", put_recursive,
                    "put every file under the directory, each at its relative path");
  put_cmd->add_option("--prefix", tree.prefix, "-r: prepend this to every path (e.g. train/)");
  put_cmd->add_option("-j,--jobs", tree.jobs, "-r: files put at once")->capture_default_str();
  put_cmd->callback([&] {
    if (put.path.empty()) throw CLI::ValidationError("put", "a file (or --vector) is required");
    set(false, [&](auto& api, auto& out) -> Status {
      if (put_recursive) {
        tree.dir = put.path;
        tree.ns = put.ns;
        return aifs::cli::PutTree(api, out, tree);
      }
      if (put.kind == "tensor") return aifs::cli::PutTensor(api, out, put);
      if (put.kind == "embed") return aifs::cli::PutEmbed(api, out, embed);
      return aifs::cli::Put(api, out, put);
    });
  });

  // artifacts
  aifs::cli::PackArgs pack;
  auto* pack_cmd = app.add_subcommand("pack", "store a directory as an artifact (ZIP + manifest)");
  pack_cmd->add_option("dir", pack.dir)->required();
  pack_cmd->add_option("--ns", pack.ns, "namespace (default: default)");
  pack_cmd->add_option("--dep", pack.deps, "dependency: ID, name=ID or name=URI (repeatable)");
  pack_cmd->add_option("--meta", pack.meta, "manifest metadata key=value (repeatable)");
  pack_cmd->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::Pack(api, out, pack); });
  });
  std::string unpack_dir;
  auto* unpack_cmd = app.add_subcommand("unpack", "extract an artifact into a directory");
  unpack_cmd->add_option("id", ref, "artifact ID or aifs:// URI")->required();
  unpack_cmd->add_option("dir", unpack_dir)->required();
  unpack_cmd->add_option("--ns", ns_opt, "namespace (default: default)");
  unpack_cmd->callback([&] {
    set(true, [&](auto& api, auto& out) {
      return aifs::cli::Unpack(api, out, ns_opt, ref, unpack_dir);
    });
  });
  auto* lsa_cmd = app.add_subcommand("ls-artifact", "list an artifact's manifest");
  lsa_cmd->add_option("id", ref, "artifact ID or aifs:// URI")->required();
  lsa_cmd->add_option("--ns", ns_opt, "namespace (default: default)");
  lsa_cmd->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::ListArtifact(api, out, ns_opt, ref); });
  });

  // get / cat
  aifs::cli::GetArgs get;
  auto* get_cmd = app.add_subcommand("get", "read an asset to a file or stdout");
  get_cmd->add_option("id", get.ref, "asset ID, aifs:// URI, PATH or NS:PATH")->required();
  get_cmd->add_option("--as-of", get.as_of,
                      "read through this snapshot, branch or tag (a path is resolved there)");
  get_cmd->add_option("-o,--output", get.output, "output file (default: stdout)");
  get_cmd->add_option("--range", get.range, "bytes A-B (inclusive) or A- (to the end)");
  get_cmd->add_option("--ns", get.ns, "namespace (default: default)");
  std::string get_as;
  get_cmd->add_option("--as", get_as, "convert: npy (tensor assets)")
      ->check(CLI::IsMember({"npy"}));
  get_cmd->callback([&] {
    set(true, [&](auto& api, auto& out) {
      return get_as == "npy" ? aifs::cli::GetAsNpy(api, out, get) : aifs::cli::Get(api, out, get);
    });
  });
  auto* cat_cmd = app.add_subcommand("cat", "write an asset to stdout");
  cat_cmd->add_option("id", get.ref, "asset ID, aifs:// URI, PATH or NS:PATH")->required();
  cat_cmd->add_option("--as-of", get.as_of,
                      "read through this snapshot, branch or tag (a path is resolved there)");
  cat_cmd->add_option("--range", get.range, "bytes A-B (inclusive) or A- (to the end)");
  cat_cmd->add_option("--ns", get.ns, "namespace (default: default)");
  cat_cmd->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::Get(api, out, get); });
  });
  aifs::cli::ReadRangesArgs ranges;
  auto* ranges_cmd = app.add_subcommand(
      "read-ranges",
      "read a list of byte ranges (lines 'ID OFFSET LENGTH'; blank and # lines skipped) and "
      "write their bytes to stdout, concatenated in list order; a range running past its "
      "asset's end is cut short there");
  ranges_cmd->add_option("list", ranges.list, "file of ranges, - for stdin")->required();
  ranges_cmd->add_option("--ns", ranges.ns, "namespace of every listed asset (default: default)");
  ranges_cmd->add_option("--as-of", ranges.as_of,
                         "read the assets as of this snapshot, branch or tag (even removed ones)");
  ranges_cmd->add_option("--index", ranges.index,
                         "write one 'OUTPUT_OFFSET LENGTH' line per range to this file");
  ranges_cmd->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::ReadRanges(api, out, ranges); });
  });

  // stat
  bool with_chunks = false;
  auto* stat_cmd = app.add_subcommand("stat", "show an asset's record");
  stat_cmd->add_option("id", ref, "asset ID, aifs:// URI, PATH or NS:PATH")->required();
  stat_cmd->add_option("--ns", ns_opt, "namespace (default: default)");
  std::string as_of;
  stat_cmd->add_option("--as-of", as_of,
                       "read through this snapshot, branch or tag (a path is resolved there)");
  stat_cmd->add_flag("--chunks", with_chunks, "list every chunk");
  stat_cmd->callback([&] {
    set(true, [&](auto& api, auto& out) {
      return aifs::cli::Stat(api, out, ns_opt, ref, as_of, with_chunks);
    });
  });

  // ls
  aifs::cli::ListArgs ls;
  auto* ls_cmd = app.add_subcommand(
      "ls", "list assets; with a PREFIX (or --paths, --as-of), the paths starting with it");
  aifs::cli::PathListArgs pls;
  bool list_paths = false, list_assets = false;
  ls_cmd->add_option("prefix", pls.prefix, "list the paths starting with this (e.g. train/)");
  ls_cmd->add_flag("--paths", list_paths, "list paths (all of them without a PREFIX)");
  ls_cmd->add_flag("--assets", list_assets,
                   "list assets (with --as-of: the assets that snapshot holds, paths or not)");
  ls_cmd->add_option("--as-of", pls.as_of, "list the paths of this snapshot, branch or tag");
  ls_cmd->add_option("--ns", ls.ns, "namespace (default: default)");
  ls_cmd->add_option("--where", ls.where,
                     "filter k=v, k^=prefix, k@=a,b (one of), k>=N, k<=N, or k (has key); "
                     "repeatable");
  ls_cmd->add_option("--kind", ls.kind, "only assets of this kind");
  ls_cmd->add_option("--limit", ls.limit, "show at most N assets");
  ls_cmd->callback([&] {
    set(true, [&](auto& api, auto& out) {
      if (list_assets && (list_paths || !pls.prefix.empty()))
        return aifs::err::InvalidArgument("BAD_ARGUMENTS",
                                          "--assets lists assets, not paths: drop the PREFIX "
                                          "or --paths");
      if (list_assets || (pls.prefix.empty() && !list_paths && pls.as_of.empty())) {
        ls.as_of = pls.as_of;
        return aifs::cli::List(api, out, ls);
      }
      pls.ns = ls.ns;
      pls.limit = ls.limit;
      return aifs::cli::ListPaths(api, out, pls);
    });
  });

  // paths
  std::string path_from, path_to;
  std::vector<std::string> path_list;
  auto* path_cmd = app.add_subcommand("path", "names of assets: rename, bind, remove");
  path_cmd->require_subcommand(1);
  auto* path_mv = path_cmd->add_subcommand("mv", "rename a path (no bytes move)");
  path_mv->add_option("from", path_from)->required();
  path_mv->add_option("to", path_to)->required();
  path_mv->add_option("--ns", ns_opt, "namespace (default: default)");
  path_mv->callback([&] {
    set(false, [&](auto& api, auto& out) {
      return aifs::cli::PathMove(api, out, ns_opt, path_from, path_to);
    });
  });
  auto* path_set = path_cmd->add_subcommand("set", "bind a path to a stored asset");
  path_set->add_option("path", path_from)->required();
  path_set->add_option("id", path_to, "asset ID or aifs:// URI")->required();
  path_set->add_option("--ns", ns_opt, "namespace (default: default)");
  path_set->callback([&] {
    set(false, [&](auto& api, auto& out) {
      return aifs::cli::PathBind(api, out, ns_opt, path_from, path_to);
    });
  });
  auto* path_rm = path_cmd->add_subcommand("rm", "unbind paths (the assets stay)");
  path_rm->add_option("paths", path_list)->required();
  path_rm->add_option("--ns", ns_opt, "namespace (default: default)");
  path_rm->callback([&] {
    set(false,
        [&](auto& api, auto& out) { return aifs::cli::PathRemove(api, out, ns_opt, path_list); });
  });

  // rm
  std::vector<std::string> refs;
  auto* rm_cmd = app.add_subcommand("rm", "delete assets");
  rm_cmd->add_option("ids", refs, "asset IDs or aifs:// URIs")->required();
  rm_cmd->add_option("--ns", ns_opt, "namespace (default: default)");
  bool force = false;
  rm_cmd->add_flag("--force", force, "delete even with live children (keeps a lineage tombstone)");
  rm_cmd->callback([&] {
    set(false, [&](auto& api, auto& out) {
      return aifs::cli::Remove(api, out, ns_opt, refs, force);
    });
  });

  // verify
  bool all_ns = false;
  auto* verify_cmd = app.add_subcommand(
      "verify", "re-hash assets chunk by chunk (all of a namespace when no ID is given)");
  verify_cmd->add_option("ids", refs, "asset IDs or aifs:// URIs");
  verify_cmd->add_option("--ns", ns_opt, "namespace (default: default)");
  verify_cmd->add_flag("--all-namespaces", all_ns, "verify every namespace");
  verify_cmd->callback([&] {
    set(true, [&](auto& api, auto& out) {
      return aifs::cli::Verify(api, out, ns_opt, refs, all_ns);
    });
  });

  // lineage
  aifs::cli::LineageArgs lineage;
  auto* lineage_cmd = app.add_subcommand("lineage", "ancestors (--up) or descendants (--down)");
  lineage_cmd->add_option("id", lineage.ref, "asset ID, aifs:// URI, PATH or NS:PATH")->required();
  lineage_cmd->add_option("--as-of", lineage.as_of, "resolve a path in this snapshot");
  lineage_cmd->add_option("--ns", lineage.ns, "namespace (default: default)");
  bool up = false;
  auto* up_flag = lineage_cmd->add_flag("--up", up, "ancestors (default)");
  lineage_cmd->add_flag("--down", lineage.down, "descendants")->excludes(up_flag);
  lineage_cmd->add_option("--depth", lineage.depth, "how many edges to follow")->capture_default_str();
  lineage_cmd->add_flag("--dot", lineage.dot, "Graphviz DOT output");
  lineage_cmd->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::Lineage(api, out, lineage); });
  });

  // snapshots, branches, tags
  std::function<Status(const aifs::cli::Output&)> offline;  // commands that need no store
  std::string name, target, expect, ids_file, output, key_hex, proof_file, ref_b;
  std::string pin_store;  // key pin --store
  auto* snap_cmd = app.add_subcommand("snapshot", "signed Merkle snapshots of a namespace");
  snap_cmd->require_subcommand(1);
  auto* snap_create = snap_cmd->add_subcommand("create", "snapshot every asset (or --ids)");
  snap_create->add_option("--ns", ns_opt, "namespace (default: default)");
  snap_create->add_option("--ids", ids_file, "file with one asset ID per line (explicit set)");
  std::string snap_message, snap_branch;
  snap_create->add_option("-m,--message", snap_message, "what this snapshot is");
  snap_create->add_option("--branch", snap_branch,
                          "then point this branch at it (created, or moved by compare-and-swap)");
  snap_create->callback([&] {
    set(false, [&](auto& api, auto& out) {
      return aifs::cli::SnapshotCreate(api, out, ns_opt, ids_file, snap_message, snap_branch);
    });
  });
  for (const char* verb : {"show", "verify"}) {
    auto* c = snap_cmd->add_subcommand(
        verb, std::string(verb) == "show" ? "show a snapshot (ID, URI, branch or tag)"
                                          : "recompute the root and check the signature");
    c->add_option("ref", target, "snapshot ID, aifs-snap:// URI, branch or tag")->required();
    c->add_option("--ns", ns_opt, "namespace (default: default)");
    const bool verify = std::string(verb) == "verify";
    c->callback([&, verify] {
      set(true, [&, verify](auto& api, auto& out) {
        return aifs::cli::SnapshotShow(api, out, ns_opt, target, verify);
      });
    });
  }
  aifs::PruneOptions prune;
  auto* snap_prune = snap_cmd->add_subcommand(
      "prune", "remove snapshots beyond the retention that no branch or tag names");
  snap_prune->add_option("--ns", ns_opt, "namespace (default: default)");
  snap_prune->add_option("--keep", prune.keep_snapshots, "keep the newest N (default: policy)");
  snap_prune->add_option("--keep-seconds", prune.keep_snapshot_seconds,
                         "keep those younger than this (default: policy)");
  snap_prune->add_option("--keep-last", prune.keep_snapshots, "the same as --keep");
  snap_prune->add_option("--keep-daily", prune.keep_daily,
                         "keep the newest of each of the last N UTC days (default: policy)");
  snap_prune->add_option("--keep-weekly", prune.keep_weekly,
                         "... of each of the last N ISO weeks (default: policy)");
  snap_prune->add_option("--keep-monthly", prune.keep_monthly,
                         "... of each of the last N months (default: policy)");
  snap_prune->add_flag("--dry-run", prune.dry_run,
                       "only report: each snapshot, kept (by which rules) or to go");
  snap_prune->callback([&] {
    set(prune.dry_run, [&](auto& api, auto& out) {
      return aifs::cli::SnapshotPrune(api, out, ns_opt, prune);
    });
  });
  auto* snap_ls = snap_cmd->add_subcommand("ls", "list snapshots");
  snap_ls->add_option("--ns", ns_opt, "namespace (default: default)");
  snap_ls->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::SnapshotList(api, out, ns_opt); });
  });

  auto* branch_cmd = app.add_subcommand("branch", "named, movable pointers to snapshots");
  branch_cmd->require_subcommand(1);
  branch_cmd->add_option("--ns", ns_opt, "namespace (default: default)");
  auto* br_create = branch_cmd->add_subcommand("create", "create a branch at a snapshot");
  br_create->add_option("name", name)->required();
  br_create->add_option("ref", target, "snapshot ID, branch or tag")->required();
  br_create->callback([&] {
    set(false, [&](auto& api, auto& out) {
      return aifs::cli::BranchCreate(api, out, ns_opt, name, target);
    });
  });
  auto* br_move = branch_cmd->add_subcommand("move", "move a branch (compare-and-swap)");
  br_move->add_option("name", name)->required();
  br_move->add_option("ref", target, "new snapshot ID, branch or tag")->required();
  br_move->add_option("--expect", expect, "snapshot ID the branch must point at now");
  br_move->callback([&] {
    set(false, [&](auto& api, auto& out) {
      return aifs::cli::BranchMove(api, out, ns_opt, name, target, expect);
    });
  });
  auto* br_rm = branch_cmd->add_subcommand("rm", "delete a branch (logged)");
  br_rm->add_option("name", name)->required();
  br_rm->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::BranchRemove(api, out, ns_opt, name); });
  });
  branch_cmd->add_subcommand("ls", "list branches")->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::BranchList(api, out, ns_opt); });
  });
  auto* br_log = branch_cmd->add_subcommand("log", "every move of a branch");
  br_log->add_option("name", name)->required();
  br_log->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::BranchLog(api, out, ns_opt, name); });
  });

  auto* tag_cmd = app.add_subcommand("tag", "immutable names for snapshots");
  tag_cmd->require_subcommand(1);
  tag_cmd->add_option("--ns", ns_opt, "namespace (default: default)");
  auto* tag_create = tag_cmd->add_subcommand("create", "tag a snapshot (once, forever)");
  tag_create->add_option("name", name)->required();
  tag_create->add_option("ref", target, "snapshot ID, branch or tag")->required();
  tag_create->callback([&] {
    set(false, [&](auto& api, auto& out) {
      return aifs::cli::TagCreate(api, out, ns_opt, name, target);
    });
  });
  auto* tag_rm = tag_cmd->add_subcommand("rm", "admin: delete a tag (audit-logged)");
  tag_rm->add_option("name", name)->required();
  tag_rm->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::TagRemove(api, out, ns_opt, name); });
  });
  tag_cmd->add_subcommand("ls", "list tags")->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::TagList(api, out, ns_opt); });
  });

  // history
  size_t log_limit = 20;
  auto* log_cmd = app.add_subcommand("log", "a snapshot's history (by parents), newest first");
  log_cmd->add_option("ref", target, "snapshot ID, branch or tag")->required();
  log_cmd->add_option("--ns", ns_opt, "namespace (default: default)");
  log_cmd->add_option("-n,--limit", log_limit, "show at most N")->capture_default_str();
  log_cmd->callback([&] {
    set(true,
        [&](auto& api, auto& out) { return aifs::cli::Log(api, out, ns_opt, target, log_limit); });
  });
  auto* checkout_cmd = app.add_subcommand(
      "checkout", "make the live paths those of a snapshot, branch or tag (assets stay)");
  checkout_cmd->add_option("ref", target, "snapshot ID, branch or tag")->required();
  checkout_cmd->add_option("--ns", ns_opt, "namespace (default: default)");
  checkout_cmd->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::Checkout(api, out, ns_opt, target); });
  });
  aifs::cli::MergeArgs merge;
  auto* merge_cmd = app.add_subcommand(
      "merge", "three-way merge of a snapshot, branch or tag into a branch (over paths)");
  merge_cmd->add_option("source", merge.source, "what to merge in")->required();
  merge_cmd->add_option("--into", merge.into, "the branch that moves")->required();
  auto* revert_cmd =
      app.add_subcommand("revert", "undo a snapshot's changes (against its parent) on a branch");
  revert_cmd->add_option("snapshot", merge.source, "the snapshot to undo")->required();
  revert_cmd->add_option("--branch", merge.into, "the branch that moves")->required();
  for (auto* c : {merge_cmd, revert_cmd}) {
    c->add_option("--ns", merge.ns, "namespace (default: default)");
    c->add_option("--strategy", merge.strategy, "resolve every conflict: ours or theirs")
        ->check(CLI::IsMember({"ours", "theirs"}));
    c->add_option("-m,--message", merge.message, "the merge snapshot's message");
    const bool revert = c == revert_cmd;
    c->callback([&, revert] {
      set(false,
          [&, revert](auto& api, auto& out) { return aifs::cli::Merge(api, out, merge, revert); });
    });
  }

  auto* diff_cmd = app.add_subcommand(
      "diff", "paths and assets added, removed and changed between two snapshots");
  diff_cmd->add_option("a", target, "snapshot ID, branch or tag")->required();
  diff_cmd->add_option("b", ref_b, "snapshot ID, branch or tag")->required();
  diff_cmd->add_option("--ns", ns_opt, "namespace (default: default)");
  diff_cmd->callback([&] {
    set(true, [&](auto& api, auto& out) {
      return aifs::cli::Diff(api, out, ns_opt, target, ref_b);
    });
  });

  auto* proof_cmd = app.add_subcommand(
      "proof", "inclusion proof of an asset (ID) or of a path's binding (PATH) in a snapshot");
  proof_cmd->add_option("id", ref, "asset ID, aifs:// URI or PATH")->required();
  proof_cmd->add_option("--snapshot", target, "snapshot ID, branch or tag")->required();
  proof_cmd->add_option("--ns", ns_opt, "namespace (default: default)");
  proof_cmd->add_option("-o,--output", output, "write the proof here (default: stdout)");
  proof_cmd->callback([&] {
    set(true, [&](auto& api, auto& out) {
      return aifs::cli::Proof(api, out, ns_opt, ref, target, output);
    });
  });
  auto* vproof_cmd = app.add_subcommand("verify-proof", "check a proof offline (no store needed)");
  vproof_cmd->add_option("file", proof_file, "proof JSON from `aifs proof`")->required();
  vproof_cmd->add_option("--key", key_hex, "Ed25519 public key (default: the pinned one)");
  vproof_cmd->callback([&] {
    offline = [&](auto& out) { return aifs::cli::VerifyProof(out, proof_file, key_hex); };
  });

  // gc
  bool dry_run = false;
  auto* gc_cmd = app.add_subcommand(
      "gc", "release removed assets no retained snapshot holds; reclaim unreferenced objects");
  gc_cmd->add_flag("--dry-run", dry_run, "only report");
  gc_cmd->callback([&] {
    set(dry_run, [&](auto& api, auto& out) { return aifs::cli::Gc(api, out, dry_run); });
  });

  // backup, restore, recover
  std::string backup_dir;
  auto* backup_cmd = app.add_subcommand(
      "backup", "consistent online copy of the metadata, config and keys (not the chunks)");
  backup_cmd->add_option("dir", backup_dir, "new directory (absolute; on the server's machine)")
      ->required();
  backup_cmd->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::Backup(api, out, backup_dir); });
  });
  aifs::RestoreOptions restore;
  auto* restore_cmd = app.add_subcommand(
      "restore", "make a new store in the data directory from a backup (embedded only)");
  restore_cmd->add_option("backup", restore.backup_dir, "directory `aifs backup` wrote")
      ->required();
  restore_cmd->add_option("--chunks", restore.chunks_dir,
                          "chunk objects to restore with, e.g. OLD_DATA/chunks (hard-linked)");
  restore_cmd->callback([&] {
    restore.data_dir = g.data_dir;
    offline = [&](auto& out) { return aifs::cli::Restore(out, restore); };
  });
  aifs::RecoverOptions recover;
  auto* recover_cmd = app.add_subcommand(
      "recover", "salvage damaged metadata and repair counts; never deletes data (embedded only)");
  recover_cmd->add_flag("--dry-run", recover.dry_run, "report what would be done; change nothing");
  recover_cmd->callback([&] {
    recover.data_dir = g.data_dir;
    offline = [&](auto& out) { return aifs::cli::Recover(out, recover); };
  });

  // key
  auto* key_cmd = app.add_subcommand("key", "manage encryption keys");
  key_cmd->require_subcommand(1);
  key_cmd->add_subcommand("rotate", "new KMS key version for new chunks")->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::KeyRotate(api, out); });
  });
  aifs::RewrapOptions rewrap;
  auto* key_rewrap = key_cmd->add_subcommand(
      "rewrap",
      "re-wrap existing data keys with the current key (data untouched) and seal what format 1 "
      "left in clear; resumable");
  key_rewrap->add_option("--batch-size", rewrap.batch_size, "records per transaction");
  key_rewrap->add_option("--max-chunks", rewrap.max_chunks,
                         "stop after rewrapping this many (0: all); a rerun goes on");
  key_rewrap->add_option("--max-resealed", rewrap.max_resealed,
                         "stop after sealing this many values format 1 left in clear (0: all); "
                         "a rerun goes on");
  key_rewrap->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::KeyRewrap(api, out, rewrap); });
  });
  auto* key_export = key_cmd->add_subcommand("export", "print a namespace's snapshot-signing key");
  key_export->add_option("--ns", ns_opt, "namespace (default: default)");
  key_export->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::KeyExport(api, out, ns_opt); });
  });
  auto* key_pin = key_cmd->add_subcommand("pin", "trust this signing key for a namespace");
  key_pin->add_option("key", key_hex, "Ed25519 public key (hex)")->required();
  key_pin->add_option("--ns", ns_opt, "namespace (default: default)");
  key_pin->add_option("--store", pin_store,
                      "the store's ID (`aifs info`), to pin without opening the store "
                      "(default: the store of --data / --server)");
  key_pin->callback([&] {
    if (!pin_store.empty()) {
      offline = [&](auto& out) { return aifs::cli::KeyPin(out, pin_store, ns_opt, key_hex); };
      return;
    }
    set(true, [&](auto& api, auto& out) -> Status {
      auto store = api.DescribeStore();
      if (!store.ok()) return store.status();
      return aifs::cli::KeyPin(out, store->store_id, ns_opt, key_hex);
    });
  });

  // vectors
  auto* space_cmd = app.add_subcommand("space", "embedding spaces for vector search");
  space_cmd->require_subcommand(1);
  std::string space_name, metric = "cosine";
  uint32_t dim = 0;
  auto* space_create = space_cmd->add_subcommand("create", "create an embedding space");
  space_create->add_option("name", space_name, "space name, usually the model")->required();
  space_create->add_option("--dim", dim, "vector dimension")->required();
  space_create->add_option("--metric", metric, "cosine, l2 or inner_product");
  space_create->add_option("--ns", ns_opt, "namespace (default: default)");
  space_create->callback([&] {
    set(false, [&](auto& api, auto& out) {
      return aifs::cli::SpaceCreate(api, out, ns_opt, space_name, dim, metric);
    });
  });
  auto* space_ls = space_cmd->add_subcommand("ls", "list embedding spaces");
  space_ls->add_option("--ns", ns_opt, "namespace (default: default)");
  space_ls->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::SpaceList(api, out, ns_opt); });
  });
  aifs::cli::ReviewArgs review;
  auto* space_pending = space_cmd->add_subcommand("pending", "vectors held in quarantine");
  space_pending->add_option("--space", review.space, "only this space");
  space_pending->add_option("--ns", review.ns, "namespace (default: default)");
  space_pending->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::SpacePending(api, out, review); });
  });
  for (const bool approve : {true, false}) {
    auto* c = space_cmd->add_subcommand(approve ? "approve" : "reject",
                                        approve ? "make quarantined vectors searchable"
                                                : "delete quarantined vectors");
    c->add_option("ids", review.ids, "asset IDs (or --all)");
    c->add_flag("--all", review.all, "every pending vector");
    c->add_option("--space", review.space, "only this space");
    c->add_option("--ns", review.ns, "namespace (default: default)");
    c->callback([&, approve] {
      if (review.all == !review.ids.empty())
        throw CLI::ValidationError(approve ? "approve" : "reject", "give asset IDs or --all");
      review.approve = approve;
      set(false, [&](auto& api, auto& out) { return aifs::cli::SpaceReview(api, out, review); });
    });
  }
  aifs::cli::SearchArgs search;
  auto* search_cmd = app.add_subcommand("search", "k nearest assets by vector");
  auto* by_vector = search_cmd->add_option("--vector", search.vector_file, "query .npy (float32)");
  auto* by_asset = search_cmd->add_option("--like", search.like, "an asset whose vector is the query");
  auto* by_text = search_cmd->add_option("--text", search.text,
                                         "a text query, embedded by the operator --with");
  search_cmd->add_option("--with", search.embed_with,
                         "the ingest operator whose embedder embeds --text (its space too)");
  by_vector->excludes(by_asset);
  by_text->excludes(by_vector)->excludes(by_asset);
  search_cmd->add_option("-k", search.k, "results");
  search_cmd->add_option("--space", search.space, "space (default: the namespace's only one)");
  search_cmd->add_option("--ef", search.ef, "HNSW candidate list (default: planner)");
  search_cmd->add_option("--where", search.where, "metadata filter (as for ls; repeatable)");
  search_cmd->add_option("--as-of", search.as_of,
                         "snapshot ID, branch or tag: only its assets are eligible");
  search_cmd->add_option("--ns", search.ns, "namespace (default: default)");
  search_cmd->callback([&] {
    if (search.vector_file.empty() && search.like.empty() && search.text.empty())
      throw CLI::ValidationError("search",
                                 "give --vector FILE.npy, --like ID or --text T --with OP");
    set(true, [&](auto& api, auto& out) { return aifs::cli::Search(api, out, search); });
  });

  // tokens
  aifs::cli::TokenArgs token_args;
  // Commands that need the Engine itself (its root keys, its Gate): embedded only.
  std::function<Status(aifs::Engine&, const aifs::cli::Output&)> with_engine;
  aifs::UpgradeOptions upgrade;
  auto* upgrade_cmd =
      app.add_subcommand("upgrade",
                         "rewrite chunks and records of older formats in the current one (online, "
                         "resumable; embedded only)");
  upgrade_cmd->add_option("--batch-size", upgrade.batch_size, "chunks per transaction");
  upgrade_cmd->add_option("--max-chunks", upgrade.max_chunks,
                          "stop after rewriting this many (0: all); a rerun goes on");
  upgrade_cmd->callback([&] {
    with_engine = [&](auto& engine, auto& out) { return aifs::cli::Upgrade(engine, out, upgrade); };
  });

  // aggregate queries (docs/privacy.md)
  aifs::cli::QueryArgs query;
  auto* query_cmd =
      app.add_subcommand("query", "aggregate queries, under the namespace's privacy budget");
  query_cmd->require_subcommand(1);
  for (const char* kind : {"count", "sum", "mean", "histogram", "quantiles"}) {
    auto* c = query_cmd->add_subcommand(kind, std::string(kind) + " of the matching assets");
    if (std::string_view(kind) != "count")
      c->add_option("field", query.field, "metadata key, or @size")->required();
    c->add_option("--where", query.where, "metadata filter (as for ls; repeatable)");
    c->add_option("--kind", query.asset_kind, "only assets of this kind");
    c->add_option("--as-of", query.as_of, "as of this snapshot, branch or tag");
    c->add_option("--ns", query.ns, "namespace (default: default)");
    c->add_option("--epsilon", query.epsilon, "epsilon to spend (under a privacy policy)");
    c->add_option("--mechanism", query.mechanism,
                  "noise under a privacy policy: laplace (default) or gaussian");
    c->add_option("--delta", query.delta, "delta to spend with --mechanism gaussian, e.g. 1e-6");
    c->add_option("--who", query.who, "a name for the ledger (kept beside the caller's)");
    if (std::string_view(kind) == "histogram" || std::string_view(kind) == "quantiles") {
      c->add_option("--bins", query.bins, "equal bins (at most 1000)");
      c->add_option("--lower", query.lower, "lower end of the bins (default: the policy's)");
      c->add_option("--upper", query.upper, "upper end of the bins (default: the policy's)");
    }
    if (std::string_view(kind) == "quantiles")
      c->add_option("--q", query.quantiles, "a quantile in [0, 1]; repeatable")->required();
    c->callback([&, kind] {
      query.kind = kind;
      set(false, [&](auto& api, auto& out) { return aifs::cli::Query(api, out, query); });
    });
  }
  size_t ledger_limit = 20;
  auto* ledger_cmd = query_cmd->add_subcommand("ledger", "the privacy budget and who spent it");
  ledger_cmd->add_option("--ns", query.ns, "namespace (default: default)");
  ledger_cmd->add_option("--limit", ledger_limit, "newest charges to show");
  ledger_cmd->callback([&] {
    set(true, [&](auto& api, auto& out) {
      return aifs::cli::QueryLedger(api, out, query.ns, ledger_limit);
    });
  });

  // ingest operators (docs/operators.md)
  aifs::cli::OperatorArgs op;
  auto* op_cmd =
      app.add_subcommand("operator", "ingest operators: automatic embeddings and derived assets");
  op_cmd->require_subcommand(1);
  auto op_named = [&](const char* verb, const char* help) {
    auto* c = op_cmd->add_subcommand(verb, help);
    c->add_option("name", op.name, "operator name")->required();
    c->add_option("--ns", op.ns, "namespace (default: default)");
    return c;
  };
  auto* op_add = op_named("add", "add an operator (store admin)");
  op_add->add_option("--kind", op.kind, "http-embed, exec, tensor-stats or sniff")->required();
  op_add->add_option(
      "--match", op.match,
      "which assets: kind=K, KEY=VALUE, KEY^=PREFIX, KEY (comma-separated; all must hold)");
  op_add->add_option("-p,--param", op.params, "KEY=VALUE setting of the kind (repeatable)");
  op_add->add_flag("--backfill", op.backfill, "also run over the assets already stored");
  op_add->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::OperatorAdd(api, out, op); });
  });
  auto* op_ls = op_cmd->add_subcommand("ls", "list operators and how far they got");
  op_ls->add_option("--ns", op.ns, "namespace (default: default)");
  op_ls->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::OperatorList(api, out, op.ns); });
  });
  op_named("status", "one operator in detail")->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::OperatorStatus(api, out, op); });
  });
  op_named("rm", "remove an operator (what it made stays)")->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::OperatorRemove(api, out, op); });
  });
  for (const bool paused : {true, false})
    op_named(paused ? "pause" : "resume", paused ? "stop taking inputs" : "go on")
        ->callback([&, paused] {
          set(false, [&, paused](auto& api, auto& out) {
            return aifs::cli::OperatorPause(api, out, op, paused);
          });
        });
  auto* op_failures = op_named("failures", "the dead-letter list");
  op_failures->add_option("--limit", op.limit, "at most this many");
  op_failures->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::OperatorFailures(api, out, op); });
  });
  for (const bool retry : {true, false}) {
    auto* c = op_named(retry ? "retry" : "skip",
                       retry ? "run failed inputs again" : "drop failed inputs from the list");
    c->add_option("ids", op.ids, "asset IDs (or --all)");
    c->add_flag("--all", op.all, "every failed input");
    c->callback([&, retry] {
      if (op.all == !op.ids.empty())
        throw CLI::ValidationError(retry ? "retry" : "skip", "give asset IDs or --all");
      set(false, [&, retry](auto& api, auto& out) {
        return aifs::cli::OperatorResolve(api, out, op, retry);
      });
    });
  }
  auto* op_drain = op_named("drain",
                            "wait until every asset committed so far is done (runs the operator "
                            "here when no server does)");
  op_drain->add_option("--timeout", op.timeout_s, "give up after this many seconds (default 60)");
  op_drain->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::OperatorDrain(api, out, op); });
  });

  auto* token_cmd = app.add_subcommand("token", "capability tokens (macaroons) for remote calls");
  token_cmd->require_subcommand(1);
  auto caveat_options = [&](CLI::App* c) {
    c->add_option("--ns", token_args.namespaces, "only these namespaces (repeatable)");
    c->add_option("--ops", token_args.ops,
                  "only these operations: put,get,list,search,snapshot,branch,tag,delete,"
                  "subscribe,admin,query");
    c->add_option("--dp-epsilon", token_args.dp_epsilon,
                  "spend at most this much privacy budget (docs/privacy.md)");
    c->add_option("--expires", token_args.expires, "lifetime (90s, 15m, 1h, 7d) or UTC time");
    c->add_option("--branch", token_args.branches, "only calls naming these branches");
    c->add_option("--asset", token_args.assets, "only calls naming these asset IDs");
    c->add_option("--caveat", token_args.caveats, "a raw caveat (docs/security.md)");
  };
  auto* token_mint = token_cmd->add_subcommand(
      "mint", "mint a new token (data directory, or --server with an admin token)");
  caveat_options(token_mint);
  token_mint->callback([&] {
    // Read-only: reading the root key works beside a running server.
    set(true, [&](auto& api, auto& out) { return aifs::cli::TokenMint(api, out, token_args); });
  });
  auto* token_att = token_cmd->add_subcommand("attenuate", "add caveats to a token (offline)");
  token_att->add_option("token", token_args.token, "the token, @FILE or - (stdin)")->required();
  caveat_options(token_att);
  token_att->callback([&] {
    offline = [&](auto& out) { return aifs::cli::TokenAttenuate(out, token_args); };
  });
  auto* token_insp = token_cmd->add_subcommand("inspect", "show a token's key, ID and caveats");
  token_insp->add_option("token", token_args.token, "the token, @FILE or - (stdin)")->required();
  token_insp->callback([&] {
    offline = [&](auto& out) { return aifs::cli::TokenInspect(out, token_args); };
  });
  auto* token_revoke = token_cmd->add_subcommand(
      "revoke", "refuse a token and its attenuated copies (others of its root key stay valid)");
  token_revoke->add_option("token", token_args.token, "the token, @FILE, - (stdin) or its ID")
      ->required();
  token_revoke->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::TokenRevoke(api, out, token_args); });
  });
  token_cmd
      ->add_subcommand("rotate-root",
                       "new root key for new tokens; new admin token (in the data directory's "
                       "admin.token, or printed with --server)")
      ->callback([&] {
        set(false, [&](auto& api, auto& out) {
          if (g.remote.target.empty())
            token_args.admin_token_file = aifs::cli::AdminTokenPath(g.data_dir);
          return aifs::cli::TokenRotateRoot(api, out, token_args);
        });
      });
  auto* token_revoke_root =
      token_cmd->add_subcommand("revoke-root", "refuse every token of a root key");
  token_revoke_root->add_option("key", token_args.key_id, "root key ID, e.g. r1")->required();
  token_revoke_root->callback([&] {
    set(false, [&](auto& api, auto& out) {
      return aifs::cli::TokenRevokeRoot(api, out, token_args.key_id);
    });
  });
  auto* token_export = token_cmd->add_subcommand(
      "export-root", "print a root key (hex): it mints any token, guard it");
  token_export->add_option("key", token_args.key_id, "root key ID, e.g. r1")->required();
  token_export->callback([&] {
    read_only = true;
    with_engine = [&](auto& engine, auto& out) {
      return aifs::cli::TokenExportRoot(engine, out, token_args.key_id);
    };
  });
  token_cmd->add_subcommand("keys", "list root keys and revoked tokens")->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::TokenKeys(api, out); });
  });

  // url, url-key
  aifs::cli::UrlArgs url_args;
  auto* url_cmd = app.add_subcommand(
      "url", "print a pre-signed HTTP URL that reads one asset until it expires (docs/http.md)");
  url_cmd->add_option("ref", url_args.ref, "asset ID, aifs: URI, PATH or NS:PATH")->required();
  url_cmd->add_option("--ns", url_args.ns, "namespace (default: default)");
  url_cmd->add_option("--as-of", url_args.as_of, "read as of this snapshot, branch or tag");
  url_cmd->add_option("--expires", url_args.expires, "lifetime: 90s, 15m, 2h, 7d (at most 7d)")
      ->capture_default_str();
  url_cmd->add_option("--base", url_args.base,
                      "http(s)://HOST:PORT of the HTTP plane (default: the server's own)");
  url_cmd->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::Url(api, out, url_args); });
  });
  auto* url_key_cmd = app.add_subcommand("url-key", "manage the keys that sign URLs");
  url_key_cmd->require_subcommand(1);
  url_key_cmd->add_subcommand("ls", "list URL keys")->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::UrlKeys(api, out); });
  });
  url_key_cmd->add_subcommand("rotate", "make a new current URL key")->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::UrlKeyRotate(api, out); });
  });
  std::string url_key_id;
  auto* url_key_revoke =
      url_key_cmd->add_subcommand("revoke", "void every URL a key signed (rotate first)");
  url_key_revoke->add_option("key", url_key_id, "key ID, e.g. u1")->required();
  url_key_revoke->callback([&] {
    set(false, [&](auto& api, auto& out) { return aifs::cli::UrlKeyRevoke(api, out, url_key_id); });
  });

  // mount, umount
  aifs::cli::MountArgs mount_args;
  auto* mount_cmd =
      app.add_subcommand("mount", "mount a namespace as a read-only file system (docs/fuse.md)");
  mount_cmd->add_option("mountpoint", mount_args.mountpoint, "an existing directory")->required();
  mount_cmd->add_option("--ns", mount_args.ns, "namespace (default: default)");
  mount_cmd
      ->add_option("--refresh", mount_args.refresh_s,
                   "seconds head/ and branches/ may lag the store")
      ->capture_default_str();
  mount_cmd->add_flag("--daemon", mount_args.daemon, "run in the background once mounted");
  mount_cmd->add_option("--log", mount_args.log, "--daemon: append the mount's messages here");
  mount_cmd->add_flag("--allow-other", mount_args.allow_other, "let other users read the mount");
  mount_cmd->callback([&] {
    if (mount_args.daemon) {
      std::vector<std::string> child;
      for (int i = 0; i < argc; ++i)
        if (std::string(argv[i]) != "--daemon") child.push_back(argv[i]);
      offline = [&, child](auto& out) { return aifs::cli::MountDaemon(out, mount_args, child); };
      return;
    }
    set(true, [&](auto& api, auto& out) { return aifs::cli::MountServe(api, out, mount_args); });
  });
  std::string umount_point;
  auto* umount_cmd =
      app.add_subcommand("umount", "unmount an AIFS mount (also one whose process died)");
  umount_cmd->add_option("mountpoint", umount_point)->required();
  umount_cmd->callback(
      [&] { offline = [&](auto& out) { return aifs::cli::Umount(out, umount_point); }; });

  // serve, events, health
  aifs::server::ServerOptions serve;
  int grace_ms = 10000;
  auto* serve_cmd = app.add_subcommand("serve", "serve the data directory over gRPC (and HTTP)");
  serve_cmd->add_option("--listen", serve.listen, "address to listen on (port 0: any free port)");
  bool no_operators = false;
  serve_cmd->add_flag("--no-operators", no_operators,
                      "do not run ingest operators here (another server sharing the store does)");
  serve_cmd->add_option("--tls-cert", serve.tls_cert_file, "server certificate (PEM): enables TLS");
  serve_cmd->add_option("--tls-key", serve.tls_key_file, "server private key (PEM)");
  serve_cmd->add_option("--tls-client-ca", serve.tls_client_ca_file,
                        "require client certificates signed by this CA (mutual TLS)");
  serve_cmd->add_option("--grace-ms", grace_ms, "on SIGTERM, time in-flight calls get to finish");
  serve_cmd->add_option("--search-rate", serve.search_limit.per_second,
                        "vector searches per second per token (0: no limit)");
  serve_cmd->add_option("--search-burst", serve.search_limit.burst,
                        "vector searches a token may make at once");
  // The HTTP data plane (docs/http.md); HTTPS with --tls-cert/--tls-key.
  double http_idle_s = 30, http_header_s = 10;
  serve_cmd->add_option("--http", serve.http.listen,
                        "also serve assets over HTTP on this address (pre-signed URLs, "
                        "bearer tokens, /metrics)");
  serve_cmd
      ->add_option("--http-max-connections", serve.http.max_connections,
                   "HTTP connections held at once")
      ->capture_default_str();
  serve_cmd->add_option("--http-threads", serve.http.threads, "HTTP event-loop threads")
      ->capture_default_str();
  serve_cmd
      ->add_option("--http-idle-timeout", http_idle_s,
                   "seconds an HTTP connection may send and receive nothing")
      ->capture_default_str();
  serve_cmd
      ->add_option("--http-header-timeout", http_header_s,
                   "seconds an HTTP request head may take to arrive")
      ->capture_default_str();
  // Limits (docs/security.md, "Limits"); durations in seconds on the command line.
  double handshake_s = 10, idle_s = 300, keepalive_s = 60, put_stall_s = 120, health_s = 2;
  serve_cmd->add_option("--max-connections", serve.max_connections,
                        "connections held at once; more are reset (0: half the fd limit, "
                        "at most 4096)");
  serve_cmd->add_option("--handshake-timeout", handshake_s,
                        "seconds a new connection may stay silent before it is closed")
      ->capture_default_str();
  serve_cmd->add_option("--max-streams", serve.max_streams_per_connection,
                        "concurrent calls per connection")
      ->capture_default_str();
  serve_cmd->add_option("--idle-timeout", idle_s,
                        "seconds a connection without calls stays open (0: forever)")
      ->capture_default_str();
  serve_cmd->add_option("--keepalive", keepalive_s,
                        "seconds between pings on a quiet connection (0: none)")
      ->capture_default_str();
  serve_cmd->add_option("--max-calls-per-token", serve.max_calls_per_token,
                        "calls one token may run at once (0: no limit)")
      ->capture_default_str();
  serve_cmd->add_option("--max-puts", serve.max_puts, "puts running at once (0: no limit)")
      ->capture_default_str();
  serve_cmd->add_option("--max-puts-per-token", serve.max_puts_per_token,
                        "puts one token may run at once (0: no limit)")
      ->capture_default_str();
  serve_cmd->add_option("--put-stall-timeout", put_stall_s,
                        "seconds a put may send nothing before it is cancelled (0: never)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--health-interval", health_s,
                   "seconds between health probes (each writes, reads and deletes one "
                   "small chunk object)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve_cmd->callback([&] {
    auto ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
    serve.handshake_timeout = ms(handshake_s);
    serve.connection_idle = ms(idle_s);
    serve.keepalive_time = ms(keepalive_s);
    serve.put_stall_timeout = ms(put_stall_s);
    serve.health_interval = ms(health_s);
    serve.http.idle_timeout = ms(http_idle_s);
    serve.http.header_timeout = ms(http_header_s);
    serve.http.tls_cert_file = serve.tls_cert_file;
    serve.http.tls_key_file = serve.tls_key_file;
    read_only = false;
    with_engine = [&](aifs::Engine& engine, auto& out) -> Status {
      // A store made before tokens existed gets its first key and admin token now.
      AIFS_ASSIGN_OR_RETURN(std::string made, aifs::cli::BootstrapTokens(engine, g.data_dir));
      if (!made.empty())
        std::cerr << "aifs: created the admin token in " << aifs::cli::AdminTokenPath(g.data_dir)
                  << std::endl;
      // The engine is the Gate: it verifies every caller and judges every call.
      return aifs::cli::Serve(engine, out, serve, grace_ms);
    };
  });
  aifs::cli::EventsArgs events;
  auto* events_cmd = app.add_subcommand("events", "print the event log (and follow it)");
  events_cmd->add_option("--ns", events.ns, "only this namespace");
  events_cmd->add_option("--type", events.types,
                         "only these types (asset_committed, asset_deleted, lineage_edge_added, "
                         "snapshot_created, branch_moved, tag_created, ...)");
  events_cmd->add_option("--after", events.after, "start after this sequence number");
  events_cmd->add_flag("-f,--follow", events.follow, "keep printing new events");
  events_cmd->add_option("--limit", events.limit, "stop after this many events");
  events_cmd->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::Events(api, out, events); });
  });
  app.add_subcommand("health", "probe the store's backends (exit 0: ready)")->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::Health(api, out); });
  });

  aifs::FormatOptions format;
  bool format_history = false;
  auto* format_cmd = app.add_subcommand(
      "format", "bring the store's base structures into place (idempotent); prints the root snapshot");
  format_cmd->add_flag("--dry-run", format.dry_run, "only report what would be done");
  format_cmd->add_flag("--rebuild-index", format.rebuild_index,
                       "re-format the vector indexes: rebuild them from the stored vectors");
  format_cmd->add_flag("--history", format_history, "show the audit log of format runs");
  format_cmd->callback([&] {
    set(format_history, [&](auto& api, auto& out) {
      format.who = aifs::cli::Who();
      return aifs::cli::Format(api, out, format, format_history);
    });
  });

  app.add_subcommand("info", "show the store's configuration")->callback([&] {
    set(true, [&](auto& api, auto& out) { return aifs::cli::Info(api, out); });
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (auto unknown = UnknownCommand(app)) return Report(*unknown, g);
    return app.exit(e);
  }

  const bool remote = !g.remote.target.empty();
  if (remote && (init_cmd->parsed() || serve_cmd->parsed() || restore_cmd->parsed() ||
                 recover_cmd->parsed()))
    return Report(aifs::err::InvalidArgument(
                      "LOCAL_ONLY",
                      "init, serve, restore and recover work on a data directory, not with --server"),
                  g);
  if (remote && with_engine)
    return Report(
        aifs::err::InvalidArgument(
            "LOCAL_ONLY", "exporting a root key and upgrading work on the data directory only"),
        g);
  if (init_cmd->parsed()) {
    Status st = aifs::Engine::Init(g.data_dir, init);
    std::string admin;
    if (st.ok()) {
      // The first root key and the admin token: written to a 0600 file and
      // shown this once.
      auto engine = aifs::Engine::Open({.data_dir = g.data_dir, .threads = 1});
      auto made = engine.ok() ? aifs::cli::BootstrapTokens(**engine, g.data_dir)
                              : aifs::Result<std::string>(engine.status());
      if (made.ok()) admin = *made;
      st = made.status();
    }
    if (st.ok() && !g.quiet) {
      const std::string path = aifs::cli::AdminTokenPath(g.data_dir);
      if (g.json)
        std::cout << nlohmann::json{{"initialized", g.data_dir},
                                    {"admin_token", admin},
                                    {"admin_token_file", path}}
                         .dump(2)
                  << "\n";
      else
        std::cout << "initialized AIFS store in " << g.data_dir << "\nadmin token (kept in "
                  << path << ", mode 0600; pass it as --token @" << path
                  << " or AIFS_TOKEN):\n"
                  << admin << "\n";
    }
    return Report(st, g);
  }

  aifs::cli::Output out;
  out.json = g.json;
  out.quiet = g.quiet;
  out.progress = !g.json && !g.quiet && !g.no_progress && ::isatty(STDERR_FILENO);
  if (offline) return Report(offline(out), g);
  if (remote) {
    auto resolved = aifs::cli::ResolveToken(token);
    if (!resolved.ok()) return Report(resolved.status(), g);
    g.remote.token = *resolved;
    if (mount_cmd->parsed()) aifs::PreferQuickReconnects();
    auto api = aifs::ConnectRemote(g.remote);
    if (!api.ok()) return Report(api.status(), g);
    return Report(run(**api, out), g);
  }
  if (serve_cmd->parsed()) aifs::cli::BlockStopSignals();  // before the engine starts threads
  auto engine = aifs::Engine::Open(
      {.data_dir = g.data_dir,
       .read_only = read_only,
       // a mount lives long: it follows a writer beside it
       .follow_writer = mount_cmd->parsed(),
       .threads = g.threads,
       .cache_bytes = g.cache_bytes,
       .lease_ttl = std::chrono::milliseconds(static_cast<int64_t>(g.lease_ttl_s * 1000)),
       .run_operators = serve_cmd->parsed() && !no_operators});
  if (!engine.ok()) return Report(engine.status(), g);
  if (with_engine) return Report(with_engine(**engine, out), g);
  return Report(run(**engine, out), g);
}
