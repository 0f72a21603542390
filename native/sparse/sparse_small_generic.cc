// Portable build of the tiny-output sparse forward loops.
#include "sparse/sparse_small.h"

#define SUFFIX(name) name##Generic
#include "sparse/sparse_small_kernels.inc"
