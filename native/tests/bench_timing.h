// Wall-clock helpers shared by the native bench executables (not ctests): milliseconds of one call,
// medians of several after a warm-up call.
#pragma once
#include <algorithm>
#include <chrono>
#include <vector>

namespace clicktrain_bench {

template <typename F>
double Once(F& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median of reps calls after one warm-up call (scratch allocation, caches).
template <typename F>
double TimeMs(int reps, F f) {
  f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) t.push_back(Once(f));
  return Median(t);
}

}  // namespace clicktrain_bench
