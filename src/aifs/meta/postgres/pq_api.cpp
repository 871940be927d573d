#include "aifs/meta/postgres/pq_api.h"

namespace aifs {

AIFS_DEFINE_C_API(Pq, PqApi, "libpq.so.5", "libpq5", AIFS_PQ_FUNCTIONS)

}  // namespace aifs
