// The floor of spawning N greenstd coroutines: the kernel's part alone. Per
// slot of a stack arena (2 MiB + 4 KiB slots in MAP_NORESERVE chunks, as
// vendor/generator/src/stack/arena.rs carves them) one MADV_GUARD_INSTALL on
// its lowest page and one write to its top page; THREADS threads each take a
// contiguous share of the slots. No runtime, no coroutine.
//
//   cc -O2 -pthread bench/scale-floor.c -o /tmp/scale-floor
//   /tmp/scale-floor 1000000 2          # N THREADS [SLOT_BYTES]
//
// Linux 6.13+ (guard regions). See BENCHMARKS.md, "Issue 24, spawning a
// million (this stop)".
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#define MADV_GUARD_INSTALL 102
static size_t slot, per_chunk = 1 << 14;
static long n, threads;
static char **chunks;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void *work(void *arg) {
    long t = (long)arg;
    long lo = n * t / threads, hi = n * (t + 1) / threads;
    for (long i = lo; i < hi; i++) {
        char *base = chunks[i / per_chunk] + (i % per_chunk) * slot;
        if (madvise(base, 4096, MADV_GUARD_INSTALL)) { perror("guard"); exit(1); }
        *(volatile long *)(base + slot - 64) = i;
    }
    return 0;
}
int main(int argc, char **argv) {
    n = atol(argv[1]); threads = atol(argv[2]);
    slot = argc > 3 ? atol(argv[3]) : (2 << 20) + 4096;
    long nchunks = (n + per_chunk - 1) / per_chunk;
    chunks = calloc(nchunks, sizeof *chunks);
    for (long c = 0; c < nchunks; c++) {
        chunks[c] = mmap(0, per_chunk * slot, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (chunks[c] == MAP_FAILED) { perror("mmap"); return 1; }
        madvise(chunks[c], per_chunk * slot, MADV_NOHUGEPAGE);
    }
    double t0 = now();
    pthread_t th[16];
    for (long t = 0; t < threads; t++) pthread_create(&th[t], 0, work, (void *)t);
    for (long t = 0; t < threads; t++) pthread_join(th[t], 0);
    printf("n=%ld threads=%ld slot=%zu secs=%.3f\n", n, threads, slot, now() - t0);
    return 0;
}
