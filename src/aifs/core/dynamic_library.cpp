#include "aifs/core/dynamic_library.h"

#include <dlfcn.h>

namespace aifs {

Result<void*> OpenLibrary(const char* soname, const char* package) {
  // dlopen counts references: opening again returns the same handle.
  void* handle = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    return err::FailedPrecondition("LIBRARY_MISSING", std::string(soname) + " cannot be loaded (" +
                                                          (why ? why : "unknown error") +
                                                          "): install the Debian package " +
                                                          package);
  }
  return handle;
}

Result<void*> LibrarySymbol(void* handle, const char* soname, const char* symbol) {
  ::dlerror();
  void* address = ::dlsym(handle, symbol);
  if (!address)
    return err::FailedPrecondition("LIBRARY_SYMBOL_MISSING", std::string(soname) + " has no " +
                                                                 symbol + " (too old a version?)");
  return address;
}

}  // namespace aifs
