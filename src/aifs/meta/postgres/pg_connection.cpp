#include "aifs/meta/postgres/pg_connection.h"

#include <poll.h>

#include "aifs/meta/postgres/pq_api.h"

namespace aifs {
namespace {

constexpr unsigned kByteaOid = 17;
constexpr unsigned kInt8Oid = 20;

void Put32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
void Put64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

// The binary form of a one-dimensional array without nulls: dimensions,
// flags, element type, (length, lower bound), then each element with its length.
std::string ArrayHeader(unsigned oid, size_t n) {
  std::string out;
  Put32(out, n == 0 ? 0 : 1);
  Put32(out, 0);
  Put32(out, oid);
  if (n > 0) {
    Put32(out, static_cast<uint32_t>(n));
    Put32(out, 1);
  }
  return out;
}

std::string Trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

void IgnoreNotice(void*, const char*) {}

PgParams& PgParams::Bytes(std::string_view b) {
  values_.emplace_back(b);
  return *this;
}

PgParams& PgParams::Int8(int64_t v) {
  std::string out;
  Put64(out, static_cast<uint64_t>(v));
  values_.push_back(std::move(out));
  return *this;
}

PgParams& PgParams::BytesArray(const std::vector<std::string_view>& items) {
  std::string out = ArrayHeader(kByteaOid, items.size());
  for (std::string_view item : items) {
    Put32(out, static_cast<uint32_t>(item.size()));
    out.append(item);
  }
  values_.push_back(std::move(out));
  return *this;
}

PgParams& PgParams::Int8Array(const std::vector<int64_t>& items) {
  std::string out = ArrayHeader(kInt8Oid, items.size());
  for (int64_t item : items) {
    Put32(out, 8);
    Put64(out, static_cast<uint64_t>(item));
  }
  values_.push_back(std::move(out));
  return *this;
}

void PgResult::Free(pg_result* r) { Pq().PQclear(r); }
int PgResult::rows() const { return Pq().PQntuples(r_.get()); }
bool PgResult::IsNull(int row, int col) const { return Pq().PQgetisnull(r_.get(), row, col) != 0; }
std::string_view PgResult::Bytes(int row, int col) const {
  return {Pq().PQgetvalue(r_.get(), row, col),
          static_cast<size_t>(Pq().PQgetlength(r_.get(), row, col))};
}
int64_t PgResult::Int8(int row, int col) const {
  std::string_view b = Bytes(row, col);
  uint64_t v = 0;
  for (char c : b) v = (v << 8) | static_cast<unsigned char>(c);
  return static_cast<int64_t>(v);
}

Status PgError(pg_conn* conn, const pg_result* r, std::string_view what) {
  const char* state = r ? Pq().PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = std::string(what) + ": " +
                    Trimmed(r && *Pq().PQresultErrorMessage(r) ? Pq().PQresultErrorMessage(r)
                                                               : Pq().PQerrorMessage(conn));
  const std::string s = state ? state : "";
  if (s == "40001" || s == "40P01")
    return err::Aborted("TXN_CONFLICT", "concurrent update, retry: " + msg);
  if (Pq().PQstatus(conn) != CONNECTION_OK || s.empty() || s.starts_with("08") ||
      s.starts_with("57P") || s == "53300" || s == "57014")
    return err::Unavailable("METADATA_UNAVAILABLE", "PostgreSQL unreachable: " + msg);
  if (s == "25006") return err::FailedPrecondition("READ_ONLY_MODE", msg);
  if (s == "53100") return err::ResourceExhausted("STORAGE_FULL", msg);
  if (s.starts_with("28") || s == "42501")
    return err::PermissionDenied("METADATA_ACCESS_DENIED", msg);
  return err::Internal("METADATA_ERROR", msg + " (SQLSTATE " + s + ")");
}

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const std::string& conninfo, const std::string& setup,
    const std::vector<PgStatement>& statements) {
  AIFS_RETURN_IF_ERROR(LoadPq());
  pg_conn* raw = Pq().PQconnectdb(conninfo.c_str());
  if (!raw) return err::Unavailable("METADATA_UNAVAILABLE", "PostgreSQL: out of memory");
  std::unique_ptr<PgConnection> conn(new PgConnection(raw));
  Pq().PQsetNoticeProcessor(raw, IgnoreNotice, nullptr);
  if (Pq().PQstatus(raw) != CONNECTION_OK)
    return err::Unavailable("METADATA_UNAVAILABLE",
                            "cannot connect to PostgreSQL: " + Trimmed(Pq().PQerrorMessage(raw)));
  if (!setup.empty()) AIFS_RETURN_IF_ERROR(conn->ExecSql(setup).status());
  for (const PgStatement& st : statements) {
    ++conn->round_trips_;
    AIFS_RETURN_IF_ERROR(
        conn->Check(Pq().PQprepare(raw, st.name.c_str(), st.sql.c_str(), st.params, nullptr),
                    "prepare " + st.name)
            .status());
  }
  return conn;
}

PgConnection::~PgConnection() { Pq().PQfinish(conn_); }

int PgConnection::Socket() const { return Pq().PQsocket(conn_); }

Result<PgResult> PgConnection::Check(pg_result* r, std::string_view what) {
  PgResult owned(r);
  const ExecStatusType st = r ? Pq().PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return owned;
  return PgError(conn_, r, what);
}

Result<PgResult> PgConnection::Exec(const std::string& name, const PgParams& params) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const std::string& v : params.values_) {
    values.push_back(v.data());
    lengths.push_back(static_cast<int>(v.size()));
    formats.push_back(1);
  }
  ++round_trips_;
  return Check(Pq().PQexecPrepared(conn_, name.c_str(), static_cast<int>(values.size()),
                                   values.data(), lengths.data(), formats.data(), 1),
               name);
}

Result<PgResult> PgConnection::ExecSql(const std::string& sql) {
  ++round_trips_;
  return Check(Pq().PQexec(conn_, sql.c_str()), "query");
}

bool PgConnection::Usable() {
  if (Pq().PQstatus(conn_) != CONNECTION_OK) return false;
  // An idle connection has nothing to read unless the server spoke first:
  // a notice, or the FATAL message and end of file of a server going away.
  pollfd p{Pq().PQsocket(conn_), POLLIN, 0};
  if (poll(&p, 1, 0) > 0) {
    if (!Pq().PQconsumeInput(conn_)) return false;
    while (PGnotify* n = Pq().PQnotifies(conn_)) Pq().PQfreemem(n);
  }
  return Pq().PQstatus(conn_) == CONNECTION_OK && Pq().PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

}  // namespace aifs
