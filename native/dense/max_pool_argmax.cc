#include "dense/max_pool_argmax.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <vector>

#include "common/float4.h"
#include "common/thread_pool.h"
#include "dense/pooling.h"

namespace clicktrain {

bool MaxPoolArgmaxSupported(const Conv2DParams& p) {
  return PoolWindowsTileInput(p) && p.filter_h * p.filter_w > 1 && p.filter_h * p.filter_w < kNoArgmax;
}

namespace {

void Check(const Conv2DParams& p, const char* what) {
  ValidateConv2DParams(p);
  if (!MaxPoolArgmaxSupported(p)) throw std::invalid_argument(std::string(what) + ": unsupported pooling geometry");
}

// Output rows per task: about 16K floats of input each.
int64_t Grain(const Conv2DParams& p) {
  return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, p.filter_h * p.in_w * p.in_c));
}

}  // namespace

void MaxPoolArgmaxForward(const Conv2DParams& p, const PoolInputRows& rows, float* y, uint8_t* argmax) {
  Check(p, "MaxPoolArgmaxForward");
  const int64_t C = p.in_c, fh = p.filter_h, fw = p.filter_w, W = p.in_w;
  if (p.OutputSize() <= 0) return;
  ParallelFor(p.batch * p.out_h, Grain(p), [&](int64_t g0, int64_t g1) {
    // The window band of fh input rows, computed once per output row (L1/L2-sized), and the
    // argmax as floats while it is searched: float-only selects, so the channel loops vectorise.
    std::vector<float> band(static_cast<size_t>(fh * W * C)), arg(static_cast<size_t>(C));
    float* __restrict af = arg.data();
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t b = g / p.out_h, oh = g % p.out_h;
      rows(b * p.in_h + oh * fh, fh, band.data());
      for (int64_t ow = 0; ow < p.out_w; ++ow) {
        float* __restrict yr = y + (g * p.out_w + ow) * C;
        for (int64_t c = 0; c < C; ++c) {
          yr[c] = -std::numeric_limits<float>::infinity();
          af[c] = static_cast<float>(kNoArgmax);
        }
        for (int64_t r = 0; r < fh; ++r)
          for (int64_t k = 0; k < fw; ++k) {
            const float* __restrict v = band.data() + (r * W + ow * fw + k) * C;
            const float tap = static_cast<float>(r * fw + k);
            const Float4 tap4 = {tap, tap, tap, tap};
            int64_t c = 0;
            for (; c + 4 <= C; c += 4) {  // (GCC keeps the scalar loop below branchy)
              const Float4 vv = Load4(v + c), best = Load4(yr + c);
              const Mask4 gt = vv > best;
              Store4(yr + c, (Float4)(((Mask4)vv & gt) | ((Mask4)best & ~gt)));
              Store4(af + c, (Float4)(((Mask4)tap4 & gt) | ((Mask4)Load4(af + c) & ~gt)));
            }
            for (; c < C; ++c) {
              const bool gt = v[c] > yr[c];
              yr[c] = gt ? v[c] : yr[c];
              af[c] = gt ? tap : af[c];
            }
          }
        uint8_t* __restrict ar = argmax + (g * p.out_w + ow) * C;
        for (int64_t c = 0; c < C; ++c) ar[c] = static_cast<uint8_t>(static_cast<int32_t>(af[c]));
      }
    }
  });
}

void MaxPoolArgmaxBackward(const Conv2DParams& p, const uint8_t* argmax, const float* dy, float* dx) {
  Check(p, "MaxPoolArgmaxBackward");
  const int64_t C = p.in_c, fh = p.filter_h, fw = p.filter_w, W = p.in_w;
  if (p.InputSize() <= 0) return;
  ParallelFor(p.batch * p.out_h, Grain(p), [&](int64_t g0, int64_t g1) {
    // Each window's argmaxes as floats (one conversion per window, then float-only selects).
    std::vector<float> arg(static_cast<size_t>(p.out_w * C));
    float* __restrict af = arg.data();
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t b = g / p.out_h, oh = g % p.out_h;
      const uint8_t* __restrict a = argmax + g * p.out_w * C;
      for (int64_t i = 0; i < p.out_w * C; ++i) af[i] = static_cast<float>(a[i]);
      for (int64_t r = 0; r < fh; ++r) {
        float* drow = dx + ((b * p.in_h + oh * fh + r) * W) * C;
        for (int64_t ow = 0; ow < p.out_w; ++ow) {
          const float* __restrict d = dy + (g * p.out_w + ow) * C;
          const float* __restrict aw = af + ow * C;
          for (int64_t k = 0; k < fw; ++k) {
            float* __restrict o = drow + (ow * fw + k) * C;
            const float tap = static_cast<float>(r * fw + k);
            const Float4 tap4 = {tap, tap, tap, tap};
            int64_t c = 0;
            for (; c + 4 <= C; c += 4) Store4(o + c, (Float4)((Mask4)Load4(d + c) & (Load4(aw + c) == tap4)));
            for (; c < C; ++c) o[c] = aw[c] == tap ? d[c] : 0.f;
          }
        }
      }
    }
  });
}

void MaxPoolArgmaxBackwardPixels(const Conv2DParams& p, const uint8_t* argmax, const float* dy, int64_t first,
                                 int64_t n, float* out) {
  Check(p, "MaxPoolArgmaxBackwardPixels");
  const int64_t C = p.in_c, fh = p.filter_h, fw = p.filter_w, W = p.in_w, H = p.in_h;
  if (first < 0 || n < 0 || first + n > p.batch * H * W)
    throw std::invalid_argument("MaxPoolArgmaxBackwardPixels: pixels outside the input");
  for (int64_t q = first; q < first + n; ++q) {
    const int64_t iw = q % W, ih = (q / W) % H, b = q / (W * H);
    const int64_t o = ((b * p.out_h + ih / fh) * p.out_w + iw / fw) * C;
    const uint8_t* __restrict a = argmax + o;
    const float* __restrict d = dy + o;
    float* __restrict dst = out + (q - first) * C;
    const uint8_t tap = static_cast<uint8_t>((ih % fh) * fw + iw % fw);
    const float tf = tap;
    const Float4 tap4 = {tf, tf, tf, tf};
    // Argmax bytes widened to floats, compared as a mask, 4 channels at a time (GCC keeps the plain
    // loop branchy).
    int64_t c = 0;
    for (; c + 4 <= C; c += 4) {
      const Float4 av = {static_cast<float>(a[c]), static_cast<float>(a[c + 1]), static_cast<float>(a[c + 2]),
                         static_cast<float>(a[c + 3])};
      Store4(dst + c, (Float4)((Mask4)Load4(d + c) & (av == tap4)));
    }
    for (; c < C; ++c) dst[c] = a[c] == tap ? d[c] : 0.f;
  }
}

}  // namespace clicktrain
