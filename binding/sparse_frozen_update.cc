// Optimiser steps on a frozen layer's packed weights and packed <-> dense conversion
// (sparse/frozen_update.h). Packed arrays have the layout's kept-weight count; dense arrays are
// [3,3,inC,outC].
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

// sparseScatterPacked(layout, packed, denseOut): zeros at pruned positions
Napi::Value ScatterPacked(const Napi::CallbackInfo& info) {
  SparseHandle& h = ArgHandle(info, 0);
  auto packed = ArgSizedFloat32(info, 1, "packed", h.layout.NumValues());
  auto dense = ArgSizedFloat32(info, 2, "dense", DenseSize(h));
  clicktrain::StreamPackedToDense(h.layout, packed.Data(), dense.Data());
  return info.Env().Undefined();
}

// sparseFrozenSgd(layout, gradPacked, c, valueOut)
Napi::Value FrozenSgd(const Napi::CallbackInfo& info) {
  SparseHandle& h = ArgHandle(info, 0);
  const int64_t nnz = h.layout.NumValues();
  auto grad = ArgSizedFloat32(info, 1, "gradPacked", nnz);
  const double c = ArgNumber(info, 2, "c");
  auto value_out = ArgSizedFloat32(info, 3, "valueOut", nnz);
  clicktrain::FrozenSgdStep(h.layout, grad.Data(), static_cast<float>(c), value_out.Data());
  return info.Env().Undefined();
}

// sparseFrozenMomentum(layout, accumIn, gradPacked, c, momentum, nesterov, accumOut, valueOut):
// accumOut may be accumIn; every array is packed (kept-weight count).
Napi::Value FrozenMomentum(const Napi::CallbackInfo& info) {
  SparseHandle& h = ArgHandle(info, 0);
  const int64_t nnz = h.layout.NumValues();
  auto accum_in = ArgSizedFloat32(info, 1, "accumIn", nnz);
  auto grad = ArgSizedFloat32(info, 2, "gradPacked", nnz);
  const double c = ArgNumber(info, 3, "c");
  const double m = ArgNumber(info, 4, "momentum");
  const bool nesterov = ArgBool(info, 5, "nesterov");
  auto accum_out = ArgSizedFloat32(info, 6, "accumOut", nnz);
  auto value_out = ArgSizedFloat32(info, 7, "valueOut", nnz);
  clicktrain::FrozenMomentumStep(h.layout, accum_in.Data(), grad.Data(), static_cast<float>(c),
                                 static_cast<float>(m), nesterov, accum_out.Data(), value_out.Data());
  return info.Env().Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("sparseGatherPacked", GatherPacked);
CLICKTRAIN_EXPORT("sparseScatterPacked", ScatterPacked);
CLICKTRAIN_EXPORT("sparseFrozenSgd", FrozenSgd);
CLICKTRAIN_EXPORT("sparseFrozenMomentum", FrozenMomentum);

}  // namespace clicktrain_binding
