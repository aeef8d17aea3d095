//! Echo round trips per second: 64-byte messages over N loopback
//! connections, client and server in one process.
//!
//! ```text
//! cargo run --release -p shim-net --example echo_rtt -- green 1000 5
//! cargo run --release -p shim-net --example echo_rtt -- std 1000 5
//! ```
//!
//! `green`: shim-net sockets, one coroutine per connection end (workers:
//! `GREENSTD_WORKERS`, default the CPU count). `std`: std's sockets, one OS
//! thread per connection end.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn go(f: impl FnOnce() + Send + 'static) {
    shim_rt::task::spawn(shim_rt::task::Task::new_coroutine(None), None, Box::new(f))
        .expect("spawn coroutine");
}

fn os_thread(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(f)
        .expect("spawn thread");
}

struct Stats {
    stop: AtomicBool,
    trips: AtomicU64,
    done: AtomicUsize,
    connected: AtomicUsize,
}

/// One client: ping-pong 64 bytes until `stop`.
fn client<S: Read + Write>(mut s: S, stats: &Stats) {
    let msg = [7u8; 64];
    let mut back = [0u8; 64];
    let mut n = 0;
    while !stats.stop.load(Ordering::Relaxed) {
        s.write_all(&msg).unwrap();
        s.read_exact(&mut back).unwrap();
        n += 1;
        if n % 64 == 0 {
            stats.trips.fetch_add(64, Ordering::Relaxed);
        }
    }
    stats.trips.fetch_add(n % 64, Ordering::Relaxed);
    stats.done.fetch_add(1, Ordering::SeqCst);
}

fn echo<S: Read + Write>(mut s: S) {
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Before starting client `i`: connect in waves of 64, so std's listen
/// backlog (128) never overflows.
fn wave(i: usize, connected: &AtomicUsize) {
    if i.is_multiple_of(64) && i > 0 {
        wait_for(connected, i, "connected");
    }
}

/// Waits until `count` reaches `n`, reporting progress every 5 s.
fn wait_for(count: &AtomicUsize, n: usize, what: &str) {
    let t = Instant::now();
    let mut next = 5;
    while count.load(Ordering::SeqCst) < n {
        std::thread::sleep(Duration::from_millis(10));
        if t.elapsed().as_secs() >= next {
            eprintln!("{}/{n} {what} after {next} s", count.load(Ordering::SeqCst));
            next += 5;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("green");
    let conns: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let secs: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(5);
    let stats = Arc::new(Stats {
        stop: AtomicBool::new(false),
        trips: AtomicU64::new(0),
        done: AtomicUsize::new(0),
        connected: AtomicUsize::new(0),
    });

    match mode {
        "green" => {
            let l = shim_net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            go(move || loop {
                let (s, _) = l.accept().unwrap();
                s.set_nodelay(true).unwrap();
                go(move || echo(s));
            });
            for i in 0..conns {
                wave(i, &stats.connected);
                let stats = stats.clone();
                go(move || {
                    let s = shim_net::TcpStream::connect(addr).unwrap();
                    s.set_nodelay(true).unwrap();
                    stats.connected.fetch_add(1, Ordering::SeqCst);
                    client(s, &stats);
                });
            }
        }
        "std" => {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            os_thread(move || loop {
                let (s, _) = l.accept().unwrap();
                s.set_nodelay(true).unwrap();
                os_thread(move || echo(s));
            });
            for i in 0..conns {
                wave(i, &stats.connected);
                let stats = stats.clone();
                os_thread(move || {
                    let s = std::net::TcpStream::connect(addr).unwrap();
                    s.set_nodelay(true).unwrap();
                    stats.connected.fetch_add(1, Ordering::SeqCst);
                    client(s, &stats);
                });
            }
        }
        other => {
            eprintln!("unknown mode {other}: use green or std");
            std::process::exit(2);
        }
    }

    wait_for(&stats.connected, conns, "connected");
    let start_trips = stats.trips.load(Ordering::Relaxed);
    let t = Instant::now();
    let mut last = start_trips;
    for _ in 0..secs * 10 {
        std::thread::sleep(Duration::from_millis(100));
        let now = stats.trips.load(Ordering::Relaxed);
        if std::env::var_os("ECHO_RTT_VERBOSE").is_some() {
            eprintln!("  {} round trips/s", (now - last) * 10);
        }
        last = now;
    }
    stats.stop.store(true, Ordering::SeqCst);
    wait_for(&stats.done, conns, "finished");
    let elapsed = t.elapsed().as_secs_f64();
    let trips = stats.trips.load(Ordering::Relaxed) - start_trips;
    println!(
        "{mode}: {conns} connections, {trips} round trips in {elapsed:.2} s = {:.0} round trips/s",
        trips as f64 / elapsed
    );
}
