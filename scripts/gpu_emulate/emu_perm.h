// Included before the kernels by the quantized-kernel emulation tests (matvec_test.cpp, moe_test.cpp).
#pragma once
#include <cstdio>
#include <cstdlib>
// The vendors' byte-permute instructions, for their versions of the 16-entry table lookup (mmvq.cu):
// PTX prmt as __byte_perm (bytes 0-3 of x, 4-7 of y; 3-bit selectors) and AMD v_perm_b32 (bytes 0-3 of
// the second operand, 4-7 of the first; selectors 0-7 only, which is all the kernels use).
#if defined(QK_EMULATE_BYTE_PERM)
static u32 __byte_perm(u32 x, u32 y, u32 s) {
  const u64 b = (u64)x | ((u64)y << 32);
  u32 r = 0;
  for (int n = 0; n < 4; ++n) r |= (u32)((b >> (8 * ((s >> (4 * n)) & 7))) & 0xff) << (8 * n);
  return r;
}
#endif
#if defined(QK_EMULATE_AMDGCN_PERM)
static u32 __builtin_amdgcn_perm(u32 hi, u32 lo, u32 sel) {
  const u64 b = (u64)lo | ((u64)hi << 32);
  u32 r = 0;
  for (int n = 0; n < 4; ++n) {
    const u32 k = (sel >> (8 * n)) & 0xff;
    if (k > 7) { fprintf(stderr, "FAIL v_perm selector %u outside 0-7\n", k); abort(); }
    r |= (u32)((b >> (8 * k)) & 0xff) << (8 * n);
  }
  return r;
}
#endif
