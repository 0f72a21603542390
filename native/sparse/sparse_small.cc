#include "sparse/sparse_small.h"

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <vector>

#include "common/thread_pool.h"
#include "sparse/sparse_internal.h"

namespace clicktrain {
namespace {

struct SmallRows {
  std::vector<uint16_t> rows;  // kernel k's col rows (tap * in_c + ic): rows[4k .. 4k+4)
};

// The 4-entry fast loop's plan, cached per layout (the structure never changes while frozen);
// null when a kernel has another size or the rows do not fit 16 bits. Resolving pattern -> taps
// -> row per kernel inside the loop cost 25% of a batch-1 2x2x512 layer. (Walking each filter's
// kernels by input channel instead of the layout's (pattern, ic) order, so that the col rows
// read move forward together, measured 10% slower: the values are then read out of order.)
constexpr int kSmallRowsKind = 1;
std::shared_ptr<const SmallRows> CachedRows(const PatternLayout& L) {
  if (9 * static_cast<int64_t>(L.in_c) > 65535) return nullptr;
  for (int32_t n : L.pattern_size)
    if (n != 4) return nullptr;
  auto plan = L.plan_cache.Get<SmallRows>(
      kSmallRowsKind, [](const SmallRows&) { return true; },
      [&] {
        auto R = std::make_shared<SmallRows>();
        const int64_t nk = L.NumKernels();
        bool ok = true;
        R->rows.resize(static_cast<size_t>(4 * nk));
        for (int64_t k = 0; k < nk && ok; ++k) {
          ok = L.kernel_value_begin[k] == 4 * k;
          const uint16_t mask = L.patterns[L.kernel_pattern[k]];
          int n = 0;
          for (int bit = 0; bit < 9; ++bit)
            if (mask >> bit & 1) R->rows[4 * k + n++] = static_cast<uint16_t>(bit * L.in_c + L.kernel_ic[k]);
        }
        if (!ok) R->rows.clear();
        return std::shared_ptr<const SmallRows>(std::move(R));
      });
  return plan->rows.empty() ? nullptr : plan;
}

}  // namespace

void SparseSmallImageForward(const Conv2DParams& p, const float* x, const PatternLayout& L,
                             const Epilogue& ep, float* y) {
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  if (pixels <= 0 || L.out_c <= 0) return;
  if (pixels > kSmallImageMaxPixels || p.dilation_h != 1 || p.dilation_w != 1)
    throw std::invalid_argument("SparseSmallImageForward: more than kSmallImageMaxPixels output pixels or dilation");
  const int vecs = static_cast<int>((pixels + 7) / 8);
  const int64_t lanes = vecs * 8, in_c = L.in_c;
  // col[(tap * in_c + ic) * lanes + px]: the input under tap (kh, kw) of output pixel px (zero for
  // padding and for lanes past the last pixel). Written in blocks of (tap, 64 channels) across the
  // threads, each row of `lanes` floats in one go from the pixels' own rows of x (read
  // sequentially, one stream per pixel). This ran on the calling thread alone, scattered one
  // float per pixel row, after zeroing the whole buffer: as long as the kernels themselves at
  // 4x4x512 (batch 1, 75% connectivity pruning).
  thread_local std::vector<float> col_buf;
  col_buf.resize(static_cast<size_t>(9 * in_c * lanes));
  float* col = col_buf.data();
  thread_local std::vector<float> zeros;  // never written: grows only
  if (zeros.size() < static_cast<size_t>(in_c)) zeros.resize(static_cast<size_t>(in_c), 0.f);
  static_assert(kSmallImageMaxPixels % 8 == 0, "lanes (whole vectors of 8) never exceed kSmallImageMaxPixels");
  const float* src[9][kSmallImageMaxPixels];
  for (int tap = 0; tap < 9; ++tap)
    for (int64_t px = 0; px < lanes; ++px) {
      src[tap][px] = zeros.data();
      if (px >= pixels) continue;
      const int64_t b = px / (p.out_h * p.out_w), oh = px / p.out_w % p.out_h, ow = px % p.out_w;
      const int64_t ih = oh * p.stride_h - p.pad_top + tap / 3, iw = ow * p.stride_w - p.pad_left + tap % 3;
      if (ih >= 0 && ih < p.in_h && iw >= 0 && iw < p.in_w) src[tap][px] = x + ((b * p.in_h + ih) * p.in_w + iw) * in_c;
    }
  constexpr int64_t kChanBlock = 64;
  const int64_t cblocks = (in_c + kChanBlock - 1) / kChanBlock;
  ParallelFor(9 * cblocks, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int tap = static_cast<int>(i / cblocks);
      const int64_t c0 = i % cblocks * kChanBlock, c1 = std::min(in_c, c0 + kChanBlock);
      const float* const* s = src[tap];
      for (int64_t ic = c0; ic < c1; ++ic) {
        float* d = col + (tap * in_c + ic) * lanes;
        for (int64_t px = 0; px < lanes; ++px) d[px] = s[px][ic];
      }
    }
  });
  std::vector<int8_t> taps(L.patterns.size() * 9, 0);
  for (size_t pat = 0; pat < L.patterns.size(); ++pat) {
    int n = 0;
    for (int bit = 0; bit < 9; ++bit)
      if (L.patterns[pat] & (1u << bit)) taps[pat * 9 + n++] = static_cast<int8_t>(bit);
  }
  const std::shared_ptr<const SmallRows> rows = CachedRows(L);
  sparse_internal::SmallSlotArgs a{&L, col, taps.data(), rows ? rows->rows.data() : nullptr, vecs, pixels, y};
  const Isa isa = ActiveIsa();
  auto fn = isa >= Isa::kAvx512 ? sparse_internal::SmallSlotsAvx512
            : isa >= Isa::kAvx2 ? sparse_internal::SmallSlotsAvx2
                                : sparse_internal::SmallSlotsGeneric;
  ParallelFor(L.out_c, 16, [&](int64_t s0, int64_t s1) { fn(a, s0, s1); });
  ApplyEpilogue(ep, pixels, L.out_c, y);
}

}  // namespace clicktrain
