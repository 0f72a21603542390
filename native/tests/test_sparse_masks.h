// Random pattern masks and masked weights for the sparse tests.
#pragma once
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "test_util.h"

namespace clicktrain_test {

// Random masks: a library of `lib_size` patterns of `pat_size` taps (pat_size 0 = mixed sizes
// 1..9), each kernel removed with probability `prune`, some filters fully removed.
inline std::vector<uint16_t> RandomMasks(int64_t in_c, int64_t out_c, int lib_size, int pat_size,
                                         double prune, double empty_filter_prob) {
  std::vector<uint16_t> lib;
  for (int i = 0; i < lib_size; ++i) {
    int k = pat_size ? pat_size : RandInt(1, 9);
    std::vector<int> bits(9);
    std::iota(bits.begin(), bits.end(), 0);
    std::shuffle(bits.begin(), bits.end(), Rng());
    uint16_t m = 0;
    for (int j = 0; j < k; ++j) m |= static_cast<uint16_t>(1u << bits[j]);
    lib.push_back(m);
  }
  std::vector<uint16_t> masks(static_cast<size_t>(in_c * out_c));
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<char> empty(out_c);
  for (auto& e : empty) e = u(Rng()) < empty_filter_prob;
  for (int64_t ic = 0; ic < in_c; ++ic)
    for (int64_t oc = 0; oc < out_c; ++oc)
      masks[ic * out_c + oc] =
          (empty[oc] || u(Rng()) < prune) ? 0 : lib[RandInt(0, lib_size - 1)];
  return masks;
}

inline std::vector<float> MaskedWeights(const std::vector<uint16_t>& masks, int64_t in_c, int64_t out_c) {
  std::vector<float> w = RandomVector(static_cast<size_t>(9 * in_c * out_c));
  for (int b = 0; b < 9; ++b)
    for (int64_t ic = 0; ic < in_c; ++ic)
      for (int64_t oc = 0; oc < out_c; ++oc)
        if (!(masks[ic * out_c + oc] >> b & 1)) w[(b * in_c + ic) * out_c + oc] = 0.f;
  return w;
}

}  // namespace clicktrain_test
