// Optimiser steps on a frozen layer's packed weights (sparse/frozen_update.h). Packed arrays
// have the layout's kept-weight count; dense arrays are [3,3,inC,outC].
#include "binding/args.h"
#include "binding/registry.h"
#include "binding/sparse_handle.h"
#include "sparse/frozen_update.h"

namespace clicktrain_binding {
namespace {

int64_t DenseSize(const SparseHandle& h) { return 9 * static_cast<int64_t>(h.layout.in_c) * h.layout.out_c; }

// sparseGatherPacked(layout, dense, packedOut)
Napi::Value GatherPacked(const Napi::CallbackInfo& info) {
  SparseHandle& h = ArgHandle(info, 0);
  auto dense = ArgSizedFloat32(info, 1, "dense", DenseSize(h));
  auto packed = ArgSizedFloat32(info, 2, "packed", h.layout.NumValues());
  clicktrain::GatherDenseToPacked(h.layout, dense.Data(), packed.Data());
  return info.Env().Undefined();
}

// sparseFrozenSgd(layout, gradPacked, c, denseValueOut)
Napi::Value FrozenSgd(const Napi::CallbackInfo& info) {
  SparseHandle& h = ArgHandle(info, 0);
  auto grad = ArgSizedFloat32(info, 1, "gradPacked", h.layout.NumValues());
  const double c = ArgNumber(info, 2, "c");
  auto out = ArgSizedFloat32(info, 3, "denseValue", DenseSize(h));
  clicktrain::FrozenSgdStep(h.layout, grad.Data(), static_cast<float>(c), out.Data());
  return info.Env().Undefined();
}

// sparseFrozenMomentum(layout, accumPacked, gradPacked, c, momentum, nesterov, denseValueOut,
// denseAccumOut)
Napi::Value FrozenMomentum(const Napi::CallbackInfo& info) {
  SparseHandle& h = ArgHandle(info, 0);
  const int64_t nnz = h.layout.NumValues(), n = DenseSize(h);
  auto accum = ArgSizedFloat32(info, 1, "accumPacked", nnz);
  auto grad = ArgSizedFloat32(info, 2, "gradPacked", nnz);
  const double c = ArgNumber(info, 3, "c");
  const double m = ArgNumber(info, 4, "momentum");
  const bool nesterov = ArgBool(info, 5, "nesterov");
  auto out_value = ArgSizedFloat32(info, 6, "denseValue", n);
  auto out_accum = ArgSizedFloat32(info, 7, "denseAccum", n);
  clicktrain::FrozenMomentumStep(h.layout, accum.Data(), grad.Data(), static_cast<float>(c),
                                 static_cast<float>(m), nesterov, out_value.Data(), out_accum.Data());
  return info.Env().Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("sparseGatherPacked", GatherPacked);
CLICKTRAIN_EXPORT("sparseFrozenSgd", FrozenSgd);
CLICKTRAIN_EXPORT("sparseFrozenMomentum", FrozenMomentum);

}  // namespace clicktrain_binding
