// AVX2 build of the depthwise row kernels (see depthwise_impl.inc).
#include "dense/depthwise_kernels.h"

namespace clicktrain {
namespace dw_internal {
namespace {
#include "dense/depthwise_impl.inc"
}  // namespace

const RowFns& Avx2RowFns() {
  static const RowFns fns{&DwForwardRows, &DwBackpropInputRows, &DwBackpropFilterRows};
  return fns;
}

}  // namespace dw_internal
}  // namespace clicktrain
