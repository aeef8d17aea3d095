//! Coroutine stacks: many parked coroutines without a memory mapping each,
//! stack overflow on stacks from the arena, and stacks that give back the
//! pages they no longer use.

use greenstd::sync::{Condvar, Mutex};
use greenstd::thread;
use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs this test binary again, only `test`, with `GREENSTD_CHILD` set.
fn run_child(test: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("GREENSTD_CHILD", "1")
        .env("RUST_BACKTRACE", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn is_child() -> bool {
    std::env::var_os("GREENSTD_CHILD").is_some()
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

/// Whether this kernel has guard regions (`MADV_GUARD_INSTALL`, Linux
/// 6.13+), which the stack arena needs.
fn guard_regions() -> bool {
    // SAFETY: a scratch page of our own, unmapped below.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        let ok = libc::madvise(p, 4096, 102) == 0;
        libc::munmap(p, 4096);
        ok
    }
}

fn assert_child_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
    waiting: AtomicUsize,
}

impl Gate {
    fn new() -> Arc<Gate> {
        Arc::new(Gate {
            open: Mutex::new(false),
            cv: Condvar::new(),
            waiting: AtomicUsize::new(0),
        })
    }

    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
    }

    fn until_waiting(&self, n: usize, limit: Duration) {
        let start = Instant::now();
        while self.waiting.load(Ordering::Relaxed) < n {
            assert!(
                start.elapsed() < limit,
                "{} of {n} waiting after {limit:?}",
                self.waiting.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

/// 100,000 threads parked on one `Condvar`, default settings: more than
/// `vm.max_map_count` (65,530) allows with a mapping per stack, on few
/// workers and little memory each.
#[test]
fn a_hundred_thousand_parked_threads_on_default_settings() {
    if !is_child() {
        // Two workers, as a small machine; everything else default.
        let out = run_child(
            "a_hundred_thousand_parked_threads_on_default_settings",
            &[("GREENSTD_WORKERS", "2")],
        );
        assert_child_ok(&out);
        return;
    }
    const N: usize = 100_000;
    thread::spawn(|| ()).join().unwrap();
    assert_eq!(
        greenstd::green::runtime().unwrap().stack_size,
        2 * 1024 * 1024
    );
    let (rss0, maps0) = (status_kib("VmRSS:"), mappings());
    let gate = Gate::new();
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let gate = gate.clone();
            thread::spawn(move || gate.wait())
        })
        .collect();
    gate.until_waiting(N, Duration::from_secs(60));
    let rss = status_kib("VmRSS:") - rss0;
    let maps = mappings() - maps0;
    // A parked coroutine's stack is a page or two, its task a few hundred
    // bytes: 4.6 KiB in a release build. Loosely, for a debug build.
    assert!(rss * 1024 / (N as u64) < 24 * 1024, "{rss} KiB for {N}");
    if guard_regions() {
        // No mapping per stack: a few chunks of the arena.
        assert!(maps < 1_000, "{maps} new mappings for {N} stacks");
    }
    gate.open();
    for h in handles {
        h.join().unwrap();
    }
}

/// Recurses until the stack overflows (the bound is never reached).
fn recurse(n: u64) -> u64 {
    let buf = [n; 64];
    black_box(&buf);
    if n == u64::MAX {
        return 0;
    }
    recurse(n + 1) + buf[3]
}

/// An overflow of a stack taken from the arena's free list, after that
/// slot's pages were returned to the kernel, still hits its guard page and
/// aborts with std's message naming the thread. With the arena switched
/// off (`GREENSTD_STACK_ARENA=0`), the per-stack mappings catch it too.
#[test]
fn overflow_of_a_reused_arena_stack_aborts_with_the_message() {
    const NAME: &str = "overflow_of_a_reused_arena_stack_aborts_with_the_message";
    if !is_child() {
        for env in [&[][..], &[("GREENSTD_STACK_ARENA", "0")][..]] {
            let out = run_child(NAME, env);
            let stderr = String::from_utf8_lossy(&out.stderr);
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                out.status.signal(),
                Some(libc::SIGABRT),
                "{env:?}: {stderr}"
            );
            assert!(
                stderr.contains("thread 'deep' has overflowed its stack"),
                "{env:?}: {stderr}"
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("REUSED"), "{env:?}: {stdout}");
            assert!(!stdout.contains("UNREACHABLE"), "{env:?}: {stdout}");
        }
        return;
    }
    // 64 KiB stacks are not pooled: they come from, and go back to, the
    // arena's free list of that size.
    const STACK: usize = 64 * 1024;
    let handles: Vec<_> = (0..64)
        .map(|_| {
            thread::Builder::new()
                .stack_size(STACK)
                .spawn(|| black_box([1u8; 16 * 1024]).len())
                .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // The monitor's trim returns freed slots' pages within two periods.
    std::thread::sleep(Duration::from_millis(1_500));
    println!("REUSED");
    let h = thread::Builder::new()
        .name("deep".into())
        .stack_size(STACK)
        .spawn(|| recurse(0))
        .unwrap();
    let _ = h.join();
    println!("UNREACHABLE: the process went on after a stack overflow");
}

/// Fills `WORDS` words of stack with a pattern from `seed` and checks it
/// back: pages of a trimmed stack used again must work as new.
#[inline(never)]
fn deep_sum<const WORDS: usize>(seed: u64) -> u64 {
    let mut buf = [0u64; WORDS];
    for (i, w) in buf.iter_mut().enumerate() {
        *w = seed.wrapping_mul(31).wrapping_add(i as u64);
    }
    black_box(&mut buf);
    let mut sum = 0u64;
    for (i, w) in buf.iter().enumerate() {
        assert_eq!(*w, seed.wrapping_mul(31).wrapping_add(i as u64));
        sum = sum.wrapping_add(*w);
    }
    sum
}

fn expected_sum(seed: u64, words: usize) -> u64 {
    (0..words as u64).fold(0u64, |s, i| {
        s.wrapping_add(seed.wrapping_mul(31).wrapping_add(i))
    })
}

/// Coroutines that went 256 KiB deep and then parked give those pages back
/// (RSS falls) while what they still use, their live frames, stays intact;
/// woken, they go as deep again and compute the same as before.
#[test]
fn a_trimmed_stack_used_deep_again_works() {
    if !is_child() {
        let out = run_child(
            "a_trimmed_stack_used_deep_again_works",
            &[("GREENSTD_WORKERS", "2")],
        );
        assert_child_ok(&out);
        return;
    }
    const N: usize = 200;
    // 32 Ki words: 256 KiB.
    const WORDS: usize = 32 * 1024;
    thread::spawn(|| ()).join().unwrap();
    let rss0 = status_kib("VmRSS:");
    let gate = Gate::new();
    let handles: Vec<_> = (0..N as u64)
        .map(|seed| {
            let gate = gate.clone();
            thread::spawn(move || {
                // Live data in this frame, above where it parks.
                let mut live = [0u64; 512];
                for (i, w) in live.iter_mut().enumerate() {
                    *w = seed ^ i as u64;
                }
                black_box(&mut live);
                assert_eq!(deep_sum::<WORDS>(seed), expected_sum(seed, WORDS));
                gate.wait();
                for (i, w) in black_box(&live).iter().enumerate() {
                    assert_eq!(*w, seed ^ i as u64, "live frame data changed");
                }
                assert_eq!(deep_sum::<WORDS>(seed + 1), expected_sum(seed + 1, WORDS));
            })
        })
        .collect();
    gate.until_waiting(N, Duration::from_secs(30));
    let deep = status_kib("VmRSS:").saturating_sub(rss0);
    assert!(
        deep as usize > N * 200,
        "{deep} KiB after {N} went 256 KiB deep"
    );
    // Trimmed within two monitor periods (0.5 s each); generous bound.
    let start = Instant::now();
    loop {
        let now = status_kib("VmRSS:").saturating_sub(rss0);
        if (now as usize) < N * 64 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "RSS {now} KiB for {N} parked coroutines 10 s after they went deep ({deep} KiB then)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    gate.open();
    for h in handles {
        h.join().unwrap();
    }
}
