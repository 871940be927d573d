#include "aifs/storage/rados_chunk_store.h"

#include <rados/librados.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "aifs/core/dynamic_library.h"
#include "aifs/core/url_params.h"

namespace aifs {

namespace {

// The librados C calls this store makes, bound at the first Open (see
// core/dynamic_library.h): processes that use no rados:// store never load it.
#define AIFS_RADOS_FUNCTIONS(X)   \
  X(rados_aio_create_completion2) \
  X(rados_aio_get_return_value)   \
  X(rados_aio_release)            \
  X(rados_aio_stat)               \
  X(rados_aio_wait_for_complete)  \
  X(rados_buffer_free)            \
  X(rados_cluster_stat)           \
  X(rados_conf_read_file)         \
  X(rados_conf_set)               \
  X(rados_connect)                \
  X(rados_create)                 \
  X(rados_create_read_op)         \
  X(rados_create_write_op)        \
  X(rados_ioctx_create)           \
  X(rados_ioctx_destroy)          \
  X(rados_ioctx_set_namespace)    \
  X(rados_mon_command)            \
  X(rados_nobjects_list_close)    \
  X(rados_nobjects_list_next2)    \
  X(rados_nobjects_list_open)     \
  X(rados_read_op_cmpext)         \
  X(rados_read_op_operate)        \
  X(rados_read_op_read)           \
  X(rados_read_op_stat)           \
  X(rados_release_read_op)        \
  X(rados_release_write_op)       \
  X(rados_remove)                 \
  X(rados_shutdown)               \
  X(rados_stat)                   \
  X(rados_write_op_create)        \
  X(rados_write_op_operate)       \
  X(rados_write_op_write_full)

struct RadosApi {
  AIFS_RADOS_FUNCTIONS(AIFS_DECLARE_C_FUNCTION)
};

AIFS_DEFINE_C_API(Rados, RadosApi, "librados.so.2", "librados2", AIFS_RADOS_FUNCTIONS)

}  // namespace

struct RadosChunkStore::Handles {
  rados_t cluster = nullptr;
  rados_ioctx_t io = nullptr;
  uint64_t replicas = 1;  // the pool's size, for Space()
  // A handle is shut down even when it never connected (librados asks so).
  ~Handles() {
    if (io) Rados().rados_ioctx_destroy(io);
    if (cluster) Rados().rados_shutdown(cluster);
  }
};

namespace {

constexpr std::string_view kScheme = "rados://";
constexpr int kDefaultTimeoutSeconds = 30;
constexpr size_t kListStatsInFlight = 64;
constexpr uint64_t kMinFirstRead = 64 << 10;
constexpr uint64_t kMaxFirstRead = 64 << 20;
constexpr auto kSpaceRefresh = std::chrono::seconds(5);

struct RadosUrl {
  std::string pool, conf, id = "admin", ns = "aifs", keyring;
  int timeout = kDefaultTimeoutSeconds;
};

Status BadUrl(const std::string& url, const std::string& why) {
  return err::InvalidArgument("BAD_CHUNK_STORE_URL",
                              "chunk store URL '" + err::Echo(url, 256) + "': " + why);
}

Result<RadosUrl> ParseUrl(const std::string& url) {
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  const size_t q = std::min(rest.find('?'), rest.size());
  RadosUrl out;
  AIFS_ASSIGN_OR_RETURN(out.pool,
                        PercentDecode(rest.substr(0, q), "BAD_CHUNK_STORE_URL", "rados:// URL"));
  if (out.pool.empty() || out.pool.find('/') != std::string::npos)
    return BadUrl(url, "expected rados://POOL?conf=...&id=...");
  AIFS_RETURN_IF_ERROR(
      ForEachUrlParam(rest.substr(std::min(q + 1, rest.size())), '&', "BAD_CHUNK_STORE_URL",
                      "rados:// URL", [&](std::string_view name, std::string v) -> Status {
                        if (name == "conf") {
                          out.conf = std::move(v);
                        } else if (name == "id") {
                          out.id = v.starts_with("client.") ? v.substr(7) : std::move(v);
                          if (out.id.empty()) return BadUrl(url, "id= must name a client");
                        } else if (name == "namespace") {
                          out.ns = std::move(v);
                        } else if (name == "keyring") {
                          out.keyring = std::move(v);
                        } else if (name == "timeout") {
                          char* end = nullptr;
                          const long t = std::strtol(v.c_str(), &end, 10);
                          if (v.empty() || *end != '\0' || t < 1 || t > 3600)
                            return BadUrl(url, "timeout= takes whole seconds, 1-3600");
                          out.timeout = static_cast<int>(t);
                        } else {
                          return BadUrl(url, "unknown parameter '" + err::Echo(name) +
                                                 "' (conf, id, namespace, keyring, timeout)");
                        }
                        return Status::Ok();
                      }));
  return out;
}

bool ValidName(const std::string& name) {
  return name.size() >= 32 && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Status CheckName(const std::string& name) {
  if (ValidName(name)) return Status::Ok();
  return err::InvalidArgument("BAD_OBJECT_NAME", "bad chunk object name '" + err::Echo(name) +
                                                     "' (32-64 lowercase hex digits)");
}

// The open-time failures: what went wrong, with the pool and conf, never a key.
Status OpenError(int rc, const RadosUrl& u, const std::string& where, const std::string& step) {
  const std::string msg = step + " for " + where + ": " + std::strerror(-rc);
  switch (-rc) {
    case ETIMEDOUT:
    case ECONNREFUSED:
    case ENOTCONN:
    case EHOSTUNREACH:
    case ESHUTDOWN:
      return err::Unavailable("CHUNK_STORE_UNAVAILABLE",
                              msg + " (no answer within " + std::to_string(u.timeout) +
                                  " s; is the cluster up and mon_host right?)");
    case EACCES:
    case EPERM:
      return err::PermissionDenied(
          "CHUNK_STORE_DENIED",
          msg + (step.starts_with("connecting")
                     ? " (is the key of client." + u.id + " right?)"
                     : " (does client." + u.id + " have osd caps on pool " + u.pool + "?)"));
    case ENOENT:
      return err::PermissionDenied("CHUNK_STORE_DENIED",
                                   msg + " (no keyring with a key for client." + u.id + "?)");
    default:
      return err::Unavailable("CHUNK_STORE_UNAVAILABLE", msg);
  }
}

// The pool's replica count, asked from the monitor; 1 when it will not say.
uint64_t PoolSize(rados_t cluster, const std::string& pool) {
  const std::string cmd =
      R"({"prefix": "osd pool get", "pool": ")" + pool + R"(", "var": "size", "format": "json"})";
  const char* cmds[] = {cmd.c_str()};
  char* out = nullptr;
  size_t out_len = 0;
  char* status = nullptr;
  size_t status_len = 0;
  uint64_t size = 1;
  if (Rados().rados_mon_command(cluster, cmds, 1, "", 0, &out, &out_len, &status, &status_len) ==
          0 &&
      out != nullptr) {
    const std::string json(out, out_len);
    const size_t at = json.find("\"size\":");
    if (at != std::string::npos)
      size = std::max<uint64_t>(1, std::strtoull(json.c_str() + at + 7, nullptr, 10));
  }
  if (out) Rados().rados_buffer_free(out);
  if (status) Rados().rados_buffer_free(status);
  return size;
}

// Owns a librados completion.
struct Completion {
  rados_completion_t c = nullptr;
  Completion() { Rados().rados_aio_create_completion2(nullptr, nullptr, &c); }
  ~Completion() {
    if (c) Rados().rados_aio_release(c);
  }
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;
  int Wait() {
    Rados().rados_aio_wait_for_complete(c);
    return Rados().rados_aio_get_return_value(c);
  }
};

}  // namespace

Result<std::unique_ptr<ChunkStore>> RadosChunkStore::Open(const std::string& url, bool) {
  AIFS_ASSIGN_OR_RETURN(RadosUrl u, ParseUrl(url));
  AIFS_RETURN_IF_ERROR(LoadRados());
  const std::string where = "RADOS pool " + u.pool + " namespace " + u.ns + " (conf " +
                            (u.conf.empty() ? "librados' default" : u.conf) + ")";
  auto h = std::make_unique<Handles>();
  int rc = Rados().rados_create(&h->cluster, u.id.c_str());
  if (rc < 0) return OpenError(rc, u, where, "creating a cluster handle");
  rc = Rados().rados_conf_read_file(h->cluster, u.conf.empty() ? nullptr : u.conf.c_str());
  if (rc < 0)
    return BadUrl(url, "cannot read the Ceph config " + (u.conf.empty() ? "(default)" : u.conf) +
                           ": " + std::strerror(-rc));
  const std::string timeout = std::to_string(u.timeout);
  for (const char* option :
       {"rados_osd_op_timeout", "rados_mon_op_timeout", "client_mount_timeout"})
    Rados().rados_conf_set(h->cluster, option, timeout.c_str());
  if (!u.keyring.empty() &&
      (rc = Rados().rados_conf_set(h->cluster, "keyring", u.keyring.c_str())) < 0)
    return BadUrl(url, "keyring= was refused: " + std::string(std::strerror(-rc)));
  rc = Rados().rados_connect(h->cluster);
  if (rc < 0) return OpenError(rc, u, where, "connecting as client." + u.id);
  rc = Rados().rados_ioctx_create(h->cluster, u.pool.c_str(), &h->io);
  if (rc == -ENOENT)
    return err::NotFound(
        "CHUNK_STORE_NOT_FOUND",
        "no " + where + "; pools are made by the operator (ceph osd pool create " + u.pool + ")");
  if (rc < 0) return OpenError(rc, u, where, "opening the pool");
  Rados().rados_ioctx_set_namespace(h->io, u.ns.c_str());
  // A stat of a name no object has: the OSDs answer and the key may read.
  uint64_t size = 0;
  time_t mtime = 0;
  rc = Rados().rados_stat(h->io, "aifs.open-probe", &size, &mtime);
  if (rc < 0 && rc != -ENOENT) return OpenError(rc, u, where, "probing the pool");
  h->replicas = PoolSize(h->cluster, u.pool);
  return std::unique_ptr<ChunkStore>(new RadosChunkStore(url, where, std::move(h)));
}

RadosChunkStore::RadosChunkStore(std::string url, std::string where, std::unique_ptr<Handles> h)
    : url_(std::move(url)), where_(std::move(where)), h_(std::move(h)) {}

RadosChunkStore::~RadosChunkStore() = default;

Status RadosChunkStore::Error(int rc, const std::string& what) const {
  const std::string msg = what + " in " + where_ + ": " + std::strerror(-rc);
  switch (-rc) {
    case ENOENT:
      return err::NotFound("CHUNK_MISSING", msg);
    case ETIMEDOUT:
    case ENOTCONN:
    case ECONNREFUSED:
    case ESHUTDOWN:
    case EHOSTUNREACH:
      return err::Unavailable("CHUNK_STORE_UNAVAILABLE", msg);
    case ENOSPC:
    case EDQUOT:
      return err::ResourceExhausted("STORAGE_FULL", msg);
    case EACCES:
    case EPERM:
      return err::PermissionDenied("CHUNK_STORE_DENIED", msg);
    case EFBIG:
    case E2BIG:
      return err::InvalidArgument("CHUNK_TOO_LARGE", msg);
    default:
      return err::Internal("CHUNK_STORE_ERROR", msg);
  }
}

Status RadosChunkStore::Put(const std::string& name, ByteSpan data) {
  AIFS_RETURN_IF_ERROR(CheckName(name));
  for (int attempt = 0;; ++attempt) {
    rados_write_op_t op = Rados().rados_create_write_op();
    Rados().rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, nullptr);
    Rados().rados_write_op_write_full(op, reinterpret_cast<const char*>(data.data()), data.size());
    const int rc = Rados().rados_write_op_operate(op, h_->io, name.c_str(), nullptr, 0);
    Rados().rados_release_write_op(op);
    if (rc == 0) return Status::Ok();
    if (rc != -EEXIST) return Error(rc, "put chunk object " + name);
    // The name is taken: by this very object (a retried put) or another one.
    auto same = Holds(name, data);
    if (!same.ok() && same.status().reason() == "CHUNK_MISSING" && attempt == 0)
      continue;  // deleted meanwhile: put it again
    if (!same.ok()) return same.status();
    if (*same) return Status::Ok();
    return err::AlreadyExists("CHUNK_NAME_TAKEN", "chunk object " + name + " in " + where_ +
                                                      " already holds other bytes");
  }
}

Result<bool> RadosChunkStore::Holds(const std::string& name, ByteSpan data) {
  rados_read_op_t op = Rados().rados_create_read_op();
  uint64_t size = 0;
  time_t mtime = 0;
  int stat_rc = 0, cmp_rc = 0;
  Rados().rados_read_op_stat(op, &size, &mtime, &stat_rc);
  if (!data.empty())
    Rados().rados_read_op_cmpext(op, reinterpret_cast<const char*>(data.data()), data.size(), 0,
                                 &cmp_rc);
  const int rc = Rados().rados_read_op_operate(op, h_->io, name.c_str(), 0);
  Rados().rados_release_read_op(op);
  // A mismatch fails the op with -MAX_ERRNO - offset (below -4095).
  if (rc < -4095) return false;
  if (rc < 0) return Error(rc, "compare chunk object " + name);
  return size == data.size();
}

// Reads [offset, offset + length) of `name` into out[out_offset...]; `got`
// is how many bytes there were (fewer at the object's end).
Status RadosChunkStore::ReadAt(const std::string& name, uint64_t offset, uint64_t length,
                               Bytes& out, size_t out_offset, size_t& got) {
  got = 0;
  int read_rc = 0;
  rados_read_op_t op = Rados().rados_create_read_op();
  Rados().rados_read_op_read(op, offset, length, reinterpret_cast<char*>(out.data() + out_offset),
                             &got, &read_rc);
  const int rc = Rados().rados_read_op_operate(op, h_->io, name.c_str(), 0);
  Rados().rados_release_read_op(op);
  if (rc < 0) return Error(rc, "read chunk object " + name);
  if (read_rc < 0) return Error(read_rc, "read chunk object " + name);
  return Status::Ok();
}

// One round trip for most objects: the stat and a first read as large as the
// last object read (objects of a store are of similar sizes); a larger object
// costs one more read for its rest.
Status RadosChunkStore::Get(const std::string& name, Bytes& out) {
  AIFS_RETURN_IF_ERROR(CheckName(name));
  const uint64_t first = std::clamp<uint64_t>(read_hint_.load(std::memory_order_relaxed),
                                              kMinFirstRead, kMaxFirstRead);
  out.resize(first);
  uint64_t size = 0;
  time_t mtime = 0;
  size_t got = 0;
  int stat_rc = 0, read_rc = 0;
  rados_read_op_t op = Rados().rados_create_read_op();
  Rados().rados_read_op_stat(op, &size, &mtime, &stat_rc);
  Rados().rados_read_op_read(op, 0, first, reinterpret_cast<char*>(out.data()), &got, &read_rc);
  const int rc = Rados().rados_read_op_operate(op, h_->io, name.c_str(), 0);
  Rados().rados_release_read_op(op);
  if (rc < 0) return Error(rc, "read chunk object " + name);
  if (read_rc < 0) return Error(read_rc, "read chunk object " + name);
  read_hint_.store(size, std::memory_order_relaxed);
  if (size > got) {
    if (got < first) {
      return err::DataLoss("CHUNK_TRUNCATED", "chunk object " + name + " in " + where_ +
                                                  " is shorter than its stat says");
    }
    out.resize(size);
    size_t more = 0;
    AIFS_RETURN_IF_ERROR(ReadAt(name, got, size - got, out, got, more));
    if (more != size - got)
      return err::DataLoss("CHUNK_TRUNCATED", "chunk object " + name + " in " + where_ +
                                                  " is shorter than " + std::to_string(size) +
                                                  " bytes");
  }
  out.resize(size);
  return Status::Ok();
}

Status RadosChunkStore::GetRange(const std::string& name, uint64_t offset, uint64_t length,
                                 Bytes& out) {
  AIFS_RETURN_IF_ERROR(CheckName(name));
  auto truncated = [&] {
    return err::DataLoss("CHUNK_TRUNCATED", "chunk object " + name + " in " + where_ +
                                                " is shorter than " +
                                                std::to_string(offset + length) + " bytes");
  };
  if (length == 0) {  // a RADOS read of length 0 means "all": stat instead
    uint64_t size = 0;
    time_t mtime = 0;
    const int rc = Rados().rados_stat(h_->io, name.c_str(), &size, &mtime);
    if (rc < 0) return Error(rc, "stat chunk object " + name);
    out.clear();
    return offset <= size ? Status::Ok() : truncated();
  }
  out.resize(length);
  size_t got = 0;
  AIFS_RETURN_IF_ERROR(ReadAt(name, offset, length, out, 0, got));
  return got == length ? Status::Ok() : truncated();
}

Status RadosChunkStore::Delete(const std::string& name) {
  AIFS_RETURN_IF_ERROR(CheckName(name));
  const int rc = Rados().rados_remove(h_->io, name.c_str());
  if (rc < 0 && rc != -ENOENT) return Error(rc, "delete chunk object " + name);
  return Status::Ok();
}

// The listing gives names only: their sizes come from stats sent
// asynchronously, up to kListStatsInFlight at a time. An object deleted before
// its stat answers is skipped.
Status RadosChunkStore::List(const std::function<bool(const std::string&, uint64_t)>& fn) {
  rados_list_ctx_t ctx = nullptr;
  int rc = Rados().rados_nobjects_list_open(h_->io, &ctx);
  if (rc < 0) return Error(rc, "list");
  struct Pending {
    std::string name;
    uint64_t size = 0;
    time_t mtime = 0;
    Completion done;
  };
  std::vector<std::unique_ptr<Pending>> batch;
  Status st;
  bool more = true, go_on = true;
  while (st.ok() && more && go_on) {
    batch.clear();
    while (batch.size() < kListStatsInFlight) {
      const char* entry = nullptr;
      size_t entry_len = 0;
      rc = Rados().rados_nobjects_list_next2(ctx, &entry, nullptr, nullptr, &entry_len, nullptr,
                                             nullptr);
      if (rc == -ENOENT) {
        more = false;
        break;
      }
      if (rc < 0) {
        st = Error(rc, "list");
        break;
      }
      auto p = std::make_unique<Pending>();
      p->name.assign(entry, entry_len);
      if (!ValidName(p->name)) continue;  // not one of ours
      rc = Rados().rados_aio_stat(h_->io, p->name.c_str(), p->done.c, &p->size, &p->mtime);
      if (rc < 0) {
        st = Error(rc, "stat chunk object " + p->name);
        break;
      }
      batch.push_back(std::move(p));
    }
    // Every sent stat is waited for, even after an error or a stop.
    for (auto& p : batch) {
      rc = p->done.Wait();
      if (!st.ok() || !go_on || rc == -ENOENT) continue;
      if (rc < 0)
        st = Error(rc, "stat chunk object " + p->name);
      else
        go_on = fn(p->name, p->size);
    }
  }
  Rados().rados_nobjects_list_close(ctx);
  return st;
}

std::optional<DiskSpace> RadosChunkStore::Space() const {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(space_mu_);
    // Fresh, or another thread is asking the cluster: the last answer.
    if (space_refreshing_ ||
        (space_at_ != std::chrono::steady_clock::time_point{} && now - space_at_ < kSpaceRefresh))
      return space_;
    space_refreshing_ = true;
  }
  std::optional<DiskSpace> space;
  rados_cluster_stat_t stats{};
  // Without a ceph-mgr the statistics are all zero: unknown, not full.
  if (Rados().rados_cluster_stat(h_->cluster, &stats) == 0 && stats.kb > 0)
    space = DiskSpace{.available = (stats.kb_avail << 10) / h_->replicas,
                      .total = (stats.kb << 10) / h_->replicas};
  std::lock_guard lock(space_mu_);
  space_ = space;
  space_at_ = now;
  space_refreshing_ = false;
  return space;
}

}  // namespace aifs
