//! Primitive micro-benchmarks in ordinary std code: spawn+join, yield_now,
//! park/unpark round trip, contended `Mutex`, channel ping-pong.
//!
//! Built twice, like `echo.rs`: unpatched (OS threads) and patched with
//! greenstd (coroutines). Every benchmark runs inside a spawned thread, so
//! under greenstd the measuring code itself is a coroutine.
//!
//! Usage: `prims [MILLIS [NAME]]` (time per benchmark, default 1000; only
//! the benchmark NAME). Prints one line per benchmark: `NAME OPS_PER_SECOND`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Threads in the yield and mutex benchmarks.
const CONTENDERS: usize = 4;

/// A benchmark: runs for the given time, returns operations per second.
type Bench = fn(Duration) -> f64;

fn spawn_join(d: Duration) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < d {
        thread::spawn(|| ()).join().unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn yield_now(d: Duration) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            thread::spawn(move || {
                let mut n = 0u64;
                loop {
                    for _ in 0..64 {
                        thread::yield_now();
                    }
                    n += 64;
                    if start.elapsed() >= d {
                        return n;
                    }
                }
            })
        })
        .collect();
    let n: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    n as f64 / start.elapsed().as_secs_f64()
}

fn park_round_trip(d: Duration) -> f64 {
    // `turn` odd: the partner's move; even: ours. u64::MAX: stop.
    let turn = Arc::new(AtomicU64::new(0));
    let main = thread::current();
    let t = turn.clone();
    let partner = thread::spawn(move || {
        let mut expect = 1;
        loop {
            let v = t.load(Ordering::Acquire);
            if v == u64::MAX {
                return;
            }
            if v != expect {
                thread::park();
                continue;
            }
            t.store(expect + 1, Ordering::Release);
            expect += 2;
            main.unpark();
        }
    });
    let start = Instant::now();
    let mut n = 0u64;
    let mut next = 1;
    while start.elapsed() < d {
        for _ in 0..64 {
            turn.store(next, Ordering::Release);
            partner.thread().unpark();
            while turn.load(Ordering::Acquire) != next + 1 {
                thread::park();
            }
            next += 2;
        }
        n += 64;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    turn.store(u64::MAX, Ordering::Release);
    partner.thread().unpark();
    partner.join().unwrap();
    rate
}

fn mutex_contended(d: Duration) -> f64 {
    let counter = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let handles: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            let counter = counter.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        *counter.lock().unwrap() += 1;
                    }
                }
            })
        })
        .collect();
    thread::sleep(d);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let n = *counter.lock().unwrap();
    n as f64 / start.elapsed().as_secs_f64()
}

fn channel_ping_pong(d: Duration) -> f64 {
    let (ping_tx, ping_rx) = mpsc::channel::<u64>();
    let (pong_tx, pong_rx) = mpsc::channel::<u64>();
    let partner = thread::spawn(move || {
        for v in ping_rx {
            if pong_tx.send(v).is_err() {
                return;
            }
        }
    });
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < d {
        for _ in 0..64 {
            ping_tx.send(n).unwrap();
            pong_rx.recv().unwrap();
            n += 1;
        }
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(ping_tx);
    partner.join().unwrap();
    rate
}

fn main() {
    let millis: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("MILLIS"))
        .unwrap_or(1000);
    let d = Duration::from_millis(millis);
    let benches: [(&str, Bench); 5] = [
        ("spawn_join", spawn_join),
        ("yield_now", yield_now),
        ("park_round_trip", park_round_trip),
        ("mutex_contended", mutex_contended),
        ("channel_ping_pong", channel_ping_pong),
    ];
    let only = std::env::args().nth(2);
    for (name, f) in benches {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let rate = thread::spawn(move || f(d)).join().unwrap();
        println!("{name} {rate:.0}");
    }
}
