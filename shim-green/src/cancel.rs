//! Cancellation and deadlines: gevent's `Greenlet.kill`, `gevent.Timeout`
//! and `gevent.with_timeout`, delivered where a thread waits.

use std::fmt;
use std::time::{Duration, Instant};

#[doc(inline)]
pub use shim_rt::cancel::Cancelled;

/// The error of [`with_timeout`] and [`with_deadline`]: the time ran out
/// while the closure was blocked, and the closure was unwound (gevent:
/// `gevent.Timeout`).
///
/// It converts into an `io::Error` of kind `TimedOut`, so `?` works in
/// functions returning `io::Result`.
///
/// # Examples
///
/// ```
/// use shim_green::{with_timeout, Elapsed};
/// use std::time::Duration;
///
/// let r = with_timeout(Duration::from_millis(10), || {
///     shim_time::sleep(Duration::from_secs(10));
/// });
/// assert_eq!(r, Err(Elapsed::new()));
/// let e: std::io::Error = r.unwrap_err().into();
/// assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Elapsed(());

impl Elapsed {
    /// An `Elapsed` error (to compare with, or to return from code that
    /// keeps its own deadline).
    pub const fn new() -> Elapsed {
        Elapsed(())
    }
}

impl Default for Elapsed {
    fn default() -> Elapsed {
        Elapsed::new()
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `f`, giving it at most `dur` (gevent: `gevent.with_timeout`, or a
/// `with gevent.Timeout(dur):` block).
///
/// When the time runs out while `f` is blocked — in socket I/O, `accept`,
/// `connect`, a lock, a condition variable, a channel, `join`, `sleep`,
/// `park`, a barrier, a `Once`, or any of this module's waits, also deep
/// inside a library compiled against greenstd — `f` unwinds from that call,
/// its destructors run, and `with_timeout` returns `Err(Elapsed)`. A `f`
/// that returns in time gives `Ok`.
///
/// * Deadlines nest and stay independent: when an outer deadline expires
///   inside an inner `with_timeout`, the inner one does not report it as
///   its own — the unwinding goes on to the outer one, which returns
///   `Err(Elapsed)` (gevent#1861).
/// * Once `with_timeout` has returned, its deadline can no longer fire.
/// * The deadline is delivered at a wait: code that computes without
///   blocking is not interrupted (call [`checkpoint`] now and then), and a
///   `MutexGuard` held by `f` when it unwinds poisons its mutex, as a panic
///   would. If `f` catches the unwinding (`catch_unwind`) and returns, its
///   value is returned.
/// * Waits greenstd cannot interrupt: the offload pool ([`offload`], host
///   name lookups) and the end of `thread::scope` (it always waits for its
///   threads); the deadline then takes effect at the next wait. On a plain
///   OS thread, socket I/O is std's own blocking system calls and is not
///   interrupted either; `sleep` and waits on greenstd's locks, channels,
///   `join`, `park` and this module's types are.
///
/// [`offload`]: https://docs.rs/greenstd/latest/greenstd/green/fn.offload.html
///
/// # Examples
///
/// ```
/// use shim_green::with_timeout;
/// use shim_sync::mpsc;
/// use shim_thread as thread;
/// use std::time::Duration;
///
/// let (tx, rx) = mpsc::channel::<u32>();
/// let h = thread::spawn(move || {
///     // Nobody sends: the receive is cut short.
///     with_timeout(Duration::from_millis(20), || rx.recv())
/// });
/// assert!(h.join().unwrap().is_err());
/// drop(tx);
/// ```
#[track_caller]
pub fn with_timeout<R>(dur: Duration, f: impl FnOnce() -> R) -> Result<R, Elapsed> {
    match Instant::now().checked_add(dur) {
        Some(deadline) => with_deadline(deadline, f),
        // Too far away to ever come.
        None => Ok(f()),
    }
}

/// Runs `f` until `deadline` at most; see [`with_timeout`].
///
/// # Examples
///
/// ```
/// use shim_green::with_deadline;
/// use std::time::{Duration, Instant};
///
/// let deadline = Instant::now() + Duration::from_millis(10);
/// let first = with_deadline(deadline, || shim_time::sleep(Duration::from_secs(5)));
/// assert!(first.is_err());
/// // The same deadline, already passed, cuts the next wait at once.
/// let second = with_deadline(deadline, || shim_time::sleep(Duration::from_secs(5)));
/// assert!(second.is_err());
/// ```
#[track_caller]
pub fn with_deadline<R>(deadline: Instant, f: impl FnOnce() -> R) -> Result<R, Elapsed> {
    shim_rt::cancel::with_deadline(deadline, f).map_err(|_| Elapsed::new())
}

/// Runs `f` with cancellation and deadlines deferred to its end: waits
/// inside `f` are not cut short, and a cancellation or an expired deadline
/// that arrived meanwhile unwinds the thread when `f` returns (its value
/// is dropped). Use it around work that must not be left half-done — a
/// log record written, a transaction committed. gevent has no such
/// switch (code there blocks the `GreenletExit` by hand); trio and
/// asyncio call it a shield.
///
/// # Examples
///
/// ```
/// use shim_green::{shield, JoinHandleExt};
/// use shim_thread as thread;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let committed = Arc::new(AtomicBool::new(false));
/// let c = committed.clone();
/// let h = thread::spawn(move || {
///     shield(|| {
///         thread::sleep(Duration::from_millis(50)); // not cut short
///         c.store(true, Ordering::SeqCst);
///     });
///     unreachable!("the cancellation is delivered when the shield ends");
/// });
/// thread::sleep(Duration::from_millis(10));
/// h.cancel();
/// assert!(h.join().is_err());
/// assert!(committed.load(Ordering::SeqCst));
/// ```
#[track_caller]
pub fn shield<R>(f: impl FnOnce() -> R) -> R {
    shim_rt::cancel::shield(f)
}

/// Runs `f` with cancellation and deadlines deferred to the thread's next
/// wait after `f`: waits inside `f` are not cut short, and `f` returns
/// normally. Wrap the body of a destructor that may wait in it — a guard
/// that gives a pooled item back under a `Mutex`, say — so that a
/// [`cancel`](crate::JoinHandleExt::cancel) or an expired [`with_timeout`]
/// is delivered at the first wait after the destructor has done its work,
/// never in the middle of it (POSIX threads: `pthread_setcancelstate`
/// disabled around a cleanup, with the request acted on at the next
/// cancellation point).
///
/// Rust cannot tell that a destructor runs, so on the normal path this is
/// the destructor's to say; destructors run by an unwinding (a panic, or
/// the cancellation itself) need nothing: no wait is cut while the thread
/// unwinds. greenstd's own destructors that wait (a server's connection
/// bookkeeping, a barrier's or a semaphore's give-back) do this already.
/// Unlike [`shield`], which unwinds as soon as it ends, `defer_cancel`
/// never unwinds out of `f`'s caller (a destructor must not panic).
///
/// # Examples
///
/// ```
/// use shim_green::{defer_cancel, with_timeout};
/// use shim_sync::{Arc, Mutex};
/// use shim_thread as thread;
/// use std::time::Duration;
///
/// struct Pooled {
///     item: Option<u32>,
///     pool: Arc<Mutex<Vec<u32>>>,
/// }
///
/// impl Drop for Pooled {
///     fn drop(&mut self) {
///         // The lock may be contended: the wait must not be cut.
///         defer_cancel(|| self.pool.lock().unwrap().extend(self.item.take()));
///     }
/// }
///
/// let pool = Arc::new(Mutex::new(vec![1]));
/// let p = pool.clone();
/// let r = thread::spawn(move || {
///     with_timeout(Duration::from_millis(3), || {
///         let item = p.lock().unwrap().pop();
///         let _guard = Pooled { item, pool: p.clone() };
///         thread::sleep(Duration::from_secs(10)); // cut by the deadline
///     })
/// })
/// .join()
/// .unwrap();
/// assert!(r.is_err());
/// assert_eq!(*pool.lock().unwrap(), vec![1], "the item came back");
/// ```
pub fn defer_cancel<R>(f: impl FnOnce() -> R) -> R {
    shim_rt::cancel::defer(f)
}

/// Unwinds the calling thread now if it was cancelled or one of its
/// deadlines has passed; does nothing otherwise. Code that computes for a
/// long time without blocking calls it now and then to stay cancellable
/// (gevent: `gevent.sleep(0)` in a loop).
///
/// # Examples
///
/// ```
/// use shim_green::{checkpoint, with_timeout};
/// use std::time::Duration;
///
/// let r = with_timeout(Duration::from_millis(10), || {
///     let mut n = 0u64;
///     loop {
///         n = std::hint::black_box(n + 1);
///         if n.is_multiple_of(1024) {
///             checkpoint();
///         }
///     }
/// });
/// assert!(r.is_err());
/// ```
#[track_caller]
pub fn checkpoint() {
    shim_rt::cancel::checkpoint()
}
