//! `std::os::unix::thread` for greenstd's [`JoinHandle`]: the same trait
//! names, so that code written for std (crossbeam-utils' scoped threads,
//! for one) compiles when rebuilt against greenstd.
//!
//! **Differs from std:** a coroutine has no POSIX thread of its own; it
//! runs on the runtime's worker threads and moves between them whenever it
//! blocks. The `pthread_t` given here is the worker thread it *began* to
//! run on. A signal sent to it (`pthread_kill`) reaches that worker and
//! whichever coroutine runs there at the time, not necessarily this one.

use crate::JoinHandle;

#[doc(no_inline)]
pub use std::os::unix::thread::RawPthread;

/// Unix-specific extensions to [`JoinHandle`].
///
/// As std's `std::os::unix::thread::JoinHandleExt`, with the difference
/// described in the [module documentation](self).
pub trait JoinHandleExt {
    /// Extracts the raw pthread_t without taking ownership: here, the
    /// worker thread the coroutine began to run on (waits, yielding, until
    /// the coroutine has started).
    fn as_pthread_t(&self) -> RawPthread;

    /// Consumes the thread, returning the raw pthread_t (as
    /// [`as_pthread_t`](Self::as_pthread_t); the coroutine is detached).
    fn into_pthread_t(self) -> RawPthread;
}

impl<T> JoinHandleExt for JoinHandle<T> {
    fn as_pthread_t(&self) -> RawPthread {
        let started_on = &self.0.packet.started_on;
        loop {
            let t = started_on.load(std::sync::atomic::Ordering::Acquire);
            if t != 0 {
                return t as RawPthread;
            }
            // The coroutine is queued; it records its worker first thing.
            crate::yield_now();
        }
    }

    fn into_pthread_t(self) -> RawPthread {
        self.as_pthread_t()
    }
}
