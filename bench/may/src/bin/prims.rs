//! The primitives of `bench/plain/prims.rs`, written directly on may:
//! `go!` + `join`, `coroutine::yield_now`, coroutine park/unpark,
//! `may::sync::Mutex`, `may::sync::mpsc`. Every benchmark runs inside a
//! coroutine.
//!
//! Usage: `may-prims [MILLIS [NAME]]`. Prints `NAME OPS_PER_SECOND` lines.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use may::coroutine;
use may::go;
use may::sync::{mpsc, Mutex};

/// Coroutines in the yield and mutex benchmarks.
const CONTENDERS: usize = 4;

/// A benchmark: runs for the given time, returns operations per second.
type Bench = fn(Duration) -> f64;

fn spawn_join(d: Duration) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < d {
        go!(|| ()).join().unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn yield_now(d: Duration) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            go!(move || {
                let mut n = 0u64;
                loop {
                    for _ in 0..64 {
                        coroutine::yield_now();
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
    let turn = Arc::new(AtomicU64::new(0));
    let main = coroutine::current();
    let t = turn.clone();
    let partner = go!(move || {
        let mut expect = 1;
        loop {
            let v = t.load(Ordering::Acquire);
            if v == u64::MAX {
                return;
            }
            if v != expect {
                coroutine::park();
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
            partner.coroutine().unpark();
            while turn.load(Ordering::Acquire) != next + 1 {
                coroutine::park();
            }
            next += 2;
        }
        n += 64;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    turn.store(u64::MAX, Ordering::Release);
    partner.coroutine().unpark();
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
            go!(move || {
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        *counter.lock().unwrap() += 1;
                    }
                }
            })
        })
        .collect();
    coroutine::sleep(d);
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
    let partner = go!(move || {
        while let Ok(v) = ping_rx.recv() {
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
    may::config().set_worker_pin(false);
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
        let rate = go!(move || f(d)).join().unwrap();
        println!("{name} {rate:.0}");
    }
}
