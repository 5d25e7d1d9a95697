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

// Sum over a whole CTA (blockDim.x a multiple of the physical wavefront, ≤ 32 wavefronts); every thread
// gets the result. `scratch` holds one float per wavefront.
QK_DEVICE float block_reduce_sum(float v, float* scratch) {
  const int lane = threadIdx.x % QK_WARP_SIZE, wid = threadIdx.x / QK_WARP_SIZE;
  const int nw = blockDim.x / QK_WARP_SIZE;
  v = warp_reduce_sum(v);
  __syncthreads();  // a previous reduction may still be reading scratch
  if (lane == 0) scratch[wid] = v;
  __syncthreads();
  return warp_reduce_sum(lane < nw ? scratch[lane] : 0.0f);
}

// ---- The row chain of a plan (plan_fused.cu's fused_norm_add_norm_q8_1, and the tail of mmvq.cu's
// mul_mat_vec_q_<type>_1_short_chain). Rows of n floats read and written 4 at a time (f32x4, common.cuh: the host checks n % 4 == 0 and
// the pointers' alignment, GPUPlanGeometry).
QK_DEVICE float f4_dot(f32x4 a, f32x4 b) { return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w; }
// An RMS norm's output: v·scale, times the weight w when there is one (rms_norm_f32's order of operations).
QK_DEVICE f32x4 f4_norm_scale(f32x4 v, float scale, bool weighted, f32x4 w) {
  if (!weighted) return f32x4{v.x * scale, v.y * scale, v.z * scale, v.w * scale};
  return f32x4{v.x * scale * w.x, v.y * scale * w.y, v.z * scale * w.z, v.w * scale * w.w};
}

// q8_1 blocks of 4 consecutive values per lane (store_q8_1's result, bit for bit): values e0 … e0 + 3
// (e0 % 4 == 0), so 8 consecutive lanes hold one block. Every lane of the wavefront takes part in the
// reductions; only `live` lanes write.
QK_DEVICE void store_q8_1_x4(f32x4 v, s64 e0, bool live, u8* __restrict__ y) {
  float amax = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
  amax = group_reduce_max(live ? amax : 0.0f, 8);
  const float d = amax / 127.0f;
  int q[4] = {0, 0, 0, 0};
  if (amax != 0.0f) {
    q[0] = (int)roundf(v.x / d);
    q[1] = (int)roundf(v.y / d);
    q[2] = (int)roundf(v.z / d);
    q[3] = (int)roundf(v.w / d);
  }
  const float sum = group_reduce_sum((float)(q[0] + q[1] + q[2] + q[3]), 8);
  if (!live) return;
  u8* blk = y + (e0 / 32) * 36;
  *(u32*)(blk + 4 + e0 % 32) = (u32)pack4(q[0], q[1], q[2], q[3]);
  if (e0 % 32 == 0) *(u32*)blk = (u32)f2h(d) | ((u32)f2h(d * sum) << 16);
}

// Row chain: v = b; [norm1] t = rms_norm(v)·w1; [add] s = a + v; [norm2] y = rms_norm(v)·w2;
// [quant] q8_1 blocks of v (store_q8_1_x4, as quantize_q8_1).
// One CTA of FUSED_ROW_THREADS threads per row of n values (n ≤ 4 · FUSED_ROW_THREADS · FUSED_ROW_VECS): thread t
// holds the 4-value vectors t, t + FUSED_ROW_THREADS, … in registers, loaded once up front, so a decode
// step's row is one memory round trip and two CTA reductions (a row re-read per pass was a chain of
// dependent loads). Each value is read and written by one thread, so outputs may alias inputs.
#define FUSED_NORM1 1
#define FUSED_ADD 2
#define FUSED_NORM2 4
#define FUSED_QUANT 8
#define FUSED_ROW_THREADS 256
#define FUSED_ROW_VECS 8
QK_DEVICE void row_chain(
  const float* b, const float* a, const float* __restrict__ w1, const float* __restrict__ w2, float* t_out,
  float* s_out, float* y_out, u8* __restrict__ yq, s64 row, s64 n, float eps1, float eps2, s32 flags) {
  __shared__ float red[32];
  const int tid = threadIdx.x;
  const s64 base = row * n;  // a multiple of 4
  const s64 nv = n / 4;
  // Every input up front (the weights too), so their loads overlap.
  f32x4 v[FUSED_ROW_VECS], av[FUSED_ROW_VECS], w1v[FUSED_ROW_VECS], w2v[FUSED_ROW_VECS];
#pragma unroll
  for (int i = 0; i < FUSED_ROW_VECS; ++i) {
    const s64 j = tid + (s64)i * FUSED_ROW_THREADS;
    if (j < nv) {
      v[i] = f4_load(b + base, j);
      if (flags & FUSED_ADD) av[i] = f4_load(a + base, j);
      w1v[i] = (flags & FUSED_NORM1) && w1 ? f4_load(w1, j) : f32x4{0.0f, 0.0f, 0.0f, 0.0f};
      w2v[i] = (flags & FUSED_NORM2) && w2 ? f4_load(w2, j) : f32x4{0.0f, 0.0f, 0.0f, 0.0f};
    }
  }
  if (flags & FUSED_NORM1) {
    float ss = 0.0f;
#pragma unroll
    for (int i = 0; i < FUSED_ROW_VECS; ++i)
      if (tid + (s64)i * FUSED_ROW_THREADS < nv) ss += f4_dot(v[i], v[i]);
    const float scale = 1.0f / sqrtf(block_reduce_sum(ss, red) / (float)n + eps1);
#pragma unroll
    for (int i = 0; i < FUSED_ROW_VECS; ++i) {
      const s64 j = tid + (s64)i * FUSED_ROW_THREADS;
      if (j < nv) {
        const f32x4 o = f4_norm_scale(v[i], scale, (bool)w1, w1v[i]);
        v[i] = o;
        f4_store(t_out + base, j, o);
      }
    }
  }
  float ss2 = 0.0f;
#pragma unroll
  for (int i = 0; i < FUSED_ROW_VECS; ++i) {
    const s64 j = tid + (s64)i * FUSED_ROW_THREADS;
    if (j < nv) {
      if (flags & FUSED_ADD) {
        const f32x4 x = av[i], o = v[i];
        v[i] = f32x4{x.x + o.x, x.y + o.y, x.z + o.z, x.w + o.w};
        f4_store(s_out + base, j, v[i]);
      }
      ss2 += f4_dot(v[i], v[i]);
    }
  }
  if (flags & FUSED_NORM2) {
    const float scale = 1.0f / sqrtf(block_reduce_sum(ss2, red) / (float)n + eps2);
#pragma unroll
    for (int i = 0; i < FUSED_ROW_VECS; ++i) {
      const s64 j = tid + (s64)i * FUSED_ROW_THREADS;
      if (j < nv) {
        const f32x4 o = f4_norm_scale(v[i], scale, (bool)w2, w2v[i]);
        v[i] = o;
        f4_store(y_out + base, j, o);
      }
    }
  }
  // q8_1 blocks: n is a multiple of 32 when quantizing; every lane takes part in the group reductions.
  if (flags & FUSED_QUANT) {
#pragma unroll
    for (int i = 0; i < FUSED_ROW_VECS; ++i) {
      const s64 j = tid + (s64)i * FUSED_ROW_THREADS;
      if ((s64)i * FUSED_ROW_THREADS >= nv) break;  // uniform over the CTA
      store_q8_1_x4(j < nv ? v[i] : f32x4{0.0f, 0.0f, 0.0f, 0.0f}, base + 4 * j, j < nv, yq);
    }
  }
}

// ---- Gated activations. SiLU; GELU, tanh approximation, as the CPU computes it: x · sigmoid(2u),
// u = √(2/π)·x·(1 + 0.044715·x²).
QK_DEVICE float qk_silu(float v) { return v / (1.0f + expf(-v)); }
QK_DEVICE float qk_gelu(float v) {
  const float u = 0.7978845608028654f * v * (1.0f + 0.044715f * v * v);
  return v / (1.0f + expf(-2.0f * u));
}
QK_DEVICE float glu_value(float g, float u, s32 gelu) { return (gelu ? qk_gelu(g) : qk_silu(g)) * u; }
// act = f(gate)·up (f: silu when gelu == 0, else tanh-GELU) for values 4j … 4j + 3 of n (n a multiple of 32;
// 16-byte vectors), written f32 to act (when given) and as q8_1 blocks to yq (8 lanes = one block). Every
// lane of the wavefront calls it: lanes past n take part in the block reductions with zeros.
QK_DEVICE void glu_q8_1_x4(const float* g, const float* u, s64 j, s64 n, s32 gelu, float* act, u8* __restrict__ yq) {
  const bool live = 4 * j < n;
  f32x4 v = {0.0f, 0.0f, 0.0f, 0.0f};
  if (live) {
    const f32x4 a = f4_load(g, j), b = f4_load(u, j);
    v = f32x4{glu_value(a.x, b.x, gelu), glu_value(a.y, b.y, gelu), glu_value(a.z, b.z, gelu), glu_value(a.w, b.w, gelu)};
    if (act) f4_store(act, j, v);
  }
  store_q8_1_x4(v, 4 * j, live, yq);
}

// One group of 8 consecutive weights in the form w[i] = a·(q[i] + c) + b, q[i] int8 packed into
// q0 (values 0-3) and q1 (values 4-7). Every quantized type is read through this one shape: the
// dequantize, dequantize-then-dot, integer-dot and tiled paths share it.
struct group8 {
  int q0, q1;
  float a, b, c;
};
