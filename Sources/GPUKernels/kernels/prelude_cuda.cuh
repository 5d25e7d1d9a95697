// Vendor prelude: NVIDIA (NVRTC). Maps the common dialect's names onto CUDA. No system headers:
// NVRTC compiles this text alone.
#define QUANTA_VENDOR_CUDA 1
typedef signed char s8;
typedef unsigned char u8;
typedef short s16;
typedef unsigned short u16;
typedef int s32;
typedef unsigned int u32;
typedef long long s64;
typedef unsigned long long u64;

#define QK_KERNEL extern "C" __global__
#define QK_DEVICE static __device__ __forceinline__

// Shuffles always name their width (DESIGN.md principle 3); the mask covers the whole warp.
QK_DEVICE float qk_shfl_xor(float v, int lane_mask, int width) {
  return __shfl_xor_sync(0xffffffffu, v, lane_mask, width);
}
QK_DEVICE int qk_shfl_xor_int(int v, int lane_mask, int width) {
  return __shfl_xor_sync(0xffffffffu, v, lane_mask, width);
}
// Lane `src` (0 ≤ src < width) of the caller's group of `width` lanes.
QK_DEVICE int qk_shfl_int(int v, int src, int width) { return __shfl_sync(0xffffffffu, v, src, width); }

// 4-way int8 dot product with accumulate (sm_61+).
QK_DEVICE int ggml_cuda_dp4a(int a, int b, int c) {
#if __CUDA_ARCH__ >= 610
  return __dp4a(a, b, c);
#else
  const s8* a8 = (const s8*)&a;
  const s8* b8 = (const s8*)&b;
  return c + a8[0] * b8[0] + a8[1] * b8[1] + a8[2] * b8[2] + a8[3] * b8[3];
#endif
}

// Uncontracted float ops: dequantization must equal the CPU reference bit for bit.
QK_DEVICE float qk_mul_rn(float a, float b) { return __fmul_rn(a, b); }
QK_DEVICE float qk_add_rn(float a, float b) { return __fadd_rn(a, b); }
QK_DEVICE float qk_div_rn(float a, float b) { return __fdiv_rn(a, b); }
QK_DEVICE double qk_u64_as_double(u64 v) { return __longlong_as_double((long long)v); }
QK_DEVICE float qk_int_as_float(u32 v) { return __int_as_float((int)v); }
QK_DEVICE u32 qk_float_as_uint(float v) { return (u32)__float_as_int(v); }

// Programmatic dependent launch (sm_90+; QK_DEPENDENT_LAUNCH comes from the host when it launches
// kernels with the attribute, GPUContext.dependentLaunches): a kernel may be scheduled while its
// predecessor in the stream finishes. Every kernel calls this first, to wait for the predecessor's
// completion and memory; a kernel that skipped the wait could finish before its predecessor and
// release its successor early, so none does. QK_DEPENDENT_LAUNCH_EARLY also lets the next kernel
// launch as soon as every CTA of this one has started.
QK_DEVICE void qk_grid_dependency_sync() {
#if defined(QK_DEPENDENT_LAUNCH) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#if QK_DEPENDENT_LAUNCH_EARLY
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
#endif
}

// Dynamic shared memory of a kernel (the launch's sharedBytes), 16-byte aligned.
#define QK_DYNAMIC_SHARED(name) extern __shared__ __attribute__((aligned(16))) u8 name[]
