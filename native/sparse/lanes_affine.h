// Lane images of a batch norm's output built from its input (training: a sparse conv reading a
// relu'd batch norm, sparse_conv.h): IsaKernels::to_lanes and pack8 with BatchNormRows's per-channel affine
// (and relu) applied to each element as it is loaded, so that the normalised activation is never
// written anywhere. The arithmetic is the batch-norm kernels' own, operation by operation
// (x - sub, * mul, + add, each rounded: these files are compiled without multiply-add contraction,
// like dense/batch_norm_kernels_*.cc), so the lanes hold BatchNormTrainingApply's bits.
#pragma once
#include <cstdint>

namespace clicktrain {
namespace sparse_internal {

struct LaneAffine {
  const float* sub;
  const float* mul;
  const float* add;
  bool relu;
};

// As to_lanes (sparse_internal.h): dst[((c*Hp + hp)*Wp + wp)*8 + l] = f(src[b0+l][hp - pad_h]
// [wp - pad_w][c]) for the in-range pixels of lanes l < nl; 0 for padding and lanes >= nl.
using ToLanesAffineFn = void (*)(const float* src, int64_t H, int64_t W, int64_t C, int64_t b0, int nl,
                                 int64_t pad_h, int64_t pad_w, int64_t Hp, int64_t Wp, int64_t hp_begin,
                                 int64_t hp_end, const LaneAffine& f, float* dst);
void ToLanesAffineGeneric(const float* src, int64_t H, int64_t W, int64_t C, int64_t b0, int nl, int64_t pad_h,
                          int64_t pad_w, int64_t Hp, int64_t Wp, int64_t hp_begin, int64_t hp_end,
                          const LaneAffine& f, float* dst);
void ToLanesAffineAvx2(const float* src, int64_t H, int64_t W, int64_t C, int64_t b0, int nl, int64_t pad_h,
                       int64_t pad_w, int64_t Hp, int64_t Wp, int64_t hp_begin, int64_t hp_end,
                       const LaneAffine& f, float* dst);

// As pack8 (sparse_internal.h): d[c * cs + l] = f(s[l][c]) (0 where s[l] is null), c < C.
using Pack8AffineFn = void (*)(const float* const* s, int64_t C, float* d, int64_t cs, const LaneAffine& f);
void Pack8AffineGeneric(const float* const* s, int64_t C, float* d, int64_t cs, const LaneAffine& f);
void Pack8AffineAvx2(const float* const* s, int64_t C, float* d, int64_t cs, const LaneAffine& f);

}  // namespace sparse_internal
}  // namespace clicktrain
