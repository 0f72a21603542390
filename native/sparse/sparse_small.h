// Pattern-sparse forward for tiny outputs (batch * out_h * out_w <= kSmallImageMaxPixels): the
// deep layers of a CIFAR network at inference batch 1 (2x2 and 4x4 images). The lane kernels
// vectorise over 8 images or over the output width, so at a 2x2 image most lanes would idle and
// per-kernel overhead dominated (slower than dense there). Here every output pixel of the whole
// call is a lane: the input is gathered once into col[tap][ic][pixel], and each kept weight is one
// broadcast FMA over all pixels, so the cost is (kept weights) x (pixels / 8) vector FMAs.
#pragma once
#include <cstdint>

#include "common/conv_params.h"
#include "dense/epilogue.h"
#include "sparse/pattern_layout.h"

namespace clicktrain {

// Measured on VGG-16 at batch 1: 2x2x512 layers 2.3 -> 0.4 ms, 4x4x512 1.4 -> 0.6 ms; raising the
// limit to 64 pixels made 8x8x256 slower than the width-vectorised path (0.5 -> 0.85 ms).
constexpr int64_t kSmallImageMaxPixels = 32;

// Any stride and padding; dilation 1. Caller checks the layout matches p.
void SparseSmallImageForward(const Conv2DParams& p, const float* x, const PatternLayout& L,
                             const Epilogue& ep, float* y);

namespace sparse_internal {

struct SmallSlotArgs {
  const PatternLayout* L;
  const float* col;           // [9][in_c][vecs * 8]
  const int8_t* taps;         // [pattern][9] tap indices (kh*3 + kw), ascending
  // When every kernel has 4 entries (values of kernel k at 4k) and 9 * in_c fits 16 bits: kernel
  // k's 4 col rows rows[4k .. 4k+4) (tap * in_c + ic), precomputed once per layout; else nullptr.
  const uint16_t* rows;
  int vecs;                   // pixel vectors of 8
  int64_t pixels;             // valid lanes
  float* y;                   // [pixels][out_c]
};
// Slots [s0, s1) of the layout; generic, AVX2 and AVX-512 builds of the same code.
void SmallSlotsGeneric(const SmallSlotArgs& a, int64_t s0, int64_t s1);
void SmallSlotsAvx2(const SmallSlotArgs& a, int64_t s0, int64_t s1);
void SmallSlotsAvx512(const SmallSlotArgs& a, int64_t s0, int64_t s1);

}  // namespace sparse_internal
}  // namespace clicktrain
