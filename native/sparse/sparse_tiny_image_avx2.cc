// AVX2 + FMA build of the 2x2-image pattern kernels (compiled with -mavx2 -mfma; only called
// after CPUID).
#include "sparse/sparse_tiny_image.h"

#define SUFFIX(name) name##Avx2
#include "sparse/sparse_tiny_image_kernels.inc"
