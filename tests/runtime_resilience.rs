//! Resilience of the runtime: one coroutine that holds its worker (a CPU
//! loop, a real blocking call greenstd cannot see) delays only itself; the
//! other coroutines go on running on the other workers.
//!
//! Each probe runs as a child process of this test binary (the worker count
//! is fixed per process): 1,000 coroutines tick every 10 ms while one
//! coroutine holds its worker for 2 s.

mod child_util;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenstd::thread;

const TICKERS: usize = 1000;
const PERIOD: Duration = Duration::from_millis(10);
const STUCK: Duration = Duration::from_secs(2);

/// The bound on the worst tick delay. Measured on an otherwise idle 2-core
/// machine it stays in the tens of milliseconds; the bound is loose because
/// CI shares its 2 cores with other tests, and still far below what a
/// stalled worker gives (the whole 2 s).
const WORST_BOUND: Duration = Duration::from_secs(1);

/// What one probe measured.
#[derive(Debug)]
struct Probe {
    /// Ticks counted during the stuck window (ideal: TICKERS * STUCK / PERIOD).
    ticks: u64,
    /// The longest any tick was late, over the whole window.
    worst: Duration,
}

impl Probe {
    fn share(&self) -> f64 {
        let ideal = TICKERS as f64 * STUCK.as_secs_f64() / PERIOD.as_secs_f64();
        self.ticks as f64 / ideal
    }
}

fn run_probe(workers: usize, kind: &str) -> Probe {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "probe_child", "--nocapture", "--test-threads=1"])
        .env("GREENSTD_WORKERS", workers.to_string())
        .env("RESILIENCE_PROBE", kind)
        .output()
        .expect("run the probe child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("PROBE ").map(|(_, r)| r))
        .unwrap_or_else(|| {
            panic!(
                "probe child gave no result ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let mut it = line.split_whitespace().map(|v| v.parse::<u64>().unwrap());
    let probe = Probe {
        ticks: it.next().unwrap(),
        worst: Duration::from_micros(it.next().unwrap()),
    };
    eprintln!(
        "{workers} workers, {kind}: {} ticks ({:.0}% of ideal), worst delay {:?}",
        probe.ticks,
        probe.share() * 100.0,
        probe.worst
    );
    probe
}

/// The child: the probe itself (does nothing unless run by `run_probe`).
#[test]
fn probe_child() {
    let Ok(kind) = std::env::var("RESILIENCE_PROBE") else {
        return;
    };
    let stop = Arc::new(AtomicBool::new(false));
    let in_window = Arc::new(AtomicBool::new(false));
    let ticks = Arc::new(AtomicU64::new(0));
    let worst_us = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..TICKERS {
        let (stop, in_window, ticks, worst_us) = (
            stop.clone(),
            in_window.clone(),
            ticks.clone(),
            worst_us.clone(),
        );
        handles.push(thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let started_in_window = in_window.load(Ordering::Relaxed);
                let t0 = Instant::now();
                thread::sleep(PERIOD);
                let ended_in_window = in_window.load(Ordering::Relaxed);
                if started_in_window || ended_in_window {
                    let late = t0.elapsed().saturating_sub(PERIOD);
                    worst_us.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
                }
                if ended_in_window {
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // Let the tickers settle into their period.
    std::thread::sleep(Duration::from_millis(300));
    let stuck = thread::spawn(move || {
        let end = Instant::now() + STUCK;
        match kind.as_str() {
            // A computation that never yields.
            "spin" => {
                while Instant::now() < end {
                    std::hint::spin_loop();
                }
            }
            // A real blocking call, as an unpatched crate makes (std's own
            // sleep: nanosleep on the worker thread).
            "blocking" => std::thread::sleep(STUCK),
            // A raw read on a pipe nobody writes to (until the window
            // ends): what FFI or a crate's own poller does.
            "pipe" => {
                let (r, w) = pipe();
                let writer = std::thread::spawn(move || {
                    std::thread::sleep(STUCK);
                    write_byte(w);
                });
                read_byte(r);
                writer.join().unwrap();
                close(r);
                close(w);
            }
            other => panic!("unknown probe {other}"),
        }
    });
    // The window opens once the stuck coroutine holds its worker.
    std::thread::sleep(Duration::from_millis(20));
    in_window.store(true, Ordering::Relaxed);
    let opened = Instant::now();
    stuck.join().unwrap();
    let elapsed = opened.elapsed();
    in_window.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    // Scale to the nominal window, as the stuck coroutine started before it opened.
    let n = ticks.load(Ordering::Relaxed);
    let n = (n as f64 * STUCK.as_secs_f64() / elapsed.as_secs_f64().max(STUCK.as_secs_f64() - 0.1))
        as u64;
    println!("PROBE {n} {}", worst_us.load(Ordering::Relaxed));
}

// The share of ticks measures the machine as much as greenstd (36% seen
// at load 10); a ticker left behind the stuck worker shows in the worst
// delay, which the whole window (2 s) would exceed.
#[test]
fn cpu_loop_on_one_of_two_workers_delays_only_itself() {
    let p = run_probe(2, "spin");
    assert!(
        p.share() >= 0.25,
        "tickers got {:.0}% of their ideal ticks while one of 2 workers was stuck (want >= 25%): {p:?}",
        p.share() * 100.0
    );
    assert!(
        p.worst < WORST_BOUND,
        "a tick was delayed {:?} while one of 2 workers was stuck",
        p.worst
    );
}

#[test]
fn blocking_call_on_one_of_two_workers_delays_only_itself() {
    let p = run_probe(2, "blocking");
    assert!(
        p.share() >= 0.25,
        "tickers got {:.0}% of their ideal ticks while one of 2 workers was blocked (want >= 25%): {p:?}",
        p.share() * 100.0
    );
    assert!(
        p.worst < WORST_BOUND,
        "a tick was delayed {:?} while one of 2 workers was blocked",
        p.worst
    );
}

#[test]
fn raw_read_on_the_only_worker_is_handed_off() {
    let p = run_probe(1, "pipe");
    // Measured: 95-97% on this 2-core machine shared with other work, 85%
    // at a load average of 8.5, 63% at 10; without the hand-off, 0%
    // (nothing else runs on the one worker). The bound leaves room for a
    // busy CI and still tells the two apart.
    assert!(
        p.share() >= 0.35,
        "tickers got {:.0}% of their ideal ticks while the only worker's thread was blocked in read(2) (want >= 35%): {p:?}",
        p.share() * 100.0
    );
    assert!(
        p.worst < WORST_BOUND,
        "a tick was delayed {:?} while the only worker's thread was blocked",
        p.worst
    );
}

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    (fds[0], fds[1])
}

/// A raw, blocking `read(2)` of one byte: a call greenstd cannot see.
fn read_byte(fd: i32) {
    let mut b = 0u8;
    // SAFETY: reads one byte into `b`.
    let n = unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
    assert_eq!(n, 1, "read: {}", std::io::Error::last_os_error());
}

fn write_byte(fd: i32) {
    // SAFETY: writes one byte from a live buffer.
    let n = unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
    assert_eq!(n, 1, "write: {}", std::io::Error::last_os_error());
}

fn close(fd: i32) {
    // SAFETY: closes a descriptor this test owns and uses no more.
    unsafe { libc::close(fd) };
}

/// The child for the monitor test: a named coroutine in a 500 ms CPU loop.
#[test]
fn monitor_child() {
    if std::env::var("MONITOR_CHILD").is_err() {
        return;
    }
    let h = thread::Builder::new()
        .name("number-cruncher".into())
        .spawn(crunch_numbers)
        .unwrap();
    let t0 = Instant::now();
    h.join().unwrap();
    // Stay alive until the report is out (the parent reads it from stderr);
    // symbolising a debug binary's frames is slow on a busy machine.
    let deadline = Instant::now() + Duration::from_secs(30);
    while shim_rt::monitor::reports_printed() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    eprintln!("monitor_child: started {:?} ago", t0.elapsed());
}

#[inline(never)]
fn crunch_numbers() {
    let end = Instant::now() + Duration::from_millis(500);
    let mut x = 0u64;
    while Instant::now() < end {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
    std::hint::black_box(x);
}

#[test]
fn monitor_reports_a_coroutine_that_holds_its_worker() {
    let t0 = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "monitor_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("GREENSTD_WORKERS", "2")
        .env("GREENSTD_MAX_BLOCKING_TIME", "100")
        .env("MONITOR_CHILD", "1")
        .output()
        .expect("run the monitor child");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    let report = stderr
        .lines()
        .position(|l| l.contains("has held "))
        .unwrap_or_else(|| panic!("no monitor report in:\n{stderr}"));
    let lines: Vec<&str> = stderr.lines().skip(report).collect();
    assert!(
        lines[0].contains("coroutine 'number-cruncher' (id "),
        "the report does not name the coroutine: {}",
        lines[0]
    );
    assert!(lines[0].contains("GREENSTD_MAX_BLOCKING_TIME=100 ms"));
    assert!(
        lines.iter().take(40).any(|l| l.contains("crunch_numbers")),
        "the backtrace does not show the looping function:\n{}",
        lines.join("\n")
    );
    // Reported once per incident.
    assert_eq!(stderr.matches("has held ").count(), 1, "{stderr}");
    assert!(t0.elapsed() < Duration::from_secs(40));
}

/// Runs `handoff_child` with `scenario` and the environment `env`; returns
/// its stdout and stderr, after checking it exited successfully in time.
fn run_handoff_child(scenario: &str, env: &[(&str, &str)]) -> (String, String) {
    let t0 = Instant::now();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "handoff_child",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("HANDOFF_CHILD", scenario);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the hand-off child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{scenario}: {:?}\n{stdout}\n{stderr}", t0.elapsed());
    assert!(
        out.status.success(),
        "{scenario}: {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "{scenario} took {:?}",
        t0.elapsed()
    );
    (stdout, stderr)
}

/// The children of the hand-off tests (do nothing unless run by them).
#[test]
fn handoff_child() {
    let Ok(scenario) = std::env::var("HANDOFF_CHILD") else {
        return;
    };
    match scenario.as_str() {
        "epoll" => epoll_scenario(),
        "bound" => bound_scenario(),
        "baseline" => baseline_scenario(),
        other => panic!("unknown scenario {other}"),
    }
}

/// A coroutine blocked in a raw `epoll_wait(-1)` on a private epoll fd (as
/// a crate's own poller, tokio's or mio's, blocks its thread), until
/// `wake` (an eventfd) is written.
fn epoll_blocker(wake: i32, started: Arc<AtomicU64>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        // SAFETY: plain epoll calls on descriptors this coroutine owns; the
        // event buffer lives across the wait.
        unsafe {
            let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            assert!(ep >= 0);
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: 1,
            };
            assert_eq!(libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, wake, &mut ev), 0);
            started.fetch_add(1, Ordering::SeqCst);
            loop {
                let n = libc::epoll_wait(ep, &mut ev, 1, -1);
                if n == 1 {
                    break;
                }
                assert_eq!(
                    std::io::Error::last_os_error().raw_os_error(),
                    Some(libc::EINTR)
                );
            }
            libc::close(ep);
        }
    })
}

/// The rest of the program: spawns, loopback TCP round trips and timers
/// on coroutines; returns how long it took.
fn ordinary_work() -> Duration {
    use greenstd::io::{Read, Write};
    let t0 = Instant::now();
    let listener = greenstd::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    const CLIENTS: usize = 50;
    let server = thread::spawn(move || {
        let mut conns = Vec::new();
        for _ in 0..CLIENTS {
            let (mut s, _) = listener.accept().unwrap();
            conns.push(thread::spawn(move || {
                let mut buf = [0u8; 1024];
                s.read_exact(&mut buf).unwrap();
                s.write_all(&buf).unwrap();
            }));
        }
        for c in conns {
            c.join().unwrap();
        }
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(5));
                let mut s = greenstd::net::TcpStream::connect(addr).unwrap();
                let buf = [i as u8; 1024];
                s.write_all(&buf).unwrap();
                let mut back = [0u8; 1024];
                s.read_exact(&mut back).unwrap();
                assert_eq!(back, buf);
                thread::sleep(Duration::from_millis(5));
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
    t0.elapsed()
}

fn eventfd() -> i32 {
    // SAFETY: no pointers involved.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    assert!(fd >= 0);
    fd
}

fn signal_eventfd(fd: i32) {
    let one = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from a live buffer.
    assert_eq!(unsafe { libc::write(fd, one.as_ptr().cast(), 8) }, 8);
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    t0.elapsed()
}

/// 4 workers: the work completes with 2, then with all 4 workers' threads
/// blocked in `epoll_wait(-1)`.
fn epoll_scenario() {
    let started = Arc::new(AtomicU64::new(0));
    let mut wakes = Vec::new();
    let mut blockers = Vec::new();
    for round in [2, 4] {
        while blockers.len() < round {
            let w = eventfd();
            wakes.push(w);
            blockers.push(epoll_blocker(w, started.clone()));
        }
        wait_until("the blockers start", Duration::from_secs(20), || {
            started.load(Ordering::SeqCst) == round as u64
        });
        std::thread::sleep(Duration::from_millis(20));
        let took = ordinary_work();
        println!(
            "{round} workers blocked: the work took {took:?}, {} hand-offs so far",
            shim_rt::monitor::handoffs()
        );
        assert!(took < Duration::from_secs(20), "the work took {took:?}");
    }
    assert!(shim_rt::monitor::handoffs() >= 4);
    for w in &wakes {
        signal_eventfd(*w);
    }
    for b in blockers {
        b.join().unwrap();
    }
    for w in wakes {
        close(w);
    }
}

#[test]
fn work_completes_while_two_then_all_workers_block_in_epoll_wait() {
    run_handoff_child("epoll", &[("GREENSTD_WORKERS", "4")]);
}

/// 1 worker, at most 2 threads: the second blocked coroutine cannot be
/// handed off. Both are released after 3 s.
fn bound_scenario() {
    let (r1, w1) = pipe();
    let (r2, w2) = pipe();
    let blockers: Vec<_> = [("blocker-a", r1), ("blocker-b", r2)]
        .into_iter()
        .map(|(name, r)| {
            let handed = shim_rt::monitor::handoffs();
            let h = thread::Builder::new()
                .name(name.into())
                .spawn(move || read_byte(r))
                .unwrap();
            // The first holds the only worker until the monitor hands it
            // off (on a busy machine that may take longer than any fixed
            // sleep); the second then holds the thread that took over.
            wait_until("a hand-off", Duration::from_secs(20), || {
                shim_rt::monitor::handoffs() > handed || name == "blocker-b"
            });
            h
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    write_byte(w1);
    write_byte(w2);
    for b in blockers {
        b.join().unwrap();
    }
    for fd in [r1, w1, r2, w2] {
        close(fd);
    }
    println!("released");
}

#[test]
fn thread_bound_reached_is_reported_not_a_silent_hang() {
    let (stdout, stderr) = run_handoff_child(
        "bound",
        &[("GREENSTD_WORKERS", "1"), ("GREENSTD_MAX_THREADS", "2")],
    );
    assert!(stdout.contains("released"), "{stdout}");
    assert!(
        stderr.contains("greenstd: stalled: a worker is blocked and cannot be handed to another thread: the scheduler runs its maximum of 2 OS threads (GREENSTD_MAX_THREADS"),
        "{stderr}"
    );
    // Both holders are named, once.
    assert!(stderr.contains("coroutine 'blocker-a'"), "{stderr}");
    assert!(stderr.contains("coroutine 'blocker-b'"), "{stderr}");
    assert_eq!(stderr.matches("greenstd: stalled").count(), 1, "{stderr}");
}

fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// 2 workers: 5 coroutines blocked in raw reads hold 5 threads; once they
/// return, the thread count is back to what it was within a second.
fn baseline_scenario() {
    thread::spawn(|| ()).join().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let base = os_threads();
    assert_eq!(shim_rt::monitor::scheduler_threads(), 2);
    let pipes: Vec<(i32, i32)> = (0..5).map(|_| pipe()).collect();
    let blockers: Vec<_> = pipes
        .iter()
        .map(|&(r, _)| thread::spawn(move || read_byte(r)))
        .collect();
    wait_until("5 threads held", Duration::from_secs(20), || {
        shim_rt::monitor::scheduler_threads() >= 7
    });
    println!("threads: {base} before, {} with 5 blocked", os_threads());
    for &(_, w) in &pipes {
        write_byte(w);
    }
    for b in blockers {
        b.join().unwrap();
    }
    let back = wait_until("back to the baseline", Duration::from_secs(5), || {
        os_threads() == base && shim_rt::monitor::scheduler_threads() == 2
    });
    println!("back to {base} threads {back:?} after the blocked calls returned");
    for (r, w) in pipes {
        close(r);
        close(w);
    }
}

#[test]
fn threads_held_by_blocking_calls_are_given_back() {
    let (stdout, _) = run_handoff_child("baseline", &[("GREENSTD_WORKERS", "2")]);
    assert!(stdout.contains("back to "), "{stdout}");
}

/// A release build (no debug info, symbols kept) gets frames in the report
/// too: the hog's loop is inlined into the coroutine's entry point, which
/// the report used to cut away, printing no frame at all.
#[test]
fn monitor_report_of_a_release_build_has_frames() {
    let exe = child_util::example_in("deadlock", "release");
    let out = Command::new(exe)
        .arg("hog")
        .env("GREENSTD_WORKERS", "2")
        .env("GREENSTD_MAX_BLOCKING_TIME", "100")
        .output()
        .expect("run the release child");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.contains("has held "))
        .collect();
    assert!(
        report
            .first()
            .is_some_and(|l| l.contains("'number-cruncher'") && l.ends_with("It is at:")),
        "no report in:\n{stderr}"
    );
    assert!(
        report
            .get(1)
            .is_some_and(|l| l.trim_start().starts_with("0: ")),
        "no frame in the report:\n{stderr}"
    );
}
