// Binding a C library when it is first used instead of when the process
// starts. Every library the executable names is loaded, relocated and
// initialised before main() whether or not the call needs it: librados,
// libpq and libcurl (with their ~40 dependencies) were about a quarter of
// the start of every CLI call, though only a store on Ceph, PostgreSQL or S3
// uses them (bench/cli_call_bench.sh).
//
// A library's API is a struct of function pointers named after the
// functions, listed once in an X-macro and filled by BindAll:
//
//   #define AIFS_PQ_FUNCTIONS(X) X(PQconnectdb) X(PQfinish)
//   struct PqApi { AIFS_PQ_FUNCTIONS(AIFS_DECLARE_C_FUNCTION) };
//   ... AIFS_PQ_FUNCTIONS(AIFS_BIND_C_FUNCTION) ...   (inside a BindAll)
//
// Libraries are opened once per process and never closed, so pointers taken
// from them stay valid. Thread safety: every function may be called from any
// thread.
#pragma once

#include <string>

#include "aifs/core/status.h"

namespace aifs {

// The handle of `soname` (for example "libpq.so.5"), loaded now if needed.
// FAILED_PRECONDITION LIBRARY_MISSING when it cannot be loaded; the message
// names the Debian package that provides it (`package`).
Result<void*> OpenLibrary(const char* soname, const char* package);

// The address of `symbol` in the library `handle` (from OpenLibrary).
// FAILED_PRECONDITION LIBRARY_SYMBOL_MISSING when it has none (a version
// too old).
Result<void*> LibrarySymbol(void* handle, const char* soname, const char* symbol);

// For an API struct's X-macro: a member `f` of f's own pointer type.
#define AIFS_DECLARE_C_FUNCTION(f) decltype(&::f) f = nullptr;

// For a BindAll body with `handle`, `soname` and `api` in scope: fills
// api.f or returns the error.
#define AIFS_BIND_C_FUNCTION(f)                                                   \
  if (auto _aifs_sym = ::aifs::LibrarySymbol(handle, soname, #f); _aifs_sym.ok()) \
    api.f = reinterpret_cast<decltype(api.f)>(*_aifs_sym);                        \
  else                                                                            \
    return _aifs_sym.status();

// Defines `Status Load<Name>()` (binds the struct `Api` from library `lib`
// once per process; the outcome of the first call stays) and
// `const Api& <Name>()` (only after Load<Name> succeeded), where `functions`
// is the X-macro listing Api's members.
#define AIFS_DEFINE_C_API(Name, Api, lib, package, functions)                            \
  static ::aifs::Result<const Api*> Bind##Name() {                                       \
    return ::aifs::LoadCApi<Api>(                                                        \
        lib, package, [](void* handle, const char* soname, Api& api) -> ::aifs::Status { \
          functions(AIFS_BIND_C_FUNCTION) return ::aifs::Status::Ok();                   \
        });                                                                              \
  }                                                                                      \
  ::aifs::Status Load##Name() { return Bind##Name().status(); }                          \
  const Api& Name() { return **Bind##Name(); }

// The API struct `Api`, bound once per process from `soname` by
// `bind(void* handle, const char* soname, Api& api) -> Status`; later calls
// return the first call's outcome.
template <typename Api, typename BindFn>
Result<const Api*> LoadCApi(const char* soname, const char* package, BindFn bind) {
  static const Result<Api> api = [&]() -> Result<Api> {
    AIFS_ASSIGN_OR_RETURN(void* handle, OpenLibrary(soname, package));
    Api bound;
    AIFS_RETURN_IF_ERROR(bind(handle, soname, bound));
    return bound;
  }();
  if (!api.ok()) return api.status();
  return &*api;
}

}  // namespace aifs
