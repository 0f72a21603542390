// Optimiser steps on a frozen layer's kept weights (ClickTrain's hard phase, after
// freezeSparsity): the layout's packed values ARE the weight, so an SGD or momentum step updates
// only the kept positions, in packed order, and keeps the layout current (no refresh before the
// next forward pass). The dense tensors tfjs needs (the new weight, the new accumulation) are
// written in one streaming pass each, with exact +0 at every pruned position.
//
// Same formulas as elementwise/optimizer_update.h (c = -learning rate):
//   SGD:      w += c * g
//   momentum: a = m * a + g;  w += c * (nesterov ? g + m * a : a)
// on kept positions only. Pruned positions have zero weight and zero gradient; their
// accumulation is taken as zero (a momentum carried over from before the freeze is dropped).
#pragma once
#include <cstdint>

#include "sparse/pattern_layout.h"

namespace clicktrain {

// packed[i] = dense_hwio[layout.value_dense_index[i]] (size NumValues), one streaming pass.
void GatherDenseToPacked(PatternLayout& layout, const float* dense_hwio, float* packed);

// SGD step on layout.values (and the transposed copy) with a packed gradient; dense_value
// [3,3,in_c,out_c] receives the new weight (zeros at pruned positions).
void FrozenSgdStep(PatternLayout& layout, const float* grad_packed, float c, float* dense_value);

// Momentum step: accum_packed (size NumValues) updated in place along with layout.values;
// dense_value and dense_accum receive the new weight and accumulation (zeros at pruned positions).
void FrozenMomentumStep(PatternLayout& layout, float* accum_packed, const float* grad_packed,
                        float c, float momentum, bool nesterov, float* dense_value,
                        float* dense_accum);

}  // namespace clicktrain
