// Runs fn(i) for i in [0, n) on `threads` worker threads, taking items in order. Results must not
// depend on which thread runs an item: give each item its own seed and output slot.
#pragma once

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace probex::convert {

template <class Fn>
void parallel_for(size_t n, int threads, Fn fn) {
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  const size_t count = std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), n);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < count; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

}  // namespace probex::convert
