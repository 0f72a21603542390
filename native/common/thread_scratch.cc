#include "common/thread_scratch.h"

#include <algorithm>
#include <vector>

namespace clicktrain {

float* ThreadScratch(ScratchSlot slot, int64_t n) {
  thread_local std::vector<float> bufs[static_cast<int>(ScratchSlot::kCount)];
  std::vector<float>& b = bufs[static_cast<int>(slot)];
  const size_t want = static_cast<size_t>(std::max<int64_t>(n, 1));
  if (b.size() < want) {
    b.clear();
    b.shrink_to_fit();  // drop the old buffer before the larger one is allocated
    b.resize(want);
  }
  return b.data();
}

}  // namespace clicktrain
