// The libpq C calls the postgresql:// MetaStore makes, bound when the first
// connection is made (core/dynamic_library.h): processes that use no
// PostgreSQL store never load libpq.
// Thread safety: LoadPq and Pq may be called from any thread.
#pragma once

#include <libpq-fe.h>

#include "aifs/core/dynamic_library.h"

namespace aifs {

#define AIFS_PQ_FUNCTIONS(X) \
  X(PQclear)                 \
  X(PQconnectdb)             \
  X(PQconsumeInput)          \
  X(PQerrorMessage)          \
  X(PQescapeIdentifier)      \
  X(PQexec)                  \
  X(PQexecPrepared)          \
  X(PQfinish)                \
  X(PQfreemem)               \
  X(PQgetisnull)             \
  X(PQgetlength)             \
  X(PQgetvalue)              \
  X(PQnotifies)              \
  X(PQntuples)               \
  X(PQprepare)               \
  X(PQresultErrorField)      \
  X(PQresultErrorMessage)    \
  X(PQresultStatus)          \
  X(PQsetNoticeProcessor)    \
  X(PQsocket)                \
  X(PQstatus)                \
  X(PQtransactionStatus)

struct PqApi {
  AIFS_PQ_FUNCTIONS(AIFS_DECLARE_C_FUNCTION)
};

// Binds libpq once per process. FAILED_PRECONDITION LIBRARY_MISSING or
// LIBRARY_SYMBOL_MISSING when it cannot.
Status LoadPq();
// The bound calls; only after LoadPq succeeded.
const PqApi& Pq();

}  // namespace aifs
