// Broadcasting binary ops, reductions, transpose and tile (float32).
#include <cmath>

#include "binding/args.h"
#include "binding/registry.h"
#include "elementwise/broadcast.h"

namespace clicktrain_binding {
namespace {

// A shape: array of at most 8 non-negative integers.
std::vector<int64_t> ArgShape(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsArray())
    throw Napi::TypeError::New(info.Env(), std::string("clicktrain: ") + name + " must be an array");
  Napi::Array a = info[i].As<Napi::Array>();
  if (a.Length() > 8)
    throw Napi::RangeError::New(info.Env(), std::string("clicktrain: ") + name + " has rank above 8");
  std::vector<int64_t> v(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value e = a.Get(k);
    double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d > 4294967296.0)
      throw Napi::RangeError::New(info.Env(), std::string("clicktrain: ") + name + " holds an invalid size");
    v[k] = static_cast<int64_t>(d);
  }
  return v;
}

int64_t SizeOf(const Napi::Env& env, const std::vector<int64_t>& shape, const char* what) {
  int64_t p = 1;
  for (int64_t d : shape) p = CheckedProduct(env, {p, d}, what);
  return p;
}

// binaryOp(op, aShape, a, bShape, b, outShape, out); op: 0 add, 1 sub, 2 mul, 3 div, 4 max,
// 5 min, 6 squared difference, 7 relu gradient (a = dy, b = x), 8 square gradient (a = dy, b = x).
Napi::Value BinaryOp(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto op = static_cast<clicktrain::BinaryOp>(ArgInt(info, 0, "op", 0, 8));
  auto as = ArgShape(info, 1, "aShape");
  auto a = ArgFloat32Array(info, 2, "a");
  auto bs = ArgShape(info, 3, "bShape");
  auto b = ArgFloat32Array(info, 4, "b");
  auto os = ArgShape(info, 5, "outShape");
  auto out = ArgFloat32Array(info, 6, "out");
  CheckLength(a, SizeOf(env, as, "a"), "a");
  CheckLength(b, SizeOf(env, bs, "b"), "b");
  CheckLength(out, SizeOf(env, os, "out"), "out");
  clicktrain::BinaryBroadcast(op, as, a.Data(), bs, b.Data(), os, out.Data());
  return env.Undefined();
}

// reduce(op, shape, axes: number[], x, out); op: 0 sum, 1 mean, 2 max, 3 min.
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto op = static_cast<clicktrain::ReduceOp>(ArgInt(info, 0, "op", 0, 3));
  auto shape = ArgShape(info, 1, "shape");
  auto axes = ArgShape(info, 2, "axes");
  std::vector<bool> mask(shape.size(), false);
  int64_t out_n = 1;
  for (int64_t ax : axes) {
    if (ax >= static_cast<int64_t>(shape.size()))
      throw Napi::RangeError::New(env, "clicktrain: reduce axis out of range");
    mask[ax] = true;
  }
  for (size_t d = 0; d < shape.size(); ++d)
    if (!mask[d]) out_n = CheckedProduct(env, {out_n, shape[d]}, "out");
  auto x = ArgFloat32Array(info, 3, "x");
  auto out = ArgFloat32Array(info, 4, "out");
  CheckLength(x, SizeOf(env, shape, "x"), "x");
  CheckLength(out, out_n, "out");
  clicktrain::Reduce(op, shape, mask, x.Data(), out.Data());
  return env.Undefined();
}

// transpose(shape, perm, x, out)
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto shape = ArgShape(info, 0, "shape");
  auto perm = ArgShape(info, 1, "perm");
  auto x = ArgFloat32Array(info, 2, "x");
  auto out = ArgFloat32Array(info, 3, "out");
  int64_t n = SizeOf(env, shape, "x");
  CheckLength(x, n, "x");
  CheckLength(out, n, "out");
  clicktrain::Transpose(shape, perm, x.Data(), out.Data());
  return env.Undefined();
}

// tile(shape, reps, x, out)
Napi::Value Tile(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto shape = ArgShape(info, 0, "shape");
  auto reps = ArgShape(info, 1, "reps");
  if (reps.size() != shape.size())
    throw Napi::RangeError::New(env, "clicktrain: tile reps must have the input's rank");
  std::vector<int64_t> os(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) os[d] = CheckedProduct(env, {shape[d], reps[d]}, "out");
  auto x = ArgFloat32Array(info, 2, "x");
  auto out = ArgFloat32Array(info, 3, "out");
  CheckLength(x, SizeOf(env, shape, "x"), "x");
  CheckLength(out, SizeOf(env, os, "out"), "out");
  clicktrain::Tile(shape, reps, x.Data(), out.Data());
  return env.Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("binaryOp", BinaryOp);
CLICKTRAIN_EXPORT("reduce", Reduce);
CLICKTRAIN_EXPORT("transpose", Transpose);
CLICKTRAIN_EXPORT("tile", Tile);

}  // namespace clicktrain_binding

namespace clicktrain_binding {
namespace {

// slice(shape, begin, size, x, out)
Napi::Value Slice(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto shape = ArgShape(info, 0, "shape");
  auto begin = ArgShape(info, 1, "begin");
  auto size = ArgShape(info, 2, "size");
  auto x = ArgFloat32Array(info, 3, "x");
  auto out = ArgFloat32Array(info, 4, "out");
  CheckLength(x, SizeOf(env, shape, "x"), "x");
  CheckLength(out, SizeOf(env, size, "out"), "out");
  clicktrain::Slice(shape, begin, size, x.Data(), out.Data());
  return env.Undefined();
}

// pad(shape, before, after, value, x, out)
Napi::Value Pad(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto shape = ArgShape(info, 0, "shape");
  auto before = ArgShape(info, 1, "before");
  auto after = ArgShape(info, 2, "after");
  float value = static_cast<float>(ArgNumber(info, 3, "constantValue"));
  auto x = ArgFloat32Array(info, 4, "x");
  auto out = ArgFloat32Array(info, 5, "out");
  if (before.size() != shape.size() || after.size() != shape.size())
    throw Napi::RangeError::New(env, "clicktrain: paddings must have the input's rank");
  std::vector<int64_t> os(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) os[d] = shape[d] + before[d] + after[d];
  CheckLength(x, SizeOf(env, shape, "x"), "x");
  CheckLength(out, SizeOf(env, os, "out"), "out");
  clicktrain::Pad(shape, before, after, value, x.Data(), out.Data());
  return env.Undefined();
}

// unary(op, x, alpha, out); op indexes clicktrain::UnaryOp.
Napi::Value Unary(const Napi::CallbackInfo& info) {
  auto op = static_cast<clicktrain::UnaryOp>(ArgInt(info, 0, "op", 0, 13));
  auto x = ArgFloat32Array(info, 1, "x");
  float alpha = static_cast<float>(ArgNumber(info, 2, "alpha"));
  auto out = ArgFloat32Array(info, 3, "out");
  CheckLength(out, static_cast<int64_t>(x.ElementLength()), "out");
  clicktrain::Unary(op, static_cast<int64_t>(x.ElementLength()), x.Data(), alpha, out.Data());
  return info.Env().Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("slice", Slice);
CLICKTRAIN_EXPORT("pad", Pad);
CLICKTRAIN_EXPORT("unary", Unary);

}  // namespace clicktrain_binding
