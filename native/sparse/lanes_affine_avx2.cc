// AVX2 build of lanes_affine_kernels.inc (compiled with -mavx2; called only after CPUID).
#define SUFFIX(name) name##Avx2
#include "sparse/lanes_affine_kernels.inc"
