//! Helpers shared by the process_*, io_* and fs_* integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../net_util/mod.rs"]
mod net_util;
#[allow(unused_imports)]
pub use net_util::{in_co, is_nonblocking, os_threads, rt, Watchdog};

/// Runs `f` on this plain OS thread (std's behaviour), then in a coroutine
/// (greenstd's): the behaviour must be the same.
pub fn both(f: impl Fn() + Send + Sync + Clone + 'static) {
    rt();
    f();
    let g = f.clone();
    in_co(move || {
        assert!(greenstd::green::in_coroutine());
        g()
    });
}

/// A fresh, empty temporary directory for one test; removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("greenstd-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A coroutine that sleeps 10 ms in a loop and records how late it woke.
pub struct Ticker {
    stop: Arc<AtomicBool>,
    handle: greenstd::thread::JoinHandle<(Duration, usize)>,
}

pub const TICK: Duration = Duration::from_millis(10);

impl Ticker {
    pub fn start() -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = greenstd::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            let mut ticks = 0;
            while !s.load(Ordering::Relaxed) {
                let before = Instant::now();
                greenstd::thread::sleep(TICK);
                worst = worst.max(before.elapsed().saturating_sub(TICK));
                ticks += 1;
            }
            (worst, ticks)
        });
        Ticker { stop, handle }
    }

    /// Stops the ticker: the worst delay past its 10 ms, and the ticks.
    pub fn stop(self) -> (Duration, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// Runs this test binary again, only `test`, with `GREENSTD_CHILD` set.
pub fn child_command(test: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("GREENSTD_CHILD", "1")
        .env("RUST_BACKTRACE", "0");
    cmd
}

pub fn is_child() -> bool {
    std::env::var_os("GREENSTD_CHILD").is_some()
}

/// A pseudo-terminal: (master, slave), both blocking, close-on-exec.
pub fn pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain libc calls on descriptors checked right away; the name
    // buffer is large enough for a pts path and NUL-terminated by ptsname_r.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(master >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let slave = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(slave >= 0, "open pts");
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    }
}

/// Parses `key=value` pairs from the `REPORT` line a child printed (the
/// test harness may have printed `test name ... ` before it).
pub fn report(text: &str) -> std::collections::HashMap<String, String> {
    let line = text
        .lines()
        .find_map(|l| l.find("REPORT ").map(|at| &l[at + 7..]))
        .unwrap_or_else(|| panic!("no REPORT line in {text:?}"));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `O_NONBLOCK` of descriptor `fd` as 0 or 1, for reports.
pub fn nonblock_flag(fd: std::os::fd::RawFd) -> u8 {
    u8::from(is_nonblocking(fd))
}

/// Where the coroutine named `name` waits, as `green::dump()` reports it
/// (file, line), once it waits (at most 60 s): a blocking call reports the
/// user's line, not greenstd's.
pub fn wait_site(name: &str) -> (String, u32) {
    let t = Instant::now();
    loop {
        let dump = greenstd::green::dump();
        let site = dump
            .tasks()
            .iter()
            .find(|t| t.name() == Some(name))
            .and_then(|t| t.wait())
            .map(|w| (w.location().file().to_string(), w.location().line()));
        if let Some(site) = site {
            return site;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{name} never waited\n{dump}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
