//! Primitive micro-benchmarks in ordinary std code: spawn+join, yield_now,
//! park/unpark round trip, contended `Mutex`, channel ping-pong, and (only
//! when named) a TCP ping-pong over loopback.
//!
//! Built twice, like `echo.rs`: unpatched (OS threads) and patched with
//! greenstd (coroutines). Every benchmark runs inside a spawned thread, so
//! under greenstd the measuring code itself is a coroutine.
//!
//! Usage: `prims [MILLIS [NAME]]` (time per benchmark, default 1000; only
//! the benchmark NAME). `xN` instead of `MILLIS` runs N operations of each
//! (for instruction counts: `bench/callgrind.sh`). Prints one line per
//! benchmark: `NAME OPS_PER_SECOND`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Threads in the yield and mutex benchmarks.
const CONTENDERS: usize = 4;

/// A benchmark: runs for its budget, returns operations per second.
type Bench = fn(Budget) -> f64;

/// How long a benchmark runs: for a time (`MILLIS`), or for a fixed number
/// of operations (`xN`: instruction counts per operation under callgrind,
/// see `bench/callgrind.sh`).
#[derive(Clone, Copy)]
enum Budget {
    Time(Duration),
    Ops(u64),
}

impl Budget {
    /// `true` while a loop that has done `done` operations since `start`
    /// should go on.
    fn more(self, start: Instant, done: u64) -> bool {
        match self {
            Budget::Time(d) => start.elapsed() < d,
            Budget::Ops(n) => done < n,
        }
    }

    /// One contender's share.
    fn share(self, contenders: usize) -> Budget {
        match self {
            Budget::Ops(n) => Budget::Ops(n.div_ceil(contenders as u64)),
            t => t,
        }
    }
}

fn spawn_join(d: Budget) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while d.more(start, n) {
        thread::spawn(|| ()).join().unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn yield_now(d: Budget) -> f64 {
    let start = Instant::now();
    let d = d.share(CONTENDERS);
    let handles: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            thread::spawn(move || {
                let mut n = 0u64;
                loop {
                    for _ in 0..64 {
                        thread::yield_now();
                    }
                    n += 64;
                    if !d.more(start, n) {
                        return n;
                    }
                }
            })
        })
        .collect();
    let n: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    n as f64 / start.elapsed().as_secs_f64()
}

fn park_round_trip(d: Budget) -> f64 {
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
    while d.more(start, n) {
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

fn mutex_contended(d: Budget) -> f64 {
    let counter = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let share = d.share(CONTENDERS);
    let handles: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            let counter = counter.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                let go_on = |n| match share {
                    Budget::Time(_) => !stop.load(Ordering::Relaxed),
                    Budget::Ops(_) => share.more(start, n),
                };
                let mut n = 0u64;
                while go_on(n) {
                    for _ in 0..256 {
                        *counter.lock().unwrap() += 1;
                    }
                    n += 256;
                }
            })
        })
        .collect();
    if let Budget::Time(d) = d {
        thread::sleep(d);
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let n = *counter.lock().unwrap();
    n as f64 / start.elapsed().as_secs_f64()
}

fn channel_ping_pong(d: Budget) -> f64 {
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
    while d.more(start, n) {
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

/// One byte-sized request and its reply between two threads over one TCP
/// connection on loopback: the path of an echo round trip (a read that
/// waits for readiness, a write that does not), both ends in this process.
/// Under greenstd with one worker every round trip is the same sequence,
/// so its instruction count does not swing with how a client's requests
/// batch (`bench/callgrind.sh greenstd tcp_ping_pong`).
fn tcp_ping_pong(d: Budget) -> f64 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let partner = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => s.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = [0u8; 64];
    let start = Instant::now();
    let mut n = 0u64;
    while d.more(start, n) {
        for _ in 0..64 {
            s.write_all(&[7; 16]).unwrap();
            let mut got = 0;
            while got < 16 {
                got += s.read(&mut buf).unwrap();
            }
            n += 1;
        }
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(s);
    partner.join().unwrap();
    rate
}

fn main() {
    let d = match std::env::args().nth(1) {
        None => Budget::Time(Duration::from_millis(1000)),
        Some(a) => match a.strip_prefix('x') {
            Some(n) => Budget::Ops(n.parse().expect("xOPS")),
            None => Budget::Time(Duration::from_millis(a.parse().expect("MILLIS"))),
        },
    };
    let benches: [(&str, Bench); 5] = [
        ("spawn_join", spawn_join),
        ("yield_now", yield_now),
        ("park_round_trip", park_round_trip),
        ("mutex_contended", mutex_contended),
        ("channel_ping_pong", channel_ping_pong),
    ];
    // Run only when named.
    let extra: [(&str, Bench); 1] = [("tcp_ping_pong", tcp_ping_pong)];
    let only = std::env::args().nth(2);
    for (name, f) in benches.into_iter().chain(extra) {
        let named = only.as_deref() == Some(name);
        if !named && (only.is_some() || extra.iter().any(|&(e, _)| e == name)) {
            continue;
        }
        let rate = thread::spawn(move || f(d)).join().unwrap();
        println!("{name} {rate:.0}");
    }
}
