#include "aifs/meta/postgres/pq_api.h"

namespace aifs {

namespace {

Result<const PqApi*> Bind() {
  return LoadCApi<PqApi>("libpq.so.5", "libpq5",
                         [](void* handle, const char* soname, PqApi& api) -> Status {
                           AIFS_PQ_FUNCTIONS(AIFS_BIND_C_FUNCTION)
                           return Status::Ok();
                         });
}

}  // namespace

Status LoadPq() { return Bind().status(); }

const PqApi& Pq() { return **Bind(); }

}  // namespace aifs
