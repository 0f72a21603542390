// Random pool geometries shared by the pooling tests.
#pragma once
#include "common/conv_params.h"
#include "test_util.h"

namespace clicktrain_test {

// Windows that tile the input (stride = window, no padding; 1x1 excluded): up to 3x3 windows, up
// to 6x6 outputs, 1-21 channels, batch 1-3.
inline clicktrain::Conv2DParams RandomTilingPool() {
  clicktrain::Conv2DParams p;
  p.batch = RandInt(1, 3);
  p.filter_h = p.stride_h = RandInt(1, 3);
  p.filter_w = p.stride_w = RandInt(p.filter_h == 1 ? 2 : 1, 3);
  p.out_h = RandInt(1, 6);
  p.out_w = RandInt(1, 6);
  p.in_h = p.out_h * p.stride_h;
  p.in_w = p.out_w * p.stride_w;
  p.in_c = p.out_c = RandInt(1, 21);
  return p;
}

}  // namespace clicktrain_test
