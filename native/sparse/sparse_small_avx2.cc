// AVX2 + FMA build of the tiny-output sparse forward loops (compiled with -mavx2 -mfma; only
// called after CPUID).
#include "sparse/sparse_small.h"

#define SUFFIX(name) name##Avx2
#include "sparse/sparse_small_kernels.inc"
