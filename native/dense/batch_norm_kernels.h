// Inner loops of the training-mode batch norm (batch_norm.cc), compiled once per ISA
// (batch_norm_kernels_impl.inc is included by a generic and an AVX2 translation unit, both built
// without fused multiply-add contraction: the gradient recomputes the forward's output and must
// get its bits). Each works on a block of `rows` rows of `channels` floats (NHWC: channels
// innermost); the channels are walked in chunks whose accumulators and per-channel factors stay
// in registers over the rows, so a pass costs about its memory traffic.
#pragma once
#include <cstdint>

namespace clicktrain {
namespace batch_norm_kernels {

// y = add + (x - mean) * mul per channel (the forward's output), for the relu that follows.
struct Affine {
  const float* mul;
  const float* add;
};

struct Kernels {
  // fa[c] += x - shift[c], fb[c] += (x - shift[c])^2, rows in order.
  void (*stats)(const float* x, int64_t rows, int64_t channels, const float* shift, float* fa, float* fb);
  // fa[c] += d, fb[c] += d * (x - mean[c]), rows in order; d = dy, or with relu set tfjs's relu
  // gradient of dy at y = relu->add + (x - mean) * relu->mul.
  void (*grad_sums)(const float* x, const float* dy, int64_t rows, int64_t channels, const float* mean,
                    const Affine* relu, float* fa, float* fb);
  // y = f.add + (x - mean) * f.mul, then tfjs's Relu when relu is set.
  void (*apply)(const float* x, int64_t rows, int64_t channels, const float* mean, const Affine& f,
                bool relu, float* y);
  // dx = kdy * d + kx * (x - mean) + k1, d as in grad_sums.
  void (*grad_dx)(const float* x, const float* dy, int64_t rows, int64_t channels, const float* mean,
                  const float* kdy, const float* kx, const float* k1, const Affine* relu, float* dx);
};

const Kernels& GenericKernels();
const Kernels& Avx2Kernels();

}  // namespace batch_norm_kernels
}  // namespace clicktrain
