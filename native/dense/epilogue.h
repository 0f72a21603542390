// What fused kernels apply to each output element after the sum: bias, then an activation.
// Mirrors tfjs's fused ops ('linear' | 'relu' | 'relu6' | 'elu' | 'sigmoid' | 'leakyrelu' | 'prelu').
#pragma once
#include <cstdint>

namespace clicktrain {

enum class Activation { kLinear, kRelu, kRelu6, kElu, kSigmoid, kLeakyRelu, kPrelu };

struct Epilogue {
  const float* bias = nullptr;   // per output channel (length = channels) or nullptr
  bool bias_scalar = false;      // bias has one value broadcast to every channel
  Activation activation = Activation::kLinear;
  float leaky_alpha = 0.2f;      // for kLeakyRelu
  const float* prelu = nullptr;  // kPrelu weights, per channel or one scalar
  bool prelu_scalar = false;
};

// Applies the epilogue to rows x channels values in place (channels is the innermost dim).
void ApplyEpilogue(const Epilogue& ep, int64_t rows, int64_t channels, float* data);

}  // namespace clicktrain
