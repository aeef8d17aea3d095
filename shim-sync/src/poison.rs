//! Poisoning: a lock whose guard is dropped while its holder panics is
//! marked poisoned, exactly as std's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LockResult, PoisonError};
use std::thread;

/// The poisoned bit of a lock.
#[derive(Debug)]
pub(crate) struct Flag(AtomicBool);

/// Whether the holder was already panicking when it took the lock.
#[derive(Debug)]
pub(crate) struct Guard {
    panicking: bool,
}

impl Flag {
    pub(crate) const fn new() -> Flag {
        Flag(AtomicBool::new(false))
    }

    #[inline]
    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn clear(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// Called right after acquiring the lock.
    #[inline]
    pub(crate) fn guard(&self) -> LockResult<Guard> {
        let g = Guard {
            panicking: thread::panicking(),
        };
        if self.get() {
            Err(PoisonError::new(g))
        } else {
            Ok(g)
        }
    }

    /// Called right before releasing the lock: poisons it if the holder
    /// started panicking while holding it.
    #[inline]
    pub(crate) fn done(&self, g: &Guard) {
        if !g.panicking && thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// Maps the poison state of a freshly built guard into a `LockResult`.
#[inline]
pub(crate) fn map_result<T, U>(r: LockResult<T>, f: impl FnOnce(T) -> U) -> LockResult<U> {
    match r {
        Ok(t) => Ok(f(t)),
        Err(e) => Err(PoisonError::new(f(e.into_inner()))),
    }
}
