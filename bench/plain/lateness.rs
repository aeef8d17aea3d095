//! Timer lateness under load: an echo server (the loop of `echo.rs`) that
//! also runs 100 threads sleeping 10 ms in a loop and 100 threads reading,
//! with a 10 ms read timeout, from connections that never send; each
//! measures how late its sleep or its timeout ends. Driven by `loadgen`
//! with 5,000 busy echo connections (`bench/lateness.sh`).
//!
//! Ordinary blocking std code, built patched with greenstd by
//! `bench-greenstd`. Usage: `lateness ADDR [SECONDS]`: the probes record
//! from 1.5 s after the start for SECONDS (default 3), then the program
//! prints the percentiles and serves on until killed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

const PROBES: usize = 100;
const TICK: Duration = Duration::from_millis(10);
const WARMUP: Duration = Duration::from_millis(1500);

fn handle(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Runs `wait` (which should take `TICK`) in a loop; returns how late each
/// one ended, for those that started between `from` and `until`.
fn probe(from: Instant, until: Instant, mut wait: impl FnMut()) -> Vec<Duration> {
    let mut late = Vec::new();
    loop {
        let t = Instant::now();
        if t >= until {
            return late;
        }
        wait();
        if t >= from {
            late.push(t.elapsed().saturating_sub(TICK));
        }
    }
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    let pct = |p: usize| v[(v.len() - 1) * p / 100].as_secs_f64() * 1e3;
    println!(
        "{what}: n={} p50={:.2}ms p99={:.2}ms max={:.2}ms",
        v.len(),
        pct(50),
        pct(99),
        pct(100)
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let secs: u64 = args.next().map_or(3, |s| s.parse().expect("SECONDS"));
    let listener = TcpListener::bind(&addr).expect("bind");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || handle(stream));
        }
    });

    let start = Instant::now();
    let (from, until) = (start + WARMUP, start + WARMUP + Duration::from_secs(secs));
    let sleepers: Vec<_> = (0..PROBES)
        .map(|_| thread::spawn(move || probe(from, until, || thread::sleep(TICK))))
        .collect();
    // Connections that never send: each read ends by its timeout.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().unwrap();
    let clients: Vec<TcpStream> = (0..PROBES)
        .map(|_| TcpStream::connect(silent_addr).expect("connect"))
        .collect();
    let readers: Vec<_> = (0..PROBES)
        .map(|_| {
            let (mut s, _) = silent.accept().expect("accept");
            s.set_read_timeout(Some(TICK)).unwrap();
            thread::spawn(move || {
                let mut buf = [0u8; 16];
                probe(from, until, || {
                    let r = s.read(&mut buf);
                    assert!(r.is_err(), "a silent connection sent {r:?}");
                })
            })
        })
        .collect();
    let sleeps: Vec<Duration> = sleepers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let reads: Vec<Duration> = readers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    drop(clients);
    report("sleep(10 ms) lateness", sleeps);
    report("read timeout (10 ms) lateness", reads);
    // Serves on until killed: the load outlasts the probes.
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}
