// BufferPool (core/buffer_pool.h): buffers given back come out again empty
// with their capacity (their memory reused), within the pool's limits.
#include "aifs/core/buffer_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace aifs::test {
namespace {

TEST(BufferPoolTest, GivesBackEmptyBuffersWithTheirMemory) {
  BufferPool pool(2, 1 << 20);
  EXPECT_EQ(pool.Take().capacity(), 0u);  // nothing kept yet: a new buffer
  Bytes a(1000, 7);
  a.reserve(4096);
  const uint8_t* memory = a.data();
  pool.Give(std::move(a));
  Bytes again = pool.Take();
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(again.capacity(), 4096u);
  EXPECT_EQ(again.data(), memory);
  EXPECT_EQ(pool.Take().capacity(), 0u);  // it was taken: the pool is empty
}

TEST(BufferPoolTest, KeepsNoMoreThanItsLimits) {
  BufferPool pool(2, 1 << 20);
  pool.Give(Bytes(2 << 20));  // larger than the pool keeps: freed
  EXPECT_EQ(pool.Take().capacity(), 0u);
  for (int i = 0; i < 3; ++i) pool.Give(Bytes(100));  // the third is freed
  EXPECT_EQ(pool.Take().capacity(), 100u);
  EXPECT_EQ(pool.Take().capacity(), 100u);
  EXPECT_EQ(pool.Take().capacity(), 0u);
  pool.Give(Bytes());  // nothing to keep
  EXPECT_EQ(pool.Take().capacity(), 0u);
}

TEST(BufferPoolTest, ClearFreesWhatItKept) {
  BufferPool pool(2, 1 << 20);
  pool.Give(Bytes(100));
  pool.Give(Bytes(200));
  pool.Clear();
  EXPECT_EQ(pool.Take().capacity(), 0u);
}

TEST(BufferPoolTest, ThreadsShareItSafely) {
  BufferPool pool(4, 1 << 20);
  std::vector<std::thread> threads;
  std::atomic<int> dirty{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        Bytes b = pool.Take();
        if (!b.empty()) ++dirty;
        b.assign(64 + (i % 64), static_cast<uint8_t>(t));
        pool.Give(std::move(b));
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(dirty.load(), 0);
}

}  // namespace
}  // namespace aifs::test
