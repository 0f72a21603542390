// Optimiser steps on a frozen layer's kept weights (ClickTrain's hard phase, after
// freezeSparsity): the layout's packed values ARE the weight, so an SGD or momentum step updates
// only the kept positions, in packed order, and keeps the layout current (no refresh before the
// next forward pass). The dense tensors tfjs sees (weight, accumulation, gradient) are written
// from packed arrays only when something reads them (StreamPackedToDense), with exact +0 at every
// pruned position.
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

// dense_hwio [3,3,in_c,out_c] = packed at kept positions, +0 elsewhere; one streaming pass.
void StreamPackedToDense(PatternLayout& layout, const float* packed, float* dense_hwio);

// SGD step on layout.values (and the transposed copy) with a packed gradient; value_out (size
// NumValues, may be null) receives a copy of the new packed weight.
void FrozenSgdStep(PatternLayout& layout, const float* grad_packed, float c, float* value_out);

// Momentum step: accum_out = m * accum_in + grad (accum_out may alias accum_in), layout.values
// updated; value_out (may be null) receives a copy of the new packed weight.
void FrozenMomentumStep(PatternLayout& layout, const float* accum_in, const float* grad_packed,
                        float c, float momentum, bool nesterov, float* accum_out, float* value_out);

}  // namespace clicktrain
