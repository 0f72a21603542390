#include "dense/batch_norm_kernels.h"
#define SUFFIX(name) Avx2##name
constexpr int kVecBytes = 32;
#include "dense/batch_norm_kernels_impl.inc"
