// Portable micro-kernels: an 8-lane vector of plain floats (the compiler maps it onto SSE2).
#include "sparse/sparse_kernels_inl.h"

namespace clicktrain {
namespace sparse_internal {
namespace {

struct VecG {
  float v[kLanes];
  static VecG Zero() {
    VecG r;
    for (int i = 0; i < kLanes; ++i) r.v[i] = 0.f;
    return r;
  }
  static VecG Bcast(float x) {
    VecG r;
    for (int i = 0; i < kLanes; ++i) r.v[i] = x;
    return r;
  }
  static VecG Load(const float* p) {
    VecG r;
    for (int i = 0; i < kLanes; ++i) r.v[i] = p[i];
    return r;
  }
  static void Store(float* p, const VecG& a) {
    for (int i = 0; i < kLanes; ++i) p[i] = a.v[i];
  }
  static VecG Fma(const VecG& a, const VecG& b, const VecG& c) {
    VecG r;
    for (int i = 0; i < kLanes; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i];
    return r;
  }
  static VecG Add(const VecG& a, const VecG& b) {
    VecG r;
    for (int i = 0; i < kLanes; ++i) r.v[i] = a.v[i] + b.v[i];
    return r;
  }
};

IsaKernels MakeGeneric() {
  IsaKernels k{};
  FillKernelTable<VecG, false>(k);
  k.to_lanes = &ToLanesScalar;
  k.pack8 = &Pack8Scalar;
  k.unpack8 = &Unpack8Scalar;
  k.to_lanes_affine = &ToLanesAffineGeneric;
  k.pack8_affine = &Pack8AffineGeneric;
  return k;
}

}  // namespace

const IsaKernels& GenericKernels() {
  static const IsaKernels k = MakeGeneric();
  return k;
}

}  // namespace sparse_internal
}  // namespace clicktrain
