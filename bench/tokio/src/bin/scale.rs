//! The scale program of `bench/plain/scale.rs` as tokio tasks, on 2 worker
//! threads: N tasks wait on one `watch` channel until it says open.
//! `tokio-scale condvar N` / `tokio-scale deep N` (the task calls a function
//! using 64 KiB of the worker's stack first); one line of key=value pairs.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rss_kib() -> f64 {
    status_kib("VmRSS:")
}

/// A `kB` field of `/proc/self/status` (VmRSS, or VmPTE: page tables, which
/// RSS does not count).
fn status_kib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap()
}

#[inline(never)]
fn deep<const KIB: usize>(seed: u8) -> u8 {
    let mut buf = [0u8; KIB];
    for (i, b) in buf.iter_mut().enumerate().step_by(512) {
        *b = seed.wrapping_add(i as u8);
    }
    black_box(&mut buf);
    buf.iter().step_by(512).fold(0u8, |a, b| a.wrapping_add(*b))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_else(|| "condvar".into());
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    tokio::spawn(async {}).await.unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let waiting = Arc::new(AtomicUsize::new(0));
    let deep_first = mode == "deep";
    let (rss0, pte0) = (rss_kib(), status_kib("VmPTE:"));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let mut rx = rx.clone();
        let waiting = waiting.clone();
        handles.push(tokio::spawn(async move {
            if deep_first {
                black_box(deep::<{ 64 * 1024 }>(i as u8));
            }
            waiting.fetch_add(1, Ordering::Relaxed);
            let _ = rx.wait_for(|open| *open).await;
        }));
    }
    let spawn_s = start.elapsed().as_secs_f64();
    while waiting.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Let the last ones reach their wait.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let parked_s = start.elapsed().as_secs_f64();
    let per = |rss: f64| (rss - rss0) / n as f64;
    let mut line = format!(
        "mode={mode} n={n} spawn_s={spawn_s:.3} all_waiting_s={parked_s:.3} rss_kib_per={:.2} pte_kib_per={:.2}",
        per(rss_kib()),
        (status_kib("VmPTE:") - pte0) / n as f64
    );
    if deep_first {
        let t0 = Instant::now();
        for at in [0.5f64, 1.0, 2.0] {
            let left = Duration::from_secs_f64(at).saturating_sub(t0.elapsed());
            tokio::time::sleep(left).await;
            line += &format!(" rss_kib_per_after_{at}s={:.2}", per(rss_kib()));
        }
    }
    let start = Instant::now();
    tx.send(true).unwrap();
    for h in handles {
        h.await.unwrap();
    }
    line += &format!(" join_s={:.3}", start.elapsed().as_secs_f64());
    println!("{line}");
}
