// What fused kernels apply to each output element after the sum: bias, then an activation.
// Mirrors tfjs's fused ops ('linear' | 'relu' | 'relu6' | 'elu' | 'sigmoid' | 'leakyrelu' | 'prelu'),
// then optionally an inference batch norm (and relu) folded in from the layers that follow.
#pragma once
#include <cstdint>

namespace clicktrain {

enum class Activation { kLinear, kRelu, kRelu6, kElu, kSigmoid, kLeakyRelu, kPrelu };

// An inference batch norm folded into the conv that feeds it (conv -> batch norm -> relu at
// predict time): v = add[c] + (v - sub[c]) * mul[c], then tfjs's Relu when relu is set, with the
// batch-norm kernels' own arithmetic, so the result has BatchNormInference's bits. Built by
// BatchNormFold (dense/batch_norm.h).
struct EpilogueBatchNorm {
  const float* sub = nullptr;
  const float* mul = nullptr;
  const float* add = nullptr;
  bool relu = false;
};

struct Epilogue {
  const float* bias = nullptr;   // per output channel (length = channels) or nullptr
  bool bias_scalar = false;      // bias has one value broadcast to every channel
  Activation activation = Activation::kLinear;
  float leaky_alpha = 0.2f;      // for kLeakyRelu
  const float* prelu = nullptr;  // kPrelu weights, per channel or one scalar
  bool prelu_scalar = false;
  const EpilogueBatchNorm* batch_norm = nullptr;  // applied last, when set
};

// True when the epilogue changes nothing.
inline bool EpilogueIsIdentity(const Epilogue& ep) {
  return !ep.bias && ep.activation == Activation::kLinear && !ep.batch_norm;
}

// The batch norm of an epilogue on channels [c0, c1) of `rows` rows of `channels` floats, in place,
// on the calling thread.
void ApplyEpilogueBatchNorm(const EpilogueBatchNorm& bn, int64_t rows, int64_t channels, int64_t c0,
                            int64_t c1, float* data);

// Applies the epilogue to rows x channels values in place (channels is the innermost dim).
void ApplyEpilogue(const Epilogue& ep, int64_t rows, int64_t channels, float* data);

}  // namespace clicktrain
