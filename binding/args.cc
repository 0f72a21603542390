#include "binding/args.h"

#include <cmath>

namespace clicktrain_binding {

static std::string Msg(const char* name, const std::string& what) {
  return std::string("clicktrain: argument '") + name + "' " + what;
}

Napi::Float32Array ArgFloat32Array(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(info.Env(), Msg(name, "must be a Float32Array"));
  return info[i].As<Napi::Float32Array>();
}

const float* ArgOptionalFloat32(const Napi::CallbackInfo& info, size_t i, const char* name,
                                int64_t* length) {
  *length = 0;
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  Napi::Float32Array a = ArgFloat32Array(info, i, name);
  *length = static_cast<int64_t>(a.ElementLength());
  return a.Data();
}

int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi) {
  if (i >= info.Length() || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), Msg(name, "must be a number"));
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || v != std::floor(v) || v < static_cast<double>(lo) ||
      v > static_cast<double>(hi))
    throw Napi::RangeError::New(info.Env(), Msg(name, "must be an integer in [" +
                                                      std::to_string(lo) + ", " +
                                                      std::to_string(hi) + "]"));
  return static_cast<int64_t>(v);
}

double ArgNumber(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), Msg(name, "must be a number"));
  return info[i].As<Napi::Number>().DoubleValue();
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsBoolean())
    throw Napi::TypeError::New(info.Env(), Msg(name, "must be a boolean"));
  return info[i].As<Napi::Boolean>().Value();
}

void CheckLength(const Napi::Float32Array& arr, int64_t expected, const char* name) {
  if (static_cast<int64_t>(arr.ElementLength()) != expected)
    throw Napi::RangeError::New(arr.Env(), Msg(name, "has " + std::to_string(arr.ElementLength()) +
                                                     " elements; its shape needs " +
                                                     std::to_string(expected)));
}

Napi::Float32Array ArgSizedFloat32(const Napi::CallbackInfo& info, size_t i, const char* name,
                                   int64_t expected) {
  Napi::Float32Array a = ArgFloat32Array(info, i, name);
  CheckLength(a, expected, name);
  return a;
}

const float* ArgOptionalSizedFloat32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t expected) {
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return ArgSizedFloat32(info, i, name, expected).Data();
}

Napi::Uint8Array ArgSizedUint8(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t expected) {
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(info.Env(), Msg(name, "must be a Uint8Array"));
  Napi::Uint8Array a = info[i].As<Napi::Uint8Array>();
  if (static_cast<int64_t>(a.ElementLength()) != expected)
    throw Napi::RangeError::New(info.Env(), Msg(name, "has " + std::to_string(a.ElementLength()) +
                                                      " elements; its shape needs " + std::to_string(expected)));
  return a;
}

int64_t CheckedProduct(const Napi::Env& env, std::initializer_list<int64_t> factors,
                       const char* what) {
  int64_t p = 1;
  for (int64_t f : factors) {
    if (f < 0 || __builtin_mul_overflow(p, f, &p))
      throw Napi::RangeError::New(env, std::string("clicktrain: size of ") + what + " overflows");
  }
  // Typed arrays cannot exceed 2^32 elements in practice; anything above is certainly wrong.
  if (p > (int64_t(1) << 34))
    throw Napi::RangeError::New(env, std::string("clicktrain: size of ") + what + " is absurd");
  return p;
}

clicktrain::Conv2DParams ArgConvParams(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsArray())
    throw Napi::TypeError::New(info.Env(), "clicktrain: conv geometry must be an array of 15 integers");
  Napi::Array a = info[i].As<Napi::Array>();
  if (a.Length() != 15)
    throw Napi::RangeError::New(info.Env(), "clicktrain: conv geometry must have 15 entries");
  int64_t v[15];
  for (uint32_t k = 0; k < 15; ++k) {
    Napi::Value e = a.Get(k);
    double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d > 1e12)
      throw Napi::RangeError::New(info.Env(), "clicktrain: conv geometry entry " +
                                                  std::to_string(k) + " is not a valid size");
    v[k] = static_cast<int64_t>(d);
  }
  clicktrain::Conv2DParams p;
  p.batch = v[0]; p.in_h = v[1]; p.in_w = v[2]; p.in_c = v[3];
  p.out_h = v[4]; p.out_w = v[5]; p.out_c = v[6];
  p.filter_h = v[7]; p.filter_w = v[8];
  p.stride_h = v[9]; p.stride_w = v[10];
  p.dilation_h = v[11]; p.dilation_w = v[12];
  p.pad_top = v[13]; p.pad_left = v[14];
  clicktrain::ValidateConv2DParams(p);  // std::invalid_argument -> RangeError via Guarded
  const Napi::Env env = info.Env();
  CheckedProduct(env, {p.batch, p.in_h, p.in_w, p.in_c}, "input");
  CheckedProduct(env, {p.batch, p.out_h, p.out_w, p.out_c}, "output");
  CheckedProduct(env, {p.filter_h, p.filter_w, p.in_c, p.out_c}, "filter");
  return p;
}

clicktrain::Epilogue ArgEpilogue(const Napi::CallbackInfo& info, size_t i, int64_t channels) {
  clicktrain::Epilogue ep;
  int64_t bias_len = 0, prelu_len = 0;
  ep.bias = ArgOptionalFloat32(info, i, "bias", &bias_len);
  if (ep.bias && bias_len != channels && bias_len != 1)
    throw Napi::RangeError::New(info.Env(), "clicktrain: bias must have one value per output channel, or one");
  ep.bias_scalar = ep.bias && bias_len == 1 && channels != 1;
  int64_t act = ArgInt(info, i + 1, "activation", 0, 6);
  ep.activation = static_cast<clicktrain::Activation>(act);
  ep.leaky_alpha = static_cast<float>(ArgNumber(info, i + 2, "leakyreluAlpha"));
  ep.prelu = ArgOptionalFloat32(info, i + 3, "preluActivationWeights", &prelu_len);
  if (ep.activation == clicktrain::Activation::kPrelu) {
    if (!ep.prelu || (prelu_len != channels && prelu_len != 1))
      throw Napi::RangeError::New(info.Env(), "clicktrain: prelu weights must have one value per output channel, or one");
    ep.prelu_scalar = prelu_len == 1 && channels != 1;
  } else {
    ep.prelu = nullptr;
  }
  return ep;
}

}  // namespace clicktrain_binding
