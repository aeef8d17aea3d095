//! Side-by-side costs of greenstd's sync primitives and std's, in one run.
//!
//! ```text
//! cargo run --release -p shim-sync --example sync_bench
//! ```
//!
//! * uncontended `Mutex` lock + unlock on one thread (and, for greenstd, in
//!   a coroutine);
//! * contended `Mutex`: 2 OS threads incrementing one counter (and, for
//!   greenstd, 100 coroutines);
//! * channel ping-pong between two OS threads (and, for greenstd, between
//!   two coroutines).
//!
//! Each figure is the best of three passes.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shim_rt::latch::Latch;
use shim_rt::task::{self, Task};

fn best<F: FnMut() -> Duration>(mut f: F) -> Duration {
    (0..3).map(|_| f()).min().unwrap_or_default()
}

fn ns_per(d: Duration, ops: u64) -> f64 {
    d.as_nanos() as f64 / ops as f64
}

/// Runs `f` in a coroutine and waits for it (from this thread).
fn in_coroutine<F: FnOnce() + Send + 'static>(f: F) {
    let done = Arc::new(Latch::new());
    let d2 = done.clone();
    task::spawn(
        Task::new_coroutine(None),
        None,
        Box::new(move || {
            f();
            d2.set();
        }),
    )
    .expect("spawn a coroutine");
    done.wait();
}

const UNCONTENDED: u64 = 5_000_000;
const CONTENDED: u64 = 500_000;
const PINGS: u64 = 50_000;

fn uncontended_std() -> Duration {
    let m = std::sync::Mutex::new(0u64);
    let t = Instant::now();
    for _ in 0..UNCONTENDED {
        *black_box(&m).lock().unwrap() += 1;
    }
    t.elapsed()
}

fn uncontended_green() -> Duration {
    let m = shim_sync::Mutex::new(0u64);
    let t = Instant::now();
    for _ in 0..UNCONTENDED {
        *black_box(&m).lock().unwrap() += 1;
    }
    t.elapsed()
}

fn uncontended_green_coroutine() -> Duration {
    let out = Arc::new(std::sync::Mutex::new(Duration::ZERO));
    let o2 = out.clone();
    in_coroutine(move || *o2.lock().unwrap() = uncontended_green());
    let d = *out.lock().unwrap();
    d
}

fn contended_threads<M, L>(make: fn() -> M, lock_inc: L) -> Duration
where
    M: Send + Sync + 'static,
    L: Fn(&M) + Send + Sync + Copy + 'static,
{
    let m = Arc::new(make());
    let t = Instant::now();
    let hs: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..CONTENDED {
                    lock_inc(&m);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    t.elapsed()
}

fn contended_green_coroutines() -> Duration {
    const CO: u64 = 100;
    let m = Arc::new(shim_sync::Mutex::new(0u64));
    let t = Instant::now();
    let latches: Vec<_> = (0..CO)
        .map(|_| {
            let m = m.clone();
            let done = Arc::new(Latch::new());
            let d2 = done.clone();
            task::spawn(
                Task::new_coroutine(None),
                None,
                Box::new(move || {
                    for _ in 0..(2 * CONTENDED / CO) {
                        *m.lock().unwrap() += 1;
                    }
                    d2.set();
                }),
            )
            .expect("spawn a coroutine");
            done
        })
        .collect();
    for l in latches {
        l.wait();
    }
    assert_eq!(*m.lock().unwrap(), 2 * CONTENDED);
    t.elapsed()
}

fn ping_pong_std() -> Duration {
    let (tx1, rx1) = std::sync::mpsc::channel::<u64>();
    let (tx2, rx2) = std::sync::mpsc::channel::<u64>();
    let echo = std::thread::spawn(move || {
        for v in rx1 {
            tx2.send(v).unwrap();
        }
    });
    let t = Instant::now();
    for i in 0..PINGS {
        tx1.send(i).unwrap();
        assert_eq!(rx2.recv().unwrap(), i);
    }
    let d = t.elapsed();
    drop(tx1);
    echo.join().unwrap();
    d
}

fn ping_pong_green(coroutines: bool) -> Duration {
    let (tx1, rx1) = shim_sync::mpsc::channel::<u64>();
    let (tx2, rx2) = shim_sync::mpsc::channel::<u64>();
    let echo = move || {
        for v in rx1 {
            tx2.send(v).unwrap();
        }
    };
    let pinger = move || {
        let t = Instant::now();
        for i in 0..PINGS {
            tx1.send(i).unwrap();
            assert_eq!(rx2.recv().unwrap(), i);
        }
        t.elapsed()
    };
    if coroutines {
        let done = Arc::new(Latch::new());
        let d2 = done.clone();
        task::spawn(
            Task::new_coroutine(None),
            None,
            Box::new(move || {
                echo();
                d2.set();
            }),
        )
        .expect("spawn a coroutine");
        let out = Arc::new(std::sync::Mutex::new(Duration::ZERO));
        let o2 = out.clone();
        in_coroutine(move || *o2.lock().unwrap() = pinger());
        done.wait();
        let d = *out.lock().unwrap();
        d
    } else {
        let h = std::thread::spawn(echo);
        let d = pinger();
        drop(pinger); // drops `tx1`: the echo thread's loop ends
        h.join().unwrap();
        d
    }
}

fn main() {
    shim_rt::config::start().expect("start the runtime");
    println!(
        "{:<52} {:>12} {:>12}",
        "work", "std ns/op", "greenstd ns/op"
    );
    let s = best(uncontended_std);
    let g = best(uncontended_green);
    println!(
        "{:<52} {:>12.1} {:>12.1}",
        "Mutex lock+unlock, uncontended, OS thread",
        ns_per(s, UNCONTENDED),
        ns_per(g, UNCONTENDED)
    );
    let gc = best(uncontended_green_coroutine);
    println!(
        "{:<52} {:>12} {:>12.1}",
        "Mutex lock+unlock, uncontended, in a coroutine",
        "-",
        ns_per(gc, UNCONTENDED)
    );
    let s = best(|| {
        contended_threads(
            || std::sync::Mutex::new(0u64),
            |m: &std::sync::Mutex<u64>| *m.lock().unwrap() += 1,
        )
    });
    let g = best(|| {
        contended_threads(
            || shim_sync::Mutex::new(0u64),
            |m: &shim_sync::Mutex<u64>| *m.lock().unwrap() += 1,
        )
    });
    println!(
        "{:<52} {:>12.1} {:>12.1}",
        "Mutex, 2 OS threads contending (per increment)",
        ns_per(s, 2 * CONTENDED),
        ns_per(g, 2 * CONTENDED)
    );
    let gc = best(contended_green_coroutines);
    println!(
        "{:<52} {:>12} {:>12.1}",
        "Mutex, 100 coroutines contending (per increment)",
        "-",
        ns_per(gc, 2 * CONTENDED)
    );
    let s = best(ping_pong_std);
    let g = best(|| ping_pong_green(false));
    println!(
        "{:<52} {:>12.1} {:>12.1}",
        "mpsc ping-pong, 2 OS threads (per round trip)",
        ns_per(s, PINGS),
        ns_per(g, PINGS)
    );
    let gc = best(|| ping_pong_green(true));
    println!(
        "{:<52} {:>12} {:>12.1}",
        "mpsc ping-pong, 2 coroutines (per round trip)",
        "-",
        ns_per(gc, PINGS)
    );
}
