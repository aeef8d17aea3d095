//! Timer lateness under load on tokio: `bench/plain/lateness.rs` with
//! tasks — an echo server, 100 tasks sleeping 10 ms in a loop
//! (`tokio::time::sleep`) and 100 tasks reading with a 10 ms timeout
//! (`tokio::time::timeout`) from connections that never send.
//!
//! Usage: `tokio-lateness ADDR [SECONDS]`.

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PROBES: usize = 100;
const TICK: Duration = Duration::from_millis(10);
const WARMUP: Duration = Duration::from_millis(1500);

async fn handle(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
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

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let secs: u64 = args.next().map_or(3, |s| s.parse().expect("SECONDS"));
    let listener = TcpListener::bind(&addr).await.expect("bind");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream));
        }
    });

    let start = Instant::now();
    let (from, until) = (start + WARMUP, start + WARMUP + Duration::from_secs(secs));
    let sleepers: Vec<_> = (0..PROBES)
        .map(|_| {
            tokio::spawn(async move {
                let mut late = Vec::new();
                loop {
                    let t = Instant::now();
                    if t >= until {
                        return late;
                    }
                    tokio::time::sleep(TICK).await;
                    if t >= from {
                        late.push(t.elapsed().saturating_sub(TICK));
                    }
                }
            })
        })
        .collect();
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_addr = silent.local_addr().unwrap();
    let mut clients = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..PROBES {
        clients.push(TcpStream::connect(silent_addr).await.expect("connect"));
        let (mut s, _) = silent.accept().await.expect("accept");
        readers.push(tokio::spawn(async move {
            let mut buf = [0u8; 16];
            let mut late = Vec::new();
            loop {
                let t = Instant::now();
                if t >= until {
                    return late;
                }
                let r = tokio::time::timeout(TICK, s.read(&mut buf)).await;
                assert!(r.is_err(), "a silent connection sent {r:?}");
                if t >= from {
                    late.push(t.elapsed().saturating_sub(TICK));
                }
            }
        }));
    }
    let mut sleeps = Vec::new();
    for h in sleepers {
        sleeps.extend(h.await.unwrap());
    }
    let mut reads = Vec::new();
    for h in readers {
        reads.extend(h.await.unwrap());
    }
    drop(clients);
    report("sleep(10 ms) lateness", sleeps);
    report("read timeout (10 ms) lateness", reads);
    // Serves on until killed: the load outlasts the probes.
    std::future::pending::<()>().await;
}
