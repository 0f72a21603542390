#include "common/cpu_features.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <unistd.h>

namespace clicktrain {
namespace {

Isa Detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // GCC's checks include the OS XSAVE state (xgetbv), so a CPU with AVX-512 under an OS that
  // does not save zmm registers reports false.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("fma"))
    return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
#endif
  return Isa::kGeneric;
}

std::atomic<int>& ActiveSlot() {
  static std::atomic<int> slot{[] {
    Isa best = Detect();
    const char* env = std::getenv("CLICKTRAIN_ISA");
    Isa wanted;
    if (env && ParseIsa(env, &wanted) && static_cast<int>(wanted) < static_cast<int>(best))
      best = wanted;
    return static_cast<int>(best);
  }()};
  return slot;
}

}  // namespace

int64_t L2CacheBytes() {
  static const int64_t bytes = [] {
#if defined(_SC_LEVEL2_CACHE_SIZE)
    const long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (v > 0) return std::clamp<int64_t>(v, int64_t{128} << 10, int64_t{8} << 20);
#endif
    return int64_t{512} << 10;
  }();
  return bytes;
}

Isa DetectedIsa() {
  static const Isa detected = Detect();
  return detected;
}

Isa ActiveIsa() { return static_cast<Isa>(ActiveSlot().load(std::memory_order_relaxed)); }

Isa SetActiveIsa(Isa isa) {
  int v = static_cast<int>(isa);
  int cap = static_cast<int>(DetectedIsa());
  if (v > cap) v = cap;
  ActiveSlot().store(v);
  return static_cast<Isa>(v);
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    default: return "generic";
  }
}

bool ParseIsa(const std::string& name, Isa* out) {
  if (name == "generic") *out = Isa::kGeneric;
  else if (name == "avx2") *out = Isa::kAvx2;
  else if (name == "avx512") *out = Isa::kAvx512;
  else return false;
  return true;
}

}  // namespace clicktrain
