// Depthwise convolution (DepthwiseConv2dNative, FusedDepthwiseConv2D) and its backprops. The
// geometry's outC is inC * multiplier; the filter is [fh, fw, inC, multiplier].
#include "binding/args.h"
#include "binding/registry.h"
#include "dense/depthwise_conv2d.h"

namespace clicktrain_binding {
namespace {

clicktrain::DepthwiseParams ArgDepthwise(const Napi::CallbackInfo& info) {
  clicktrain::DepthwiseParams d;
  d.conv = ArgConvParams(info, 0);
  d.multiplier = ArgInt(info, 1, "multiplier", 1, int64_t(1) << 30);
  if (d.conv.out_c != d.conv.in_c * d.multiplier)
    throw Napi::RangeError::New(info.Env(), "clicktrain: depthwise outC must equal inC * multiplier");
  return d;
}

int64_t FilterSize(const clicktrain::DepthwiseParams& d) {
  return d.conv.filter_h * d.conv.filter_w * d.conv.in_c * d.multiplier;
}

// depthwiseForward(geometry, multiplier, x, filter, y, bias|null, activation, leakyAlpha, prelu|null)
Napi::Value DepthwiseForward(const Napi::CallbackInfo& info) {
  auto d = ArgDepthwise(info);
  auto x = ArgFloat32Array(info, 2, "x");
  auto w = ArgFloat32Array(info, 3, "filter");
  auto y = ArgFloat32Array(info, 4, "y");
  CheckLength(x, d.conv.InputSize(), "x");
  CheckLength(w, FilterSize(d), "filter");
  CheckLength(y, d.conv.OutputSize(), "y");
  clicktrain::Epilogue ep = ArgEpilogue(info, 5, d.conv.out_c);
  clicktrain::DepthwiseConv2DForward(d, x.Data(), w.Data(), ep, y.Data());
  return info.Env().Undefined();
}

// depthwiseBackpropInput(geometry, multiplier, dy, filter, dx)
Napi::Value DepthwiseBackpropInput(const Napi::CallbackInfo& info) {
  auto d = ArgDepthwise(info);
  auto dy = ArgFloat32Array(info, 2, "dy");
  auto w = ArgFloat32Array(info, 3, "filter");
  auto dx = ArgFloat32Array(info, 4, "dx");
  CheckLength(dy, d.conv.OutputSize(), "dy");
  CheckLength(w, FilterSize(d), "filter");
  CheckLength(dx, d.conv.InputSize(), "dx");
  clicktrain::DepthwiseConv2DBackpropInput(d, dy.Data(), w.Data(), dx.Data());
  return info.Env().Undefined();
}

// depthwiseBackpropFilter(geometry, multiplier, x, dy, dfilter)
Napi::Value DepthwiseBackpropFilter(const Napi::CallbackInfo& info) {
  auto d = ArgDepthwise(info);
  auto x = ArgFloat32Array(info, 2, "x");
  auto dy = ArgFloat32Array(info, 3, "dy");
  auto dw = ArgFloat32Array(info, 4, "dfilter");
  CheckLength(x, d.conv.InputSize(), "x");
  CheckLength(dy, d.conv.OutputSize(), "dy");
  CheckLength(dw, FilterSize(d), "dfilter");
  clicktrain::DepthwiseConv2DBackpropFilter(d, x.Data(), dy.Data(), dw.Data());
  return info.Env().Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("depthwiseForward", DepthwiseForward);
CLICKTRAIN_EXPORT("depthwiseBackpropInput", DepthwiseBackpropInput);
CLICKTRAIN_EXPORT("depthwiseBackpropFilter", DepthwiseBackpropFilter);

}  // namespace clicktrain_binding
