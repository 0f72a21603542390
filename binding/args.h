// Argument checks shared by the binding files: every typed array is checked for its type and its
// exact length against the shape before native code reads it; integers are range-checked.
#pragma once
#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/conv_params.h"
#include "dense/batch_norm.h"
#include "dense/epilogue.h"

namespace clicktrain_binding {

// Throws a JS TypeError unless info[i] is a Float32Array.
Napi::Float32Array ArgFloat32Array(const Napi::CallbackInfo& info, size_t i, const char* name);
// Float32Array or null/undefined (returns nullptr then); length must be one of the allowed ones.
const float* ArgOptionalFloat32(const Napi::CallbackInfo& info, size_t i, const char* name,
                                int64_t* length);
// Integer in [lo, hi]; throws a RangeError naming the argument otherwise.
int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi);
double ArgNumber(const Napi::CallbackInfo& info, size_t i, const char* name);
bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name);

// Throws a RangeError unless arr has exactly `expected` elements.
void CheckLength(const Napi::Float32Array& arr, int64_t expected, const char* name);

// ArgFloat32Array + CheckLength: a Float32Array of exactly `expected` elements.
Napi::Float32Array ArgSizedFloat32(const Napi::CallbackInfo& info, size_t i, const char* name,
                                   int64_t expected);

// null/undefined (nullptr), or a Float32Array of exactly `expected` elements.
const float* ArgOptionalSizedFloat32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t expected);

// A Uint8Array of exactly `expected` elements (TypeError / RangeError otherwise).
Napi::Uint8Array ArgSizedUint8(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t expected);

// a*b*... with overflow detection (throws RangeError on overflow or a negative factor).
int64_t CheckedProduct(const Napi::Env& env, std::initializer_list<int64_t> factors, const char* what);

// Conv geometry from a JS array of 15 integers, in the order of src/backend/conv_geometry.ts:
// batch, inH, inW, inC, outH, outW, outC, filterH, filterW, strideH, strideW, dilationH,
// dilationW, padTop, padLeft. Validated with ValidateConv2DParams.
clicktrain::Conv2DParams ArgConvParams(const Napi::CallbackInfo& info, size_t i);

// Fused epilogue from (bias | null, activation code, leaky alpha, prelu | null) at info[i..i+3];
// bias and prelu must have `channels` elements or one.
clicktrain::Epilogue ArgEpilogue(const Napi::CallbackInfo& info, size_t i, int64_t channels);

// An inference batch norm to fold into a conv's epilogue, from info[i]: null/undefined (none) or
// {mean, variance, scale|null, offset|null, epsilon, relu}, each array with `channels` elements or
// one (binding/batch_norm_fold.cc). The Epilogue points into the result: keep it alive.
std::optional<clicktrain::BatchNormFold> ArgBatchNormFold(const Napi::CallbackInfo& info, size_t i,
                                                          int64_t channels);

// A training batch norm (+ relu) that a conv reads its input x through, from info[i]: null/undefined
// (none) or {mean, variance, scale|null, offset|null, epsilon, relu}, each array with exactly
// `channels` elements (binding/batch_norm_fold.cc).
std::optional<clicktrain::BatchNormRows> ArgInputBatchNorm(const Napi::CallbackInfo& info, size_t i,
                                                           int64_t channels);

// A training batch norm's input gradient that a conv's backward-filter takes as its dy (the conv
// feeds that batch norm), from info[i]: null/undefined (none) or {x, dy, mean, variance,
// scale|null, offset|null, epsilon, relu, coefficients}: the batch norm's x and its output gradient
// dy ([rows, channels] each), its statistics and parameters (`channels` each), and the coefficients
// batchNormTrainingGradSums wrote (3 * channels). relu: dy is the gradient at relu(y), offset then
// the forward's offset (binding/batch_norm_fold.cc).
std::optional<clicktrain::BatchNormGradDx> ArgOutputBatchNormGrad(const Napi::CallbackInfo& info, size_t i,
                                                                 int64_t rows, int64_t channels);

}  // namespace clicktrain_binding
