// Dense conv2d via im2col + Sgemm in bounded chunks of output rows.
//   forward:         y[M x out_c] = col[M x K] * W[K x out_c], epilogue per chunk (K = fh*fw*in_c)
//   backprop input:  stride 1 -> forward conv of dy with the rotated, in/out-swapped filter;
//                    otherwise dcol = dy * W^T, then a race-free col2im (one thread per dx row)
//   backprop filter: dW = sum over chunks of col^T * dy (beta = 1 after the first chunk)
// Inputs with few channels (RGB first layers) take direct kernels instead (conv2d_small_channels.h).
#include "dense/conv2d.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "common/thread_scratch.h"
#include "dense/conv2d_internal.h"
#include "dense/conv2d_small_channels.h"
#include "dense/epilogue_internal.h"
#include "dense/gemm.h"

namespace clicktrain {
namespace {

// Scratch for one im2col chunk. Small chunks stay in the last-level cache between the im2col
// write and the GEMM read; the hard cap bounds memory for huge K.
constexpr int64_t kColTargetFloats = (int64_t(4) << 20) / 4;   // 4 MiB
constexpr int64_t kColMaxFloats = (int64_t(16) << 20) / 4;     // 16 MiB

// With OpenBLAS on its own threads (CLICKTRAIN_OPENBLAS_THREADS=openblas), those threads keep
// spinning for a while after each call; waking our pool right after one makes the two sets of
// threads fight over the cores (measured: 2-thread conv fell to a fraction of the sgemm rate). So
// then the im2col / col2im / epilogue helpers run on the calling thread and OpenBLAS does all the
// threading; CLICKTRAIN_CONV_AUX_PARALLEL=1 restores the pooled helpers (for measurements). By
// default OpenBLAS runs inside the pool (OpenBlasOnPool) and the helpers are pooled.
bool AuxSerial() {
#ifdef CLICKTRAIN_HAVE_OPENBLAS
  static const bool serial = [] {
    const char* e = std::getenv("CLICKTRAIN_CONV_AUX_PARALLEL");
    return !OpenBlasOnPool() && !(e && e[0] == '1');
  }();
  return serial;
#else
  return false;
#endif
}

void AuxFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (AuxSerial()) {
    fn(0, n);
  } else {
    ParallelFor(n, grain, fn);
  }
}

void Epi(const Epilogue& ep, int64_t rows, int64_t channels, float* data) {
  if (AuxSerial()) {
    ApplyEpilogueSerial(ep, rows, channels, data);
  } else {
    ApplyEpilogue(ep, rows, channels, data);
  }
}

// Two ways to run the im2col GEMMs:
//  tiled:   every pool thread takes its own block of output rows, im2cols it into private scratch
//           (a few hundred KB, stays in L2) and multiplies it with the built-in SgemmSerial, with
//           the epilogue applied while the tile is hot. No serial phases, one thread pool.
//  chunked: im2col of a large chunk, then one threaded Sgemm (OpenBLAS when linked) per chunk.
// CLICKTRAIN_CONV_GEMM=tiled|chunked overrides the default (for measurements).
// Measured with bench_dense (CIFAR shapes, batch 32, same run): with OpenBLAS on 1 thread, chunked
// reached 75-91% of the sgemm rate and tiled 47-78% (the built-in kernel is ~10-15% slower than
// OpenBLAS's, and each tile repacks the whole filter). On 2 threads chunked's serial im2col holds
// the small-filter layers back: 32x32x64 forward 44% chunked vs 69% tiled, 16x16x128 62% vs 79%,
// while 8x8x256 (78% vs 71%) and 4x4x512 (80% vs 68%) stay chunked. Without OpenBLAS, tiled wins
// while the filter is small (first layers) and chunked once the filter no longer fits in L2.
std::atomic<int> g_strategy{0};

int EnvStrategy() {
  static const int v = [] {
    const char* e = std::getenv("CLICKTRAIN_CONV_GEMM");
    if (e && std::string(e) == "tiled") return 1;
    if (e && std::string(e) == "chunked") return 2;
    return 0;
  }();
  return v;
}

int Strategy() {
  const int s = g_strategy.load(std::memory_order_relaxed);
  return s != 0 ? s : EnvStrategy();
}

// The direct small-channel kernels unless a GEMM strategy is forced (tests and benches force one
// to run the GEMM paths on the same shapes).
bool UseSmallChannels(const Conv2DParams& p) { return Strategy() == 0 && SmallChannelsConvApplies(p); }

bool UseTiled(int64_t K, int64_t N) {
  const int s = Strategy();
  if (s != 0) return s == 1;
#ifdef CLICKTRAIN_HAVE_OPENBLAS
  return NumThreads() > 1 && K * N <= (int64_t(256) << 10);
#else
  return K * N <= (int64_t(128) << 10);
#endif
}

// Rows per tile: ~kTileFloats of col scratch, at least 48 rows, and enough tiles for the threads.
constexpr int64_t kTileFloats = (int64_t(512) << 10) / 4;  // 512 KiB
int64_t TileRows(int64_t M, int64_t K, int threads) {
  int64_t rows = std::max<int64_t>(48, kTileFloats / std::max<int64_t>(K, 1));
  rows = std::min(rows, (M + threads - 1) / threads);
  return std::max<int64_t>(1, rows);
}

bool IsPointwise(const Conv2DParams& p) {
  return p.filter_h == 1 && p.filter_w == 1 && p.stride_h == 1 && p.stride_w == 1 &&
         p.pad_top == 0 && p.pad_left == 0 && p.out_h == p.in_h && p.out_w == p.in_w;
}

int64_t ChunkRows(int64_t total_rows, int64_t row_floats, int64_t min_rows) {
  if (row_floats <= 0) return std::max<int64_t>(total_rows, 1);
  int64_t rows = kColTargetFloats / row_floats;
  rows = std::max(rows, min_rows);
  rows = std::min(rows, std::max<int64_t>(1, kColMaxFloats / row_floats));
  return std::max<int64_t>(1, std::min(rows, total_rows));
}

void ZeroParallel(float* data, int64_t n) {
  AuxFor(n, int64_t(1) << 16, [&](int64_t b, int64_t e) {
    std::memset(data + b, 0, static_cast<size_t>(e - b) * sizeof(float));
  });
}

// Writes col rows for flattened output positions [r0, r1) (r = (b*out_h + oh)*out_w + ow); each
// row is the (kh, kw, ic) patch, zeros for taps outside the input. Pads may be negative here.
void Im2Col(const Conv2DParams& p, const float* x, int64_t r0, int64_t r1, float* col,
            bool serial = false) {
  const int64_t in_c = p.in_c, fw = p.filter_w;
  const int64_t K = p.filter_h * fw * in_c;
  if (K == 0) return;
  const int64_t plane = p.out_h * p.out_w;
  const size_t cbytes = static_cast<size_t>(in_c) * sizeof(float);
  auto body = [&](int64_t s, int64_t e) {
    for (int64_t r = r0 + s; r < r0 + e; ++r) {
      const int64_t b = r / plane, rem = r % plane;
      const int64_t oh = rem / p.out_w, ow = rem % p.out_w;
      float* dst = col + (r - r0) * K;
      const int64_t iw0 = ow * p.stride_w - p.pad_left;
      for (int64_t kh = 0; kh < p.filter_h; ++kh, dst += fw * in_c) {
        const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
        if (ih < 0 || ih >= p.in_h) {
          std::memset(dst, 0, static_cast<size_t>(fw) * cbytes);
          continue;
        }
        const float* src = x + ((b * p.in_h + ih) * p.in_w) * in_c;
        if (p.dilation_w == 1) {
          // Valid taps form one contiguous run of the input row.
          const int64_t lo = std::min(fw, std::max<int64_t>(0, -iw0));
          const int64_t hi = std::max(lo, std::min(fw, p.in_w - iw0));
          if (lo > 0) std::memset(dst, 0, static_cast<size_t>(lo) * cbytes);
          if (hi > lo)
            std::memcpy(dst + lo * in_c, src + (iw0 + lo) * in_c, static_cast<size_t>(hi - lo) * cbytes);
          if (hi < fw) std::memset(dst + hi * in_c, 0, static_cast<size_t>(fw - hi) * cbytes);
        } else {
          for (int64_t kw = 0; kw < fw; ++kw) {
            const int64_t iw = iw0 + kw * p.dilation_w;
            if (iw < 0 || iw >= p.in_w)
              std::memset(dst + kw * in_c, 0, cbytes);
            else
              std::memcpy(dst + kw * in_c, src + iw * in_c, cbytes);
          }
        }
      }
    }
  };
  if (serial) {
    body(0, r1 - r0);
  } else {
    AuxFor(r1 - r0, std::max<int64_t>(1, 4096 / K), body);
  }
}

// Forward conv without validation (pads may be negative: used by the stride-1 backprop input).
void ConvForwardImpl(const Conv2DParams& p, const float* x, const float* filter,
                     const Epilogue* ep, float* y) {
  const int64_t M = p.batch * p.out_h * p.out_w;
  const int64_t N = p.out_c;
  const int64_t K = p.filter_h * p.filter_w * p.in_c;
  if (M <= 0 || N <= 0) return;
  if (UseSmallChannels(p)) {
    SmallChannelsConvForward(p, x, filter, ep ? *ep : Epilogue{}, y);
    return;
  }
  if (IsPointwise(p)) {
    Sgemm(false, false, M, N, p.in_c, 1.f, x, std::max<int64_t>(p.in_c, 1), filter, N, 0.f, y, N);
    if (ep) Epi(*ep, M, N, y);
    return;
  }
  if (UseTiled(K, N) && K > 0) {
    const int64_t tile = TileRows(M, K, NumThreads());
    ParallelTasks((M + tile - 1) / tile, [&](int64_t t, int) {
      const int64_t r0 = t * tile, rows = std::min(tile, M - r0);
      float* col = ThreadScratch(ScratchSlot::kConvTile, rows * K);
      Im2Col(p, x, r0, r0 + rows, col, true);
      SgemmSerial(false, false, rows, N, K, 1.f, col, K, filter, N, 0.f, y + r0 * N, N);
      if (ep) ApplyEpilogueSerial(*ep, rows, N, y + r0 * N);
    });
    return;
  }
  const int64_t chunk = ChunkRows(M, K, 64);
  float* col = ThreadScratch(ScratchSlot::kConvCol, K > 0 ? chunk * K : 1);
  for (int64_t r0 = 0; r0 < M; r0 += chunk) {
    const int64_t rows = std::min(chunk, M - r0);
    Im2Col(p, x, r0, r0 + rows, col);
    Sgemm(false, false, rows, N, K, 1.f, col, std::max<int64_t>(K, 1), filter, N, 0.f,
          y + r0 * N, N);
    if (ep) Epi(*ep, rows, N, y + r0 * N);
  }
}

}  // namespace

void SetConvGemmStrategy(ConvGemmStrategy s) { g_strategy.store(static_cast<int>(s)); }

const char* ConvGemmStrategyName() {
  switch (g_strategy.load()) {
    case 1: return "tiled";
    case 2: return "chunked";
    default: return "default";
  }
}

void Conv2DForward(const Conv2DParams& p, const float* x, const float* filter, const Epilogue& ep,
                   float* y) {
  ValidateConv2DParams(p);
  ConvForwardImpl(p, x, filter, &ep, y);
}

void Conv2DBackpropInput(const Conv2DParams& p, const float* dy, const float* filter, float* dx) {
  ValidateConv2DParams(p);
  const int64_t dx_size = p.InputSize();
  if (dx_size <= 0) return;
  const int64_t out_rows = p.batch * p.out_h * p.out_w;
  const int64_t K = p.filter_h * p.filter_w * p.in_c;
  if (out_rows <= 0 || p.out_c <= 0 || K <= 0) {
    ZeroParallel(dx, dx_size);
    return;
  }
  const int64_t fh = p.filter_h, fw = p.filter_w, in_c = p.in_c, out_c = p.out_c;

  // Stride 1 with enough input channels: a forward conv of dy. With few input channels (a network's
  // first layer, 3) that conv's GEMM has N = in_c columns and ran at ~17 GFLOP/s; the col2im path
  // below multiplies with N = fh*fw*in_c instead (32x32, 3 <- 64 channels, batch 32: 6.0 -> 2.6 ms;
  // at 16 channels the forward conv is faster again, 5.6 vs 7.9 ms).
  constexpr int64_t kMinChannelsForFlippedConv = 16;
  if (p.stride_h == 1 && p.stride_w == 1 && in_c >= kMinChannelsForFlippedConv) {
    // dx = conv(dy, rot180(W) with in/out swapped), pads (f-1)*d - pad (may be negative).
    Conv2DParams q;
    q.batch = p.batch;
    q.in_h = p.out_h;
    q.in_w = p.out_w;
    q.in_c = out_c;
    q.out_h = p.in_h;
    q.out_w = p.in_w;
    q.out_c = in_c;
    q.filter_h = fh;
    q.filter_w = fw;
    q.stride_h = q.stride_w = 1;
    q.dilation_h = p.dilation_h;
    q.dilation_w = p.dilation_w;
    q.pad_top = (fh - 1) * p.dilation_h - p.pad_top;
    q.pad_left = (fw - 1) * p.dilation_w - p.pad_left;
    float* wr = ThreadScratch(ScratchSlot::kConvFilter, p.FilterSize());
    AuxFor(fh * fw, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t kh = t / fw, kw = t % fw;
        const float* src = filter + ((fh - 1 - kh) * fw + (fw - 1 - kw)) * in_c * out_c;
        float* dst = wr + t * out_c * in_c;
        // Tiled transpose: the naive loop's strided writes missed cache on every element and took
        // longer than the GEMM itself for 512x512 taps on small images.
        constexpr int64_t kTile = 16;
        for (int64_t i0 = 0; i0 < in_c; i0 += kTile)
          for (int64_t o0 = 0; o0 < out_c; o0 += kTile) {
            const int64_t i1 = std::min(in_c, i0 + kTile), o1 = std::min(out_c, o0 + kTile);
            for (int64_t oc = o0; oc < o1; ++oc)
              for (int64_t ic = i0; ic < i1; ++ic) dst[oc * in_c + ic] = src[ic * out_c + oc];
          }
      }
    });
    ConvForwardImpl(q, dy, wr, nullptr, dx);
    return;
  }

  // Strided (or few input channels): dcol = dy * W^T per chunk of whole output image rows, then
  // col2im gathered per dx row (each dx row is written by exactly one thread).
  ZeroParallel(dx, dx_size);
  const int64_t img_rows = p.batch * p.out_h;
  const int64_t chunk = ChunkRows(img_rows, p.out_w * K, 1);
  float* dcol = ThreadScratch(ScratchSlot::kConvCol, chunk * p.out_w * K);
  std::vector<int64_t> targets;  // b * in_h + ih of the dx rows a chunk touches
  for (int64_t g0 = 0; g0 < img_rows; g0 += chunk) {
    const int64_t g1 = std::min(img_rows, g0 + chunk);
    const int64_t rows = (g1 - g0) * p.out_w;
    Sgemm(false, true, rows, K, out_c, 1.f, dy + g0 * p.out_w * out_c, out_c, filter, out_c, 0.f,
          dcol, K);
    targets.clear();
    for (int64_t b = g0 / p.out_h; b <= (g1 - 1) / p.out_h; ++b) {
      const int64_t oh_lo = std::max(g0, b * p.out_h) - b * p.out_h;
      const int64_t oh_hi = std::min(g1, (b + 1) * p.out_h) - b * p.out_h;
      const int64_t ih_lo = std::max<int64_t>(0, oh_lo * p.stride_h - p.pad_top);
      const int64_t ih_hi = std::min<int64_t>(
          p.in_h, (oh_hi - 1) * p.stride_h - p.pad_top + (fh - 1) * p.dilation_h + 1);
      for (int64_t ih = ih_lo; ih < ih_hi; ++ih) targets.push_back(b * p.in_h + ih);
    }
    const float* dc = dcol;
    AuxFor(static_cast<int64_t>(targets.size()), 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t b = targets[t] / p.in_h, ih = targets[t] % p.in_h;
        float* dxrow = dx + targets[t] * p.in_w * in_c;
        for (int64_t kh = 0; kh < fh; ++kh) {
          const int64_t tt = ih + p.pad_top - kh * p.dilation_h;
          if (tt < 0 || tt % p.stride_h != 0) continue;
          const int64_t oh = tt / p.stride_h;
          if (oh >= p.out_h) continue;
          const int64_t g = b * p.out_h + oh;
          if (g < g0 || g >= g1) continue;
          const float* src_row = dc + (g - g0) * p.out_w * K + kh * fw * in_c;
          for (int64_t ow = 0; ow < p.out_w; ++ow) {
            const float* src = src_row + ow * K;
            const int64_t iw0 = ow * p.stride_w - p.pad_left;
            for (int64_t kw = 0; kw < fw; ++kw) {
              const int64_t iw = iw0 + kw * p.dilation_w;
              if (iw < 0 || iw >= p.in_w) continue;
              float* d = dxrow + iw * in_c;
              const float* s = src + kw * in_c;
              for (int64_t c = 0; c < in_c; ++c) d[c] += s[c];
            }
          }
        }
      }
    });
  }
}

void Conv2DBackpropFilter(const Conv2DParams& p, const float* x, const float* dy, float* dfilter) {
  ValidateConv2DParams(p);
  const int64_t fsize = p.FilterSize();
  if (fsize <= 0) return;
  const int64_t M = p.batch * p.out_h * p.out_w;
  const int64_t K = p.filter_h * p.filter_w * p.in_c;
  const int64_t N = p.out_c;
  if (M <= 0) {
    ZeroParallel(dfilter, fsize);
    return;
  }
  if (UseSmallChannels(p)) {
    SmallChannelsConvBackpropFilter(p, x, dy, dfilter);
    return;
  }
  if (IsPointwise(p)) {
    Sgemm(true, false, K, N, M, 1.f, x, p.in_c, dy, N, 0.f, dfilter, N);
    return;
  }
  if (UseTiled(K, N)) {
    // Each part (a fixed, contiguous row range: deterministic) accumulates col^T * dy over its
    // tiles into its own dW copy; the copies are summed in order.
    const int threads = NumThreads();
    const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, M / 64));
    const int64_t tile = TileRows((M + parts - 1) / parts, K, 1);
    float* extra = parts > 1 ? ThreadScratch(ScratchSlot::kConvParts, (parts - 1) * fsize) : nullptr;
    ParallelTasks(parts, [&](int64_t part, int) {
      float* acc = part == 0 ? dfilter : extra + (part - 1) * fsize;
      const int64_t b = M * part / parts, e = M * (part + 1) / parts;
      float* col = ThreadScratch(ScratchSlot::kConvTile, std::min(tile, e - b) * K);
      for (int64_t r0 = b; r0 < e; r0 += tile) {
        const int64_t rows = std::min(tile, e - r0);
        Im2Col(p, x, r0, r0 + rows, col, true);
        SgemmSerial(true, false, K, N, rows, 1.f, col, K, dy + r0 * N, N, r0 == b ? 0.f : 1.f, acc, N);
      }
    });
    if (parts > 1) {
      ParallelFor(fsize, 4096, [&](int64_t i0, int64_t i1) {
        for (int64_t part = 1; part < parts; ++part) {
          const float* a = extra + (part - 1) * fsize;
          for (int64_t i = i0; i < i1; ++i) dfilter[i] += a[i];
        }
      });
    }
    return;
  }
  const int64_t chunk = ChunkRows(M, K, 64);
  float* col = ThreadScratch(ScratchSlot::kConvCol, chunk * K);
  for (int64_t r0 = 0; r0 < M; r0 += chunk) {
    const int64_t rows = std::min(chunk, M - r0);
    Im2Col(p, x, r0, r0 + rows, col);
    Sgemm(true, false, K, N, rows, 1.f, col, K, dy + r0 * N, N, r0 == 0 ? 0.f : 1.f,
          dfilter, N);
  }
}

bool Conv2DReadsDyRows(const Conv2DParams& p) { return UseSmallChannels(p); }

void Conv2DBackpropFilter(const Conv2DParams& p, const float* x, const BatchNormGradDx& dy, float* dfilter) {
  ValidateConv2DParams(p);
  if (dy.channels() != p.out_c)
    throw std::invalid_argument("conv2d backprop filter: the batch norm gradient's channels must be out_c");
  const int64_t rows = p.batch * p.out_h * p.out_w;
  if (p.FilterSize() > 0 && rows > 0 && UseSmallChannels(p)) {
    SmallChannelsConvBackpropFilter(p, x, nullptr, dfilter, &dy);
    return;
  }
  std::vector<float> d(static_cast<size_t>(std::max<int64_t>(rows * p.out_c, 0)));
  dy.All(rows, d.data());
  Conv2DBackpropFilter(p, x, d.data(), dfilter);
}

}  // namespace clicktrain
