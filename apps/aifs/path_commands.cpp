#include "path_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "aifs/core/hex.h"

namespace aifs::cli {

using json = nlohmann::json;

namespace {
void PrintJson(const json& j) { std::cout << j.dump(2) << "\n"; }
}  // namespace

Result<AssetUri> ResolveAsset(Api& api, const std::string& ref, const std::string& ns,
                              const AsOf& as_of) {
  const bool looks_like_id = ref.size() == 2 * AssetId::kSize && AssetId::Parse(ref).ok();
  // "aifs:" always starts a URI (a namespace named aifs takes paths with --ns).
  if (looks_like_id || ref.starts_with("aifs:")) return ResolveRef(ref, ns);
  std::string space = NsOrDefault(ns);
  std::string path = ref;
  if (const size_t colon = ref.find(':'); colon != std::string::npos) {
    const std::string named = ref.substr(0, colon);
    if (ValidateNamespaceName(named).ok()) {
      if (!ns.empty() && ns != named)
        return err::InvalidArgument("NAMESPACE_MISMATCH", "'" + ref + "' names namespace '" +
                                                              named + "' but --ns is '" + ns + "'");
      space = named;
      path = ref.substr(colon + 1);
    }
  }
  auto id = api.ResolvePath(space, path, as_of);
  // An unbound name made of hex digits only was most likely meant as an ID:
  // say what is wrong with it as one.
  const bool hex = std::all_of(ref.begin(), ref.end(), [](char c) { return std::isxdigit(c); });
  if (!id.ok() && id.status().reason() == "PATH_NOT_FOUND" && hex) return ResolveRef(ref, ns);
  AIFS_RETURN_IF_ERROR(id.status());
  return AssetUri{space, *id};
}

Status PutTree(Api& api, const Output& out, const PutTreeArgs& args) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(args.dir, ec))
    return err::InvalidArgument("NOT_A_DIRECTORY", args.dir + " is not a directory");
  struct File {
    std::string source;
    std::string path;
    uint64_t size = 0;
  };
  std::vector<File> files;
  uint64_t total = 0;
  for (auto it = fs::recursive_directory_iterator(args.dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    const std::string rel = fs::relative(it->path(), args.dir, ec).generic_string();
    if (ec) break;
    files.push_back({it->path().string(), args.prefix + rel, it->file_size(ec)});
    total += files.back().size;
  }
  if (ec) return err::FromErrno(ec.value(), "walk " + args.dir);
  std::sort(files.begin(), files.end(),
            [](const File& a, const File& b) { return a.path < b.path; });

  // Small files go in batches, one transaction (one durable commit) per
  // batch: per-file commits would make the metadata sync the bottleneck.
  constexpr size_t kBatchFiles = 256;
  constexpr uint64_t kBatchBytes = uint64_t{64} << 20;
  std::vector<std::pair<size_t, size_t>> batches;  // [begin, end) of `files`
  for (size_t i = 0; i < files.size();) {
    size_t j = i;
    uint64_t bytes = 0;
    while (j < files.size() && j - i < kBatchFiles &&
           (j == i || bytes + files[j].size <= kBatchBytes))
      bytes += files[j++].size;
    batches.emplace_back(i, j);
    i = j;
  }

  const auto start = std::chrono::steady_clock::now();
  const std::string ns = NsOrDefault(args.ns);
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> created{0}, stored{0};
  std::mutex mu;  // guards failure and progress
  Status failure;
  Progress progress(out.progress, "put -r", total);
  auto put_batch = [&](size_t begin, size_t end) -> Status {
    AIFS_ASSIGN_OR_RETURN(auto txn, api.BeginTransaction(ns));
    uint64_t bytes = 0;
    for (size_t i = begin; i < end; ++i) {
      const File& f = files[i];
      const int fd = ::open(f.source.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return err::FromErrno(errno, "open " + f.source);
      PutOptions opts{.ns = ns};
      opts.path = f.path;
      auto writer = txn->BeginPut(opts);
      Result<PutResult> r = writer.ok() ? PutStreamTo(**writer, fd, f.source) : writer.status();
      ::close(fd);
      if (!r.ok()) return r.status().WithContext(f.source);
      bytes += f.size;
    }
    AIFS_ASSIGN_OR_RETURN(auto results, txn->Commit());
    for (const PutResult& r : results) {
      created += r.created ? 1 : 0;
      stored += r.bytes_stored;
    }
    std::lock_guard lock(mu);
    progress.Add(bytes);
    return Status::Ok();
  };
  auto work = [&] {
    while (true) {
      const size_t b = next.fetch_add(1);
      if (b >= batches.size()) return;
      {
        std::lock_guard lock(mu);
        if (!failure.ok()) return;
      }
      Status st = put_batch(batches[b].first, batches[b].second);
      if (!st.ok()) {
        std::lock_guard lock(mu);
        if (failure.ok()) failure = st;
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  const int jobs = std::clamp(args.jobs, 1, 256);
  for (int t = 0; t < jobs; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  AIFS_RETURN_IF_ERROR(failure);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (out.json) {
    PrintJson({{"files", files.size()},
               {"bytes", total},
               {"new_assets", created.load()},
               {"bytes_stored", stored.load()},
               {"seconds", secs}});
  } else if (!out.quiet) {
    std::cout << "put " << files.size() << " files (" << HumanBytes(total) << ") under '"
              << args.prefix << "': " << created.load() << " new assets, "
              << HumanBytes(stored.load()) << " stored, " << secs << " s ("
              << (secs > 0 ? static_cast<uint64_t>(files.size() / secs) : 0) << " files/s)\n";
  }
  return Status::Ok();
}

Status ListPaths(Api& api, const Output& out, const PathListArgs& args) {
  PathListOptions opts{.ns = NsOrDefault(args.ns), .prefix = args.prefix, .as_of = args.as_of};
  json all = json::array();
  size_t shown = 0;
  do {
    AIFS_ASSIGN_OR_RETURN(PathPage page, api.ListPaths(opts));
    for (const PathEntry& e : page.entries) {
      if (args.limit && shown == args.limit) break;
      ++shown;
      if (out.json)
        all.push_back({{"path", e.path}, {"id", e.id.ToHex()}});
      else
        std::cout << e.id.ToHex() << "\t" << e.path << "\n";
    }
    opts.page_token = page.next_page_token;
  } while (!opts.page_token.empty() && !(args.limit && shown == args.limit));
  if (out.json) PrintJson(all);
  return Status::Ok();
}

Status PathMove(Api& api, const Output& out, const std::string& ns, const std::string& from,
                const std::string& to) {
  AIFS_RETURN_IF_ERROR(api.MovePath(NsOrDefault(ns), from, to));
  if (!out.quiet && !out.json) std::cout << "moved " << from << " -> " << to << "\n";
  return Status::Ok();
}

Status PathRemove(Api& api, const Output& out, const std::string& ns,
                  const std::vector<std::string>& paths) {
  for (const std::string& p : paths) {
    AIFS_RETURN_IF_ERROR(api.RemovePath(NsOrDefault(ns), p));
    if (!out.quiet && !out.json) std::cout << "removed path " << p << "\n";
  }
  return Status::Ok();
}

Status PathBind(Api& api, const Output& out, const std::string& ns, const std::string& path,
                const std::string& ref) {
  AIFS_ASSIGN_OR_RETURN(AssetUri uri, ResolveRef(ref, ns));
  AIFS_RETURN_IF_ERROR(api.BindPath(*uri.ns, path, uri.id));
  if (!out.quiet && !out.json) std::cout << path << " -> " << uri.id.ToHex() << "\n";
  return Status::Ok();
}

}  // namespace aifs::cli
