//! greenstd's `std::thread::sleep` family and `std::time`.
//!
//! `std::time`'s types never block, so they are std's own, re-exported. The
//! functions that do block — [`sleep`], [`sleep_ms`], [`sleep_until`] —
//! suspend only the calling coroutine; on a plain OS thread they are std's.

#![warn(missing_docs)]

pub use std::time::*;

use shim_rt::park;
use shim_rt::wait::{self, WaitKind, WaitOn};

/// Puts the current thread to sleep for at least the specified amount of time.
///
/// In a coroutine only the coroutine sleeps: its worker runs other
/// coroutines meanwhile. A zero duration yields to the other coroutines
/// (like `gevent.sleep(0)`). On a plain OS thread this is
/// `std::thread::sleep`. Either way the sleep is recorded (kind `sleep`, the
/// caller's line) for `green::dump()`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let ten_millis = Duration::from_millis(10);
/// let now = Instant::now();
///
/// shim_time::sleep(ten_millis);
///
/// assert!(now.elapsed() >= ten_millis);
/// ```
#[track_caller]
pub fn sleep(dur: Duration) {
    if !park::in_coroutine() {
        let on = WaitOn::new(WaitKind::Sleep, 0);
        return wait::recorded(on, || std::thread::sleep(dur));
    }
    if dur.is_zero() {
        return park::yield_now();
    }
    match Instant::now().checked_add(dur) {
        Some(deadline) => sleep_until(deadline),
        // Too far to represent: sleep for ever, as std practically does
        // (a year at a time).
        None => loop {
            sleep(Duration::from_secs(365 * 24 * 3600));
        },
    }
}

/// Puts the current thread to sleep until the specified deadline has passed.
///
/// Returns at once if the deadline is in the past. In a coroutine only the
/// coroutine sleeps.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let deadline = Instant::now() + Duration::from_millis(10);
/// shim_time::sleep_until(deadline);
/// assert!(Instant::now() >= deadline);
/// ```
#[track_caller]
pub fn sleep_until(deadline: Instant) {
    let on = WaitOn::new(WaitKind::Sleep, 0);
    if !park::in_coroutine() {
        let now = Instant::now();
        if let Some(left) = deadline.checked_duration_since(now) {
            wait::recorded(on, || std::thread::sleep(left));
        }
        return;
    }
    // Interrupted: not a cancellation on its own; sleep on.
    while wait::sleep_until(deadline, on) != wait::WaitResult::TimedOut {}
}

/// Uses [`sleep`].
///
/// Puts the current thread to sleep for at least the specified amount of
/// milliseconds.
#[deprecated(since = "1.6.0", note = "replaced by `std::thread::sleep`")]
#[track_caller]
pub fn sleep_ms(ms: u32) {
    sleep(Duration::from_millis(ms as u64))
}
