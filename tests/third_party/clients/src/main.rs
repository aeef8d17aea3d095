//! Many threads of blocking clients against real servers on loopback.
//!
//! ```text
//! real-clients redis ADDR THREADS          each thread: a connection, 50 SET + GET
//! real-clients postgres CONNSTR THREADS    each thread: a connection, 5 × SELECT pg_sleep(0.05)
//! real-clients http URL THREADS shared|each  5 GETs per thread: one Client, or one per request
//! real-clients serve                       an HTTP server answering after 100 ms; prints its port
//! ```
//!
//! Prints `ok=N elapsed_ms=T os_threads=P` (P: the most OS threads seen).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn os_threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn serve() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    for conn in listener.incoming().flatten() {
        std::thread::spawn(move || answer(conn));
    }
}

/// HTTP/1.1 with keep-alive: every request answered `ok` after 100 ms.
fn answer(conn: TcpStream) {
    let mut out = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        if out
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.get(1).map(String::as_str) == Some("serve") {
        return serve();
    }
    let (mode, target, threads) = (a[1].clone(), a[2].clone(), a[3].parse::<usize>().unwrap());
    let shared = a.get(4).map(String::as_str) != Some("each");
    let peak = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                peak.fetch_max(os_threads(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let ok = Arc::new(AtomicUsize::new(0));
    let client = (mode == "http").then(reqwest::blocking::Client::new);
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (mode, target, ok, client) =
                (mode.clone(), target.clone(), ok.clone(), client.clone());
            std::thread::spawn(move || match mode.as_str() {
                "redis" => {
                    let c = redis::Client::open(format!("redis://{target}/")).unwrap();
                    let mut con = c.get_connection().unwrap();
                    for j in 0..50 {
                        let key = format!("k{i}-{j}");
                        let _: () = redis::cmd("SET").arg(&key).arg(j).query(&mut con).unwrap();
                        let v: usize = redis::cmd("GET").arg(&key).query(&mut con).unwrap();
                        if v == j {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                "postgres" => {
                    let mut c = postgres::Client::connect(&target, postgres::NoTls).unwrap();
                    for _ in 0..5 {
                        if c.query_one("SELECT pg_sleep(0.05)", &[]).is_ok() {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                "http" => {
                    for _ in 0..5 {
                        let c = if shared {
                            client.clone().expect("http mode")
                        } else {
                            reqwest::blocking::Client::new()
                        };
                        let body = c.get(&target).send().and_then(|r| r.text());
                        if body.map(|b| b == "ok").unwrap_or(false) {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                other => panic!("unknown mode {other}"),
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = t.elapsed();
    stop.store(true, Ordering::SeqCst);
    monitor.join().unwrap();
    println!(
        "ok={} elapsed_ms={} os_threads={}",
        ok.load(Ordering::SeqCst),
        elapsed.as_millis(),
        peak.load(Ordering::SeqCst)
    );
}
