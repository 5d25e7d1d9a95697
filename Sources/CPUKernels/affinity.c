// The CPUs this process may run on, for the thread pool's size (Swift's Glibc module does not export
// sched_getaffinity, a GNU extension).
#define _GNU_SOURCE
#include <sched.h>

#include "cpu_kernels.h"

int qk_affinity_cpu_count(void) {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  return CPU_COUNT(&set);
#else
  return 0;
#endif
}
