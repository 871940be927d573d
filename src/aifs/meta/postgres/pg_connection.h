// PgConnection: one libpq connection to PostgreSQL with the statements it has
// prepared, sending and receiving every value in binary (bytea as raw bytes,
// so keys and values need no escaping).
//
// Errors follow one mapping (PgError): serialization failures (40001) and
// deadlocks (40P01) are ABORTED TXN_CONFLICT, which RunTransaction retries; a
// lost connection, a server that is down or shutting down, or a statement
// that ran past statement_timeout is UNAVAILABLE METADATA_UNAVAILABLE; a
// write on a read-only session is FAILED_PRECONDITION READ_ONLY_MODE; a full
// disk RESOURCE_EXHAUSTED STORAGE_FULL; anything else INTERNAL METADATA_ERROR.
// Thread safety: none; a connection serves one thread at a time (PgPool).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aifs/core/status.h"

struct pg_conn;
struct pg_result;

namespace aifs {

// A named statement prepared on every connection; its parameters carry
// explicit casts ($1::bytea), so the server knows their types.
struct PgStatement {
  std::string name;
  std::string sql;
  int params = 0;
};

// Parameters of one statement, in order, each in PostgreSQL's binary format.
class PgParams {
 public:
  PgParams& Bytes(std::string_view b);
  PgParams& Int8(int64_t v);
  PgParams& BytesArray(const std::vector<std::string_view>& items);
  PgParams& Int8Array(const std::vector<int64_t>& items);
  size_t size() const { return values_.size(); }

 private:
  friend class PgConnection;
  std::vector<std::string> values_;
};

// The rows of a finished statement (owned; freed with the object).
class PgResult {
 public:
  explicit PgResult(pg_result* r) : r_(r, &Free) {}
  int rows() const;
  bool IsNull(int row, int col) const;
  std::string_view Bytes(int row, int col) const;
  int64_t Int8(int row, int col) const;  // a binary int8 column

 private:
  static void Free(pg_result* r);
  std::unique_ptr<pg_result, void (*)(pg_result*)> r_;
};

class PgConnection {
 public:
  // Connects with libpq's `conninfo`, runs `setup` (plain SQL, e.g. SET
  // statements) and prepares `statements`. UNAVAILABLE METADATA_UNAVAILABLE
  // when the server cannot be reached (libpq's connect_timeout bounds it).
  static Result<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo,
                                                       const std::string& setup,
                                                       const std::vector<PgStatement>& statements);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs the prepared statement `name` with binary results.
  Result<PgResult> Exec(const std::string& name, const PgParams& params);
  // Runs plain SQL (one or more statements, text results).
  Result<PgResult> ExecSql(const std::string& sql);
  // False once the connection is broken, or when an idle connection finds
  // that the server has closed it (a restart): then it is to be dropped.
  bool Usable();
  // Statements sent so far (each one round trip), for measurements.
  uint64_t round_trips() const { return round_trips_; }
  pg_conn* raw() { return conn_; }
  int Socket() const;

 private:
  explicit PgConnection(pg_conn* c) : conn_(c) {}
  Result<PgResult> Check(pg_result* r, std::string_view what);
  pg_conn* conn_;
  uint64_t round_trips_ = 0;
};

// A libpq notice processor that drops notices: by default libpq prints them
// (and a server's goodbye) on stderr; errors reach callers as Status instead.
void IgnoreNotice(void* arg, const char* message);

// The Status for a failed statement (`r` may be null) on `conn`.
Status PgError(pg_conn* conn, const pg_result* r, std::string_view what);

}  // namespace aifs
