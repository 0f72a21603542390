// Pooling vs a literal float64 port of tfjs-backend-cpu's pool(), maxPoolPositions(), maxPoolGrad
// and avgPoolGrad loops (same tap order, JS-double accumulation), compared bit for bit (NaN and
// -Infinity included): random geometry with NaN inputs, windows entirely in padding, the 1x1
// identity shortcut, 1 and 2 threads.
#include <cstring>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "dense/pooling.h"
#include "test_dense_ref.h"
#include "test_pools.h"

using namespace clicktrain;
using namespace clicktrain_test;

namespace {

const double kInf = std::numeric_limits<double>::infinity();

// tfjs pool() for one kind; includes the kernels' 1x1 identity shortcut.
std::vector<float> TfjsPool(const Conv2DParams& p, const std::vector<float>& x, bool is_max) {
  if (p.filter_h == 1 && p.filter_w == 1 && p.in_h == p.out_h && p.in_w == p.out_w) return x;
  const int64_t eff_h = (p.filter_h - 1) * p.dilation_h + 1, eff_w = (p.filter_w - 1) * p.dilation_w + 1;
  std::vector<float> y(static_cast<size_t>(p.OutputSize()));
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t d = 0; d < p.in_c; ++d)
      for (int64_t yr = 0; yr < p.out_h; ++yr) {
        const int64_t rc = yr * p.stride_h - p.pad_top;
        const int64_t rmin = std::max<int64_t>(0, rc), rmax = std::min(p.in_h, eff_h + rc);
        for (int64_t yc = 0; yc < p.out_w; ++yc) {
          const int64_t cc = yc * p.stride_w - p.pad_left;
          const int64_t cmin = std::max<int64_t>(0, cc), cmax = std::min(p.in_w, eff_w + cc);
          double mm = is_max ? -kInf : kInf, avg = 0;
          int count = 0;
          for (int64_t xr = rmin; xr < rmax; xr += p.dilation_h) {
            for (int64_t xc = cmin; xc < cmax; xc += p.dilation_w) {
              const double px = x[((b * p.in_h + xr) * p.in_w + xc) * p.in_c + d];
              if (is_max && px > mm) {
                mm = px;
              } else if (!is_max) {
                avg += px;
                count++;
              }
            }
            if (std::isnan(mm)) break;
          }
          y[((b * p.out_h + yr) * p.out_w + yc) * p.in_c + d] =
              static_cast<float>(is_max ? mm : avg / count);
        }
      }
  return y;
}

std::vector<float> TfjsMaxPoolGrad(const Conv2DParams& p, const std::vector<float>& x,
                                   const std::vector<float>& dy) {
  const int64_t eff_h = (p.filter_h - 1) * p.dilation_h + 1, eff_w = (p.filter_w - 1) * p.dilation_w + 1;
  std::vector<int64_t> pos(static_cast<size_t>(p.OutputSize()));
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t d = 0; d < p.in_c; ++d)
      for (int64_t yr = 0; yr < p.out_h; ++yr) {
        const int64_t rc = yr * p.stride_h - p.pad_top;
        int64_t rmin = rc;
        while (rmin < 0) rmin += p.dilation_h;
        const int64_t rmax = std::min(p.in_h, eff_h + rc);
        for (int64_t yc = 0; yc < p.out_w; ++yc) {
          const int64_t cc = yc * p.stride_w - p.pad_left;
          int64_t cmin = cc;
          while (cmin < 0) cmin += p.dilation_w;
          const int64_t cmax = std::min(p.in_w, eff_w + cc);
          double mv = -kInf;
          int64_t mp = -1;
          for (int64_t xr = rmin; xr < rmax; xr += p.dilation_h) {
            const int64_t wr = xr - rc;
            for (int64_t xc = cmin; xc < cmax; xc += p.dilation_w) {
              const int64_t wc = xc - cc;
              const double px = x[((b * p.in_h + xr) * p.in_w + xc) * p.in_c + d];
              if (px > mv) {
                mv = px;
                mp = wr * eff_w + wc;
              }
            }
          }
          pos[((b * p.out_h + yr) * p.out_w + yc) * p.in_c + d] = mp;
        }
      }
  const int64_t pad_left = eff_w - 1 - p.pad_left, pad_top = eff_h - 1 - p.pad_top;
  std::vector<float> dx(static_cast<size_t>(p.InputSize()));
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t d = 0; d < p.in_c; ++d)
      for (int64_t dxr = 0; dxr < p.in_h; ++dxr)
        for (int64_t dxc = 0; dxc < p.in_w; ++dxc) {
          const int64_t rc = dxr - pad_top, cc = dxc - pad_left;
          double dot = 0;
          for (int64_t wr = 0; wr < eff_h; wr += p.dilation_h) {
            const double dyr = double(rc + wr) / p.stride_h;
            if (dyr < 0 || dyr >= p.out_h || std::floor(dyr) != dyr) continue;
            for (int64_t wc = 0; wc < eff_w; wc += p.dilation_w) {
              const double dyc = double(cc + wc) / p.stride_w;
              if (dyc < 0 || dyc >= p.out_w || std::floor(dyc) != dyc) continue;
              const int64_t o = ((b * p.out_h + int64_t(dyr)) * p.out_w + int64_t(dyc)) * p.in_c + d;
              const int64_t max_pos = eff_h * eff_w - 1 - pos[o];
              if (max_pos != wr * eff_w + wc) continue;
              dot += dy[o];
            }
          }
          dx[((b * p.in_h + dxr) * p.in_w + dxc) * p.in_c + d] = static_cast<float>(dot);
        }
  return dx;
}

std::vector<float> TfjsAvgPoolGrad(const Conv2DParams& p, const std::vector<float>& dy) {
  const int64_t eff_h = (p.filter_h - 1) * p.dilation_h + 1, eff_w = (p.filter_w - 1) * p.dilation_w + 1;
  const int64_t pad_left = eff_w - 1 - p.pad_left, pad_top = eff_h - 1 - p.pad_top;
  const double mult = 1.0 / double(p.filter_h * p.filter_w);
  std::vector<float> dx(static_cast<size_t>(p.InputSize()));
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t d = 0; d < p.in_c; ++d)
      for (int64_t dxr = 0; dxr < p.in_h; ++dxr)
        for (int64_t dxc = 0; dxc < p.in_w; ++dxc) {
          const int64_t rc = dxr - pad_top, cc = dxc - pad_left;
          double dot = 0;
          for (int64_t wr = 0; wr < eff_h; wr += p.dilation_h) {
            const double dyr = double(rc + wr) / p.stride_h;
            if (dyr < 0 || dyr >= p.out_h || std::floor(dyr) != dyr) continue;
            for (int64_t wc = 0; wc < eff_w; wc += p.dilation_w) {
              const double dyc = double(cc + wc) / p.stride_w;
              if (dyc < 0 || dyc >= p.out_w || std::floor(dyc) != dyc) continue;
              dot += dy[((b * p.out_h + int64_t(dyr)) * p.out_w + int64_t(dyc)) * p.in_c + d];
            }
          }
          dx[((b * p.in_h + dxr) * p.in_w + dxc) * p.in_c + d] = static_cast<float>(dot * mult);
        }
  return dx;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b, std::string* where) {
  if (a.size() != b.size()) {
    *where = "size";
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0 && !(a[i] == b[i] && a[i] == 0.f)) {
      *where = "index " + std::to_string(i) + ": got " + std::to_string(a[i]) + " want " +
               std::to_string(b[i]);
      return false;
    }
  }
  return true;
}

Conv2DParams RandomPool() {
  Conv2DParams p = RandomConvParams(12, 21);
  p.out_c = p.in_c;
  if (RandInt(0, 5) == 0) {  // windows entirely in padding at the borders
    p.pad_top = p.filter_h + 1;
    p.out_h += 2 * (p.filter_h + 1) / p.stride_h;
  }
  return p;
}

void CheckPool(Runner& r, const Conv2DParams& p) {
  auto x = RandomVector(static_cast<size_t>(p.InputSize()));
  // Ties (duplicates) and NaNs exercise tfjs's first-strict-maximum rule.
  for (size_t i = 0; i < x.size(); ++i) {
    const int u = RandInt(0, 19);
    if (u == 0) x[i] = std::numeric_limits<float>::quiet_NaN();
    else if (u < 4) x[i] = 0.5f;
  }
  auto dy = RandomVector(static_cast<size_t>(p.OutputSize()));
  const std::string tag = std::string(" thr=") + std::to_string(NumThreads()) + " " + Describe(p);
  std::string where;
  auto y = Poisoned(static_cast<size_t>(p.OutputSize()));
  MaxPoolForward(p, x.data(), y.data());
  r.Check(SameBits(y, TfjsPool(p, x, true), &where), "maxpool fwd" + tag + " " + where);
  y = Poisoned(y.size());
  AvgPoolForward(p, x.data(), y.data());
  r.Check(SameBits(y, TfjsPool(p, x, false), &where), "avgpool fwd" + tag + " " + where);
  auto dx = Poisoned(x.size());
  MaxPoolBackward(p, x.data(), dy.data(), dx.data());
  r.Check(SameBits(dx, TfjsMaxPoolGrad(p, x, dy), &where), "maxpool bwd" + tag + " " + where);
  dx = Poisoned(x.size());
  AvgPoolBackward(p, dy.data(), dx.data());
  r.Check(SameBits(dx, TfjsAvgPoolGrad(p, dy), &where), "avgpool bwd" + tag + " " + where);
  if (PoolWindowsTileInput(p) && p.filter_h * p.filter_w > 1) {
    // The same pool a block of rows at a time (one image's rows [fh*k, fh*k + rows)). (A 1x1
    // pool is tfjs's identity, NaN included; MaxPoolTiledBlock's NaN would be -Infinity.)
    y = Poisoned(y.size());
    const int64_t img = p.in_h * p.in_w * p.in_c, out_img = p.out_h * p.out_w * p.in_c;
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t oh = 0; oh < p.out_h; oh += 2) {
        const int64_t n = std::min<int64_t>(2, p.out_h - oh);
        MaxPoolTiledBlock(p.filter_h, p.filter_w, n * p.filter_h, p.in_w, p.in_c,
                          x.data() + b * img + oh * p.filter_h * p.in_w * p.in_c,
                          y.data() + b * out_img + oh * p.out_w * p.in_c);
      }
    r.Check(SameBits(y, TfjsPool(p, x, true), &where), "maxpool tiled blocks" + tag + " " + where);
  }
}

}  // namespace

int main() {
  Runner r;
  ForEachIsaAndThreads([&](Isa, int) {
    for (int t = 0; t < 60; ++t) CheckPool(r, RandomPool());
    for (int t = 0; t < 20; ++t) CheckPool(r, RandomTilingPool());
    Conv2DParams p;  // 1x1 identity shortcut (tfjs returns x even with NaNs)
    p.batch = 2; p.in_h = p.out_h = 5; p.in_w = p.out_w = 3; p.in_c = p.out_c = 4;
    p.filter_h = p.filter_w = 1;
    CheckPool(r, p);
    p.stride_h = 2; p.pad_top = 1; p.in_h = p.out_h = 3;  // explicit pad: still the identity
    CheckPool(r, p);
    Conv2DParams q;  // 2x2 stride 2 on CIFAR-like sizes
    q.batch = 2; q.in_h = q.in_w = 32; q.in_c = q.out_c = 16; q.out_h = q.out_w = 16;
    q.filter_h = q.filter_w = 2; q.stride_h = q.stride_w = 2;
    CheckPool(r, q);
  });
  {
    Conv2DParams p;
    p.batch = 0; p.in_h = p.in_w = 4; p.in_c = p.out_c = 3; p.out_h = p.out_w = 2;
    p.filter_h = p.filter_w = 2; p.stride_h = p.stride_w = 2;
    r.Expect([&] {
      MaxPoolForward(p, nullptr, nullptr);
      AvgPoolForward(p, nullptr, nullptr);
      MaxPoolBackward(p, nullptr, nullptr, nullptr);
      AvgPoolBackward(p, nullptr, nullptr);
    }, "pool batch 0");
    p.batch = 1;
    p.out_c = 2;
    std::vector<float> buf(256);
    r.ExpectThrow([&] { MaxPoolForward(p, buf.data(), buf.data()); }, "pool in_c != out_c");
    p.out_c = 3;
    p.stride_w = 0;
    r.ExpectThrow([&] { AvgPoolBackward(p, buf.data(), buf.data()); }, "pool stride 0");
    r.ExpectThrow([&] { MaxPoolTiledBlock(2, 2, 3, 4, 1, buf.data(), buf.data()); }, "tiled block of 3 rows, 2-row windows");
    r.Check(!PoolWindowsTileInput(p), "stride 0 does not tile");
  }
  return r.Finish();
}
