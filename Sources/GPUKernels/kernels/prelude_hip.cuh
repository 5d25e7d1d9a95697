// Vendor prelude: AMD (hiprtc). Maps the common dialect's names onto HIP the way ggml's
// vendors/hip.h does. hiprtc supplies the HIP device builtins; no system headers.
#define QUANTA_VENDOR_HIP 1
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

// HIP shuffles take no mask; the width is always explicit (64-wide wavefronts on GCN/CDNA).
QK_DEVICE float qk_shfl_xor(float v, int lane_mask, int width) { return __shfl_xor(v, lane_mask, width); }
QK_DEVICE int qk_shfl_xor_int(int v, int lane_mask, int width) { return __shfl_xor(v, lane_mask, width); }
// Lane `src` (0 ≤ src < width) of the caller's group of `width` lanes.
QK_DEVICE int qk_shfl_int(int v, int src, int width) { return __shfl(v, src, width); }

#if defined(__gfx1030__) || defined(__gfx1031__) || defined(__gfx1032__) || defined(__gfx1033__) || \
    defined(__gfx1034__) || defined(__gfx1035__) || defined(__gfx1036__)
#define QK_RDNA2 1
#endif
#if defined(__gfx1100__) || defined(__gfx1101__) || defined(__gfx1102__) || defined(__gfx1103__) || \
    defined(__gfx1150__) || defined(__gfx1151__) || defined(__gfx1200__) || defined(__gfx1201__)
#define QK_RDNA3_OR_LATER 1
#endif

// 4-way int8 dot: v_dot4_i32_i8 where the target has it (as ggml's ggml_cuda_dp4a on HIP).
QK_DEVICE int ggml_cuda_dp4a(int a, int b, int c) {
#if defined(__gfx906__) || defined(__gfx908__) || defined(__gfx90a__) || defined(__gfx940__) || \
    defined(__gfx941__) || defined(__gfx942__) || defined(QK_RDNA2)
  return __builtin_amdgcn_sdot4(a, b, c, false);
#elif defined(QK_RDNA3_OR_LATER)
  return __builtin_amdgcn_sudot4(true, a, true, b, c, false);
#else
  const s8* a8 = (const s8*)&a;
  const s8* b8 = (const s8*)&b;
  return c + a8[0] * b8[0] + a8[1] * b8[1] + a8[2] * b8[2] + a8[3] * b8[3];
#endif
}

QK_DEVICE float qk_mul_rn(float a, float b) { return __fmul_rn(a, b); }
QK_DEVICE float qk_add_rn(float a, float b) { return __fadd_rn(a, b); }
QK_DEVICE float qk_div_rn(float a, float b) { return __fdiv_rn(a, b); }
QK_DEVICE double qk_u64_as_double(u64 v) { return __longlong_as_double((long long)v); }
QK_DEVICE float qk_int_as_float(u32 v) { return __uint_as_float(v); }
QK_DEVICE u32 qk_float_as_uint(float v) { return __float_as_uint(v); }
// Programmatic dependent launch is CUDA's (prelude_cuda.cuh); HIP launches stay stream-ordered.
QK_DEVICE void qk_grid_dependency_sync() {}

// Dynamic shared memory of a kernel (the launch's sharedBytes), 16-byte aligned.
#define QK_DYNAMIC_SHARED(name) extern __shared__ __attribute__((aligned(16))) u8 name[]
