//! N threads (coroutines: this crate's `std` is greenstd) each GET one page
//! with minreq, a blocking HTTP client from crates.io, from the server given
//! on the command line (`green-fixture HOST:PORT [N]`), or without one from
//! a demo server it starts in a child process (`cargo green run`). Prints
//! one line: `requests=N ok=N elapsed_ms=N os_threads=N`.
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

/// `--serve`: an HTTP server on 127.0.0.1 (this crate's own code, so its
/// threads are coroutines either way) that answers `ok` after 100 ms;
/// prints its address, then serves until killed.
fn serve() -> std::io::Result<()> {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    // SAFETY: listen(2) on the listener's own open descriptor, only to
    // raise the backlog (200 clients connect at once).
    unsafe { libc::listen(listener.as_raw_fd(), 1024) };
    println!("{}", listener.local_addr()?);
    for conn in listener.incoming() {
        let mut conn = conn?;
        thread::spawn(move || {
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            thread::sleep(std::time::Duration::from_millis(100));
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        });
    }
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--serve") {
        serve().expect("server failed");
        return;
    }
    // Without an address: the demo server in a child process of our own.
    let mut child = None;
    let addr = match first {
        Some(addr) => addr,
        None => {
            use std::io::BufRead;
            let mut c = std::process::Command::new(std::env::current_exe().expect("own path"))
                .arg("--serve")
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("cannot start the demo server");
            let mut line = String::new();
            std::io::BufReader::new(c.stdout.take().expect("piped"))
                .read_line(&mut line)
                .expect("demo server address");
            child = Some(c);
            line.trim().to_string()
        }
    };
    let n: usize = args
        .next()
        .map_or(200, |s| s.parse().expect("REQUESTS: a number"));
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
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
}
