//! Many parked threads: an ordinary std program (patched by greenstd in
//! bench-greenstd, as the other files of this directory).
//!
//! `scale condvar N`: spawns N threads that each wait on one `Condvar`
//! until a flag is set, then sets it and joins them all. Prints the time to
//! spawn them all, the RSS per thread once all wait, and the time to wake
//! and join them all.
//!
//! `scale deep N`: N threads each call a function that uses 64 KiB of
//! stack, then wait on the `Condvar`. Prints the RSS per thread once all
//! wait, and again 0.5, 1 and 2 s later (a coroutine's stack pages below
//! what it uses now may be given back meanwhile), then wakes and joins them.
//!
//! `scale serve N ADDR`: N threads wait on the `Condvar` as above; then an
//! echo server (a thread per connection, 64-byte messages) listens on ADDR,
//! prints `ready …` and serves until killed (`bench/scale-mixed.sh` drives
//! it with `loadgen idle`).
//!
//! Output: one line of `key=value` pairs. `spawner_cpu_s` is the CPU time
//! (user + system) the spawning thread used in its loop: less sensitive to
//! other load on the machine than `spawn_s`; `spawner_faults_per` its
//! page faults per thread spawned. `all_waiting_s` is when every
//! thread waits (greenstd may still be making coroutines spawned from
//! `main` when the loop ends), and `cpu_s` the whole process's CPU time
//! until then.

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
    waiting: AtomicUsize,
}

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

/// Uses `KIB` KiB of stack (the buffer is written, so its pages are touched).
#[inline(never)]
fn deep<const KIB: usize>(seed: u8) -> u8 {
    let mut buf = [0u8; KIB];
    for (i, b) in buf.iter_mut().enumerate().step_by(512) {
        *b = seed.wrapping_add(i as u8);
    }
    black_box(&mut buf);
    buf.iter().step_by(512).fold(0u8, |a, b| a.wrapping_add(*b))
}

/// The calling thread's CPU time (user + system), in seconds.
fn thread_cpu_s() -> f64 {
    cpu_s("/proc/thread-self/stat")
}

/// The calling thread's minor page faults so far.
fn thread_faults() -> f64 {
    stat_fields("/proc/thread-self/stat")[7].parse().unwrap()
}

/// The fields of a `/proc` `stat` file after the name: "tid (comm) state
/// ..." (the name may hold spaces), from the state on.
fn stat_fields(path: &str) -> Vec<String> {
    let stat = std::fs::read_to_string(path).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').map(str::to_owned).collect()
}

/// The whole process's CPU time (user + system, every thread), in seconds.
fn process_cpu_s() -> f64 {
    cpu_s("/proc/self/stat")
}

/// The user + system time of a `/proc` `stat` file, in seconds.
fn cpu_s(path: &str) -> f64 {
    // utime and stime are the 12th and 13th fields after the name, in
    // clock ticks of 1/100 s (USER_HZ, fixed by the ABI).
    let f = stat_fields(path);
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn wait(gate: &Gate) {
    let mut open = gate.open.lock().unwrap();
    gate.waiting.fetch_add(1, Ordering::Relaxed);
    while !*open {
        open = gate.cv.wait(open).unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("condvar");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    // The runtime (when patched) and the allocator warm up first.
    thread::spawn(|| ()).join().unwrap();
    let gate = Arc::new(Gate {
        open: Mutex::new(false),
        cv: Condvar::new(),
        waiting: AtomicUsize::new(0),
    });
    let (rss0, pte0) = (rss_kib(), status_kib("VmPTE:"));
    let serve = (mode == "serve").then(|| args.get(3).cloned().expect("serve N ADDR"));
    let deep_first = mode == "deep";
    let (cpu0, process_cpu0, faults0) = (thread_cpu_s(), process_cpu_s(), thread_faults());
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let gate = gate.clone();
        let spawned = thread::Builder::new().spawn(move || {
            if deep_first {
                black_box(deep::<{ 64 * 1024 }>(i as u8));
            }
            wait(&gate);
        });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                println!("mode={mode} n={n} failed_at={i} error={e:?}");
                std::process::exit(1);
            }
        }
    }
    let spawn_s = start.elapsed().as_secs_f64();
    let spawner_cpu_s = thread_cpu_s() - cpu0;
    let spawner_faults_per = (thread_faults() - faults0) / n as f64;
    while gate.waiting.load(Ordering::Relaxed) < n {
        thread::sleep(Duration::from_millis(5));
    }
    let parked_s = start.elapsed().as_secs_f64();
    let process_cpu_s = process_cpu_s() - process_cpu0;
    let per = |rss: f64| (rss - rss0) / n as f64;
    let mut line = format!(
        "mode={mode} n={n} spawn_s={spawn_s:.3} spawner_cpu_s={spawner_cpu_s:.2} spawner_faults_per={spawner_faults_per:.2} all_waiting_s={parked_s:.3} cpu_s={process_cpu_s:.2} rss_kib_per={:.2} pte_kib_per={:.2}",
        per(rss_kib()),
        (status_kib("VmPTE:") - pte0) / n as f64
    );
    if let Some(addr) = serve {
        let listener = std::net::TcpListener::bind(&addr).unwrap();
        println!("ready {line}");
        std::io::stdout().flush().unwrap();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            thread::spawn(move || {
                let mut buf = [0u8; 64];
                while conn.read_exact(&mut buf).is_ok() {
                    if conn.write_all(&buf).is_err() {
                        break;
                    }
                }
            });
        }
    }
    if deep_first {
        let t0 = Instant::now();
        for at in [0.5f64, 1.0, 2.0] {
            let left = Duration::from_secs_f64(at).saturating_sub(t0.elapsed());
            thread::sleep(left);
            line += &format!(" rss_kib_per_after_{at}s={:.2}", per(rss_kib()));
        }
    }
    let start = Instant::now();
    *gate.open.lock().unwrap() = true;
    gate.cv.notify_all();
    for h in handles {
        h.join().unwrap();
    }
    let join_s = start.elapsed().as_secs_f64();
    line += &format!(" join_s={join_s:.3}");
    println!("{line}");
}
