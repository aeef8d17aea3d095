//! The load generator: a tokio client, run as its own process.
//!
//! ```text
//! loadgen echo ADDR --conns N [--size 64] [--warmup-ms W] [--duration-ms D] [--threads T]
//! loadgen http ADDR --conns N [--warmup-ms W] [--duration-ms D] [--threads T]
//! loadgen idle ADDR --conns N [--connect-concurrency C]
//! ```
//!
//! `echo` and `http` open N connections (at most C at once between connect
//! and a first round trip, so no listen backlog overflows), then every
//! connection runs request/response ping-pong (echo: a `size`-byte
//! message echoed back; http: a keep-alive `GET /` answered with a body of
//! Content-Length bytes). After the warm-up, round trips and their latency
//! (one timestamp before the write, one after the full reply) are recorded
//! for D milliseconds. One result line on stdout:
//!
//! `ok=… errors=… stuck=… rps=… p50_us=… p99_us=… connect_ms=…`
//!
//! `idle` opens N connections, does one 64-byte echo round trip on each
//! (so the server has accepted and started serving every one of them; at
//! most C connections are between connect and that reply at any time),
//! prints `ok=… errors=… connect_ms=…` and holds the connections until its
//! stdin is closed.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::hist::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Barrier, Semaphore};

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

const HTTP_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Echo,
    Http,
    Idle,
}

struct Args {
    mode: Mode,
    addr: SocketAddr,
    conns: usize,
    size: usize,
    warmup: Duration,
    duration: Duration,
    threads: usize,
    connect_concurrency: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = match it.next().as_deref() {
        Some("echo") => Mode::Echo,
        Some("http") => Mode::Http,
        Some("idle") => Mode::Idle,
        other => return Err(format!("unknown mode {other:?}: echo, http or idle")),
    };
    let addr = it
        .next()
        .ok_or("missing ADDR")?
        .parse()
        .map_err(|e| format!("ADDR: {e}"))?;
    let mut args = Args {
        mode,
        addr,
        conns: 100,
        size: 64,
        warmup: Duration::from_millis(1000),
        duration: Duration::from_millis(3000),
        threads: 2,
        connect_concurrency: 100,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let n: u64 = value.parse().map_err(|e| format!("{flag}: {e}"))?;
        match flag.as_str() {
            "--conns" => args.conns = n as usize,
            "--size" => args.size = n as usize,
            "--warmup-ms" => args.warmup = Duration::from_millis(n),
            "--duration-ms" => args.duration = Duration::from_millis(n),
            "--threads" => args.threads = n.max(1) as usize,
            "--connect-concurrency" => args.connect_concurrency = n.max(1) as usize,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

/// Connects, retrying failed attempts for up to 5 s, except refusals: the
/// runner has seen the server listening, so a refusal means it is gone.
async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// What one connection measured.
#[derive(Default)]
struct Outcome {
    count: u64,
    hist: Histogram,
    error: bool,
}

async fn echo_round_trip(s: &mut TcpStream, msg: &[u8], buf: &mut [u8]) -> std::io::Result<()> {
    s.write_all(msg).await?;
    s.read_exact(buf).await?;
    Ok(())
}

/// Reads one HTTP response (head up to `\r\n\r\n`, then Content-Length
/// bytes of body) and checks its status line.
async fn http_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    buf.clear();
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("eof in response head"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if !buf.starts_with(b"HTTP/1.1 200") {
        return Err(bad("status is not 200"));
    }
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("head not utf-8"))?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .ok_or_else(|| bad("no content-length"))?;
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("eof in body"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if buf.len() != head_end + len {
        return Err(bad("extra bytes after the response"));
    }
    Ok(())
}

/// One echo or HTTP round trip; `buf` holds at least `msg.len()` bytes.
async fn round_trip(
    mode: Mode,
    s: &mut TcpStream,
    msg: &[u8],
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    match mode {
        Mode::Echo | Mode::Idle => echo_round_trip(s, msg, &mut buf[..msg.len()]).await,
        Mode::Http => {
            s.write_all(HTTP_REQUEST).await?;
            http_response(s, buf).await
        }
    }
}

async fn ping_pong(mode: Mode, mut s: TcpStream, size: usize, phase: Arc<AtomicU8>) -> Outcome {
    let mut out = Outcome::default();
    let msg = vec![b'x'; size];
    let mut buf = vec![0u8; size.max(256)];
    loop {
        let ph = phase.load(Ordering::Relaxed);
        if ph == STOP {
            return out;
        }
        let t0 = Instant::now();
        let r = round_trip(mode, &mut s, &msg, &mut buf).await;
        if r.is_err() {
            out.error = true;
            return out;
        }
        if ph == MEASURE {
            out.count += 1;
            out.hist.record(t0.elapsed());
        }
    }
}

async fn run_load(args: &Args) -> ExitCode {
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let barrier = Arc::new(Barrier::new(args.conns + 1));
    let permits = Arc::new(Semaphore::new(args.connect_concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.conns);
    for _ in 0..args.conns {
        let (phase, barrier, permits) = (phase.clone(), barrier.clone(), permits.clone());
        let (mode, addr, size) = (args.mode, args.addr, args.size);
        tasks.push(tokio::spawn(async move {
            let permit = permits.acquire_owned().await.expect("semaphore");
            // Connected and served once before the permit goes back: at most
            // C connections wait in the server's accept queue.
            let conn = match connect(addr).await {
                Ok(mut s) => {
                    let mut buf = vec![0u8; size.max(256)];
                    round_trip(mode, &mut s, &vec![b'x'; size], &mut buf)
                        .await
                        .map(|()| s)
                }
                Err(e) => Err(e),
            };
            drop(permit);
            barrier.wait().await;
            match conn {
                Ok(s) => ping_pong(mode, s, size, phase).await,
                Err(_) => Outcome {
                    error: true,
                    ..Outcome::default()
                },
            }
        }));
    }
    if tokio::time::timeout(Duration::from_secs(120), barrier.wait())
        .await
        .is_err()
    {
        println!(
            "ok=0 errors={} stuck={} connect_ms=timeout",
            args.conns, args.conns
        );
        return ExitCode::FAILURE;
    }
    let connect_ms = started.elapsed().as_millis();
    tokio::time::sleep(args.warmup).await;
    phase.store(MEASURE, Ordering::Relaxed);
    let t = Instant::now();
    tokio::time::sleep(args.duration).await;
    phase.store(STOP, Ordering::Relaxed);
    let measured = t.elapsed();

    let mut total = Histogram::default();
    let (mut count, mut ok, mut errors, mut stuck) = (0u64, 0usize, 0usize, 0usize);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for task in tasks {
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(o)) => {
                count += o.count;
                total.merge(&o.hist);
                if o.error {
                    errors += 1;
                } else {
                    ok += 1;
                }
            }
            Ok(Err(_)) => errors += 1,
            Err(_) => stuck += 1,
        }
    }
    let rps = count as f64 / measured.as_secs_f64();
    println!(
        "ok={ok} errors={errors} stuck={stuck} rps={rps:.0} p50_us={:.1} p99_us={:.1} connect_ms={connect_ms}",
        total.quantile(0.50).as_secs_f64() * 1e6,
        total.quantile(0.99).as_secs_f64() * 1e6,
    );
    if stuck > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

async fn run_idle(args: &Args) -> ExitCode {
    let permits = Arc::new(Semaphore::new(args.connect_concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.conns);
    for _ in 0..args.conns {
        let permits = permits.clone();
        let addr = args.addr;
        tasks.push(tokio::spawn(async move {
            let permit = permits.acquire_owned().await.expect("semaphore");
            let mut s = connect(addr).await?;
            let msg = [b'x'; 64];
            let mut buf = [0u8; 64];
            echo_round_trip(&mut s, &msg, &mut buf).await?;
            // Held until served: at most C connections wait in the
            // server's accept queue, whatever its listen backlog.
            drop(permit);
            std::io::Result::Ok(s)
        }));
    }
    let mut held = Vec::with_capacity(args.conns);
    let mut errors = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    for task in tasks {
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(Ok(s))) => held.push(s),
            _ => errors += 1,
        }
    }
    let connect_ms = started.elapsed().as_secs_f64() * 1e3;
    println!(
        "ok={} errors={errors} connect_ms={connect_ms:.1}",
        held.len()
    );
    // Hold every connection until the runner closes our stdin.
    let mut stdin = tokio::io::stdin();
    let mut sink = [0u8; 64];
    while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
    drop(held);
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async {
        match args.mode {
            Mode::Idle => run_idle(&args).await,
            _ => run_load(&args).await,
        }
    });
    // Stuck tasks must not keep the process alive.
    rt.shutdown_timeout(Duration::from_millis(100));
    code
}
