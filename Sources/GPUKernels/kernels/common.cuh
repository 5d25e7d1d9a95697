// Common dialect: helpers shared by every kernel. The host prepends a vendor prelude and defines
// QK_WARP_SIZE (the device's physical wavefront width, 32 or 64) — never assumed here.
#ifndef QK_WARP_SIZE
#error "QK_WARP_SIZE must be defined by the host from the device's warp size"
#endif
#if QK_WARP_SIZE != 32 && QK_WARP_SIZE != 64
#error "QK_WARP_SIZE must be 32 or 64"
#endif

#define QK_K 256
#define QK8_1 32
#define IQ1S_DELTA 0.125f
#define IQ1M_DELTA 0.125f

// Blocks are read byte by byte: many block sizes (17, 22, 54, 110, 210 bytes) leave the wider
// fields unaligned.
QK_DEVICE u32 rd16(const u8* p) { return (u32)p[0] | ((u32)p[1] << 8); }
QK_DEVICE u32 rd32(const u8* p) { return rd16(p) | (rd16(p + 2) << 16); }

// IEEE half → float, exact (no vendor half header needed).
QK_DEVICE float h2f(u32 h) {
  const u32 sign = (h & 0x8000u) << 16;
  u32 exp = (h >> 10) & 0x1f;
  u32 man = h & 0x3ffu;
  if (exp == 0) {
    if (man == 0) return qk_int_as_float(sign);
    // Subnormal: normalize.
    exp = 127 - 15 + 1;
    while ((man & 0x400u) == 0) { man <<= 1; exp--; }
    man &= 0x3ffu;
    return qk_int_as_float(sign | (exp << 23) | (man << 13));
  }
  if (exp == 31) return qk_int_as_float(sign | 0x7f800000u | (man << 13));
  return qk_int_as_float(sign | ((exp + 127 - 15) << 23) | (man << 13));
}
QK_DEVICE float rdh(const u8* p) { return h2f(rd16(p)); }

// IEEE half bits → float with the hardware conversion (exact, as h2f).
#if defined(QUANTA_VENDOR_CUDA)
QK_DEVICE float half_to_float(u32 h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"((unsigned short)h));
  return f;
}
#elif defined(QUANTA_VENDOR_HIP)
QK_DEVICE float half_to_float(u32 h) { return (float)__builtin_bit_cast(_Float16, (u16)h); }
#else
QK_DEVICE float half_to_float(u32 h) { return h2f(h & 0xffffu); }
#endif

// float → IEEE half bits, round to nearest even (NaN → quiet NaN), as the reference's f16.
QK_DEVICE u16 f2h(float f) {
  const u32 x = qk_float_as_uint(f);
  const u32 sign = (x >> 16) & 0x8000u;
  const u32 ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return (u16)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) return (u16)(sign | 0x7c00u);  // rounds to ≥ 65520: infinity
  if (ax < 0x38800000u) {                                // below the smallest normal half
    if (ax < 0x33000000u) return (u16)sign;               // below half of the smallest subnormal
    const u32 e = ax >> 23;
    const u32 m = (ax & 0x7fffffu) | 0x800000u;
    const u32 shift = 126 - e;                            // 14 + (112 - e)
    u32 r = m >> shift;
    const u32 rem = m & ((1u << shift) - 1);
    const u32 half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1))) r++;
    return (u16)(sign | r);
  }
  u32 r = ax - 0x38000000u;  // rebias the exponent (127 → 15), keep 23 mantissa bits
  const u32 rem = r & 0x1fffu;
  r >>= 13;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) r++;
  return (u16)(sign | r);
}

QK_DEVICE float e8m0_to_fp32_half(u32 x) {
  const u32 bits = x < 2 ? (0x00200000u << x) : ((x - 1) << 23);
  return qk_int_as_float(bits);
}

QK_DEVICE int pack4(int a, int b, int c, int d) {
  return (a & 0xff) | ((b & 0xff) << 8) | ((c & 0xff) << 16) | ((int)((u32)(d & 0xff) << 24));
}

// 4 floats as one 16-byte load or store (p 16-byte aligned; j counts vectors).
struct alignas(16) f32x4 {
  float x, y, z, w;
};
QK_DEVICE f32x4 f4_load(const float* p, s64 j) { return ((const f32x4*)p)[j]; }
QK_DEVICE void f4_store(float* p, s64 j, f32x4 v) { ((f32x4*)p)[j] = v; }

// Sum over the whole physical wavefront (every lane of it takes part).
QK_DEVICE float warp_reduce_sum(float x) {
#pragma unroll
  for (int offset = QK_WARP_SIZE / 2; offset > 0; offset >>= 1) x += qk_shfl_xor(x, offset, QK_WARP_SIZE);
  return x;
}

// Reductions of a logical group of `width` lanes (a power of two ≤ the physical width): the
// algorithm's width, independent of the hardware's.
QK_DEVICE float group_reduce_sum(float x, int width) {
  for (int offset = width / 2; offset > 0; offset >>= 1) x += qk_shfl_xor(x, offset, width);
  return x;
}
QK_DEVICE float group_reduce_max(float x, int width) {
  for (int offset = width / 2; offset > 0; offset >>= 1) x = fmaxf(x, qk_shfl_xor(x, offset, width));
  return x;
}

// One group of 8 consecutive weights in the form w[i] = a·(q[i] + c) + b, q[i] int8 packed into
// q0 (values 0-3) and q1 (values 4-7). Every quantized type is read through this one shape: the
// dequantize, dequantize-then-dot, integer-dot and tiled paths share it.
struct group8 {
  int q0, q1;
  float a, b, c;
};
