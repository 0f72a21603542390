#include "elementwise/broadcast_kernels.h"
#define SUFFIX(name) name##Generic
#include "elementwise/broadcast_kernels_impl.inc"
