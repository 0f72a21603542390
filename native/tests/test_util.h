// Shared helpers for the native tests: seeded random data, poisoned outputs, float64 comparisons
// and a tiny runner that prints the "N passed, N failed" line ctest logs show.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace clicktrain_test {

// A fresh seed per run (printed so a failure can be replayed with CLICKTRAIN_TEST_SEED).
inline uint64_t Seed() {
  static uint64_t seed = [] {
    if (const char* s = std::getenv("CLICKTRAIN_TEST_SEED"))
      return static_cast<uint64_t>(std::strtoull(s, nullptr, 10));
    return static_cast<uint64_t>(std::random_device{}()) ^ (static_cast<uint64_t>(std::random_device{}()) << 32);
  }();
  return seed;
}

// One generator per thread: tests draw inputs from pool workers too, and a shared engine would be
// a data race. The main thread's stream follows Seed() exactly; each worker's is derived from it.
inline std::mt19937_64& Rng() {
  static std::atomic<uint64_t> next_stream{0};
  thread_local std::mt19937_64 rng(Seed() + 0x9E3779B97F4A7C15ull * next_stream.fetch_add(1));
  return rng;
}

inline int RandInt(int lo, int hi) {  // inclusive
  return std::uniform_int_distribution<int>(lo, hi)(Rng());
}

inline std::vector<float> RandomVector(size_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(Rng());
  return v;
}

// Outputs are filled with NaN before a kernel runs so an element it fails to write shows up.
inline std::vector<float> Poisoned(size_t n) {
  return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
}

// Same length and the same bits in every element (NaN payloads included).
inline bool BitwiseEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Max relative error of got vs a float64 reference, scaled by max(|ref|) so sums that cancel to
// near zero do not blow up the ratio. NaN in got (an unwritten element) counts as infinite error.
inline double MaxRelError(const std::vector<float>& got, const std::vector<double>& ref) {
  if (got.size() != ref.size()) return std::numeric_limits<double>::infinity();
  double scale = 1e-30;
  for (double r : ref) scale = std::max(scale, std::fabs(r));
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]) && !std::isnan(ref[i])) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - ref[i]) / scale);
  }
  return worst;
}

// Max error of got vs a float64 reference, each element relative to the magnitude of what was
// summed into it: mag[i] is the sum of |term| (for sums of products: the reference run on absolute
// values), floored by |ref[i]|. Float rounding is bounded by that magnitude, not by the result, so a
// sum that cancels to near zero (one relu'd output channel, a column sum of random signs) cannot
// fail a correct kernel, while a wrong, missing or extra term still shows as an error of the
// order of one term. NaN in got counts as infinite error.
inline double MaxErrorVsMagnitude(const std::vector<float>& got, const std::vector<double>& ref,
                                  const std::vector<double>& mag) {
  if (got.size() != ref.size() || mag.size() != ref.size()) return std::numeric_limits<double>::infinity();
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]) && !std::isnan(ref[i])) return std::numeric_limits<double>::infinity();
    const double scale = std::max({mag[i], std::fabs(ref[i]), 1e-30});
    worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - ref[i]) / scale);
  }
  return worst;
}

inline std::vector<float> Abs(std::vector<float> v) {
  for (auto& x : v) x = std::fabs(x);
  return v;
}

class Runner {
 public:
  void Check(bool ok, const std::string& what) {
    if (ok) {
      ++passed_;
    } else {
      ++failed_;
      std::printf("FAIL: %s\n", what.c_str());
    }
  }
  // Checks err < tol and reports the error in the message.
  void CheckClose(double err, double tol, const std::string& what) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " (rel err %.3g, tol %.3g)", err, tol);
    Check(err < tol, what + buf);
  }
  void Expect(const std::function<void()>& fn, const std::string& what) {
    try {
      fn();
      Check(true, what);
    } catch (const std::exception& e) {
      Check(false, what + ": threw " + e.what());
    }
  }
  void ExpectThrow(const std::function<void()>& fn, const std::string& what) {
    bool threw = false;
    try {
      fn();
    } catch (const std::exception&) {
      threw = true;
    }
    Check(threw, what + " should throw");
  }
  int Finish() {
    std::printf("seed %llu\n%d passed, %d failed\n", static_cast<unsigned long long>(Seed()),
                passed_, failed_);
    return failed_ == 0 ? 0 : 1;
  }

 private:
  int passed_ = 0, failed_ = 0;
};

}  // namespace clicktrain_test
