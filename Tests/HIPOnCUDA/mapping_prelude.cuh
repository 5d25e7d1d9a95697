// ---- HIP-on-CUDA mapping prelude (Tests/HIPOnCUDA/mapping_prelude.cuh) ----
// hiprtcCompileProgram of the HIP-on-CUDA layer puts this text in front of every program it hands
// to NVRTC: the HIP device names the HIP dialect (Sources/GPUKernels/kernels/prelude_hip.cuh) uses,
// written in CUDA. The AMD target macro (__gfx1100__ …) comes from --offload-arch as a -D option, so
// prelude_hip.cuh takes the branch it takes on that AMD target. Keep it small: one line per name.
#define QUANTA_HIP_ON_CUDA 1

// Shuffles: HIP's take no mask (the whole wavefront); the width defaults to the warp size.
template <typename T> static __device__ __forceinline__ T hoc_shfl(T v, int src, int w = 32) {
  return __shfl_sync(0xffffffffu, v, src, w);
}
template <typename T> static __device__ __forceinline__ T hoc_shfl_up(T v, unsigned int d, int w = 32) {
  return __shfl_up_sync(0xffffffffu, v, d, w);
}
template <typename T> static __device__ __forceinline__ T hoc_shfl_down(T v, unsigned int d, int w = 32) {
  return __shfl_down_sync(0xffffffffu, v, d, w);
}
template <typename T> static __device__ __forceinline__ T hoc_shfl_xor(T v, int m, int w = 32) {
  return __shfl_xor_sync(0xffffffffu, v, m, w);
}
#undef __shfl
#undef __shfl_up
#undef __shfl_down
#undef __shfl_xor
#define __shfl(...) hoc_shfl(__VA_ARGS__)
#define __shfl_up(...) hoc_shfl_up(__VA_ARGS__)
#define __shfl_down(...) hoc_shfl_down(__VA_ARGS__)
#define __shfl_xor(...) hoc_shfl_xor(__VA_ARGS__)

// Votes: HIP's __ballot returns a 64-bit mask.
static __device__ __forceinline__ unsigned long long hoc_ballot(int p) {
  return (unsigned long long)__ballot_sync(0xffffffffu, p);
}
#undef __ballot
#undef __any
#undef __all
#define __ballot(p) hoc_ballot(p)
#define __any(p) __any_sync(0xffffffffu, (p))
#define __all(p) __all_sync(0xffffffffu, (p))

// AMD 4 × 8-bit dot products (v_dot4_i32_i8, v_dot4_i32_iu8) → __dp4a when both
// operands are signed and there is no clamp, else per byte.
static __device__ __forceinline__ int hoc_dot4(bool sa, int a, bool sb, int b, int c, bool clamp) {
  if (sa && sb && !clamp) return __dp4a(a, b, c);
  long long s = c;
  for (int i = 0; i < 4; i++) {
    const int x = sa ? (int)(signed char)(a >> (8 * i)) : (int)(unsigned char)(a >> (8 * i));
    const int y = sb ? (int)(signed char)(b >> (8 * i)) : (int)(unsigned char)(b >> (8 * i));
    s += (long long)x * y;
  }
  if (clamp) s = s > 2147483647LL ? 2147483647LL : (s < -2147483647LL - 1 ? -2147483647LL - 1 : s);
  return (int)s;
}
#define __builtin_amdgcn_sdot4(a, b, c, clamp) hoc_dot4(true, (a), true, (b), (c), (clamp))
#define __builtin_amdgcn_sudot4(sa, a, sb, b, c, clamp) hoc_dot4((sa), (a), (sb), (b), (c), (clamp))
// AMD v_perm_b32 (__builtin_amdgcn_perm(a, b, sel)): selector bytes 0-3 pick bytes of b, 4-7 bytes of
// a → __byte_perm(b, a, one nibble per selector byte). Only selectors 0-7 occur in Quanta's kernels.
static __device__ __forceinline__ unsigned int hoc_perm(unsigned int a, unsigned int b, unsigned int sel) {
  const unsigned int s = (sel & 0x7u) | ((sel >> 4) & 0x70u) | ((sel >> 8) & 0x700u) | ((sel >> 12) & 0x7000u);
  return __byte_perm(b, a, s);
}
#define __builtin_amdgcn_perm(a, b, sel) hoc_perm((a), (b), (sel))

// AMD's _Float16 (NVRTC has no such type): the kernels only bit-cast 16 bits to it and widen to
// float, so __builtin_bit_cast(_Float16, h) maps to a conversion by name.
static __device__ __forceinline__ float hoc_bit_cast__Float16(unsigned short h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}
#define __builtin_bit_cast(T, v) hoc_bit_cast_##T(v)
// ---- end of the mapping prelude ----
