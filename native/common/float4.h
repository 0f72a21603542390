// 4-float vectors for portable translation units (GCC/Clang vector extensions: SSE on x86-64,
// the target's own vectors elsewhere), for loops the compiler leaves scalar. A compare of two
// Float4 gives a Mask4 of all-ones/zero lanes, so a select is a bitwise and.
#pragma once
#include <cstdint>
#include <cstring>

namespace clicktrain {

typedef float Float4 __attribute__((vector_size(16)));
typedef int32_t Mask4 __attribute__((vector_size(16)));

inline Float4 Load4(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void Store4(float* p, Float4 v) { std::memcpy(p, &v, sizeof v); }

}  // namespace clicktrain
