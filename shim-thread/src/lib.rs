//! greenstd's `std::thread`: threads that are coroutines.
//!
//! Every stable item of `std::thread`, same names and signatures. `spawn`
//! starts a coroutine on greenstd's runtime (it is safe: thread-locals made
//! with this crate's [`thread_local!`] are per coroutine). Inside a
//! coroutine, `sleep`, `park`, `join` and every other blocking call suspend
//! only the coroutine; on a plain OS thread (such as `main`) each function
//! behaves exactly as std's.
//!
//! Differences from std, all documented on the items:
//!
//! * thread-locals of third-party code that uses std's `thread_local!`
//!   directly are per *OS thread*: a coroutine may move between worker
//!   threads whenever it blocks, so such a value can change under it;
//! * `Builder::spawn` reports a name with an interior NUL byte as an
//!   `InvalidInput` error where std panics;
//! * a coroutine's stack does not grow: its size is fixed at spawn
//!   (default 2 MiB, std's, or `RUST_MIN_STACK`); overflowing it aborts the
//!   process with std's message;
//! * [`panicking`] is std's, counted per OS thread: it is exact while a
//!   coroutine unwinds, unless a destructor blocks (and the coroutine moves
//!   to another OS thread) during the unwinding;
//! * a coroutine's panic message names the coroutine and its [`ThreadId`]
//!   number where std prints the OS thread's name and id;
//! * a coroutine that computes without blocking is not preempted: it holds
//!   its worker until it blocks or calls [`yield_now`].

#![warn(missing_docs)]

mod builder;
mod join;
mod local;
mod scoped;
mod thread;
pub mod unix;

pub use builder::Builder;
pub use join::JoinHandle;
pub use local::{AccessError, LocalKey};
pub use scoped::{scope, Scope, ScopedJoinHandle};
#[allow(deprecated)]
pub use thread::park_timeout_ms;
pub use thread::{current, park, park_timeout, Thread, ThreadId};

#[allow(deprecated)]
pub use shim_time::sleep_ms;
pub use shim_time::{sleep, sleep_until};
pub use std::thread::{available_parallelism, panicking, Result};

#[doc(hidden)]
pub use std::thread_local as __std_thread_local;

/// What `greenstd::green` needs from join handles: not part of std's API.
#[doc(hidden)]
pub mod __green {
    use std::sync::Arc;

    use shim_rt::task::Task;

    pub use crate::join::Watcher;
    use crate::{JoinHandle, ScopedJoinHandle, Thread};

    /// A handle to a thread that can be waited for without consuming it.
    pub trait Finish {
        /// `true` once the thread's result is stored (`join` will not block).
        fn is_done(&self) -> bool;
        /// Runs `w` once when the thread finishes; `None` (and `w` is
        /// dropped) when it already has.
        fn watch(&self, w: Watcher) -> Option<u64>;
        /// Forgets a callback registered by [`Finish::watch`].
        fn unwatch(&self, key: u64);
        /// The thread.
        fn thread_of(&self) -> &Thread;
    }

    impl<T> Finish for JoinHandle<T> {
        fn is_done(&self) -> bool {
            self.0.packet.done.is_set()
        }
        fn watch(&self, w: Watcher) -> Option<u64> {
            self.0.packet.watchers.add(w)
        }
        fn unwatch(&self, key: u64) {
            self.0.packet.watchers.remove(key)
        }
        fn thread_of(&self) -> &Thread {
            &self.0.thread
        }
    }

    impl<T> Finish for ScopedJoinHandle<'_, T> {
        fn is_done(&self) -> bool {
            self.0.packet.done.is_set()
        }
        fn watch(&self, w: Watcher) -> Option<u64> {
            self.0.packet.watchers.add(w)
        }
        fn unwatch(&self, key: u64) {
            self.0.packet.watchers.remove(key)
        }
        fn thread_of(&self) -> &Thread {
            &self.0.thread
        }
    }

    /// The runtime's task behind a [`Thread`].
    pub fn task(t: &Thread) -> &Arc<Task> {
        &t.inner
    }
}

/// Spawns a new thread — a coroutine — returning a [`JoinHandle`] for it.
///
/// The join handle provides a [`join`](JoinHandle::join) method that can be
/// used to join the spawned thread. If the spawned thread panics, `join`
/// returns an `Err` containing the argument given to `panic!`. Dropping the
/// handle detaches the thread.
///
/// The closure runs as a coroutine on greenstd's worker threads, whether the
/// caller is a plain OS thread (such as `main`) or another coroutine. Its
/// stack is the configured default (2 MiB as std's, `RUST_MIN_STACK` honoured,
/// unless configured).
///
/// # Panics
///
/// Panics if the runtime cannot start or no stack can be mapped; use
/// [`Builder::spawn`] to get an error instead.
///
/// # Examples
///
/// ```
/// use shim_thread as thread;
///
/// let handler = thread::spawn(|| {
///     // thread code
///     6 * 7
/// });
///
/// assert_eq!(handler.join().unwrap(), 42);
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).expect("failed to spawn thread")
}

/// Cooperatively gives up a timeslice to the scheduler.
///
/// In a coroutine the other coroutines ready to run on this worker run
/// first (gevent's `sleep(0)`); on a plain OS thread this is std's
/// `yield_now`.
///
/// # Examples
///
/// ```
/// use shim_thread as thread;
///
/// thread::yield_now();
/// ```
#[inline]
pub fn yield_now() {
    shim_rt::park::yield_now()
}
