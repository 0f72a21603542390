// The optional batch-norm arguments of the conv bindings: an inference batch norm folded into the
// forward's output (conv2dForward, sparseForward), and a training batch norm the sparse forward and
// backward-filter read their input through (sparseForward, sparseBackpropFilter).
#include <optional>
#include <string>

#include "binding/args.h"
#include "dense/batch_norm.h"

namespace clicktrain_binding {
namespace {

std::string Msg(const char* name, const std::string& what) {
  return std::string("clicktrain: batchNorm fold '") + name + "' " + what;
}

// obj[name]: a Float32Array of `channels` elements or one (required), or null/undefined (optional).
const float* Param(const Napi::Env& env, const Napi::Object& obj, const char* name, int64_t channels,
                   bool required, int64_t* len) {
  *len = 0;
  Napi::Value v = obj.Get(name);
  if (v.IsNull() || v.IsUndefined()) {
    if (required) throw Napi::TypeError::New(env, Msg(name, "is required"));
    return nullptr;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, Msg(name, "must be a Float32Array"));
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  *len = static_cast<int64_t>(a.ElementLength());
  if (*len != channels && *len != 1)
    throw Napi::RangeError::New(env, Msg(name, "must have one value per output channel, or one"));
  return a.Data();
}

}  // namespace

std::optional<clicktrain::BatchNormFold> ArgBatchNormFold(const Napi::CallbackInfo& info, size_t i,
                                                          int64_t channels) {
  const Napi::Env env = info.Env();
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return std::nullopt;
  if (!info[i].IsObject()) throw Napi::TypeError::New(env, "clicktrain: batchNorm fold must be an object");
  Napi::Object obj = info[i].As<Napi::Object>();
  clicktrain::BatchNormArgs a;
  a.mean = Param(env, obj, "mean", channels, true, &a.mean_len);
  a.variance = Param(env, obj, "variance", channels, true, &a.variance_len);
  a.scale = Param(env, obj, "scale", channels, false, &a.scale_len);
  a.offset = Param(env, obj, "offset", channels, false, &a.offset_len);
  Napi::Value eps = obj.Get("epsilon"), relu = obj.Get("relu");
  if (!eps.IsNumber()) throw Napi::TypeError::New(env, Msg("epsilon", "must be a number"));
  if (!relu.IsBoolean()) throw Napi::TypeError::New(env, Msg("relu", "must be a boolean"));
  a.epsilon = static_cast<float>(eps.As<Napi::Number>().DoubleValue());
  return std::optional<clicktrain::BatchNormFold>(std::in_place, a, channels, relu.As<Napi::Boolean>().Value());
}

std::optional<clicktrain::BatchNormRows> ArgInputBatchNorm(const Napi::CallbackInfo& info, size_t i,
                                                           int64_t channels) {
  const Napi::Env env = info.Env();
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return std::nullopt;
  if (!info[i].IsObject()) throw Napi::TypeError::New(env, "clicktrain: input batch norm must be an object");
  Napi::Object obj = info[i].As<Napi::Object>();
  auto array = [&](const char* name, bool required) -> const float* {
    Napi::Value v = obj.Get(name);
    if (v.IsNull() || v.IsUndefined()) {
      if (required) throw Napi::TypeError::New(env, std::string("clicktrain: input batch norm '") + name + "' is required");
      return nullptr;
    }
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(env, std::string("clicktrain: input batch norm '") + name + "' must be a Float32Array");
    Napi::Float32Array a = v.As<Napi::Float32Array>();
    if (static_cast<int64_t>(a.ElementLength()) != channels)
      throw Napi::RangeError::New(env, std::string("clicktrain: input batch norm '") + name + "' must have " +
                                           std::to_string(channels) + " elements (one per input channel)");
    return a.Data();
  };
  const float* mean = array("mean", true);
  const float* variance = array("variance", true);
  const float* scale = array("scale", false);
  const float* offset = array("offset", false);
  Napi::Value eps = obj.Get("epsilon"), relu = obj.Get("relu");
  if (!eps.IsNumber()) throw Napi::TypeError::New(env, "clicktrain: input batch norm 'epsilon' must be a number");
  if (!relu.IsBoolean()) throw Napi::TypeError::New(env, "clicktrain: input batch norm 'relu' must be a boolean");
  return std::optional<clicktrain::BatchNormRows>(std::in_place, channels, mean, variance, scale, offset,
                                                  static_cast<float>(eps.As<Napi::Number>().DoubleValue()),
                                                  relu.As<Napi::Boolean>().Value());
}

}  // namespace clicktrain_binding
