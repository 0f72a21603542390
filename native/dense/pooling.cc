// Pooling with tfjs-backend-cpu semantics (see pooling.h). Channels are the innermost loop, so each
// channel sees exactly tfjs's per-element operation order.
#include "dense/pooling.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "common/float4.h"
#include "common/thread_pool.h"

namespace clicktrain {
namespace {

void ValidatePool(const Conv2DParams& p) {
  ValidateConv2DParams(p);
  if (p.in_c != p.out_c) throw std::invalid_argument("pool: in_c must equal out_c");
}

bool IsIdentity(const Conv2DParams& p) {
  return p.filter_h == 1 && p.filter_w == 1 && p.in_h == p.out_h && p.in_w == p.out_w;
}

int64_t Grain(int64_t row_work) {
  return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(row_work, 1));
}

void CopyParallel(const float* src, float* dst, int64_t n) {
  ParallelFor(n, int64_t(1) << 16, [&](int64_t b, int64_t e) {
    std::memcpy(dst + b, src + b, static_cast<size_t>(e - b) * sizeof(float));
  });
}

template <bool kMax>
void PoolForward(const Conv2DParams& p, const float* x, float* y) {
  ValidatePool(p);
  const int64_t C = p.in_c;
  if (p.OutputSize() <= 0) return;
  if (IsIdentity(p)) {
    CopyParallel(x, y, p.OutputSize());
    return;
  }
  const int64_t eff_h = (p.filter_h - 1) * p.dilation_h + 1;
  const int64_t eff_w = (p.filter_w - 1) * p.dilation_w + 1;
  const int64_t rows = p.batch * p.out_h;
  ParallelFor(rows, Grain(p.out_w * C * p.filter_h * p.filter_w), [&](int64_t g0, int64_t g1) {
    std::vector<double> sum(kMax ? 0 : static_cast<size_t>(C));
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t b = g / p.out_h, oh = g % p.out_h;
      const int64_t r_corner = oh * p.stride_h - p.pad_top;
      const int64_t r_min = std::max<int64_t>(0, r_corner);
      const int64_t r_max = std::min(p.in_h, eff_h + r_corner);
      for (int64_t ow = 0; ow < p.out_w; ++ow) {
        const int64_t c_corner = ow * p.stride_w - p.pad_left;
        const int64_t c_min = std::max<int64_t>(0, c_corner);
        const int64_t c_max = std::min(p.in_w, eff_w + c_corner);
        float* yr = y + (g * p.out_w + ow) * C;
        if (kMax) {
          for (int64_t c = 0; c < C; ++c) yr[c] = -std::numeric_limits<float>::infinity();
        } else {
          std::fill(sum.begin(), sum.end(), 0.0);
        }
        int64_t count = 0;
        for (int64_t xr = r_min; xr < r_max; xr += p.dilation_h) {
          const float* xrow = x + (b * p.in_h + xr) * p.in_w * C;
          for (int64_t xc = c_min; xc < c_max; xc += p.dilation_w) {
            const float* xs = xrow + xc * C;
            if (kMax) {
              for (int64_t c = 0; c < C; ++c) yr[c] = xs[c] > yr[c] ? xs[c] : yr[c];
            } else {
              double* s = sum.data();
              for (int64_t c = 0; c < C; ++c) s[c] += static_cast<double>(xs[c]);
              ++count;
            }
          }
        }
        if (!kMax) {
          const double n = static_cast<double>(count);
          for (int64_t c = 0; c < C; ++c) yr[c] = static_cast<float>(sum[c] / n);
        }
      }
    }
  });
}

// First tap that makes the row/column corner non-negative, stepping by the dilation (as tfjs's
// maxPoolPositions does).
int64_t AlignedMin(int64_t corner, int64_t dilation) {
  if (corner >= 0) return corner;
  const int64_t steps = (-corner + dilation - 1) / dilation;
  return corner + steps * dilation;
}

// Disjoint windows (dilation 1, strides >= window: VGG's 2x2/2 pools): every dx element is in at
// most one window, so dx is dy at each window's argmax and 0 elsewhere (no sums), written in one
// pass per output row. The general path below keeps a 64-bit argmax per output element and then
// searches every window around each dx element: 11 ms for a 32x32x64 batch-32 layer.
void MaxPoolBackwardDisjoint(const Conv2DParams& p, const float* x, const float* dy, float* dx) {
  const int64_t C = p.in_c;
  const bool covers = p.stride_h == p.filter_h && p.stride_w == p.filter_w && p.pad_top == 0 &&
                      p.pad_left == 0 && p.out_h * p.stride_h == p.in_h && p.out_w * p.stride_w == p.in_w;
  if (!covers) {
    ParallelFor(p.InputSize(), int64_t(1) << 16, [&](int64_t b, int64_t e) {
      std::memset(dx + b, 0, static_cast<size_t>(e - b) * sizeof(float));
    });
  }
  const int64_t rows = p.batch * p.out_h;
  ParallelFor(rows, Grain(p.out_w * C * p.filter_h * p.filter_w), [&](int64_t g0, int64_t g1) {
    std::vector<float> best(static_cast<size_t>(C)), rem(static_cast<size_t>(C));
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t b = g / p.out_h, oh = g % p.out_h;
      const int64_t r_corner = oh * p.stride_h - p.pad_top;
      const int64_t r_min = std::max<int64_t>(0, r_corner);
      const int64_t r_max = std::min(p.in_h, p.filter_h + r_corner);
      for (int64_t ow = 0; ow < p.out_w; ++ow) {
        const int64_t c_corner = ow * p.stride_w - p.pad_left;
        const int64_t c_min = std::max<int64_t>(0, c_corner);
        const int64_t c_max = std::min(p.in_w, p.filter_w + c_corner);
        // Float-only selects so the channel loops vectorise: the window maximum first (as the
        // forward does), then taps in window order, the first one equal to a finite-or-+inf
        // maximum takes dy (tfjs's first strict '>' from -inf: NaN never wins, an all -inf/NaN
        // window passes nothing).
        float* __restrict bs = best.data();
        float* __restrict open = rem.data();
        for (int64_t c = 0; c < C; ++c) bs[c] = -std::numeric_limits<float>::infinity();
        for (int64_t xr = r_min; xr < r_max; ++xr)
          for (int64_t xc = c_min; xc < c_max; ++xc) {
            const float* __restrict xs = x + ((b * p.in_h + xr) * p.in_w + xc) * C;
            for (int64_t c = 0; c < C; ++c) bs[c] = xs[c] > bs[c] ? xs[c] : bs[c];
          }
        for (int64_t c = 0; c < C; ++c)
          open[c] = bs[c] > -std::numeric_limits<float>::infinity() ? 1.f : 0.f;
        const float* __restrict ds = dy + (g * p.out_w + ow) * C;
        for (int64_t xr = r_min; xr < r_max; ++xr)
          for (int64_t xc = c_min; xc < c_max; ++xc) {
            const float* __restrict xs = x + ((b * p.in_h + xr) * p.in_w + xc) * C;
            float* __restrict d = dx + ((b * p.in_h + xr) * p.in_w + xc) * C;
            int64_t c = 0;
            for (; c + 4 <= C; c += 4) {  // the compiler kept this loop scalar and branchy
              const Mask4 hit = (Load4(open + c) != 0.f) & (Load4(xs + c) == Load4(bs + c));
              Store4(d + c, (Float4)((Mask4)Load4(ds + c) & hit));
              Store4(open + c, (Float4)((Mask4)Load4(open + c) & ~hit));
            }
            for (; c < C; ++c) {
              const bool hit = (open[c] != 0.f) & (xs[c] == bs[c]);
              d[c] = hit ? ds[c] : 0.f;
              open[c] = hit ? 0.f : open[c];
            }
          }
      }
    }
  });
}

}  // namespace

void MaxPoolForward(const Conv2DParams& p, const float* x, float* y) { PoolForward<true>(p, x, y); }

bool PoolWindowsTileInput(const Conv2DParams& p) {
  return p.filter_h >= 1 && p.filter_w >= 1 && p.stride_h == p.filter_h && p.stride_w == p.filter_w &&
         p.pad_top == 0 && p.pad_left == 0 && p.dilation_h == 1 && p.dilation_w == 1 && p.in_c == p.out_c &&
         p.batch >= 0 && p.in_c >= 0 && p.out_h >= 0 && p.out_w >= 0 && p.out_h * p.stride_h == p.in_h &&
         p.out_w * p.stride_w == p.in_w;
}

void MaxPoolTiledBlock(int64_t fh, int64_t fw, int64_t rows, int64_t W, int64_t C, const float* in, float* out) {
  if (fh < 1 || fw < 1 || rows % fh != 0 || W % fw != 0 || C < 0)
    throw std::invalid_argument("MaxPoolTiledBlock: the windows must tile the block");
  for (int64_t oh = 0; oh < rows / fh; ++oh)
    for (int64_t ow = 0; ow < W / fw; ++ow) {
      float* __restrict yr = out + (oh * (W / fw) + ow) * C;
      for (int64_t c = 0; c < C; ++c) yr[c] = -std::numeric_limits<float>::infinity();
      for (int64_t r = 0; r < fh; ++r)
        for (int64_t k = 0; k < fw; ++k) {
          const float* __restrict v = in + ((oh * fh + r) * W + ow * fw + k) * C;
          int64_t c = 0;
          for (; c + 4 <= C; c += 4) {  // explicit masks: GCC keeps the ?: loop below branchy
            const Float4 vv = Load4(v + c), best = Load4(yr + c);
            const Mask4 gt = vv > best;
            Store4(yr + c, (Float4)(((Mask4)vv & gt) | ((Mask4)best & ~gt)));
          }
          for (; c < C; ++c) yr[c] = v[c] > yr[c] ? v[c] : yr[c];
        }
    }
}

void AvgPoolForward(const Conv2DParams& p, const float* x, float* y) { PoolForward<false>(p, x, y); }

void MaxPoolBackward(const Conv2DParams& p, const float* x, const float* dy, float* dx) {
  ValidatePool(p);
  const int64_t C = p.in_c;
  const int64_t dx_size = p.InputSize();
  if (dx_size <= 0) return;
  if (p.dilation_h == 1 && p.dilation_w == 1 && p.stride_h >= p.filter_h && p.stride_w >= p.filter_w) {
    MaxPoolBackwardDisjoint(p, x, dy, dx);
    return;
  }
  const int64_t eff_h = (p.filter_h - 1) * p.dilation_h + 1;
  const int64_t eff_w = (p.filter_w - 1) * p.dilation_w + 1;
  // Pass 1: argmax of every window as a flat (ih * in_w + iw) position, -1 when none.
  std::vector<int64_t> arg(static_cast<size_t>(std::max<int64_t>(p.OutputSize(), 0)));
  const int64_t out_rows = p.batch * p.out_h;
  ParallelFor(out_rows, Grain(p.out_w * C * p.filter_h * p.filter_w), [&](int64_t g0, int64_t g1) {
    std::vector<float> best(static_cast<size_t>(C));
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t b = g / p.out_h, oh = g % p.out_h;
      const int64_t r_corner = oh * p.stride_h - p.pad_top;
      const int64_t r_min = AlignedMin(r_corner, p.dilation_h);
      const int64_t r_max = std::min(p.in_h, eff_h + r_corner);
      for (int64_t ow = 0; ow < p.out_w; ++ow) {
        const int64_t c_corner = ow * p.stride_w - p.pad_left;
        const int64_t c_min = AlignedMin(c_corner, p.dilation_w);
        const int64_t c_max = std::min(p.in_w, eff_w + c_corner);
        int64_t* ar = arg.data() + (g * p.out_w + ow) * C;
        for (int64_t c = 0; c < C; ++c) {
          best[c] = -std::numeric_limits<float>::infinity();
          ar[c] = -1;
        }
        for (int64_t xr = r_min; xr < r_max; xr += p.dilation_h) {
          const float* xrow = x + (b * p.in_h + xr) * p.in_w * C;
          for (int64_t xc = c_min; xc < c_max; xc += p.dilation_w) {
            const float* xs = xrow + xc * C;
            const int64_t pos = xr * p.in_w + xc;
            for (int64_t c = 0; c < C; ++c) {
              if (xs[c] > best[c]) {
                best[c] = xs[c];
                ar[c] = pos;
              }
            }
          }
        }
      }
    }
  });
  // Pass 2: gather per dx row in tfjs's order (window row, then column), summing in double.
  const int64_t pad_top_t = eff_h - 1 - p.pad_top;
  const int64_t pad_left_t = eff_w - 1 - p.pad_left;
  const int64_t in_rows = p.batch * p.in_h;
  ParallelFor(in_rows, Grain(p.in_w * C * p.filter_h * p.filter_w), [&](int64_t q0, int64_t q1) {
    std::vector<double> acc(static_cast<size_t>(C));
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t b = q / p.in_h, ih = q % p.in_h;
      for (int64_t iw = 0; iw < p.in_w; ++iw) {
        std::fill(acc.begin(), acc.end(), 0.0);
        const int64_t pos = ih * p.in_w + iw;
        for (int64_t wr = 0; wr < eff_h; wr += p.dilation_h) {
          const int64_t nr = ih - pad_top_t + wr;
          if (nr < 0 || nr % p.stride_h != 0) continue;
          const int64_t oh = nr / p.stride_h;
          if (oh >= p.out_h) continue;
          for (int64_t wc = 0; wc < eff_w; wc += p.dilation_w) {
            const int64_t nc = iw - pad_left_t + wc;
            if (nc < 0 || nc % p.stride_w != 0) continue;
            const int64_t ow = nc / p.stride_w;
            if (ow >= p.out_w) continue;
            const int64_t o = ((b * p.out_h + oh) * p.out_w + ow) * C;
            const int64_t* ar = arg.data() + o;
            const float* ds = dy + o;
            for (int64_t c = 0; c < C; ++c)
              if (ar[c] == pos) acc[c] += static_cast<double>(ds[c]);
          }
        }
        float* d = dx + (q * p.in_w + iw) * C;
        for (int64_t c = 0; c < C; ++c) d[c] = static_cast<float>(acc[c]);
      }
    }
  });
}

void AvgPoolBackward(const Conv2DParams& p, const float* dy, float* dx) {
  ValidatePool(p);
  const int64_t C = p.in_c;
  const int64_t dx_size = p.InputSize();
  if (dx_size <= 0) return;
  const int64_t eff_h = (p.filter_h - 1) * p.dilation_h + 1;
  const int64_t eff_w = (p.filter_w - 1) * p.dilation_w + 1;
  const int64_t pad_top_t = eff_h - 1 - p.pad_top;
  const int64_t pad_left_t = eff_w - 1 - p.pad_left;
  const double mult = 1.0 / static_cast<double>(p.filter_h * p.filter_w);
  const int64_t in_rows = p.batch * p.in_h;
  ParallelFor(in_rows, Grain(p.in_w * C * p.filter_h * p.filter_w), [&](int64_t q0, int64_t q1) {
    std::vector<double> acc(static_cast<size_t>(C));
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t b = q / p.in_h, ih = q % p.in_h;
      for (int64_t iw = 0; iw < p.in_w; ++iw) {
        std::fill(acc.begin(), acc.end(), 0.0);
        double* a = acc.data();
        for (int64_t wr = 0; wr < eff_h; wr += p.dilation_h) {
          const int64_t nr = ih - pad_top_t + wr;
          if (nr < 0 || nr % p.stride_h != 0) continue;
          const int64_t oh = nr / p.stride_h;
          if (oh >= p.out_h) continue;
          for (int64_t wc = 0; wc < eff_w; wc += p.dilation_w) {
            const int64_t nc = iw - pad_left_t + wc;
            if (nc < 0 || nc % p.stride_w != 0) continue;
            const int64_t ow = nc / p.stride_w;
            if (ow >= p.out_w) continue;
            const float* ds = dy + ((b * p.out_h + oh) * p.out_w + ow) * C;
            for (int64_t c = 0; c < C; ++c) a[c] += static_cast<double>(ds[c]);
          }
        }
        float* d = dx + (q * p.in_w + iw) * C;
        for (int64_t c = 0; c < C; ++c) d[c] = static_cast<float>(a[c] * mult);
      }
    }
  });
}

}  // namespace clicktrain
