//! What gevent's `Greenlet` has beyond std's `JoinHandle`.

use std::time::Duration;

use shim_thread::{JoinHandle, ScopedJoinHandle};

use crate::event::deadline_after;
use crate::wait::wait_one;

mod sealed {
    pub trait Sealed {}
    impl<T> Sealed for shim_thread::JoinHandle<T> {}
    impl<T> Sealed for shim_thread::ScopedJoinHandle<'_, T> {}
}

/// gevent's `Greenlet` methods that std's join handles lack, for
/// [`JoinHandle`] and [`ScopedJoinHandle`].
///
/// This trait is sealed: it cannot be implemented outside greenstd.
pub trait JoinHandleExt<T>: sealed::Sealed + Sized {
    /// Waits at most `dur` for the thread to finish (gevent:
    /// `Greenlet.join(timeout=dur)` followed by `get`): its result, as
    /// `join` returns it, or `Err(self)` — the handle, to wait again or
    /// detach — when it is still running.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::JoinHandleExt;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let h = thread::spawn(|| {
    ///     thread::sleep(Duration::from_millis(100));
    ///     7
    /// });
    /// let h = h.join_timeout(Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(h.join_timeout(Duration::from_secs(10)).unwrap().unwrap(), 7);
    /// ```
    fn join_timeout(self, dur: Duration) -> Result<std::thread::Result<T>, Self>;
}

impl<T> JoinHandleExt<T> for JoinHandle<T> {
    fn join_timeout(self, dur: Duration) -> Result<std::thread::Result<T>, Self> {
        if wait_one(&self, deadline_after(dur)) {
            Ok(self.join())
        } else {
            Err(self)
        }
    }
}

impl<T> JoinHandleExt<T> for ScopedJoinHandle<'_, T> {
    fn join_timeout(self, dur: Duration) -> Result<std::thread::Result<T>, Self> {
        if wait_one(&self, deadline_after(dur)) {
            Ok(self.join())
        } else {
            Err(self)
        }
    }
}

/// Spawns a thread — a coroutine — that runs `f` after `dur` (gevent:
/// `gevent.spawn_later`). Until then it sleeps cooperatively; the returned
/// handle joins it as usual.
///
/// # Panics
///
/// As `thread::spawn`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let h = shim_green::spawn_after(Duration::from_millis(20), move || start.elapsed());
/// assert!(h.join().unwrap() >= Duration::from_millis(20));
/// ```
pub fn spawn_after<F, T>(dur: Duration, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    shim_thread::spawn(move || {
        shim_time::sleep(dur);
        f()
    })
}
