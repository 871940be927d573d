#include "aifs/meta/postgres/postgres_meta_store.h"

#include <algorithm>
#include <future>
#include <map>
#include <thread>

namespace aifs {
namespace {

constexpr size_t kDefaultPool = 8;
constexpr auto kPoolWait = std::chrono::seconds(30);
// libpq parameters added unless the URL sets them: every wait on the
// network is bounded, so a dead server is an error, never a hang.
constexpr std::pair<std::string_view, std::string_view> kDefaults[] = {
    {"connect_timeout", "5"},     {"application_name", "aifs"}, {"keepalives_idle", "10"},
    {"keepalives_interval", "5"}, {"keepalives_count", "3"},    {"tcp_user_timeout", "15000"}};

struct ParsedUrl {
  std::string conninfo;  // for libpq
  std::string shown;     // without a password
  std::string schema = "aifs";
  size_t pool = kDefaultPool;
};

bool ValidSchema(std::string_view s) {
  if (s.empty() || s.size() > 40 || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Result<ParsedUrl> ParseUrl(const std::string& url) {
  auto bad = [&](std::string why) {
    return err::InvalidArgument("BAD_META_URL", why + ": " + err::Echo(url, 200));
  };
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return bad("not a postgresql:// URL");
  const size_t q = url.find('?');
  std::string base = url.substr(0, q);
  ParsedUrl out;
  std::string query;
  size_t pos = q == std::string::npos ? url.size() : q + 1;
  std::vector<std::string> seen;
  while (pos < url.size()) {
    size_t amp = url.find('&', pos);
    if (amp == std::string::npos) amp = url.size();
    const std::string item = url.substr(pos, amp - pos);
    pos = amp + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq),
                      value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "pool") {
      char* end = nullptr;
      const unsigned long n = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end || n == 0 || n > 1000) return bad("pool must be 1..1000");
      out.pool = n;
    } else if (key == "schema") {
      if (!ValidSchema(value)) return bad("schema must be [a-z_][a-z0-9_]{0,39}");
      out.schema = value;
    } else {
      seen.push_back(key);
      query += (query.empty() ? "" : "&") + item;
    }
  }
  for (const auto& [k, v] : kDefaults)
    if (std::find(seen.begin(), seen.end(), k) == seen.end())
      query += (query.empty() ? "" : "&") + std::string(k) + "=" + std::string(v);
  out.conninfo = base + "?" + query;
  // user:password@ -> user@
  out.shown = url;
  const size_t at = base.find('@', scheme_end + 3);
  if (at != std::string::npos) {
    const size_t colon = base.find(':', scheme_end + 3);
    if (colon != std::string::npos && colon < at) out.shown.erase(colon, at - colon);
  }
  return out;
}

// `sql` with every "@s" replaced by the quoted schema name and "@channel" by
// the log's notification channel.
std::string ForSchema(std::string_view sql, const std::string& schema) {
  std::string out;
  for (size_t i = 0; i < sql.size();) {
    if (sql.substr(i).starts_with("@channel")) {
      out += "aifs_log:" + schema;
      i += 8;
    } else if (sql.substr(i).starts_with("@s")) {
      out += "\"" + schema + "\"";
      i += 2;
    } else {
      out.push_back(sql[i++]);
    }
  }
  return out;
}

// The schema, created in one transaction; concurrent creators take turns on
// an advisory lock. The function `commit` applies one transaction in one
// statement (see postgres_meta_store.h): each statement of a plpgsql function
// reads the latest committed data (READ COMMITTED), so the check after taking
// the locks is current.
constexpr std::string_view kCreateSql = R"sql(
BEGIN;
SELECT pg_advisory_xact_lock(7283462115);
CREATE SCHEMA IF NOT EXISTS @s;
CREATE TABLE IF NOT EXISTS @s.version (id int PRIMARY KEY CHECK (id = 1), version int8 NOT NULL);
CREATE TABLE IF NOT EXISTS @s.kv (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE IF NOT EXISTS @s.log (seq int8 PRIMARY KEY, entry bytea NOT NULL);
CREATE TABLE IF NOT EXISTS @s.log_counter (id int PRIMARY KEY CHECK (id = 1), seq int8 NOT NULL);
INSERT INTO @s.log_counter VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION @s.commit(locks int8[], rkeys bytea[], rvers int8[], pkeys bytea[],
                                     pvals bytea[], dkeys bytea[], entries bytea[])
RETURNS int8 LANGUAGE plpgsql AS $f$
DECLARE
  n int8 := coalesce(cardinality(entries), 0);
  last_seq int8 := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(l) FROM unnest(locks) AS l;
  IF EXISTS (SELECT 1 FROM unnest(rkeys, rvers) AS r(k, ver) LEFT JOIN @s.kv AS t ON t.k = r.k
             WHERE coalesce(t.xmin::text::int8, 0) <> r.ver) THEN
    RAISE EXCEPTION 'a key read by the transaction was written since'
      USING ERRCODE = 'serialization_failure';
  END IF;
  DELETE FROM @s.kv WHERE k = ANY(dkeys);
  INSERT INTO @s.kv (k, v) SELECT * FROM unnest(pkeys, pvals)
    ON CONFLICT (k) DO UPDATE SET v = excluded.v;
  IF n > 0 THEN
    UPDATE @s.log_counter SET seq = seq + n WHERE id = 1 RETURNING seq INTO last_seq;
    INSERT INTO @s.log (seq, entry)
      SELECT last_seq - n + o, e FROM unnest(entries) WITH ORDINALITY AS x(e, o);
    PERFORM pg_notify('@channel', last_seq::text);
  END IF;
  RETURN last_seq;
END $f$;
INSERT INTO @s.version VALUES (1, 1) ON CONFLICT DO NOTHING;
COMMIT;
)sql";
static_assert(PostgresMetaStore::kSchemaVersion == 1, "kCreateSql writes version 1");

std::vector<PgStatement> Statements(const std::string& schema) {
  const std::vector<PgStatement> statements = {
      {"get", "SELECT v, xmin::text::int8 FROM @s.kv WHERE k = $1::bytea", 1},
      {"scan_to",
       "SELECT k, v FROM @s.kv WHERE k >= $1::bytea AND k < $2::bytea ORDER BY k LIMIT $3::int8",
       3},
      {"scan_all", "SELECT k, v FROM @s.kv WHERE k >= $1::bytea ORDER BY k LIMIT $2::int8", 2},
      {"last_to",
       "SELECT k FROM @s.kv WHERE k >= $1::bytea AND k < $2::bytea ORDER BY k DESC LIMIT 1", 2},
      {"last_all", "SELECT k FROM @s.kv WHERE k >= $1::bytea ORDER BY k DESC LIMIT 1", 1},
      {"delete_to", "DELETE FROM @s.kv WHERE k >= $1::bytea AND k < $2::bytea", 2},
      {"delete_all", "DELETE FROM @s.kv WHERE k >= $1::bytea", 1},
      {"upsert",
       "INSERT INTO @s.kv (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[])"
       " ON CONFLICT (k) DO UPDATE SET v = excluded.v",
       2},
      {"commit",
       "SELECT @s.commit($1::int8[], $2::bytea[], $3::int8[], $4::bytea[], $5::bytea[],"
       " $6::bytea[], $7::bytea[])",
       7},
      {"watermark", "SELECT seq FROM @s.log_counter WHERE id = 1", 0},
      {"log_scan",
       "SELECT seq, entry FROM @s.log WHERE seq > $1::int8 AND seq <= $2::int8"
       " ORDER BY seq LIMIT $3::int8",
       3},
  };
  std::vector<PgStatement> out;
  for (const PgStatement& st : statements)
    out.push_back({st.name, ForSchema(st.sql, schema), st.params});
  return out;
}

Status ReadOnlyError() {
  return err::FailedPrecondition("READ_ONLY_MODE", "the metadata store is open read-only");
}

void RaiseTo(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load();
  while (v > cur && !a.compare_exchange_weak(cur, v)) {
  }
}

}  // namespace

class PostgresMetaStore::Txn : public MetaTxn {
 public:
  explicit Txn(PostgresMetaStore& store) : store_(store) {}

  Result<std::optional<std::string>> Get(std::string_view key) override {
    if (store_.read_only()) return ReadOnlyError();
    if (auto w = writes_.find(key); w != writes_.end()) return w->second;
    AIFS_ASSIGN_OR_RETURN(PgResult r, store_.Exec("get", PgParams().Bytes(key)));
    std::optional<std::string> value;
    int64_t version = 0;  // no row: xid 0 is never a row's xmin
    if (r.rows() > 0) {
      value.emplace(r.Bytes(0, 0));
      version = r.Int8(0, 1);
    }
    reads_.emplace(std::string(key), version);  // the first read is the one checked
    return value;
  }
  Status Put(std::string_view key, std::string_view value) override {
    if (store_.read_only()) return ReadOnlyError();
    writes_.insert_or_assign(std::string(key), std::optional<std::string>(value));
    return Status::Ok();
  }
  Status Delete(std::string_view key) override {
    if (store_.read_only()) return ReadOnlyError();
    writes_.insert_or_assign(std::string(key), std::nullopt);
    return Status::Ok();
  }
  Status Commit() override {
    if (store_.read_only()) return ReadOnlyError();
    if (reads_.empty() && writes_.empty() && log_entries().empty()) return Status::Ok();
    std::vector<int64_t> locks, versions;
    std::vector<std::string_view> read_keys, put_keys, put_values, delete_keys, entries;
    for (const auto& [k, version] : reads_) {
      locks.push_back(store_.LockOf(k));
      read_keys.push_back(k);
      versions.push_back(version);
    }
    for (const auto& [k, v] : writes_) {
      locks.push_back(store_.LockOf(k));
      if (v) {
        put_keys.push_back(k);
        put_values.push_back(*v);
      } else {
        delete_keys.push_back(k);
      }
    }
    // One order for every committer, so lock waits never form a cycle.
    std::sort(locks.begin(), locks.end());
    locks.erase(std::unique(locks.begin(), locks.end()), locks.end());
    for (const std::string& e : log_entries()) entries.push_back(e);
    AIFS_ASSIGN_OR_RETURN(PgResult r, store_.Exec("commit", PgParams()
                                                                .Int8Array(locks)
                                                                .BytesArray(read_keys)
                                                                .Int8Array(versions)
                                                                .BytesArray(put_keys)
                                                                .BytesArray(put_values)
                                                                .BytesArray(delete_keys)
                                                                .BytesArray(entries)));
    // The counter this commit left is committed, and so is every lower one.
    if (r.rows() > 0 && !r.IsNull(0, 0)) RaiseTo(store_.watermark_, r.Int8(0, 0));
    reads_.clear();
    writes_.clear();
    return Status::Ok();
  }

 private:
  PostgresMetaStore& store_;
  std::map<std::string, int64_t, std::less<>> reads_;                      // key -> version read
  std::map<std::string, std::optional<std::string>, std::less<>> writes_;  // nullopt: delete
};

// Puts gathered in key order (a key put twice keeps its last value) and sent
// as one multi-row upsert.
class PostgresMetaStore::Batch : public MetaBatch {
 public:
  explicit Batch(PostgresMetaStore& store) : store_(store) {}
  Status Put(std::string_view key, std::string_view value) override {
    if (store_.read_only()) return ReadOnlyError();
    bytes_ += key.size() + value.size();
    puts_.insert_or_assign(std::string(key), std::string(value));
    return Status::Ok();
  }
  size_t buffered_bytes() const override { return bytes_; }
  Status Write() override {
    if (puts_.empty()) return Status::Ok();
    std::vector<std::string_view> keys, values;
    for (const auto& [k, v] : puts_) {
      keys.push_back(k);
      values.push_back(v);
    }
    AIFS_RETURN_IF_ERROR(
        store_.Exec("upsert", PgParams().BytesArray(keys).BytesArray(values)).status());
    puts_.clear();
    bytes_ = 0;
    return Status::Ok();
  }

 private:
  PostgresMetaStore& store_;
  std::map<std::string, std::string> puts_;
  size_t bytes_ = 0;
};

Result<std::unique_ptr<MetaStore>> PostgresMetaStore::Open(const std::string& url,
                                                           const MetaOpenOptions& options) {
  if (options.salvage)
    return err::InvalidArgument("BAD_OPEN_OPTIONS", "salvage is for embedded stores only");
  AIFS_ASSIGN_OR_RETURN(ParsedUrl parsed, ParseUrl(url));
  std::unique_ptr<PostgresMetaStore> store(
      new PostgresMetaStore(parsed.shown, parsed.schema, options));
  AIFS_RETURN_IF_ERROR(store->PrepareSchema(parsed.conninfo));
  std::string setup =
      "SET statement_timeout = 30000; SET idle_in_transaction_session_timeout = 60000;"
      "SET default_transaction_isolation = 'read committed'; SET client_min_messages = warning;";
  if (options.read_only) setup += "SET default_transaction_read_only = on;";
  store->pool_ = std::make_unique<PgPool>(parsed.conninfo, setup, Statements(parsed.schema),
                                          parsed.pool, kPoolWait);
  // A first connection, which prepares every statement: errors show now.
  AIFS_RETURN_IF_ERROR(store->ReadWatermark().status());
  store->listener_ = std::make_unique<PgLogListener>(parsed.conninfo, "aifs_log:" + parsed.schema);
  return std::unique_ptr<MetaStore>(std::move(store));
}

PostgresMetaStore::~PostgresMetaStore() = default;

Status PostgresMetaStore::PrepareSchema(const std::string& conninfo) {
  AIFS_ASSIGN_OR_RETURN(auto conn, PgConnection::Connect(conninfo, "", {}));
  const std::string s = ForSchema("@s", schema_);
  auto version = [&]() -> Result<std::optional<int64_t>> {
    AIFS_ASSIGN_OR_RETURN(PgResult exists,
                          conn->ExecSql("SELECT to_regclass('" + s + ".version') IS NOT NULL"));
    if (exists.Bytes(0, 0) != "t") return std::optional<int64_t>();
    AIFS_ASSIGN_OR_RETURN(PgResult v, conn->ExecSql("SELECT version FROM " + s + ".version"));
    if (v.rows() == 0) return std::optional<int64_t>();
    return std::optional<int64_t>(std::stoll(std::string(v.Bytes(0, 0))));
  };
  AIFS_ASSIGN_OR_RETURN(auto found, version());
  if (!found) {
    if (!options_.create || options_.read_only)
      return err::NotFound("META_STORE_MISSING",
                           "no AIFS store in schema " + s + " of " + url_ + " (create it first)");
    AIFS_RETURN_IF_ERROR(conn->ExecSql(ForSchema(kCreateSql, schema_)).status());
    AIFS_ASSIGN_OR_RETURN(found, version());
    if (!found) return err::Internal("METADATA_ERROR", "schema creation left no version");
  }
  if (*found > kSchemaVersion)
    return err::FailedPrecondition("META_SCHEMA_TOO_NEW",
                                   "the store in " + url_ + " has schema version " +
                                       std::to_string(*found) + "; this build knows up to " +
                                       std::to_string(kSchemaVersion) + " (upgrade aifs)");
  return Status::Ok();
}

Result<PgResult> PostgresMetaStore::Exec(const std::string& name, const PgParams& params) const {
  AIFS_ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  return conn->Exec(name, params);
}

int64_t PostgresMetaStore::LockOf(std::string_view key) const {
  // FNV-1a 64 over "<schema>\0<key>": every server computes the same number.
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](std::string_view bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 0x100000001b3ull;
    }
  };
  mix(schema_);
  mix(std::string_view("\0", 1));
  mix(key);
  return static_cast<int64_t>(h);
}

Result<std::optional<std::string>> PostgresMetaStore::Get(std::string_view key) {
  AIFS_ASSIGN_OR_RETURN(PgResult r, Exec("get", PgParams().Bytes(key)));
  if (r.rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(r.Bytes(0, 0));
}

namespace {
// The smallest key after the last row of a scan page.
std::string KeyAfterLast(const PgResult& page) {
  std::string key(page.Bytes(page.rows() - 1, 0));
  key.push_back('\0');
  return key;
}
}  // namespace

Result<PgResult> PostgresMetaStore::ScanPage(std::string_view from, std::string_view end,
                                             int limit) const {
  PgParams params;
  params.Bytes(from);
  if (!end.empty()) params.Bytes(end);
  params.Int8(limit);
  return Exec(end.empty() ? "scan_all" : "scan_to", params);
}

Status PostgresMetaStore::Scan(std::string_view begin, std::string_view end, const ScanFn& fn) {
  std::string from(begin);
  for (;;) {
    AIFS_ASSIGN_OR_RETURN(PgResult r, ScanPage(from, end, kScanPage));
    // The connection is back in the pool: `fn` may call the store.
    for (int i = 0; i < r.rows(); ++i)
      if (!fn(r.Bytes(i, 0), r.Bytes(i, 1))) return Status::Ok();
    if (r.rows() < kScanPage) return Status::Ok();
    from = KeyAfterLast(r);
  }
}

Status PostgresMetaStore::ScanBulk(std::string_view begin, std::string_view end, const ScanFn& fn) {
  auto fetch = [this, end](std::string from) { return ScanPage(from, end, kBulkPage); };
  AIFS_ASSIGN_OR_RETURN(PgResult page, fetch(std::string(begin)));
  for (;;) {
    std::future<Result<PgResult>> next;  // its destructor waits for the fetch
    if (page.rows() == kBulkPage) next = std::async(std::launch::async, fetch, KeyAfterLast(page));
    for (int i = 0; i < page.rows(); ++i)
      if (!fn(page.Bytes(i, 0), page.Bytes(i, 1))) return Status::Ok();
    if (!next.valid()) return Status::Ok();
    AIFS_ASSIGN_OR_RETURN(page, next.get());
  }
}

std::unique_ptr<MetaTxn> PostgresMetaStore::Begin() { return std::make_unique<Txn>(*this); }

std::unique_ptr<MetaBatch> PostgresMetaStore::NewBatch() { return std::make_unique<Batch>(*this); }

Status PostgresMetaStore::DeleteRange(std::string_view begin, std::string_view end) {
  if (read_only()) return ReadOnlyError();
  PgParams params;
  params.Bytes(begin);
  if (!end.empty()) params.Bytes(end);
  return Exec(end.empty() ? "delete_all" : "delete_to", params).status();
}

Result<std::optional<std::string>> PostgresMetaStore::LastKey(std::string_view begin,
                                                              std::string_view end) {
  PgParams params;
  params.Bytes(begin);
  if (!end.empty()) params.Bytes(end);
  AIFS_ASSIGN_OR_RETURN(PgResult r, Exec(end.empty() ? "last_all" : "last_to", params));
  if (r.rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(r.Bytes(0, 0));
}

Result<uint64_t> PostgresMetaStore::ReadWatermark() const {
  AIFS_ASSIGN_OR_RETURN(PgResult w, Exec("watermark", PgParams()));
  if (w.rows() == 0) return err::DataLoss("METADATA_CORRUPT", "the log counter row is missing");
  RaiseTo(watermark_, static_cast<uint64_t>(w.Int8(0, 0)));
  return static_cast<uint64_t>(w.Int8(0, 0));
}

uint64_t PostgresMetaStore::LogWatermark() const {
  (void)ReadWatermark();  // when unreachable: the last one seen, still safe
  return watermark_.load();
}

Result<uint64_t> PostgresMetaStore::ScanLog(uint64_t after, const LogFn& fn) {
  AIFS_ASSIGN_OR_RETURN(const uint64_t watermark, ReadWatermark());
  uint64_t cursor = after;
  while (cursor < watermark) {
    AIFS_ASSIGN_OR_RETURN(PgResult r, Exec("log_scan", PgParams()
                                                           .Int8(static_cast<int64_t>(cursor))
                                                           .Int8(static_cast<int64_t>(watermark))
                                                           .Int8(kScanPage)));
    for (int i = 0; i < r.rows(); ++i) {
      const uint64_t seq = static_cast<uint64_t>(r.Int8(i, 0));
      if (!fn(seq, r.Bytes(i, 1))) return seq;
      cursor = seq;
    }
    if (r.rows() < kScanPage) break;
  }
  return std::max(after, watermark);
}

void PostgresMetaStore::InterruptLogWaits() { listener_->Interrupt(); }

bool PostgresMetaStore::WaitForLog(uint64_t seq, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const uint64_t interrupts = listener_->interrupts();
  for (;;) {
    // While the listener keeps its connection, every commit after it began
    // listening is announced: the counter is read once per connection (and
    // every time while it has none).
    const uint64_t generation = listener_->generation();
    if (!listener_->listening() || generation != synced_generation_.load()) {
      if (ReadWatermark().ok() && listener_->listening()) synced_generation_ = generation;
    }
    RaiseTo(watermark_, listener_->announced());
    if (watermark_.load() > seq) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || listener_->interrupts() != interrupts) return false;
    const auto slice = std::min<std::chrono::milliseconds>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
        listener_->listening() ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(100));
    if (listener_->Wait(seq, generation, interrupts, slice)) {
      RaiseTo(watermark_, listener_->announced());
      return true;
    }
  }
}

namespace {

class PgLock : public MetaLock {
 public:
  PgLock(PgPool::Lease conn, int64_t number) : conn_(std::move(conn)), number_(number) {}
  ~PgLock() override {
    // When the unlock cannot be sent the connection is broken, and the
    // server released the lock with the session.
    (void)conn_->ExecSql("SELECT pg_advisory_unlock(" + std::to_string(number_) + ")");
  }

 private:
  PgPool::Lease conn_;
  const int64_t number_;
};

}  // namespace

Result<MetaIntegrity> PostgresMetaStore::CheckIntegrity(bool) {
  return err::Unimplemented("NOT_SUPPORTED",
                            "PostgreSQL checks its own pages: run pg_amcheck on the database");
}

Result<std::unique_ptr<MetaLock>> PostgresMetaStore::Lock(std::string_view name,
                                                          std::chrono::milliseconds timeout) {
  AIFS_ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
  // Named locks hash into the keys' lock space under a prefix no key has.
  const int64_t number = LockOf(std::string("\x01lock/") + std::string(name));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    AIFS_ASSIGN_OR_RETURN(
        PgResult r, conn->ExecSql("SELECT pg_try_advisory_lock(" + std::to_string(number) + ")"));
    if (r.rows() == 1 && r.Bytes(0, 0) == "t")
      return std::unique_ptr<MetaLock>(new PgLock(std::move(conn), number));
    if (std::chrono::steady_clock::now() >= deadline)
      return err::Aborted("LOCK_TIMEOUT", "the store lock '" + std::string(name) +
                                              "' is still held by another server");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace aifs
