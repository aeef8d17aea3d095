//! Proof that waiting for processes does not block the workers: on 2
//! workers, 100 coroutines each run `sleep 0.2` through `Command::output`
//! and all finish together, on a bounded number of OS threads.

mod stdio_util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenstd::process::Command;
use greenstd::thread;
use stdio_util::{os_threads, rt, Ticker, Watchdog};

/// Threads: from /proc/self/status (cheap enough to sample in a loop).
fn threads_now() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn hundred_sleep_commands_finish_together_on_two_workers() {
    let _w = Watchdog::new(120);
    rt();
    assert_eq!(greenstd::green::runtime().unwrap().workers, 2);
    // Warm up: the pool, pollers and hub exist before the measurement.
    assert!(thread::spawn(|| Command::new("true").status().unwrap())
        .join()
        .unwrap()
        .success());
    let peak = Arc::new(AtomicUsize::new(os_threads()));
    let ticker = Ticker::start();
    let start = Instant::now();
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let peak = peak.clone();
            thread::spawn(move || {
                let out = Command::new("sleep").arg("0.2").output().unwrap();
                peak.fetch_max(threads_now(), Ordering::Relaxed);
                out
            })
        })
        .collect();
    for h in handles {
        let out = h.join().unwrap();
        assert!(out.status.success());
        assert!(out.stdout.is_empty() && out.stderr.is_empty());
    }
    let elapsed = start.elapsed();
    let (worst, _) = ticker.stop();
    let peak = peak.load(Ordering::Relaxed).max(os_threads());
    eprintln!("100 x sleep 0.2: {elapsed:?}, peak {peak} OS threads, worst tick delay {worst:?}");
    // Blocking waits would take 100 x 0.2 s / 2 workers = 10 s.
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    assert!(peak <= 16, "{peak} OS threads");
}
