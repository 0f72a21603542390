// The optional batch-norm arguments of the conv bindings: an inference batch norm folded into the
// forward's output (conv2dForward, sparseForward), and a training batch norm the sparse forward and
// backward-filter read their input through (sparseForward, sparseBackpropFilter).
#include <optional>
#include <string>

#include "binding/args.h"
#include "dense/batch_norm.h"

namespace clicktrain_binding {
namespace {

// A batch-norm argument object {mean, variance, scale|null, offset|null, epsilon, relu}; `kind`
// names it in errors. Arrays must have `channels` elements, or one when one_ok.
class BatchNormObject {
 public:
  BatchNormObject(const Napi::CallbackInfo& info, size_t i, const char* kind, int64_t channels, bool one_ok)
      : env_(info.Env()), kind_(kind), channels_(channels), one_ok_(one_ok) {
    present_ = i < info.Length() && !info[i].IsNull() && !info[i].IsUndefined();
    if (!present_) return;
    if (!info[i].IsObject()) throw Napi::TypeError::New(env_, std::string("clicktrain: ") + kind + " must be an object");
    obj_ = info[i].As<Napi::Object>();
  }
  bool present() const { return present_; }

  // obj[name]: a Float32Array of the allowed length (required), or null/undefined (optional).
  const float* Array(const char* name, bool required, int64_t* len = nullptr) const {
    Napi::Value v = obj_.Get(name);
    if (v.IsNull() || v.IsUndefined()) {
      if (required) throw Napi::TypeError::New(env_, Msg(name, "is required"));
      if (len) *len = 0;
      return nullptr;
    }
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(env_, Msg(name, "must be a Float32Array"));
    Napi::Float32Array a = v.As<Napi::Float32Array>();
    const int64_t n = static_cast<int64_t>(a.ElementLength());
    if (n != channels_ && !(one_ok_ && n == 1))
      throw Napi::RangeError::New(env_, Msg(name, one_ok_ ? "must have one value per output channel, or one"
                                                         : "must have " + std::to_string(channels_) +
                                                               " elements (one per input channel)"));
    if (len) *len = n;
    return a.Data();
  }
  // obj[name]: a Float32Array of exactly n elements (required).
  const float* SizedArray(const char* name, int64_t n) const {
    Napi::Value v = obj_.Get(name);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(env_, Msg(name, "must be a Float32Array"));
    Napi::Float32Array a = v.As<Napi::Float32Array>();
    if (static_cast<int64_t>(a.ElementLength()) != n)
      throw Napi::RangeError::New(env_, Msg(name, "must have " + std::to_string(n) + " elements"));
    return a.Data();
  }
  float Epsilon() const {
    Napi::Value v = obj_.Get("epsilon");
    if (!v.IsNumber()) throw Napi::TypeError::New(env_, Msg("epsilon", "must be a number"));
    return static_cast<float>(v.As<Napi::Number>().DoubleValue());
  }
  bool Relu() const {
    Napi::Value v = obj_.Get("relu");
    if (!v.IsBoolean()) throw Napi::TypeError::New(env_, Msg("relu", "must be a boolean"));
    return v.As<Napi::Boolean>().Value();
  }

 private:
  std::string Msg(const char* name, const std::string& what) const {
    return std::string("clicktrain: ") + kind_ + " '" + name + "' " + what;
  }
  Napi::Env env_;
  const char* kind_;
  int64_t channels_;
  bool one_ok_;
  bool present_ = false;
  Napi::Object obj_;
};

}  // namespace

std::optional<clicktrain::BatchNormFold> ArgBatchNormFold(const Napi::CallbackInfo& info, size_t i,
                                                          int64_t channels) {
  const BatchNormObject o(info, i, "batchNorm fold", channels, true);
  if (!o.present()) return std::nullopt;
  clicktrain::BatchNormArgs a;
  a.mean = o.Array("mean", true, &a.mean_len);
  a.variance = o.Array("variance", true, &a.variance_len);
  a.scale = o.Array("scale", false, &a.scale_len);
  a.offset = o.Array("offset", false, &a.offset_len);
  a.epsilon = o.Epsilon();
  return std::optional<clicktrain::BatchNormFold>(std::in_place, a, channels, o.Relu());
}

std::optional<clicktrain::BatchNormRows> ArgInputBatchNorm(const Napi::CallbackInfo& info, size_t i,
                                                           int64_t channels) {
  const BatchNormObject o(info, i, "input batch norm", channels, false);
  if (!o.present()) return std::nullopt;
  const float* mean = o.Array("mean", true);
  const float* variance = o.Array("variance", true);
  const float* scale = o.Array("scale", false);
  const float* offset = o.Array("offset", false);
  return std::optional<clicktrain::BatchNormRows>(std::in_place, channels, mean, variance, scale, offset,
                                                  o.Epsilon(), o.Relu());
}

std::optional<clicktrain::BatchNormGradDx> ArgOutputBatchNormGrad(const Napi::CallbackInfo& info, size_t i,
                                                                 int64_t rows, int64_t channels) {
  const BatchNormObject o(info, i, "output batch norm gradient", channels, false);
  if (!o.present()) return std::nullopt;
  const int64_t total = CheckedProduct(info.Env(), {rows, channels}, "batch norm gradient x");
  const float* x = o.SizedArray("x", total);
  const float* dy = o.SizedArray("dy", total);
  const float* mean = o.Array("mean", true);
  const float* variance = o.Array("variance", true);
  const float* scale = o.Array("scale", false);
  const float* offset = o.Array("offset", false);
  const float* coefficients = o.SizedArray("coefficients", CheckedProduct(info.Env(), {3, channels}, "coefficients"));
  clicktrain::BatchNormFollowingRelu relu;
  relu.offset = offset;
  return std::optional<clicktrain::BatchNormGradDx>(std::in_place, channels, x, dy, mean, variance, scale, o.Epsilon(),
                                                    coefficients, o.Relu() ? &relu : nullptr);
}

}  // namespace clicktrain_binding
