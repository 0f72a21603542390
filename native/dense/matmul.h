// Batched matrix multiply as tfjs BatchMatMul/_FusedMatMul: a is [batch_a, m, k] (or [batch_a, k, m]
// when trans_a), b is [batch_b, k, n] (or [batch_b, n, k] when trans_b); batch_a and batch_b are
// equal or one of them is 1 (broadcast). c is [max(batch_a, batch_b), m, n], overwritten; the
// epilogue's bias/prelu run along n.
#pragma once
#include <cstdint>

#include "dense/epilogue.h"

namespace clicktrain {

void BatchMatMul(int64_t batch_a, int64_t batch_b, int64_t m, int64_t n, int64_t k, bool trans_a,
                 bool trans_b, const float* a, const float* b, const Epilogue& ep, float* c);

}  // namespace clicktrain
