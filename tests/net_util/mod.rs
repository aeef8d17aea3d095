//! Helpers shared by the net_* integration tests.
#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

/// Two workers, as the tests assume (ignored if the runtime already runs
/// with that setting; under nextest each test has its own process).
pub fn rt() {
    let _ = greenstd::green::Config::new().workers(2).apply();
}

/// Aborts the process if the test is still running after `secs` seconds,
/// so a hang fails fast instead of stalling the run.
pub struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    pub fn new(secs: u64) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(secs))
            {
                eprintln!("watchdog: test still running after {secs} s, aborting");
                std::process::abort();
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

/// Runs `f` in a coroutine and returns its result.
pub fn in_co<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    greenstd::thread::spawn(f)
        .join()
        .expect("coroutine panicked")
}

/// Number of OS threads of this process.
pub fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// `O_NONBLOCK` of a descriptor.
pub fn is_nonblocking(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: F_GETFL only reads the flags of an open descriptor.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "fcntl failed");
    flags & libc::O_NONBLOCK != 0
}

/// A unique path for a Unix socket in a fresh temporary directory.
pub fn sock_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("greenstd-net-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("sock")
}
