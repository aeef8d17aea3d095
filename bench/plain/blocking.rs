//! Blocking work in ordinary std code: what the hand-off of a blocked
//! worker and the inline file system are for (issue 20).
//!
//! Built twice, like `echo.rs`: unpatched (OS threads) and patched with
//! greenstd (coroutines). Every job runs inside a spawned thread, so under
//! greenstd the measuring code itself is a coroutine.
//!
//! Usage: `blocking [NAME]`. Prints one line per job: `NAME MILLISECONDS`
//! (wall time of the whole job).
//!
//! * `syscall_1ms`: 1,000 threads each make one blocking system call of
//!   1 ms that greenstd cannot see (a raw `nanosleep`, as FFI or a crate's
//!   own poller blocks) — under greenstd, each holds its worker's thread
//!   until the monitor hands the worker off.
//! * `fs_read`: 100 threads each read the same 1 MiB file 20 times
//!   (`std::fs::read`, from the page cache).
//! * `fs_meta`: 100 threads each open, stat and close 200 small files
//!   (a directory walker's calls).

use std::thread;
use std::time::{Duration, Instant};

fn syscall_1ms() -> Duration {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..1000)
        .map(|_| {
            thread::spawn(|| {
                let ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 1_000_000,
                };
                // SAFETY: a plain nanosleep with a valid request and no remainder.
                unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    t0.elapsed()
}

fn scratch_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("greenstd-bench-blocking-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fs_read() -> Duration {
    let dir = scratch_dir();
    let path = dir.join("one-mib");
    std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
    // Warm the page cache.
    assert_eq!(std::fs::read(&path).unwrap().len(), 1 << 20);
    let t0 = Instant::now();
    let hs: Vec<_> = (0..100)
        .map(|_| {
            let path = path.clone();
            thread::spawn(move || {
                for _ in 0..20 {
                    assert_eq!(std::fs::read(&path).unwrap().len(), 1 << 20);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let took = t0.elapsed();
    std::fs::remove_dir_all(&dir).unwrap();
    took
}

fn fs_meta() -> Duration {
    let dir = scratch_dir();
    let paths: Vec<_> = (0..200)
        .map(|i| {
            let p = dir.join(format!("f{i}"));
            std::fs::write(&p, b"x").unwrap();
            p
        })
        .collect();
    let paths = std::sync::Arc::new(paths);
    let t0 = Instant::now();
    let hs: Vec<_> = (0..100)
        .map(|_| {
            let paths = paths.clone();
            thread::spawn(move || {
                for p in paths.iter() {
                    let f = std::fs::File::open(p).unwrap();
                    assert_eq!(f.metadata().unwrap().len(), 1);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let took = t0.elapsed();
    std::fs::remove_dir_all(&dir).unwrap();
    took
}

/// A job: runs once, returns its wall time.
type Job = fn() -> Duration;

fn main() {
    let jobs: [(&str, Job); 3] = [
        ("syscall_1ms", syscall_1ms),
        ("fs_read", fs_read),
        ("fs_meta", fs_meta),
    ];
    let only = std::env::args().nth(1);
    for (name, f) in jobs {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let took = thread::spawn(f).join().unwrap();
        println!("{name} {:.1}", took.as_secs_f64() * 1e3);
    }
}
