#include "sparse/sparse_tiny_image.h"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <vector>

#include "common/thread_pool.h"
#include "dense/epilogue_internal.h"
#include "dense/pooling.h"
#include "sparse/sparse_internal.h"

namespace clicktrain {
namespace {

using namespace sparse_internal;

// Scratch, one per purpose (called from the calling thread only).
float* Buffer(int which, size_t n) {
  thread_local std::vector<float> bufs[3];
  return AlignedScratch(bufs[which], n);
}

constexpr int kMaxTinyLanes = 16;

// NHWC [N,S,S,C] -> lanes [nb][C][S*S][W] (W = lanes: 8 or 16; lanes past N zero); with bn, the
// lanes of bn's output (each element through the batch norm on the way: lanes_affine.h); with
// rows (src unused), the rows it computes (a batch norm's gradient: each pixel's W rows computed
// into L1, then packed). A lane group of 16 is packed as two halves of 8 (the lane kernels).
float* ToLanes(const IsaKernels& K, int W, const float* src, int64_t N, int S, int64_t C, int which,
               const BatchNormRows* bn = nullptr, const BatchNormGradDx* rows = nullptr) {
  const int64_t nb = (N + W - 1) / W, pix = S * S, chan = pix * W;
  float* dst = Buffer(which, static_cast<size_t>(nb * C * chan));
  const LaneAffine f = bn ? LaneAffine{bn->sub(), bn->mul(), bn->add(), bn->relu()} : LaneAffine{};
  ParallelFor(nb * pix, std::max<int64_t>(1, 2048 / std::max<int64_t>(C, 1)), [&](int64_t i0, int64_t i1) {
    thread_local std::vector<float> computed;
    float* tmp = rows ? AlignedScratch(computed, static_cast<size_t>(W * C)) : nullptr;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t bb = i / pix, px = i % pix;
      const float* s[kMaxTinyLanes];
      for (int l = 0; l < W; ++l) {
        const int64_t b = bb * W + l;
        if (b >= N) {
          s[l] = nullptr;
        } else if (rows) {
          rows->Rows(b * pix + px, 1, tmp + l * C);
          s[l] = tmp + l * C;
        } else {
          s[l] = src + (b * pix + px) * C;
        }
      }
      for (int h = 0; h < W; h += kLanes) {
        float* d = dst + bb * C * chan + px * W + h;
        if (bn)
          K.pack8_affine(s + h, C, d, chan, f);
        else
          K.pack8(s + h, C, d, chan);
      }
    }
  });
  return dst;
}

// lanes [nb][C][S*S][W] -> NHWC [N,S,S,C], with the epilogue (when given) applied to each pixel
// while it is in cache.
void FromLanes(const IsaKernels& K, int W, const float* src, int64_t N, int S, int64_t C, const Epilogue* ep,
               float* dst) {
  if (ep && EpilogueIsIdentity(*ep)) ep = nullptr;
  const int64_t nb = (N + W - 1) / W, pix = S * S, chan = pix * W;
  ParallelFor(nb * pix, std::max<int64_t>(1, 2048 / std::max<int64_t>(C, 1)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t bb = i / pix, px = i % pix;
      float* d[kMaxTinyLanes];
      for (int l = 0; l < W; ++l) {
        const int64_t b = bb * W + l;
        d[l] = b < N ? dst + (b * pix + px) * C : nullptr;
      }
      for (int h = 0; h < W; h += kLanes) K.unpack8(src + bb * C * chan + px * W + h, C, chan, d + h);
      if (ep)
        for (int l = 0; l < W; ++l)
          if (d[l]) ApplyEpilogueSerial(*ep, 1, C, d[l]);
    }
  });
}

// lanes [nb][C][S*S][W] -> NHWC max pooled by windows fh x fw that tile the S x S image, with the
// epilogue applied first (FromLanes's arithmetic): a unit is one lane group's fh rows, unpacked into
// a thread-local band and pooled from there, so the unpooled result is never written out.
void FromLanesMaxPool(const IsaKernels& K, int W, const float* src, int64_t N, int S, int64_t C,
                      const Epilogue* ep, int64_t fh, int64_t fw, float* dst) {
  if (ep && EpilogueIsIdentity(*ep)) ep = nullptr;
  const int64_t nb = (N + W - 1) / W, chan = S * S * W, PH = S / fh, PW = S / fw;
  ParallelFor(nb * PH, 1, [&](int64_t i0, int64_t i1) {
    thread_local std::vector<float> band_buf;
    float* band = AlignedScratch(band_buf, static_cast<size_t>(W * fh * S * C));
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t bb = i / PH, ph = i % PH;
      const int nl = static_cast<int>(std::min<int64_t>(W, N - bb * W));
      for (int64_t r = 0; r < fh; ++r)
        for (int64_t w = 0; w < S; ++w) {
          float* d[kMaxTinyLanes];
          for (int l = 0; l < W; ++l) d[l] = l < nl ? band + ((l * fh + r) * S + w) * C : nullptr;
          for (int h = 0; h < W; h += kLanes)
            K.unpack8(src + bb * C * chan + ((ph * fh + r) * S + w) * W + h, C, chan, d + h);
          if (ep)
            for (int l = 0; l < nl; ++l) ApplyEpilogueSerial(*ep, 1, C, d[l]);
        }
      for (int l = 0; l < nl; ++l)
        MaxPoolTiledBlock(fh, fw, fh, S, C, band + l * fh * S * C, dst + (((bb * W + l) * PH + ph) * PW) * C);
    }
  });
}

// Index in kMask4 of each layout group's pattern (all 4-entry: checked by TinyImageSupported).
std::vector<int16_t> GroupSids(const PatternLayout& L) {
  std::vector<int16_t> sid(L.group_pattern.size());
  for (size_t q = 0; q < sid.size(); ++q) {
    sid[q] = kMask4.index[L.patterns[static_cast<size_t>(L.group_pattern[q])]];
    if (sid[q] < 0) throw std::logic_error("sparse tiny-image kernels: a pattern without 4 entries");
  }
  return sid;
}

bool AllFourEntry(const PatternLayout& L) {
  for (int32_t n : L.pattern_size)
    if (n != 4) return false;
  return true;
}

// Thread t runs slots t, t + nt, ...: slots are sorted by kept-kernel count (the reorder), so the
// round-robin split is balanced, and each slot writes only its own outputs (forward: its output
// channel; gradient: its kernels' values).
void RunSlots(const PatternLayout& L, bool grad, const TinyArgs& a) {
  using Fn = void (*)(const TinyArgs&, const int32_t*, int64_t);
  const Isa isa = ActiveIsa();
  if (a.lanes == 16 && isa < Isa::kAvx512)
    throw std::logic_error("sparse tiny-image kernels: 16 lanes need AVX-512");
  const Fn fn = a.lanes == 16       ? (grad ? TinyGradSlotsAvx512X16 : TinyForwardSlotsAvx512X16)
                : isa >= Isa::kAvx512 ? (grad ? TinyGradSlotsAvx512 : TinyForwardSlotsAvx512)
                : isa >= Isa::kAvx2 ? (grad ? TinyGradSlotsAvx2 : TinyForwardSlotsAvx2)
                                    : (grad ? TinyGradSlotsGeneric : TinyForwardSlotsGeneric);
  const int64_t slots = L.out_c;
  const int64_t nt = std::max<int64_t>(1, std::min<int64_t>(NumThreads(), slots));
  ParallelFor(nt, 1, [&](int64_t t0, int64_t t1) {
    std::vector<int32_t> list;
    for (int64_t t = t0; t < t1; ++t) {
      list.clear();
      for (int64_t s = t; s < slots; s += nt) list.push_back(static_cast<int32_t>(s));
      if (!list.empty()) fn(a, list.data(), static_cast<int64_t>(list.size()));
    }
  });
}

// y [N,S,S,L.out_c] = conv(x [N,S,S,L.in_c]) (+ epilogue when ep), max pooled by tiling windows
// pool_fh x pool_fw when pool_fh > 0.
void RunForward(int64_t N, int S, const float* x, const PatternLayout& L, const Epilogue* ep, float* y,
                int64_t pool_fh = 0, int64_t pool_fw = 0, const BatchNormRows* x_bn = nullptr,
                const BatchNormGradDx* x_rows = nullptr) {
  const IsaKernels& K = ActiveKernels();
  TinyArgs a{};
  a.L = &L;
  a.side = S;
  a.lanes = TinyLanes(N);
  const std::vector<int16_t> sid = GroupSids(L);
  a.group_sid = sid.data();
  a.nb = (N + a.lanes - 1) / a.lanes;
  a.x = ToLanes(K, a.lanes, x, N, S, L.in_c, 0, x_bn, x_rows);
  a.stage = Buffer(1, static_cast<size_t>(a.nb * L.out_c * S * S * a.lanes));
  RunSlots(L, false, a);
  if (pool_fh > 0)
    FromLanesMaxPool(K, a.lanes, a.stage, N, S, L.out_c, ep, pool_fh, pool_fw, y);
  else
    FromLanes(K, a.lanes, a.stage, N, S, L.out_c, ep, y);
}

std::atomic<int64_t> g_grad_block_floats{0};
std::atomic<int> g_tiny_lanes{0};  // 8: 8-image lane groups only; 0: TinyLanes's rule

}  // namespace

namespace sparse_internal {

int TinyLanes(int64_t batch) {
  const bool wide = ActiveIsa() >= Isa::kAvx512 && g_tiny_lanes.load(std::memory_order_relaxed) != 8;
  return wide && batch >= 16 ? 16 : 8;
}

void SetTinyLanes(int lanes) { g_tiny_lanes.store(lanes == 8 ? 8 : 0); }

int64_t TinyGradBlockFloats() {
  const int64_t set = g_grad_block_floats.load(std::memory_order_relaxed);
  return set > 0 ? set : L2CacheBytes() * 3 / 8 / static_cast<int64_t>(sizeof(float));
}

void SetTinyGradBlockFloats(int64_t floats) { g_grad_block_floats.store(std::max<int64_t>(0, floats)); }

}  // namespace sparse_internal

bool TinyImageSupported(const Conv2DParams& p, const PatternLayout& L) {
  const bool side = (p.in_h == 2 || p.in_h == 4 || p.in_h == 8) && p.in_w == p.in_h && p.out_h == p.in_h &&
                    p.out_w == p.in_h;
  return p.filter_h == 3 && p.filter_w == 3 && p.stride_h == 1 && p.stride_w == 1 &&
         p.dilation_h == 1 && p.dilation_w == 1 && side && p.pad_top == 1 && p.pad_left == 1 &&
         p.batch >= kLanes &&
         L.in_c == p.in_c && L.out_c == p.out_c && AllFourEntry(L);  // (rotations keep 4 entries)
}

void SparseTinyImageForward(const Conv2DParams& p, const float* x, const PatternLayout& L,
                            const Epilogue& ep, float* y, const BatchNormRows* x_bn) {
  if (!TinyImageSupported(p, L)) throw std::invalid_argument("SparseTinyImageForward: unsupported call");
  RunForward(p.batch, static_cast<int>(p.in_h), x, L, &ep, y, 0, 0, x_bn);
}

void SparseTinyImageForwardMaxPool(const Conv2DParams& p, const float* x, const PatternLayout& L,
                                   const Epilogue& ep, const Conv2DParams& pool, float* y) {
  if (!TinyImageSupported(p, L) || !PoolWindowsTileInput(pool) || pool.filter_h * pool.filter_w < 2 ||
      pool.batch != p.batch || pool.in_h != p.out_h || pool.in_w != p.out_w || pool.in_c != p.out_c)
    throw std::invalid_argument("SparseTinyImageForwardMaxPool: unsupported call");
  RunForward(p.batch, static_cast<int>(p.in_h), x, L, &ep, y, pool.filter_h, pool.filter_w);
}

void SparseTinyImageBackpropInput(const Conv2DParams& p, const float* dy, const PatternLayout& L,
                                  float* dx, const BatchNormGradDx* dy_rows) {
  if (!TinyImageSupported(p, L) || !L.transposed || (dy_rows && dy_rows->channels() != p.out_c))
    throw std::invalid_argument("SparseTinyImageBackpropInput: unsupported call");
  // Stride 1, padding 1, same size: the transposed conv is the same geometry (padding 2 - 1).
  RunForward(p.batch, static_cast<int>(p.in_h), dy, *L.transposed, nullptr, dx, 0, 0, nullptr, dy_rows);
}

void SparseTinyImageBackpropFilter(const Conv2DParams& p, const float* x, const float* dy,
                                   const PatternLayout& L, float* out_values, const BatchNormRows* x_bn,
                                   const BatchNormGradDx* dy_rows) {
  if (dy_rows && dy_rows->channels() != p.out_c)
    throw std::invalid_argument("SparseTinyImageBackpropFilter: the batch norm gradient's channels must be out_c");
  if (!TinyImageSupported(p, L)) throw std::invalid_argument("SparseTinyImageBackpropFilter: unsupported call");
  const IsaKernels& K = ActiveKernels();
  TinyArgs a{};
  a.L = &L;
  a.side = static_cast<int>(p.in_h);
  a.lanes = TinyLanes(p.batch);
  const std::vector<int16_t> sid = GroupSids(L);
  a.group_sid = sid.data();
  a.nb = (p.batch + a.lanes - 1) / a.lanes;
  a.x = ToLanes(K, a.lanes, x, p.batch, a.side, L.in_c, 0, x_bn);
  a.dy = ToLanes(K, a.lanes, dy, p.batch, a.side, L.out_c, 2, nullptr, dy_rows);
  a.out_values = out_values;
  a.grad_block_floats = TinyGradBlockFloats();
  RunSlots(L, true, a);
}

}  // namespace clicktrain
