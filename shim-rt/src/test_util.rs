//! What the unit tests of the runtime's races share.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::task::{self, Task};

/// Generous: CI runs on two busy cores.
pub(crate) const SLACK: Duration = Duration::from_secs(10);

/// Runs `f` in a greenstd coroutine; the receiver gets its result.
pub(crate) fn coroutine<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    task::spawn(Task::new_coroutine(None), None, move || {
        let _ = tx.send(f());
    })
    .expect("spawn a coroutine");
    rx
}

/// Spins (yielding) until `f` holds, at most `SLACK`.
pub(crate) fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < SLACK, "timed out waiting for: {what}");
        std::thread::yield_now();
    }
}
