//! What gevent's `Greenlet` has beyond std's `JoinHandle`.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use shim_thread::__green::{task, Finish, Watcher};
use shim_thread::{JoinHandle, ScopedJoinHandle};

use crate::event::{deadline_after, AsyncResult, Event, Panicked};
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

    /// As [`cancel`](JoinHandleExt::cancel), the thread unwinding with
    /// `payload` — `join` then gives it back — instead of
    /// [`Cancelled`](crate::Cancelled) (gevent: `kill(exception=…)`). A
    /// thread cancelled already keeps its first cancellation, and
    /// `payload` is dropped. Like `Cancelled`, the payload is not reported
    /// by the panic hook; code that tells cancellations from panics by
    /// `is::<Cancelled>()` sees it as a panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::JoinHandleExt;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// #[derive(Debug, PartialEq)]
    /// struct Shutdown(&'static str);
    ///
    /// let h = thread::spawn(|| thread::sleep(Duration::from_secs(3600)));
    /// h.cancel_with(Shutdown("reload"));
    /// let payload = h.join().unwrap_err();
    /// assert_eq!(payload.downcast_ref(), Some(&Shutdown("reload")));
    /// ```
    fn cancel_with<P: Any + Send>(&self, payload: P);

    /// Runs `f` once the thread has finished — its result is stored and
    /// `join` returns at once — on a coroutine of its own, so a callback
    /// that blocks delays nothing else (gevent: `Greenlet.link`,
    /// `rawlink`). Callbacks of one thread are started in the order they
    /// were linked; one linked after the thread finished starts at once.
    /// Each runs once. Nothing waits for them: `f` ends as any detached
    /// thread does.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::{Event, JoinHandleExt};
    /// use shim_thread as thread;
    /// use std::sync::Arc;
    ///
    /// let done = Arc::new(Event::new());
    /// let h = thread::spawn(|| 6 * 7);
    /// let d = done.clone();
    /// h.link(move || d.set());
    /// done.wait();
    /// assert_eq!(h.join().unwrap(), 42);
    /// ```
    fn link<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static;

    /// Fills `target` with the thread's result once it has finished (gevent:
    /// `Greenlet.link(async_result)`): its value, or its panic's payload as
    /// [`Panicked`] — a [`Cancelled`](crate::Cancelled) thread's too. The
    /// handle is consumed, its result moving to `target`, where any number
    /// of threads can wait for it. A `target` filled already is left as it
    /// is.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::{AsyncResult, JoinHandleExt};
    /// use shim_thread as thread;
    /// use std::sync::Arc;
    ///
    /// let result = Arc::new(AsyncResult::new());
    /// thread::spawn(|| "fetched").link_result(result.clone());
    /// assert_eq!(result.get().ok(), Some(&"fetched"));
    ///
    /// let failed: Arc<AsyncResult<()>> = Arc::new(AsyncResult::new());
    /// thread::spawn(|| panic!("no route")).link_result(failed.clone());
    /// assert_eq!(failed.get().unwrap_err().message(), Some("no route"));
    /// ```
    fn link_result(self, target: Arc<AsyncResult<T>>)
    where
        Self: Send + 'static,
        T: Send + Sync + 'static;
}

/// Registers `f` to start on a coroutine of its own when `handle` finishes.
fn link_to<H: Finish, F: FnOnce() + Send + 'static>(handle: &H, f: F) {
    let once = parking_lot::Mutex::new(Some(f));
    let start: Watcher = Arc::new(move || {
        if let Some(f) = once.lock().take() {
            start_link(f);
        }
    });
    if handle.watch(start.clone()).is_none() {
        start();
    }
}

/// Starts a linked callback; when no coroutine can be had (no memory for
/// a stack), runs it here rather than lose it.
fn start_link<F: FnOnce() + Send + 'static>(f: F) {
    let f = Arc::new(parking_lot::Mutex::new(Some(f)));
    let g = f.clone();
    let spawned = shim_thread::Builder::new().spawn(move || {
        if let Some(f) = g.lock().take() {
            f()
        }
    });
    if spawned.is_err() {
        if let Some(f) = f.lock().take() {
            f()
        }
    }
}

/// `link_result` for either kind of handle.
fn link_result_of<H, T>(
    handle: H,
    target: Arc<AsyncResult<T>>,
    join: fn(H) -> std::thread::Result<T>,
) where
    H: Finish + Send + 'static,
    T: Send + Sync + 'static,
{
    // The callback may start before the handle is stored (the thread
    // finishes meanwhile): it waits for it.
    let slot = Arc::new((parking_lot::Mutex::new(None::<H>), Event::new()));
    let s = slot.clone();
    let once = parking_lot::Mutex::new(Some(move || {
        s.1.wait();
        if let Some(h) = s.0.lock().take() {
            let _ = match join(h) {
                Ok(v) => target.set(v).map_err(drop),
                Err(p) => target.set_error(Panicked::new(p)).map_err(drop),
            };
        }
    }));
    let start: Watcher = Arc::new(move || {
        if let Some(f) = once.lock().take() {
            start_link(f);
        }
    });
    let watching = handle.watch(start.clone()).is_some();
    *slot.0.lock() = Some(handle);
    slot.1.set();
    if !watching {
        start();
    }
}

/// The one implementation, for both handle types: they differ only in how
/// they join.
macro_rules! join_handle_ext {
    ($($handle:ident$(<$lt:lifetime>)?),*) => {$(
        impl<T> JoinHandleExt<T> for $handle<$($lt,)? T> {
            fn cancel(&self) {
                shim_rt::cancel::cancel(task(self.thread_of()));
            }

            fn cancel_with<P: Any + Send>(&self, payload: P) {
                shim_rt::cancel::cancel_with(task(self.thread_of()), Box::new(payload));
            }

            fn link<F>(&self, f: F)
            where
                F: FnOnce() + Send + 'static,
            {
                link_to(self, f)
            }

            fn link_result(self, target: Arc<AsyncResult<T>>)
            where
                Self: Send + 'static,
                T: Send + Sync + 'static,
            {
                link_result_of(self, target, $handle::join)
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
    )*};
}

join_handle_ext!(JoinHandle, ScopedJoinHandle<'_>);

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
