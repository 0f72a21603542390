#include "dense/batch_norm_kernels.h"
#define SUFFIX(name) Generic##name
constexpr int kVecBytes = 16;
#include "dense/batch_norm_kernels_impl.inc"
