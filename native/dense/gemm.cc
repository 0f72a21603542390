// Sgemm dispatch: OpenBLAS when linked (one caller at a time; concurrent callers fall back to the
// built-in kernels), otherwise a BLIS-style packed GEMM over per-ISA microkernels.
#include "dense/gemm.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "common/thread_scratch.h"
#include "dense/gemm_kernels.h"

#ifdef CLICKTRAIN_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace clicktrain {
namespace gemm_internal {
namespace {

constexpr int kGenMr = 4;
constexpr int kGenNr = 8;

// Portable 4 x 8 kernel: plain loops over a small accumulator array, which the compiler maps onto
// baseline SSE registers.
void GenericKernel4x8(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                      float alpha, float beta) {
  float acc[kGenMr][kGenNr];
  for (int i = 0; i < kGenMr; ++i)
    for (int j = 0; j < kGenNr; ++j) acc[i][j] = 0.f;
  for (int64_t p = 0; p < kc; ++p) {
    for (int i = 0; i < kGenMr; ++i) {
      const float av = a[i];
      for (int j = 0; j < kGenNr; ++j) acc[i][j] += av * b[j];
    }
    a += kGenMr;
    b += kGenNr;
  }
  for (int i = 0; i < kGenMr; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.f) {
      for (int j = 0; j < kGenNr; ++j) ci[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < kGenNr; ++j) ci[j] = alpha * acc[i][j] + beta * ci[j];
    }
  }
}

}  // namespace

const KernelInfo& GenericKernel() {
  static const KernelInfo info{kGenMr, kGenNr, 144, 256, 4096, &GenericKernel4x8,
                               "builtin-generic", nullptr};
  return info;
}

}  // namespace gemm_internal

namespace {

using gemm_internal::KernelInfo;

const KernelInfo& SelectKernel() {
  switch (ActiveIsa()) {
    case Isa::kAvx512: return gemm_internal::Avx512Kernel();
    case Isa::kAvx2: return gemm_internal::Avx2Kernel();
    default: return gemm_internal::GenericKernel();
  }
}

void ScaleC(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.f) {
      std::fill(ci, ci + n, 0.f);
    } else if (beta != 1.f) {
      for (int64_t j = 0; j < n; ++j) ci[j] *= beta;
    }
  }
}

// Packs rows [i0, i0 + mc) x depth [p0, p0 + kc) of op(A) into mr-row panels, zero-padded.
void PackA(int mr, bool trans, const float* a, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
           int64_t kc, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += mr) {
    const int rows = static_cast<int>(std::min<int64_t>(mr, mc - ir));
    if (!trans) {
      for (int i = 0; i < rows; ++i) {
        const float* src = a + (i0 + ir + i) * lda + p0;
        for (int64_t p = 0; p < kc; ++p) dst[p * mr + i] = src[p];
      }
      for (int i = rows; i < mr; ++i)
        for (int64_t p = 0; p < kc; ++p) dst[p * mr + i] = 0.f;
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = a + (p0 + p) * lda + i0 + ir;
        float* d = dst + p * mr;
        for (int i = 0; i < rows; ++i) d[i] = src[i];
        for (int i = rows; i < mr; ++i) d[i] = 0.f;
      }
    }
    dst += kc * mr;
  }
}

// Packs panels [panel_begin, panel_end) of nr columns of op(B) (columns from j0, depth from p0).
void PackB(int nr, bool trans, const float* b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,
           int64_t nc, int64_t panel_begin, int64_t panel_end, float* dst) {
  for (int64_t jp = panel_begin; jp < panel_end; ++jp) {
    const int64_t jr = jp * nr;
    const int cols = static_cast<int>(std::min<int64_t>(nr, nc - jr));
    float* d = dst + jp * nr * kc;
    if (!trans) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = b + (p0 + p) * ldb + j0 + jr;
        float* dp = d + p * nr;
        for (int j = 0; j < cols; ++j) dp[j] = src[j];
        for (int j = cols; j < nr; ++j) dp[j] = 0.f;
      }
    } else {
      for (int j = 0; j < cols; ++j) {
        const float* src = b + (j0 + jr + j) * ldb + p0;
        for (int64_t p = 0; p < kc; ++p) d[p * nr + j] = src[p];
      }
      for (int j = cols; j < nr; ++j)
        for (int64_t p = 0; p < kc; ++p) d[p * nr + j] = 0.f;
    }
  }
}

// A partial tile computed into tmp (row stride nr): C[i, j] = tmp + beta * C for the valid part.
void StoreEdgeTile(const float* tmp, int nr, int rows, int cols, float beta, float* c, int64_t ldc) {
  for (int i = 0; i < rows; ++i) {
    float* ci = c + i * ldc;
    const float* ti = tmp + i * nr;
    if (beta == 0.f) {
      for (int j = 0; j < cols; ++j) ci[j] = ti[j];
    } else {
      for (int j = 0; j < cols; ++j) ci[j] = ti[j] + beta * ci[j];
    }
  }
}

// C block [rows of the packed A block] x [panels jp0..jp1 of the packed B block].
void MacroKernel(const KernelInfo& kin, int64_t mc, int64_t nc, int64_t kc, const float* ap,
                 const float* bp, int64_t jp0, int64_t jp1, float alpha, float beta, float* c,
                 int64_t ldc) {
  const int mr = kin.mr, nr = kin.nr;
  alignas(64) float tmp[16 * 32];  // >= mr * nr of every kernel
  for (int64_t jp = jp0; jp < jp1; ++jp) {
    const int64_t jr = jp * nr;
    const int cols = static_cast<int>(std::min<int64_t>(nr, nc - jr));
    const float* bpanel = bp + jp * nr * kc;
    for (int64_t ir = 0; ir < mc; ir += mr) {
      const int rows = static_cast<int>(std::min<int64_t>(mr, mc - ir));
      float* cij = c + ir * ldc + jr;
      const float* apanel = ap + ir * kc;
      if (rows == mr && cols == nr) {
        kin.fn(kc, apanel, bpanel, cij, ldc, alpha, beta);
      } else {
        kin.fn(kc, apanel, bpanel, tmp, nr, alpha, 0.f);
        StoreEdgeTile(tmp, nr, rows, cols, beta, cij, ldc);
      }
    }
  }
}

// MacroKernel for whole mr-row panels of A read in place (rows [0, full_rows) of the block, a at
// the block's first row and depth).
void MacroKernelRows(const KernelInfo& kin, int64_t full_rows, int64_t nc, int64_t kc,
                     const float* a, int64_t lda, const float* bp, int64_t jp0, int64_t jp1,
                     float alpha, float beta, float* c, int64_t ldc) {
  const int mr = kin.mr, nr = kin.nr;
  alignas(64) float tmp[16 * 32];
  for (int64_t jp = jp0; jp < jp1; ++jp) {
    const int64_t jr = jp * nr;
    const int cols = static_cast<int>(std::min<int64_t>(nr, nc - jr));
    const float* bpanel = bp + jp * nr * kc;
    for (int64_t ir = 0; ir < full_rows; ir += mr) {
      float* cij = c + ir * ldc + jr;
      const float* arows = a + ir * lda;
      if (cols == nr) {
        kin.fn_rows(kc, arows, lda, bpanel, cij, ldc, alpha, beta);
      } else {
        kin.fn_rows(kc, arows, lda, bpanel, tmp, nr, alpha, 0.f);
        StoreEdgeTile(tmp, nr, mr, cols, beta, cij, ldc);
      }
    }
  }
}

// Packing A pays off when each packed panel feeds many B panels; below this many it is skipped
// (the 16-64 channel convs of ResNet-20 spent as long in PackA as in the microkernel).
constexpr int64_t kMaxPanelsForInPlaceA = 4;

int64_t RoundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

void GemmBuiltin(int threads, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                 float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                 float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.f) {
    ScaleC(m, n, beta, c, ldc);
    return;
  }
  const KernelInfo& kin = SelectKernel();
  const int mr = kin.mr, nr = kin.nr;
  if (2.0 * m * n * k < 4.0e5) threads = 1;
  const int64_t kc_blk = std::min(kin.kc, k);
  const int64_t nc_blk = std::min(kin.nc, RoundUp(n, nr));
  int64_t mc_blk = std::min(kin.mc, RoundUp(m, mr));
  if (threads > 1) mc_blk = std::min(mc_blk, RoundUp((m + threads - 1) / threads, mr));
  const int64_t num_m_blocks = (m + mc_blk - 1) / mc_blk;

  float* bpack = ThreadScratch(ScratchSlot::kGemmPackB, kc_blk * nc_blk);
  for (int64_t jc = 0; jc < n; jc += nc_blk) {
    const int64_t nc = std::min(nc_blk, n - jc);
    const int64_t panels = (nc + nr - 1) / nr;
    for (int64_t pc = 0; pc < k; pc += kc_blk) {
      const int64_t kc = std::min(kc_blk, k - pc);
      const float beta_eff = pc == 0 ? beta : 1.f;
      if (threads > 1) {
        ParallelFor(panels, 4, [&](int64_t p0, int64_t p1) {
          PackB(nr, trans_b, b, ldb, pc, kc, jc, nc, p0, p1, bpack);
        });
      } else {
        PackB(nr, trans_b, b, ldb, pc, kc, jc, nc, 0, panels, bpack);
      }
      // Split columns too when there are fewer row blocks than threads.
      const int64_t nsplit =
          num_m_blocks >= threads ? 1
                                  : std::min<int64_t>(panels, (threads + num_m_blocks - 1) / num_m_blocks);
      const int64_t tasks = num_m_blocks * nsplit;
      auto task = [&](int64_t t, int) {
        const int64_t mb = t / nsplit, ns = t % nsplit;
        const int64_t ic = mb * mc_blk;
        const int64_t mc = std::min(mc_blk, m - ic);
        const int64_t jp0 = panels * ns / nsplit, jp1 = panels * (ns + 1) / nsplit;
        if (jp0 >= jp1) return;
        int64_t done = 0;  // rows of this block handled with A in place
        if (kin.fn_rows && !trans_a && panels <= kMaxPanelsForInPlaceA) {
          done = mc / mr * mr;
          MacroKernelRows(kin, done, nc, kc, a + ic * lda + pc, lda, bpack, jp0, jp1, alpha,
                          beta_eff, c + ic * ldc + jc, ldc);
          if (done == mc) return;
        }
        float* apack = ThreadScratch(ScratchSlot::kGemmPackA, RoundUp(mc - done, mr) * kc);
        PackA(mr, trans_a, a, lda, ic + done, mc - done, pc, kc, apack);
        MacroKernel(kin, mc - done, nc, kc, apack, bpack, jp0, jp1, alpha, beta_eff,
                    c + (ic + done) * ldc + jc, ldc);
      };
      if (threads > 1) {
        ParallelTasks(tasks, task);
      } else {
        for (int64_t t = 0; t < tasks; ++t) task(t, 0);
      }
    }
  }
}

#ifdef CLICKTRAIN_HAVE_OPENBLAS
std::mutex& OpenBlasMutex() {
  static std::mutex mu;
  return mu;
}

void OpenBlasSgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                   int64_t ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c,
              static_cast<blasint>(ldc));
}

// OpenBLAS single-threaded on every pool thread: rows of C split across the pool when there are
// enough, else columns; small products (or calls from inside a pool task) run whole on the
// caller. OpenBLAS's own workers would spin in sched_yield for ~0.1 s after every call and take a
// core from whatever kernel runs next (measured: a sparse conv right after a dense one ran 1.9x
// slower on 2 cores).
void PooledOpenBlasSgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                         const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                         float* c, int64_t ldc) {
  const int64_t threads = NumThreads();
  constexpr int64_t kAlign = 16;
  const bool big = m * n * k >= (int64_t(1) << 21);
  if (threads > 1 && big && m >= threads * 4 * kAlign) {
    const int64_t per = (m + threads - 1) / threads / kAlign * kAlign + kAlign;
    ParallelFor((m + per - 1) / per, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t i0 = t * per, rows = std::min(per, m - i0);
        if (rows <= 0) continue;
        OpenBlasSgemm(trans_a, trans_b, rows, n, k, alpha, trans_a ? a + i0 : a + i0 * lda, lda, b,
                      ldb, beta, c + i0 * ldc, ldc);
      }
    });
  } else if (threads > 1 && big && n >= threads * 4 * kAlign) {
    const int64_t per = (n + threads - 1) / threads / kAlign * kAlign + kAlign;
    ParallelFor((n + per - 1) / per, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t j0 = t * per, cols = std::min(per, n - j0);
        if (cols <= 0) continue;
        OpenBlasSgemm(trans_a, trans_b, m, cols, k, alpha, a, lda, trans_b ? b + j0 * ldb : b + j0,
                      ldb, beta, c + j0, ldc);
      }
    });
  } else {
    OpenBlasSgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}
#endif

}  // namespace

void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.f) {
    ScaleC(m, n, beta, c, ldc);
    return;
  }
#ifdef CLICKTRAIN_HAVE_OPENBLAS
  if (OpenBlasOnPool()) {
    PooledOpenBlasSgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  {
    // OpenBLAS's threaded driver is entered by one caller at a time; a concurrent caller (e.g. a
    // ParallelFor worker) takes the built-in serial path instead of waiting.
    std::unique_lock<std::mutex> lk(OpenBlasMutex(), std::try_to_lock);
    if (lk.owns_lock()) {
      OpenBlasSgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    }
    GemmBuiltin(1, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#else
  GemmBuiltin(NumThreads(), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

void SgemmSerial(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc) {
  GemmBuiltin(1, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const char* GemmBackendName() {
#ifdef CLICKTRAIN_HAVE_OPENBLAS
  return "openblas";
#else
  return SelectKernel().name;
#endif
}

}  // namespace clicktrain
