// The ISA paths a native test runs its kernels under.
#pragma once
#include <vector>

#include "common/cpu_features.h"

namespace clicktrain_test {

// ISA paths this machine can run (generic always, then AVX2 / AVX-512 when detected).
inline std::vector<clicktrain::Isa> RunnableIsas() {
  std::vector<clicktrain::Isa> v{clicktrain::Isa::kGeneric};
  if (clicktrain::DetectedIsa() >= clicktrain::Isa::kAvx2) v.push_back(clicktrain::Isa::kAvx2);
  if (clicktrain::DetectedIsa() >= clicktrain::Isa::kAvx512) v.push_back(clicktrain::Isa::kAvx512);
  return v;
}

}  // namespace clicktrain_test
