// Internal: register-blocked GEMM microkernels, one set per ISA translation unit.
// A microkernel computes one MR x NR tile of C from packed panels:
//   a: kc groups of MR floats (column p of the MR-row block of op(A)),
//   b: kc groups of NR floats (row p of the NR-column block of op(B)),
//   C[i, j] = alpha * sum_p a[p*MR + i] * b[p*NR + j] + (beta == 0 ? 0 : beta * C[i, j]).
// beta == 0 never reads C (so NaN garbage in C is overwritten). kc may be 0.
#pragma once
#include <cstdint>

namespace clicktrain {
namespace gemm_internal {

using MicroKernelFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                               float alpha, float beta);

// Same tile with A read in place: row i of the MR-row block is a + i * lda (columns p = 0..kc-1).
// For narrow products (a few NR panels) packing A costs as much as the multiply, since each A
// element is used only NR x panels times; reading it in place skips that copy.
using MicroKernelRowsFn = void (*)(int64_t kc, const float* a, int64_t lda, const float* b,
                                   float* c, int64_t ldc, float alpha, float beta);

struct KernelInfo {
  int mr;
  int nr;
  int64_t mc;  // rows of A packed per block (multiple of mr)
  int64_t kc;  // depth of one packed block
  int64_t nc;  // columns of B packed per block (multiple of nr)
  MicroKernelFn fn;
  const char* name;
  MicroKernelRowsFn fn_rows;  // nullptr: this ISA always packs A
};

const KernelInfo& GenericKernel();
// Defined in gemm_avx2.cc / gemm_avx512.cc (compiled with their ISA flags); only call them when
// ActiveIsa() says the CPU supports that ISA.
const KernelInfo& Avx2Kernel();
const KernelInfo& Avx512Kernel();

}  // namespace gemm_internal
}  // namespace clicktrain
