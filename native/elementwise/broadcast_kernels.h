// Inner loops of the element-wise ops, compiled once per ISA (broadcast_kernels_impl.inc is
// included by a generic and an AVX2 translation unit; the compiler vectorises the flat loops).
#pragma once
#include <cstdint>

#include "elementwise/broadcast.h"

namespace clicktrain {
namespace elementwise {

// out[i] = op(a[i*sa], b[i*sb]) for i < n, with sa, sb in {0, 1}.
using BinaryRowFn = void (*)(BinaryOp op, int64_t n, const float* a, int64_t sa, const float* b,
                             int64_t sb, float* out);
// rows x n block: out[r*n + i] = op(a[r*ra + i*sa], b[r*rb + i*sb]) with sa, sb in {0, 1}. One call
// per block keeps the per-row dispatch out of the loop (NHWC ops against a [C] vector have
// rows of only C elements).
using BinaryRowsFn = void (*)(BinaryOp op, int64_t rows, int64_t n, const float* a, int64_t ra,
                              int64_t sa, const float* b, int64_t rb, int64_t sb, float* out);
// acc[k] (+)= x[k] for k < n (sum in double; max/min with NaN propagation).
using AccumulateRowFn = void (*)(ReduceOp op, int64_t n, const float* x, double* acc);
// Reduction of a contiguous run: returns sum (double) or max/min of x[0..n).
using ReduceRunFn = double (*)(ReduceOp op, int64_t n, const float* x);

void BinaryRowGeneric(BinaryOp, int64_t, const float*, int64_t, const float*, int64_t, float*);
void BinaryRowAvx2(BinaryOp, int64_t, const float*, int64_t, const float*, int64_t, float*);
void BinaryRowsGeneric(BinaryOp, int64_t, int64_t, const float*, int64_t, int64_t, const float*,
                       int64_t, int64_t, float*);
void BinaryRowsAvx2(BinaryOp, int64_t, int64_t, const float*, int64_t, int64_t, const float*,
                    int64_t, int64_t, float*);
void AccumulateRowGeneric(ReduceOp, int64_t, const float*, double*);
void AccumulateRowAvx2(ReduceOp, int64_t, const float*, double*);
double ReduceRunGeneric(ReduceOp, int64_t, const float*);
double ReduceRunAvx2(ReduceOp, int64_t, const float*);

}  // namespace elementwise
}  // namespace clicktrain
