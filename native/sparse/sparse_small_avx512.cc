// AVX-512 build of the small-output kernels (compiled with -mavx512f -mavx512vl ...; only called
// after CPUID): the same 8-float code with 32 vector registers.
#include "sparse/sparse_small.h"

#define SUFFIX(name) name##Avx512
#include "sparse/sparse_small_kernels.inc"
