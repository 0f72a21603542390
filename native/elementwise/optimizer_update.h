// Fused optimiser updates: one pass over a variable, its gradient and its optimiser state.
// tfjs's optimisers build each update from whole-tensor ops (momentum: mul, add, mul, add — four
// passes over the variable and four fresh tensors); on a VGG-16 step they took ~45-50 ms of ~540.
// Results match tfjs's op-by-op formulas up to rounding (FMA contraction in the AVX2 build).
#pragma once
#include <cstdint>

namespace clicktrain {

// SGD: out_value = value + c * grad, with c = -learning rate (tfjs's SGDOptimizer).
void SgdUpdate(int64_t n, const float* value, const float* grad, float c, float* out_value);

// Momentum (tfjs's MomentumOptimizer, c = -learning rate):
//   out_accum = m * accum + grad
//   out_value = value + c * out_accum                      (classic)
//   out_value = value + c * (grad + m * out_accum)          (Nesterov)
// Outputs may alias their inputs (in-place update).
void MomentumUpdate(int64_t n, const float* value, const float* accum, const float* grad, float c,
                    float m, bool nesterov, float* out_value, float* out_accum);

}  // namespace clicktrain
