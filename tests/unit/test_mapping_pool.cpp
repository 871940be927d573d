// MappingPool (core/mapping_pool.h): a mapping given back comes out again
// with its bytes (no fresh, zeroed memory), only for the same size, and the
// pool unmaps what it does not keep. Oracle for "unmapped": msync() of the
// range fails with ENOMEM.
#include "aifs/core/mapping_pool.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "aifs/core/huge_pages.h"

namespace aifs::test {
namespace {

constexpr size_t kSize = 2 * kHugePageSize;

bool Mapped(void* p, size_t bytes) {
  if (::msync(p, bytes, MS_ASYNC) == 0) return true;
  EXPECT_EQ(errno, ENOMEM);
  return false;
}

TEST(MappingPoolTest, AMappingGivenBackComesOutAgainWithItsBytes) {
  MappingPool pool(2);
  auto* a = static_cast<uint8_t*>(pool.Take(kSize));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % kHugePageSize, 0u);
  EXPECT_EQ(a[0], 0);  // fresh: zeroed
  EXPECT_EQ(a[kSize - 1], 0);
  std::memset(a, 0x5a, kSize);
  pool.Give(a, kSize);
  auto* again = static_cast<uint8_t*>(pool.Take(kSize));
  EXPECT_EQ(again, a);
  EXPECT_EQ(again[0], 0x5a);  // not zeroed again: its pages stayed resident
  EXPECT_EQ(again[kSize - 1], 0x5a);
  pool.Give(again, kSize);
}

TEST(MappingPoolTest, OnlyTheSameSizeIsReused) {
  MappingPool pool(2);
  void* small = pool.Take(kHugePageSize);
  ASSERT_NE(small, nullptr);
  pool.Give(small, kHugePageSize);
  void* large = pool.Take(kSize);
  ASSERT_NE(large, nullptr);
  EXPECT_NE(large, small);
  EXPECT_TRUE(Mapped(small, kHugePageSize));  // still kept for its size
  EXPECT_EQ(pool.Take(kHugePageSize), small);
  pool.Give(small, kHugePageSize);
  pool.Give(large, kSize);
}

TEST(MappingPoolTest, WhatItDoesNotKeepIsUnmapped) {
  MappingPool pool(2);
  std::vector<void*> maps;
  for (int i = 0; i < 3; ++i) maps.push_back(pool.Take(kSize));
  for (void* p : maps) ASSERT_NE(p, nullptr);
  for (void* p : maps) pool.Give(p, kSize);
  EXPECT_TRUE(Mapped(maps[0], kSize));
  EXPECT_TRUE(Mapped(maps[1], kSize));
  EXPECT_FALSE(Mapped(maps[2], kSize));  // the pool was full
  pool.Give(nullptr, kSize);             // a failed Take's result: ignored
  auto scoped = std::make_unique<MappingPool>(1);
  void* p = scoped->Take(kSize);
  scoped->Give(p, kSize);
  EXPECT_TRUE(Mapped(p, kSize));
  scoped.reset();  // the pool's destructor unmaps what it kept
  EXPECT_FALSE(Mapped(p, kSize));
}

TEST(MappingPoolTest, ClearUnmapsWhatItKept) {
  MappingPool pool(2);
  void* a = pool.Take(kSize);
  void* b = pool.Take(kSize);
  pool.Give(a, kSize);
  pool.Give(b, kSize);
  pool.Clear();
  EXPECT_FALSE(Mapped(a, kSize));
  EXPECT_FALSE(Mapped(b, kSize));
  void* c = pool.Take(kSize);  // fresh again
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(static_cast<uint8_t*>(c)[0], 0);
  pool.Give(c, kSize);
}

TEST(MappingPoolTest, ThreadsShareItSafely) {
  MappingPool pool(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&pool, t] {
      for (int i = 0; i < 200; ++i) {
        auto* p = static_cast<uint8_t*>(pool.Take(kHugePageSize));
        ASSERT_NE(p, nullptr);
        // Nobody else holds it while we do.
        std::memset(p, t, 4096);
        for (int k = 0; k < 4096; k += 512) ASSERT_EQ(p[k], t);
        pool.Give(p, kHugePageSize);
      }
    });
  for (auto& th : threads) th.join();
}

}  // namespace
}  // namespace aifs::test
