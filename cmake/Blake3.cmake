# BLAKE3 from the official C sources Debian ships in librust-blake3-dev, with the
# x86-64 assembly kernels (SSE2/SSE4.1/AVX2/AVX-512); dispatch picks one at run time.
file(GLOB AIFS_BLAKE3_DIRS /usr/share/cargo/registry/blake3-*/c)
list(SORT AIFS_BLAKE3_DIRS)
list(GET AIFS_BLAKE3_DIRS -1 AIFS_BLAKE3_DIR)
if(NOT EXISTS "${AIFS_BLAKE3_DIR}/blake3.h")
  message(FATAL_ERROR "BLAKE3 C sources not found; install librust-blake3-dev")
endif()
message(STATUS "BLAKE3 sources: ${AIFS_BLAKE3_DIR}")
add_library(blake3 STATIC
  ${AIFS_BLAKE3_DIR}/blake3.c
  ${AIFS_BLAKE3_DIR}/blake3_dispatch.c
  ${AIFS_BLAKE3_DIR}/blake3_portable.c
  ${AIFS_BLAKE3_DIR}/blake3_sse2_x86-64_unix.S
  ${AIFS_BLAKE3_DIR}/blake3_sse41_x86-64_unix.S
  ${AIFS_BLAKE3_DIR}/blake3_avx2_x86-64_unix.S
  ${AIFS_BLAKE3_DIR}/blake3_avx512_x86-64_unix.S)
target_include_directories(blake3 SYSTEM PUBLIC ${AIFS_BLAKE3_DIR})
set_target_properties(blake3 PROPERTIES POSITION_INDEPENDENT_CODE ON)
