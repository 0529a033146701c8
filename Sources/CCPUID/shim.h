// shim.h — the x86-64 CPUID and XGETBV instructions for Swift, which has no intrinsics for them.
// On other architectures every query reports "not available".
#ifndef REFCLIP_CCPUID_SHIM_H
#define REFCLIP_CCPUID_SHIM_H

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/// Fills regs with EAX, EBX, ECX, EDX of CPUID(leaf, subleaf); returns 0 when the leaf does not exist.
static inline int refclip_cpuid(unsigned leaf, unsigned subleaf, unsigned regs[4]) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned highest = __get_cpuid_max(leaf & 0x80000000u, 0);
    if (highest == 0 || leaf > highest) return 0;
    __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
    return 1;
#else
    (void)leaf; (void)subleaf; regs[0] = regs[1] = regs[2] = regs[3] = 0;
    return 0;
#endif
}

/// XCR0: which register states the operating system saves (bits 1–2 SSE/AVX, 5–7 AVX-512). Call only
/// when CPUID.1:ECX.OSXSAVE (bit 27) is set; otherwise the instruction faults.
static inline unsigned long long refclip_xgetbv0(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
#else
    return 0;
#endif
}

#endif
