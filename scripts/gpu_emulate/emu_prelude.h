// CPU emulation of the kernel dialect: every thread of a CTA is a std::thread, __syncthreads a
// CTA barrier, shuffles exchange through a per-wavefront slot array between two wavefront barriers,
// __shared__ variables are statics (one CTA runs at a time).
#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#include <algorithm>
typedef signed char s8; typedef unsigned char u8; typedef short s16; typedef unsigned short u16;
typedef int s32; typedef unsigned int u32; typedef long long s64; typedef unsigned long long u64;
struct qk_dim3 { unsigned x = 1, y = 1, z = 1; };
thread_local qk_dim3 threadIdx, blockIdx;
qk_dim3 blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __constant__
#define __launch_bounds__(...)
#define QK_KERNEL extern "C"
#define QK_DEVICE static inline
// Dynamic shared memory: a static arena as large as any kernel here asks for (one CTA runs at a time).
#define QK_DYNAMIC_SHARED(name) alignas(16) static u8 name[1 << 18]
// Programmatic dependent launch has nothing to wait for here (one kernel runs at a time).
QK_DEVICE void qk_grid_dependency_sync() {}
struct qk_cta {
  std::unique_ptr<std::barrier<>> block;
  std::vector<std::unique_ptr<std::barrier<>>> warps;
  std::vector<float> slots;
  std::vector<int> islots;
};
static qk_cta* qk_current;
static int qk_warp_size_rt;
inline int qk_linear() { return threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y; }
inline void __syncthreads() { qk_current->block->arrive_and_wait(); }
static float qk_shfl_xor(float v, int mask, int width) {
  const int t = qk_linear(), w = t / qk_warp_size_rt, lane = t % qk_warp_size_rt;
  auto& b = *qk_current->warps[w];
  qk_current->slots[t] = v; b.arrive_and_wait();
  const int src = (lane & ~(width - 1)) | ((lane ^ mask) & (width - 1));
  const float r = qk_current->slots[w * qk_warp_size_rt + src]; b.arrive_and_wait();
  return r;
}
static int qk_shfl_xor_int(int v, int mask, int width) {
  const int t = qk_linear(), w = t / qk_warp_size_rt, lane = t % qk_warp_size_rt;
  auto& b = *qk_current->warps[w];
  qk_current->islots[t] = v; b.arrive_and_wait();
  const int src = (lane & ~(width - 1)) | ((lane ^ mask) & (width - 1));
  const int r = qk_current->islots[w * qk_warp_size_rt + src]; b.arrive_and_wait();
  return r;
}
// Indexed shuffle with one wavefront barrier: two slot arrays used in turn (a thread can write one
// again only after the next call's barrier, when every lane has read it).
static int qk_shfl_int_slots[2][1024];
static thread_local int qk_shfl_int_turn;
static int qk_shfl_int(int v, int src_lane, int width) {
  const int t = qk_linear(), w = t / qk_warp_size_rt, lane = t % qk_warp_size_rt;
  int* slots = qk_shfl_int_slots[qk_shfl_int_turn ^= 1];
  slots[t] = v; qk_current->warps[w]->arrive_and_wait();
  return slots[w * qk_warp_size_rt + ((lane & ~(width - 1)) | (src_lane & (width - 1)))];
}
static int ggml_cuda_dp4a(int a, int b, int c) {
  const s8* a8 = (const s8*)&a; const s8* b8 = (const s8*)&b;
  return c + a8[0] * b8[0] + a8[1] * b8[1] + a8[2] * b8[2] + a8[3] * b8[3];
}
static float qk_mul_rn(float a, float b) { volatile float r = a * b; return r; }
static float qk_add_rn(float a, float b) { volatile float r = a + b; return r; }
static float qk_div_rn(float a, float b) { volatile float r = a / b; return r; }
static double qk_u64_as_double(u64 v) { double d; memcpy(&d, &v, 8); return d; }
static float qk_int_as_float(u32 v) { float f; memcpy(&f, &v, 4); return f; }
static u32 qk_float_as_uint(float v) { u32 u; memcpy(&u, &v, 4); return u; }
using std::min; using std::max;
// CTAs run one after another, so device-wide ordering holds without fences.
inline void __threadfence() {}
inline unsigned atomicAdd(unsigned* p, unsigned v) { static std::mutex m; std::lock_guard<std::mutex> g(m); const unsigned o = *p; *p = o + v; return o; }
// Launch: CTAs one after another, threads of a CTA concurrently.
template <class F>
void qk_launch(qk_dim3 grid, qk_dim3 block, F kernel) {
  gridDim = grid; blockDim = block;
  const int nt = block.x * block.y * block.z;
  const int nw = (nt + qk_warp_size_rt - 1) / qk_warp_size_rt;
  for (unsigned bz = 0; bz < grid.z; ++bz) for (unsigned by = 0; by < grid.y; ++by) for (unsigned bx = 0; bx < grid.x; ++bx) {
    qk_cta cta;
    cta.block = std::make_unique<std::barrier<>>(nt);
    for (int w = 0; w < nw; ++w) cta.warps.push_back(std::make_unique<std::barrier<>>(std::min(qk_warp_size_rt, nt - w * qk_warp_size_rt)));
    cta.slots.assign(nt, 0); cta.islots.assign(nt, 0);
    qk_current = &cta;
    std::vector<std::thread> ts;
    for (int t = 0; t < nt; ++t) ts.emplace_back([&, t] {
      threadIdx.x = t % block.x; threadIdx.y = (t / block.x) % block.y; threadIdx.z = t / (block.x * block.y);
      blockIdx.x = bx; blockIdx.y = by; blockIdx.z = bz;
      kernel();
      cta.block->arrive_and_drop();
      cta.warps[t / qk_warp_size_rt]->arrive_and_drop();
    });
    for (auto& th : ts) th.join();
  }
}
