#include "dense/conv2d_small_channels.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "common/thread_scratch.h"
#include "dense/conv2d_small_channels_kernels.h"
#include "dense/epilogue_internal.h"

namespace clicktrain {
namespace {

using small_channels_internal::RowKernels;

// Up to 4 input channels, any filter: at batch 32 the direct kernels beat the tiled im2col GEMM on
// 3x3 RGB (1.7-1.9x), 5x5 RGB (1.6x), a 7x7 stride-2 RGB stem (1.2x forward, equal backward-filter),
// 1 channel (4-8x) and 4 channels -> 128 (1.2x forward, about equal backward-filter).
constexpr int64_t kMaxInChannels = 4;
// Output pixels a forward task covers at least (a few output rows): enough work per hand-off.
constexpr int64_t kTaskPixels = 128;
// Backward-filter: pixels per register-tile pass, so a row segment's dy stays in L1 while every
// (tap block, channel block) tile sweeps it.
constexpr int64_t kSegmentPixels = 64;

const RowKernels& Kernels() {
  switch (ActiveIsa()) {
    case Isa::kAvx512: return small_channels_internal::Avx512RowKernels();
    case Isa::kAvx2: return small_channels_internal::Avx2RowKernels();
    default: return small_channels_internal::GenericRowKernels();
  }
}

// Width (in pixels) of the zero-padded slab: every input column the output row reads.
int64_t SlabWidth(const Conv2DParams& p) { return (p.out_w - 1) * p.stride_w + (p.filter_w - 1) * p.dilation_w + 1; }

// Input rows for output rows [oh0, oh1) of image b, zero-padded: slab row r, column j is input row
// oh0*sh - pad_top + r, column j - pad_left (zeros outside the image).
void FillSlab(const Conv2DParams& p, const float* x, int64_t b, int64_t oh0, int64_t oh1, float* slab) {
  const int64_t rows = (oh1 - oh0 - 1) * p.stride_h + (p.filter_h - 1) * p.dilation_h + 1;
  const int64_t width = SlabWidth(p), c = p.in_c;
  // Columns j with 0 <= j - pad_left < in_w.
  const int64_t j0 = std::clamp<int64_t>(p.pad_left, 0, width), j1 = std::clamp<int64_t>(p.pad_left + p.in_w, j0, width);
  for (int64_t r = 0; r < rows; ++r) {
    float* s = slab + r * width * c;
    const int64_t ih = oh0 * p.stride_h - p.pad_top + r;
    if (ih < 0 || ih >= p.in_h || j0 == j1) {
      std::memset(s, 0, static_cast<size_t>(width * c) * sizeof(float));
      continue;
    }
    std::memset(s, 0, static_cast<size_t>(j0 * c) * sizeof(float));
    const float* xr = x + ((b * p.in_h + ih) * p.in_w + (j0 - p.pad_left)) * c;
    std::memcpy(s + j0 * c, xr, static_cast<size_t>((j1 - j0) * c) * sizeof(float));
    std::memset(s + j1 * c, 0, static_cast<size_t>((width - j1) * c) * sizeof(float));
  }
}

int64_t SlabFloats(const Conv2DParams& p, int64_t out_rows) {
  return ((out_rows - 1) * p.stride_h + (p.filter_h - 1) * p.dilation_h + 1) * SlabWidth(p) * p.in_c;
}

// Offset in the slab of tap k = (kh, kw, ic) (the filter's HWIO order) for output column 0.
std::vector<int32_t> TapOffsets(const Conv2DParams& p) {
  std::vector<int32_t> off;
  off.reserve(static_cast<size_t>(p.filter_h * p.filter_w * p.in_c));
  const int64_t width = SlabWidth(p);
  for (int64_t kh = 0; kh < p.filter_h; ++kh)
    for (int64_t kw = 0; kw < p.filter_w; ++kw)
      for (int64_t ic = 0; ic < p.in_c; ++ic)
        off.push_back(static_cast<int32_t>((kh * p.dilation_h * width + kw * p.dilation_w) * p.in_c + ic));
  return off;
}

int64_t PaddedChannels(int64_t out_c, int lanes) { return (out_c + lanes - 1) / lanes * lanes; }

}  // namespace

bool SmallChannelsConvApplies(const Conv2DParams& p) {
  if (p.in_c < 1 || p.in_c > kMaxInChannels) return false;
  // Slab offsets are 32-bit (a slab is a few rows of one image: far below this unless the image
  // is enormous).
  const int64_t span = ((p.filter_h - 1) * p.dilation_h + p.stride_h) * SlabWidth(p) * p.in_c;
  return span < (int64_t(1) << 30);
}

void SmallChannelsConvForward(const Conv2DParams& p, const float* x, const float* filter,
                              const Epilogue& ep, float* y) {
  const RowKernels& kern = Kernels();
  const int64_t K = p.filter_h * p.filter_w * p.in_c;
  const int64_t ocp = PaddedChannels(p.out_c, kern.lanes);
  // Filter [K][out_c] -> [K][ocp], zeros past out_c: every vector load of it is whole.
  std::vector<float> w(static_cast<size_t>(K * ocp), 0.f);
  for (int64_t k = 0; k < K; ++k)
    std::memcpy(&w[static_cast<size_t>(k * ocp)], filter + k * p.out_c, static_cast<size_t>(p.out_c) * sizeof(float));
  const std::vector<int32_t> koff = TapOffsets(p);
  const int64_t width = SlabWidth(p);
  const int64_t row_block = std::min<int64_t>(p.out_h, std::max<int64_t>(1, kTaskPixels / p.out_w));
  const int64_t blocks_per_image = (p.out_h + row_block - 1) / row_block;
  // Bias and relu (the common epilogues) are applied in registers before the store; the rest of
  // an epilogue (other activations, a folded batch norm) runs on each row while it is in L1.
  const bool in_registers = ep.activation == Activation::kLinear || ep.activation == Activation::kRelu;
  std::vector<float> bias;
  if (in_registers && ep.bias) {
    bias.assign(static_cast<size_t>(ocp), 0.f);
    for (int64_t c = 0; c < p.out_c; ++c) bias[static_cast<size_t>(c)] = ep.bias[ep.bias_scalar ? 0 : c];
  }
  const bool relu = in_registers && ep.activation == Activation::kRelu;
  const bool row_epilogue = in_registers ? ep.batch_norm != nullptr : !EpilogueIsIdentity(ep);
  ParallelTasks(p.batch * blocks_per_image, [&](int64_t t, int) {
    const int64_t b = t / blocks_per_image, oh0 = t % blocks_per_image * row_block;
    const int64_t oh1 = std::min(p.out_h, oh0 + row_block);
    float* slab = ThreadScratch(ScratchSlot::kConvTile, SlabFloats(p, oh1 - oh0));
    FillSlab(p, x, b, oh0, oh1, slab);
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      const float* xs = slab + (oh - oh0) * p.stride_h * width * p.in_c;
      float* yr = y + ((b * p.out_h + oh) * p.out_w) * p.out_c;
      kern.forward(xs, koff.data(), K, p.stride_w * p.in_c, w.data(), bias.empty() ? nullptr : bias.data(),
                   relu, ocp, p.out_c, p.out_w, yr);
      if (!row_epilogue) continue;
      if (in_registers) {
        ApplyEpilogueBatchNorm(*ep.batch_norm, p.out_w, p.out_c, 0, p.out_c, yr);
      } else {
        ApplyEpilogueSerial(ep, p.out_w, p.out_c, yr);
      }
    }
  });
}

void SmallChannelsConvBackpropFilter(const Conv2DParams& p, const float* x, const float* dy,
                                     float* dfilter, const BatchNormGradDx* dy_rows) {
  const RowKernels& kern = Kernels();
  const int64_t K = p.filter_h * p.filter_w * p.in_c;
  const int64_t ocp = PaddedChannels(p.out_c, kern.lanes);
  const std::vector<int32_t> koff = TapOffsets(p);
  const int64_t width = SlabWidth(p);
  // Each part sums a fixed, contiguous range of output rows into its own [K][ocp] copy, and the
  // copies are added in order: the result does not depend on which thread ran what.
  const int64_t rows = p.batch * p.out_h;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(NumThreads(), rows * p.out_w / 256));
  std::vector<float> acc(static_cast<size_t>(parts * K * ocp), 0.f);
  const int64_t row_block = std::min<int64_t>(p.out_h, std::max<int64_t>(1, kTaskPixels / p.out_w));
  ParallelTasks(parts, [&](int64_t part, int) {
    float* a = acc.data() + part * K * ocp;
    const int64_t g0 = rows * part / parts, g1 = rows * (part + 1) / parts;
    for (int64_t g = g0; g < g1;) {
      const int64_t b = g / p.out_h, oh0 = g % p.out_h;
      const int64_t oh1 = std::min({p.out_h, oh0 + row_block, oh0 + (g1 - g)});
      float* slab = ThreadScratch(ScratchSlot::kConvTile, SlabFloats(p, oh1 - oh0));
      FillSlab(p, x, b, oh0, oh1, slab);
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        const float* xs = slab + (oh - oh0) * p.stride_h * width * p.in_c;
        const int64_t first = (b * p.out_h + oh) * p.out_w;  // dy row of the output row's pixel 0
        for (int64_t o0 = 0; o0 < p.out_w; o0 += kSegmentPixels) {
          const int64_t n = std::min(kSegmentPixels, p.out_w - o0);
          const float* d = dy ? dy + (first + o0) * p.out_c : nullptr;
          if (!d) {  // the segment's dy computed into L1, read by every tile below
            float* rows_buf = ThreadScratch(ScratchSlot::kConvDyRows, kSegmentPixels * p.out_c);
            dy_rows->Rows(first + o0, n, rows_buf);
            d = rows_buf;
          }
          kern.backprop_filter(xs + o0 * p.stride_w * p.in_c, koff.data(), K, p.stride_w * p.in_c,
                               d, p.out_c, n, ocp, a);
        }
      }
      g += oh1 - oh0;
    }
  });
  for (int64_t k = 0; k < K; ++k)
    for (int64_t oc = 0; oc < p.out_c; ++oc) {
      float s = acc[static_cast<size_t>(k * ocp + oc)];
      for (int64_t part = 1; part < parts; ++part) s += acc[static_cast<size_t>((part * K + k) * ocp + oc)];
      dfilter[k * p.out_c + oc] = s;
    }
}

}  // namespace clicktrain
