// Dense convolution as implicit GEMM (no im2col buffer): C[M,N] = A[M,K] * B[K,N], A gathered from the
// NHWC activations on the fly, B and C plain row-major.
//   forward:         M = n*oh*ow,    N = oc, K = fh*fw*c;  A = x patches,  B = filter (HWIO),   C = y
//   backprop input:  M = n*h*w,      N = c,  K = fh*fw*oc; A = dy taps,    B = filter^T [fh,fw,oc,c], C = dx
//   backprop filter: M = fh*fw*c,    N = oc, K = n*oh*ow;  A = x patches^T, B = dy,          C = dfilter
// Block tile BM x BN x 8, 256 threads, double-buffered shared memory, register prefetch of the next
// tile. FP32: 16x16 threads, each an (BM/16)x(BN/16) register tile. TF32: 8 warps of wmma 16x16x8.
#include <mma.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda/cuda_kernels.h"

namespace clicktrain {
namespace cuda {

void CheckCuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(err));
}

ConvGeom ToGeom(const Conv2DParams& p) {
  const int64_t lim = (int64_t(1) << 31) - 1;
  const int64_t big[] = {p.InputSize(), p.OutputSize(), p.FilterSize(),
                         p.batch * p.in_h * p.in_w, p.batch * p.out_h * p.out_w};
  for (int64_t v : big)
    if (v > lim) throw std::invalid_argument("cuda conv2d: tensor too large for 32-bit indexing");
  ConvGeom g;
  g.n = int(p.batch); g.h = int(p.in_h); g.w = int(p.in_w); g.c = int(p.in_c);
  g.oh = int(p.out_h); g.ow = int(p.out_w); g.oc = int(p.out_c);
  g.fh = int(p.filter_h); g.fw = int(p.filter_w);
  g.sh = int(p.stride_h); g.sw = int(p.stride_w); g.dh = int(p.dilation_h); g.dw = int(p.dilation_w);
  g.pt = int(p.pad_top); g.pl = int(p.pad_left);
  return g;
}

namespace {

constexpr int kBK = 8;
constexpr int kThreads = 256;

enum class Pass { kForward, kBackpropInput, kBackpropFilter };

// Index pieces: a GEMM row or column decomposes into (b, h, w, c) parts; A(m, k) combines one of each.
struct Idx {
  int b, h, w, c;
  bool ok;
};

template <Pass P>
struct AOperand {
  // Row m of A.
  __device__ static Idx Row(const ConvGeom& g, int m, int M) {
    Idx r{0, 0, 0, 0, m < M};
    if (!r.ok) return r;
    if (P == Pass::kForward) {  // m = (b, oh, ow)
      const int ow = m % g.ow, t = m / g.ow;
      r.b = t / g.oh; r.h = (t % g.oh) * g.sh - g.pt; r.w = ow * g.sw - g.pl;
    } else if (P == Pass::kBackpropInput) {  // m = (b, ih, iw)
      const int iw = m % g.w, t = m / g.w;
      r.b = t / g.h; r.h = (t % g.h) + g.pt; r.w = iw + g.pl;
    } else {  // m = (kh, kw, ic)
      r.c = m % g.c; const int t = m / g.c;
      r.h = (t / g.fw) * g.dh; r.w = (t % g.fw) * g.dw;
    }
    return r;
  }
  // Column k of A.
  __device__ static Idx Col(const ConvGeom& g, int k, int K) {
    Idx q{0, 0, 0, 0, k < K};
    if (!q.ok) return q;
    if (P == Pass::kForward) {  // k = (kh, kw, ic)
      q.c = k % g.c; const int t = k / g.c;
      q.h = (t / g.fw) * g.dh; q.w = (t % g.fw) * g.dw;
    } else if (P == Pass::kBackpropInput) {  // k = (kh, kw, oc)
      q.c = k % g.oc; const int t = k / g.oc;
      q.h = (t / g.fw) * g.dh; q.w = (t % g.fw) * g.dw;
    } else {  // k = (b, oh, ow)
      const int ow = k % g.ow, t = k / g.ow;
      q.b = t / g.oh; q.h = (t % g.oh) * g.sh - g.pt; q.w = ow * g.sw - g.pl;
    }
    return q;
  }
  __device__ static float Load(const ConvGeom& g, const float* __restrict__ a, const Idx& r, const Idx& q) {
    if (!(r.ok && q.ok)) return 0.f;
    if (P == Pass::kBackpropInput) {
      const int th = r.h - q.h, tw = r.w - q.w;  // = oh * sh, ow * sw when the tap hits an output
      if (th < 0 || tw < 0) return 0.f;
      if (g.sh != 1 && th % g.sh) return 0.f;
      if (g.sw != 1 && tw % g.sw) return 0.f;
      const int oh = th / g.sh, ow = tw / g.sw;
      if (oh >= g.oh || ow >= g.ow) return 0.f;
      return __ldg(a + ((size_t(r.b) * g.oh + oh) * g.ow + ow) * g.oc + q.c);
    }
    const int ih = r.h + q.h, iw = r.w + q.w;
    if (unsigned(ih) >= unsigned(g.h) || unsigned(iw) >= unsigned(g.w)) return 0.f;
    const int b = r.b + q.b, c = r.c + q.c;
    return __ldg(a + ((size_t(b) * g.h + ih) * g.w + iw) * g.c + c);
  }
};

// Loads of one BK-slice into registers. A is read k-fastest (forward, backprop input: channels are
// contiguous along k) or m-fastest (backprop filter: channels contiguous along m).
template <int BM, int BN, Pass P>
struct TileLoader {
  static constexpr bool kMFast = P == Pass::kBackpropFilter;
  static constexpr int kALoads = BM * kBK / kThreads;
  static constexpr int kBLoads = BN * kBK / kThreads;
  Idx rows[kMFast ? 1 : kALoads];
  float ra[kALoads], rb[kBLoads];
  int m0, n0, M, N, K;

  __device__ void Init(const ConvGeom& g, int tid) {
    if (kMFast) {
      rows[0] = AOperand<P>::Row(g, m0 + tid % BM, M);
    } else {
#pragma unroll
      for (int i = 0; i < kALoads; ++i) rows[i] = AOperand<P>::Row(g, m0 + tid / kBK + i * (kThreads / kBK), M);
    }
  }
  __device__ void Load(const ConvGeom& g, const float* __restrict__ a, const float* __restrict__ b,
                       int k0, int kend, int tid) {
    if (kMFast) {
#pragma unroll
      for (int i = 0; i < kALoads; ++i) {
        const int k = k0 + tid / BM + i * (kThreads / BM);
        ra[i] = AOperand<P>::Load(g, a, rows[0], AOperand<P>::Col(g, k, kend));
      }
    } else {
      const Idx q = AOperand<P>::Col(g, k0 + tid % kBK, kend);
#pragma unroll
      for (int i = 0; i < kALoads; ++i) ra[i] = AOperand<P>::Load(g, a, rows[i], q);
    }
#pragma unroll
    for (int i = 0; i < kBLoads; ++i) {
      const int k = k0 + tid / BN + i * (kThreads / BN), n = n0 + tid % BN;
      rb[i] = (k < kend && n < N) ? __ldg(b + size_t(k) * N + n) : 0.f;
    }
  }
  __device__ void Store(float (*as)[BM], float (*bs)[BN], int tid) const {
#pragma unroll
    for (int i = 0; i < kALoads; ++i) {
      if (kMFast) as[tid / BM + i * (kThreads / BM)][tid % BM] = ra[i];
      else as[tid % kBK][tid / kBK + i * (kThreads / kBK)] = ra[i];
    }
#pragma unroll
    for (int i = 0; i < kBLoads; ++i) bs[tid / BN + i * (kThreads / BN)][tid % BN] = rb[i];
  }
};

// T/2 contiguous floats from each of two shared-memory halves (float4 or float2 vector loads).
template <int T>
__device__ __forceinline__ void LoadHalves(float* f, const float* lo, const float* hi) {
  if constexpr (T / 2 % 4 == 0) {
#pragma unroll
    for (int i = 0; i < T / 2; i += 4) {
      const float4 v0 = *reinterpret_cast<const float4*>(lo + i);
      const float4 v1 = *reinterpret_cast<const float4*>(hi + i);
      f[i] = v0.x; f[i + 1] = v0.y; f[i + 2] = v0.z; f[i + 3] = v0.w;
      f[T / 2 + i] = v1.x; f[T / 2 + i + 1] = v1.y; f[T / 2 + i + 2] = v1.z; f[T / 2 + i + 3] = v1.w;
    }
  } else {
#pragma unroll
    for (int i = 0; i < T / 2; i += 2) {
      const float2 v0 = *reinterpret_cast<const float2*>(lo + i);
      const float2 v1 = *reinterpret_cast<const float2*>(hi + i);
      f[i] = v0.x; f[i + 1] = v0.y;
      f[T / 2 + i] = v1.x; f[T / 2 + i + 1] = v1.y;
    }
  }
}

__device__ __forceinline__ void StoreC(float* c, int N, int m, int n, int M, float v, bool atomic) {
  if (m < M && n < N) {
    if (atomic) atomicAdd(c + size_t(m) * N + n, v);
    else c[size_t(m) * N + n] = v;
  }
}

// grid: (ceil(N/BN), ceil(M/BM), splits). Split z covers K range [z*kchunk, (z+1)*kchunk).
template <int BM, int BN, Pass P, bool kTf32>
__global__ void __launch_bounds__(kThreads)
ImplicitGemmKernel(ConvGeom g, const float* __restrict__ a, const float* __restrict__ b,
                   float* __restrict__ c, int M, int N, int K, int kchunk, bool atomic) {
  __shared__ __align__(32) float as[2][kBK][BM];
  __shared__ __align__(32) float bs[2][kBK][BN];
  const int tid = threadIdx.x;
  TileLoader<BM, BN, P> ld;
  ld.m0 = blockIdx.y * BM; ld.n0 = blockIdx.x * BN; ld.M = M; ld.N = N; ld.K = K;
  const int kbeg = blockIdx.z * kchunk, kend = min(K, kbeg + kchunk);
  ld.Init(g, tid);
  const int ntiles = kend > kbeg ? (kend - kbeg + kBK - 1) / kBK : 0;

  if (!kTf32) {
    constexpr int TM = BM / 16, TN = BN / 16;
    float acc[TM][TN] = {};
    const int tx = tid % 16, ty = tid / 16;
    if (ntiles > 0) {
      ld.Load(g, a, b, kbeg, kend, tid);
      ld.Store(as[0], bs[0], tid);
    }
    __syncthreads();
    for (int t = 0; t < ntiles; ++t) {
      const int cur = t & 1;
      if (t + 1 < ntiles) ld.Load(g, a, b, kbeg + (t + 1) * kBK, kend, tid);
#pragma unroll
      for (int kk = 0; kk < kBK; ++kk) {
        float fa[TM], fb[TN];
        // Rows ty*(TM/2) + {0..TM/2-1} and BM/2 + the same; columns likewise: conflict-free float4s.
        LoadHalves<TM>(fa, &as[cur][kk][ty * (TM / 2)], &as[cur][kk][BM / 2 + ty * (TM / 2)]);
        LoadHalves<TN>(fb, &bs[cur][kk][tx * (TN / 2)], &bs[cur][kk][BN / 2 + tx * (TN / 2)]);
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(fa[i], fb[j], acc[i][j]);
      }
      if (t + 1 < ntiles) ld.Store(as[cur ^ 1], bs[cur ^ 1], tid);
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int m = ld.m0 + (i < TM / 2 ? ty * (TM / 2) + i : BM / 2 + ty * (TM / 2) + i - TM / 2);
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        const int n = ld.n0 + (j < TN / 2 ? tx * (TN / 2) + j : BN / 2 + tx * (TN / 2) + j - TN / 2);
        StoreC(c, N, m, n, M, acc[i][j], atomic);
      }
    }
  } else {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    using namespace nvcuda;
    constexpr int WM = BM / 2, WN = BN / 4, FM = WM / 16, FN = WN / 16;
    __shared__ __align__(32) float scratch[kThreads / 32][16 * 16];
    const int warp = tid / 32, lane = tid % 32;
    const int wm = (warp / 4) * WM, wn = (warp % 4) * WN;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[FM][FN];
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.f);
    if (ntiles > 0) {
      ld.Load(g, a, b, kbeg, kend, tid);
      ld.Store(as[0], bs[0], tid);
    }
    __syncthreads();
    for (int t = 0; t < ntiles; ++t) {
      const int cur = t & 1;
      if (t + 1 < ntiles) ld.Load(g, a, b, kbeg + (t + 1) * kBK, kend, tid);
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fa[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb[FN];
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        wmma::load_matrix_sync(fa[i], &as[cur][0][wm + i * 16], BM);
#pragma unroll
        for (int e = 0; e < fa[i].num_elements; ++e) fa[i].x[e] = wmma::__float_to_tf32(fa[i].x[e]);
      }
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        wmma::load_matrix_sync(fb[j], &bs[cur][0][wn + j * 16], BN);
#pragma unroll
        for (int e = 0; e < fb[j].num_elements; ++e) fb[j].x[e] = wmma::__float_to_tf32(fb[j].x[e]);
      }
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
      if (t + 1 < ntiles) ld.Store(as[cur ^ 1], bs[cur ^ 1], tid);
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        wmma::store_matrix_sync(scratch[warp], acc[i][j], 16, wmma::mem_row_major);
        __syncwarp();
        for (int e = lane; e < 256; e += 32)
          StoreC(c, N, ld.m0 + wm + i * 16 + e / 16, ld.n0 + wn + j * 16 + e % 16, M, scratch[warp][e], atomic);
        __syncwarp();
      }
#endif
  }
}

__global__ void TransposeFilterKernel(const float* __restrict__ w, float* __restrict__ wt, int taps, int c,
                                      int oc) {
  // w [taps, c, oc] -> wt [taps, oc, c]
  const size_t total = size_t(taps) * c * oc;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    const int ic = int(i % c);
    const size_t t = i / c;
    const int o = int(t % oc);
    const int tap = int(t / oc);
    wt[i] = w[(size_t(tap) * c + ic) * oc + o];
  }
}

// 128x128 tiles when they alone give every SM a block, else 64x64 tiles; either way split along K
// (atomics into a zeroed C) until the grid has target_blocks blocks, keeping >= 256 of K per split.
template <Pass P>
void LaunchGemm(const ConvGeom& g, const float* a, const float* b, float* c, int M, int N, int K, bool tf32,
                int num_sms, int64_t target_blocks, cudaStream_t stream) {
  if (M <= 0 || N <= 0) return;
  const int64_t t128 = int64_t((M + 127) / 128) * ((N + 127) / 128), t64 = int64_t((M + 63) / 64) * ((N + 63) / 64);
  const bool big = N > 64 && M >= 128 && t128 >= std::max(num_sms, 1);
  const int64_t tiles = big ? t128 : t64;
  int64_t splits = 1;
  if (tiles < target_blocks) splits = std::min<int64_t>((target_blocks + tiles - 1) / tiles, std::max(1, K / 256));
  splits = std::min<int64_t>(splits, 65535);
  int kchunk = K;
  if (splits > 1) kchunk = int(((K + splits - 1) / splits + kBK - 1) / kBK * kBK);
  const int zs = splits > 1 ? (K + kchunk - 1) / kchunk : 1;
  const bool atomic = zs > 1;
  if (atomic) CheckCuda(cudaMemsetAsync(c, 0, sizeof(float) * size_t(M) * N, stream), "memset split-K output");
  auto launch = [&](auto kernel, int bm, int bn) {
    dim3 grid((N + bn - 1) / bn, (M + bm - 1) / bm, zs);
    if (grid.y > 65535) throw std::invalid_argument("cuda conv2d: too many GEMM rows");
    kernel<<<grid, kThreads, 0, stream>>>(g, a, b, c, M, N, K, kchunk, atomic);
  };
  if (big) {
    if (tf32) launch(ImplicitGemmKernel<128, 128, P, true>, 128, 128);
    else launch(ImplicitGemmKernel<128, 128, P, false>, 128, 128);
  } else {
    if (tf32) launch(ImplicitGemmKernel<64, 64, P, true>, 64, 64);
    else launch(ImplicitGemmKernel<64, 64, P, false>, 64, 64);
  }
  CheckCuda(cudaGetLastError(), "implicit GEMM launch");
}

}  // namespace

void LaunchDenseForward(const ConvGeom& g, const float* x, const float* filter, float* y, bool tf32,
                        int num_sms, cudaStream_t stream) {
  const int M = g.n * g.oh * g.ow, N = g.oc, K = g.fh * g.fw * g.c;
  if (M > 0 && N > 0 && K == 0) {
    CheckCuda(cudaMemsetAsync(y, 0, sizeof(float) * size_t(M) * N, stream), "memset y");
    return;
  }
  LaunchGemm<Pass::kForward>(g, x, filter, y, M, N, K, tf32, num_sms, 2 * int64_t(num_sms), stream);
}

void LaunchDenseBackpropInput(const ConvGeom& g, const float* dy, const float* filter, float* filter_t,
                              float* dx, bool tf32, int num_sms, cudaStream_t stream) {
  const int M = g.n * g.h * g.w, N = g.c, K = g.fh * g.fw * g.oc;
  if (M > 0 && N > 0 && K == 0) {
    CheckCuda(cudaMemsetAsync(dx, 0, sizeof(float) * size_t(M) * N, stream), "memset dx");
    return;
  }
  if (M <= 0 || N <= 0) return;
  const size_t total = size_t(g.fh) * g.fw * g.c * g.oc;
  const int blocks = int(std::min<size_t>((total + 255) / 256, 4096));
  TransposeFilterKernel<<<blocks, 256, 0, stream>>>(filter, filter_t, g.fh * g.fw, g.c, g.oc);
  CheckCuda(cudaGetLastError(), "filter transpose launch");
  LaunchGemm<Pass::kBackpropInput>(g, dy, filter_t, dx, M, N, K, tf32, num_sms, 2 * int64_t(num_sms), stream);
}

void LaunchDenseBackpropFilter(const ConvGeom& g, const float* x, const float* dy, float* dfilter,
                               bool tf32, int num_sms, cudaStream_t stream) {
  const int M = g.fh * g.fw * g.c, N = g.oc, K = g.n * g.oh * g.ow;
  if (M <= 0 || N <= 0) return;
  if (K == 0) {
    CheckCuda(cudaMemsetAsync(dfilter, 0, sizeof(float) * size_t(M) * N, stream), "memset dfilter");
    return;
  }
  // The reduction runs over every output pixel: split it until ~4 blocks per SM.
  LaunchGemm<Pass::kBackpropFilter>(g, x, dy, dfilter, M, N, K, tf32, num_sms, 4 * int64_t(std::max(num_sms, 1)), stream);
}

}  // namespace cuda
}  // namespace clicktrain
