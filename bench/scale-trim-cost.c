// What the stack arena's trim sweep pays per stack that never went below
// where it parks (only its top page touched): madvise(MADV_DONTNEED) of its
// empty lower range, mincore of the one page below the offer, the same
// madvise batched 32 ranges per process_madvise, and one mincore over 64
// slots at once. Each twice.
//
//   cc -O2 bench/scale-trim-cost.c -o /tmp/scale-trim-cost
//   /tmp/scale-trim-cost 20000          # slots
//
// Linux 6.13+ (guard regions, process_madvise of any advice on itself).
// See BENCHMARKS.md, "Issue 24, spawning a million (this stop)".
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>
#define MADV_GUARD_INSTALL 102
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    size_t slot = (2 << 20) + 4096, pg = 4096;
    char *base = mmap(0, n * slot, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    madvise(base, n * slot, MADV_NOHUGEPAGE);
    for (long i = 0; i < n; i++) { madvise(base + i * slot, pg, MADV_GUARD_INSTALL); base[i * slot + slot - 64] = 1; }
    int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
    for (int round = 0; round < 2; round++) {
    double t = now();
    for (long i = 0; i < n; i++) madvise(base + i * slot + pg, slot - 2 * pg, MADV_DONTNEED);
    printf("madvise per slot: %.3f us\n", (now() - t) / n * 1e6);
    t = now();
    unsigned char v;
    for (long i = 0; i < n; i++) mincore(base + i * slot + slot - 2 * pg, pg, &v);
    printf("mincore 1 page per slot: %.3f us\n", (now() - t) / n * 1e6);
    t = now();
    struct iovec iov[32];
    long bad = 0;
    for (long i = 0; i < n; i += 32) {
        int k = 0;
        for (long j = i; j < n && j < i + 32; j++, k++) { iov[k].iov_base = base + j * slot + pg; iov[k].iov_len = slot - 2 * pg; }
        if (syscall(SYS_process_madvise, pidfd, iov, k, MADV_DONTNEED, 0) < 0) bad++;
    }
    printf("process_madvise 32 per call: %.3f us per slot (failed calls %ld)\n", (now() - t) / n * 1e6, bad);
    static unsigned char vec[64 * 514];
    t = now();
    for (long i = 0; i + 64 <= n; i += 64) mincore(base + i * slot, 64 * slot, vec);
    printf("mincore 64 slots per call: %.3f us per slot\n", (now() - t) / n * 1e6);
    }
    return 0;
}
