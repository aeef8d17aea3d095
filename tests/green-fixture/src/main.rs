//! N threads (coroutines: this crate's `std` is greenstd) each GET one page
//! with minreq, a blocking HTTP client from crates.io, from the server given
//! on the command line. Prints one line:
//! `requests=N ok=N elapsed_ms=N os_threads=N`.
//!
//! Built with plain `cargo build`, minreq keeps std's blocking sockets and
//! each request holds a worker for the server's whole delay. Built with
//! `cargo green build`, minreq is rebuilt against greenstd and the requests
//! wait together.

use std::thread;
use std::time::Instant;

fn os_threads() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().expect("usage: green-fixture HOST:PORT [REQUESTS]");
    let n: usize = args.next().map_or(200, |s| s.parse().expect("REQUESTS: a number"));
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let url = format!("http://{addr}/{i}");
            thread::spawn(move || {
                let r = minreq::get(url).with_timeout(120).send();
                matches!(r, Ok(ref r) if r.status_code == 200 && matches!(r.as_str(), Ok("ok")))
            })
        })
        .collect();
    let mut max_threads = os_threads();
    let mut ok = 0;
    for h in handles {
        max_threads = max_threads.max(os_threads());
        ok += usize::from(h.join().unwrap_or(false));
    }
    println!(
        "requests={n} ok={ok} elapsed_ms={} os_threads={max_threads}",
        start.elapsed().as_millis()
    );
}
