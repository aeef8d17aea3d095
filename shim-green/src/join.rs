//! What gevent's `Greenlet` has beyond std's `JoinHandle`.

use std::time::Duration;

use shim_thread::__green::{task, Finish};
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
    #[track_caller]
    fn join_timeout(self, dur: Duration) -> Result<std::thread::Result<T>, Self>;

    /// Cancels the thread (gevent: `Greenlet.kill(block=False)`): it unwinds
    /// from the blocking call it is in, or from its next one — socket I/O,
    /// `accept`, `connect`, `Mutex::lock`, `RwLock`, `Condvar::wait`,
    /// `recv`, `join`, `sleep`, `park`, `Barrier::wait`, `Once`, and the
    /// waits of this module — running its destructors on the way; a
    /// `MutexGuard` it holds poisons its mutex, as a panic would. Its
    /// `join` then returns `Err(payload)`, and the payload downcasts to
    /// [`Cancelled`](crate::Cancelled). The panic hook prints nothing for it.
    ///
    /// Returns at once; `join` the handle to wait for the thread to end
    /// (gevent's default, `kill(block=True)`, is both).
    ///
    /// * Cancelling a thread that has finished (or is finishing: its
    ///   function has returned) does nothing: `join` returns its result.
    /// * Cancelling twice is cancelling once. The cancellation is delivered
    ///   once: a thread that catches the unwinding (`catch_unwind`) and
    ///   goes on is not cancelled again.
    /// * Code that computes without blocking is not interrupted; it is
    ///   cancelled at its next wait, or at a [`checkpoint`](crate::checkpoint).
    ///   Inside [`shield`](crate::shield) the cancellation waits for the
    ///   shield's end; in the offload pool and at the end of `thread::scope`,
    ///   for the wait to end.
    /// * Every `JoinHandle` of greenstd's is a coroutine. Plain OS threads
    ///   (the main thread, threads of `std::thread` itself) have no such
    ///   handle and cannot be cancelled: a thread that must stop on request
    ///   waits on something it can be woken from (an
    ///   [`Event`](crate::Event), a closed [`Queue`](crate::queue::Queue)),
    ///   or runs its blocking calls under [`with_timeout`](crate::with_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::{Cancelled, JoinHandleExt};
    /// use shim_sync::mpsc;
    /// use shim_thread as thread;
    ///
    /// let (tx, rx) = mpsc::channel::<u32>();
    /// let h = thread::spawn(move || rx.recv()); // nobody sends
    /// h.cancel();
    /// let payload = h.join().unwrap_err();
    /// assert!(payload.downcast_ref::<Cancelled>().is_some());
    /// drop(tx);
    /// ```
    fn cancel(&self);
}

impl<T> JoinHandleExt<T> for JoinHandle<T> {
    fn cancel(&self) {
        shim_rt::cancel::cancel(task(self.thread_of()));
    }

    #[track_caller]
    fn join_timeout(self, dur: Duration) -> Result<std::thread::Result<T>, Self> {
        if wait_one(&self, deadline_after(dur)) {
            Ok(self.join())
        } else {
            Err(self)
        }
    }
}

impl<T> JoinHandleExt<T> for ScopedJoinHandle<'_, T> {
    fn cancel(&self) {
        shim_rt::cancel::cancel(task(self.thread_of()));
    }

    #[track_caller]
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
#[track_caller]
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
