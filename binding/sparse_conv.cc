// Pattern-sparse 3x3 convolution: compile a layout from kernel masks, refresh its values from a
// dense weight, and run forward / backward-data / backward-filter on it. A layout lives in JS as
// an External owning the native object (freed by the GC; its size is reported to V8).
#include <algorithm>
#include <optional>
#include <vector>

#include "binding/args.h"
#include "binding/registry.h"
#include "binding/sparse_handle.h"
#include "sparse/pattern_layout.h"
#include "sparse/sparse_conv.h"

namespace clicktrain_binding {
namespace {

using clicktrain::Conv2DParams;
using clicktrain::PatternLayout;

Napi::Uint16Array ArgMasks(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array)
    throw Napi::TypeError::New(info.Env(), "clicktrain: argument 'masks' must be a Uint16Array");
  return info[i].As<Napi::Uint16Array>();
}

// Geometry for a call on this layout: 3x3 filter, channels matching the layout.
Conv2DParams ArgSparseGeometry(const Napi::CallbackInfo& info, size_t i, const SparseHandle& h) {
  Conv2DParams p = ArgConvParams(info, i);
  if (p.filter_h != 3 || p.filter_w != 3 || p.in_c != h.layout.in_c || p.out_c != h.layout.out_c)
    throw Napi::RangeError::New(info.Env(), "clicktrain: geometry does not match the sparse layout (3x3, " +
                                                std::to_string(h.layout.in_c) + " -> " +
                                                std::to_string(h.layout.out_c) + " channels)");
  if (!clicktrain::SparseConvSupported(p))
    throw Napi::RangeError::New(info.Env(), "clicktrain: geometry not supported by the sparse kernels "
                                            "(check sparseSupported first)");
  return p;
}

// sparseCompile(masks: Uint16Array [inC*outC], inC, outC) -> layout
Napi::Value Compile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto masks = ArgMasks(info, 0);
  int64_t in_c = ArgInt(info, 1, "inC", 1, 1 << 20), out_c = ArgInt(info, 2, "outC", 1, 1 << 20);
  int64_t n = CheckedProduct(env, {in_c, out_c}, "masks");
  if (static_cast<int64_t>(masks.ElementLength()) != n)
    throw Napi::RangeError::New(env, "clicktrain: masks must have inC * outC = " + std::to_string(n) + " entries");
  auto* h = new SparseHandle();
  try {
    h->layout = clicktrain::BuildPatternLayout(masks.Data(), in_c, out_c);
  } catch (...) {
    delete h;
    throw;
  }
  h->bytes = LayoutBytes(h->layout) + n * 2;
  Napi::MemoryManagement::AdjustExternalMemory(env, h->bytes);
  return Napi::External<SparseHandle>::New(env, h, [](Napi::Env e, SparseHandle* p) {
    Napi::MemoryManagement::AdjustExternalMemory(e, -p->bytes);
    delete p;
  });
}

// sparseMasksFromDense(dense [3,3,inC,outC], inC, outC) -> Uint16Array masks (tap kept <=> != 0)
Napi::Value MasksFromDense(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto dense = ArgFloat32Array(info, 0, "dense");
  int64_t in_c = ArgInt(info, 1, "inC", 0, 1 << 20), out_c = ArgInt(info, 2, "outC", 0, 1 << 20);
  CheckLength(dense, CheckedProduct(env, {9, in_c, out_c}, "dense"), "dense");
  std::vector<uint16_t> m = clicktrain::MasksFromDense(dense.Data(), in_c, out_c);
  auto out = Napi::Uint16Array::New(env, m.size());
  std::copy(m.begin(), m.end(), out.Data());
  return out;
}

// sparseRefresh(layout, dense) -> boolean: copies the kept values (O(nnz)) and reports whether
// every pruned position of `dense` is zero (false: the weight is not the frozen pattern).
Napi::Value Refresh(const Napi::CallbackInfo& info) {
  SparseHandle& h = ArgHandle(info, 0);
  auto dense = ArgFloat32Array(info, 1, "dense");
  const int64_t in_c = h.layout.in_c, out_c = h.layout.out_c;
  CheckLength(dense, 9 * in_c * out_c, "dense");
  const bool pruned_zero = clicktrain::RefreshValuesChecked(h.layout, dense.Data());
  return Napi::Boolean::New(info.Env(), pruned_zero);
}

// sparseUnpack(layout) -> Float32Array dense [3,3,inC,outC] with zeros at pruned positions
Napi::Value Unpack(const Napi::CallbackInfo& info) {
  SparseHandle& h = ArgHandle(info, 0);
  auto out = Napi::Float32Array::New(info.Env(), 9 * static_cast<size_t>(h.layout.in_c) * h.layout.out_c);
  clicktrain::UnpackToDense(h.layout, out.Data());
  return out;
}

// sparseSupported(geometry) -> boolean
Napi::Value Supported(const Napi::CallbackInfo& info) {
  Conv2DParams p = ArgConvParams(info, 0);
  return Napi::Boolean::New(info.Env(), p.filter_h == 3 && p.filter_w == 3 &&
                                            clicktrain::SparseConvSupported(p));
}

// The arguments the forward bindings share, from info[i]: x, y (y_size elements), then bias|null,
// activation, leakyAlpha, prelu|null, batchNorm? (args.h). Filled in place: ep points into fold.
struct ForwardArgs {
  Napi::Float32Array x, y;
  clicktrain::Epilogue ep;
  std::optional<clicktrain::BatchNormFold> fold;
};
void ArgForward(const Napi::CallbackInfo& info, size_t i, const Conv2DParams& p, int64_t y_size, ForwardArgs& a) {
  a.x = ArgFloat32Array(info, i, "x");
  a.y = ArgFloat32Array(info, i + 1, "y");
  CheckLength(a.x, p.InputSize(), "x");
  CheckLength(a.y, y_size, "y");
  a.ep = ArgEpilogue(info, i + 2, p.out_c);
  a.fold = ArgBatchNormFold(info, i + 6, p.out_c);
  if (a.fold) a.ep.batch_norm = a.fold->epilogue();
}

// sparseForward(layout, geometry, x, y, bias|null, activation, leakyAlpha, prelu|null, batchNorm?,
// inputBatchNorm?) batchNorm: an inference batch norm (+ relu) applied after the activation;
// inputBatchNorm: a training batch norm (+ relu) x is read through (x is its input) (args.h).
Napi::Value Forward(const Napi::CallbackInfo& info) {
  SparseHandle& h = ArgHandle(info, 0);
  Conv2DParams p = ArgSparseGeometry(info, 1, h);
  ForwardArgs a;
  ArgForward(info, 2, p, p.OutputSize(), a);
  const auto x_bn = ArgInputBatchNorm(info, 9, p.in_c);
  clicktrain::SparseConv2DForward(p, a.x.Data(), h.layout, a.ep, a.y.Data(), x_bn ? &*x_bn : nullptr);
  return info.Env().Undefined();
}

// sparseForwardMaxPool(layout, geometry, pool, x, y, bias|null, activation, leakyAlpha, prelu|null,
// batchNorm?): y = the max pool `pool` (a pool geometry whose input is the conv's output) of
// sparseForward's result; fused into the conv where the kernels can (sparse_conv.h).
Napi::Value ForwardMaxPool(const Napi::CallbackInfo& info) {
  SparseHandle& h = ArgHandle(info, 0);
  Conv2DParams p = ArgSparseGeometry(info, 1, h);
  Conv2DParams pool = ArgConvParams(info, 2);
  ForwardArgs a;
  ArgForward(info, 3, p, pool.OutputSize(), a);
  clicktrain::SparseConv2DForwardMaxPool(p, a.x.Data(), h.layout, a.ep, pool, a.y.Data());  // (checks pool vs p)
  return info.Env().Undefined();
}

// dy at info[i], or null with the batch norm gradient at info[j] (args.h: ArgOutputBatchNormGrad):
// exactly one of them.
struct DyArg {
  Napi::Float32Array dy;
  std::optional<clicktrain::BatchNormGradDx> bn;
};
DyArg ArgDyOrBatchNormGrad(const Napi::CallbackInfo& info, size_t i, size_t j, const Conv2DParams& p) {
  DyArg a;
  a.bn = ArgOutputBatchNormGrad(info, j, p.batch * p.out_h * p.out_w, p.out_c);
  if (info[i].IsNull() != a.bn.has_value())
    throw Napi::TypeError::New(info.Env(), "clicktrain: takes dy or a batch norm gradient, not both");
  if (!a.bn) {
    a.dy = ArgFloat32Array(info, i, "dy");
    CheckLength(a.dy, p.OutputSize(), "dy");
  }
  return a;
}

// sparseBackpropInput(layout, geometry, dy|null, dx, dyBatchNormGrad?) - dy null: dy is the input
// gradient of the batch norm this conv feeds (computed as read where sparseReadsDyRows).
Napi::Value BackpropInput(const Napi::CallbackInfo& info) {
  SparseHandle& h = ArgHandle(info, 0);
  Conv2DParams p = ArgSparseGeometry(info, 1, h);
  auto dx = ArgFloat32Array(info, 3, "dx");
  CheckLength(dx, p.InputSize(), "dx");
  const DyArg d = ArgDyOrBatchNormGrad(info, 2, 4, p);
  if (d.bn) {
    clicktrain::SparseConv2DBackpropInput(p, *d.bn, h.layout, dx.Data());
  } else {
    clicktrain::SparseConv2DBackpropInput(p, d.dy.Data(), h.layout, dx.Data());
  }
  return info.Env().Undefined();
}

// sparseReadsDyRows(layout, geometry): whether both backward passes compute a batch-norm-gradient
// dy as they read it (else whole first).
Napi::Value ReadsDyRows(const Napi::CallbackInfo& info) {
  SparseHandle& h = ArgHandle(info, 0);
  return Napi::Boolean::New(info.Env(), clicktrain::SparseReadsDyRows(ArgSparseGeometry(info, 1, h), h.layout));
}

// sparseBackpropFilter(layout, geometry, x, dy|null, dfilter [3,3,inC,outC] | null, packed?,
// inputBatchNorm?, dyBatchNormGrad?): the gradient at kept positions. dfilter gets it dense (zeros
// elsewhere); `packed` (length = kept weights) in layout order, for the frozen-layer optimiser step.
// At least one must be given. inputBatchNorm: as in sparseForward; dy null: as in
// sparseBackpropInput.
Napi::Value BackpropFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SparseHandle& h = ArgHandle(info, 0);
  Conv2DParams p = ArgSparseGeometry(info, 1, h);
  auto x = ArgFloat32Array(info, 2, "x");
  CheckLength(x, p.InputSize(), "x");
  const DyArg d = ArgDyOrBatchNormGrad(info, 3, 7, p);
  const bool has_dense = info.Length() > 4 && !info[4].IsNull() && !info[4].IsUndefined();
  const bool has_packed = info.Length() > 5 && !info[5].IsNull() && !info[5].IsUndefined();
  if (!has_dense && !has_packed)
    throw Napi::TypeError::New(env, "clicktrain: sparseBackpropFilter needs 'dfilter' or 'packed'");
  Napi::Float32Array dw, packed;
  if (has_dense) dw = ArgSizedFloat32(info, 4, "dfilter", p.FilterSize());
  if (has_packed) packed = ArgSizedFloat32(info, 5, "packed", h.layout.NumValues());
  const auto x_bn = ArgInputBatchNorm(info, 6, p.in_c);
  std::vector<float> own;  // the packed gradient when only the dense one was asked for
  if (!has_packed) own.resize(static_cast<size_t>(h.layout.NumValues()));
  float* g = has_packed ? packed.Data() : own.data();
  if (d.bn) {
    clicktrain::SparseConv2DBackpropFilter(p, x.Data(), *d.bn, h.layout, g, x_bn ? &*x_bn : nullptr);
  } else {
    clicktrain::SparseConv2DBackpropFilter(p, x.Data(), d.dy.Data(), h.layout, g, x_bn ? &*x_bn : nullptr);
  }
  if (has_dense) clicktrain::ScatterPackedToDense(h.layout, g, dw.Data());
  return env.Undefined();
}

// sparseStats(layout, batch, outH, outW) -> {keptKernels, keptWeights, ..., patterns, histogram}
Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SparseHandle& h = ArgHandle(info, 0);
  int64_t b = ArgInt(info, 1, "batch", 0, int64_t(1) << 31);
  int64_t oh = ArgInt(info, 2, "outH", 0, int64_t(1) << 31);
  int64_t ow = ArgInt(info, 3, "outW", 0, int64_t(1) << 31);
  clicktrain::LayoutStats s = clicktrain::ComputeLayoutStats(h.layout, b, oh, ow);
  Napi::Object o = Napi::Object::New(env);
  o.Set("inC", h.layout.in_c);
  o.Set("outC", h.layout.out_c);
  o.Set("totalKernels", static_cast<double>(s.total_kernels));
  o.Set("keptKernels", static_cast<double>(s.kept_kernels));
  o.Set("keptWeights", static_cast<double>(s.kept_weights));
  o.Set("denseWeights", static_cast<double>(s.dense_weights));
  o.Set("emptyFilters", static_cast<double>(s.empty_filters));
  o.Set("denseFlops", s.dense_flops);
  o.Set("sparseFlops", s.sparse_flops);
  o.Set("theoreticalRatio", s.theoretical_ratio);
  Napi::Array patterns = Napi::Array::New(env, s.patterns.size());
  Napi::Array hist = Napi::Array::New(env, s.pattern_histogram.size());
  for (size_t i = 0; i < s.patterns.size(); ++i) patterns.Set(i, s.patterns[i]);
  for (size_t i = 0; i < s.pattern_histogram.size(); ++i)
    hist.Set(i, static_cast<double>(s.pattern_histogram[i]));
  o.Set("patterns", patterns);
  o.Set("histogram", hist);
  Napi::Array order = Napi::Array::New(env, h.layout.filter_order.size());
  for (size_t i = 0; i < h.layout.filter_order.size(); ++i) order.Set(i, h.layout.filter_order[i]);
  o.Set("filterOrder", order);
  return o;
}

}  // namespace

CLICKTRAIN_EXPORT("sparseCompile", Compile);
CLICKTRAIN_EXPORT("sparseMasksFromDense", MasksFromDense);
CLICKTRAIN_EXPORT("sparseRefresh", Refresh);
CLICKTRAIN_EXPORT("sparseUnpack", Unpack);
CLICKTRAIN_EXPORT("sparseSupported", Supported);
CLICKTRAIN_EXPORT("sparseForward", Forward);
CLICKTRAIN_EXPORT("sparseForwardMaxPool", ForwardMaxPool);
CLICKTRAIN_EXPORT("sparseBackpropInput", BackpropInput);
CLICKTRAIN_EXPORT("sparseBackpropFilter", BackpropFilter);
CLICKTRAIN_EXPORT("sparseReadsDyRows", ReadsDyRows);
CLICKTRAIN_EXPORT("sparseStats", Stats);

}  // namespace clicktrain_binding
