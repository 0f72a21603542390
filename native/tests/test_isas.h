// The ISA paths (and thread counts) a native test runs its kernels under.
#pragma once
#include <vector>

#include "common/cpu_features.h"
#include "common/thread_pool.h"

namespace clicktrain_test {

// ISA paths this machine can run (generic always, then AVX2 / AVX-512 when detected).
inline std::vector<clicktrain::Isa> RunnableIsas() {
  std::vector<clicktrain::Isa> v{clicktrain::Isa::kGeneric};
  if (clicktrain::DetectedIsa() >= clicktrain::Isa::kAvx2) v.push_back(clicktrain::Isa::kAvx2);
  if (clicktrain::DetectedIsa() >= clicktrain::Isa::kAvx512) v.push_back(clicktrain::Isa::kAvx512);
  return v;
}

// Runs fn(isa, threads) under every runnable ISA path with 1 and 2 threads (the active ISA and the
// thread count set before each call).
template <typename F>
void ForEachIsaAndThreads(F fn) {
  for (clicktrain::Isa isa : RunnableIsas()) {
    clicktrain::SetActiveIsa(isa);
    for (int threads : {1, 2}) {
      clicktrain::SetNumThreads(threads);
      fn(isa, threads);
    }
  }
}

}  // namespace clicktrain_test
