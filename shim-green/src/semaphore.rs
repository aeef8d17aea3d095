//! `Semaphore`: a count of permits, each taken by an RAII guard.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shim_sync::{Condvar, Mutex};

use crate::event::{deadline_after, lock, wait_until};

/// A counting semaphore: gevent's `gevent.lock.Semaphore` (and
/// `BoundedSemaphore`, since a permit cannot be released twice).
///
/// It holds a number of permits. [`acquire`](Semaphore::acquire) takes one,
/// blocking while there is none, and returns a [`SemaphorePermit`] that
/// gives it back when dropped. Waiting parks a coroutine (its worker runs
/// others) and blocks a plain OS thread. Waiters are served in the order
/// they arrived, except that a caller finding a free permit takes it
/// without queueing.
///
/// # Examples
///
/// ```
/// use shim_green::Semaphore;
/// use shim_thread as thread;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// // At most 2 of the 10 threads are inside at once.
/// let sem = Arc::new(Semaphore::new(2));
/// let inside = Arc::new(AtomicUsize::new(0));
/// let handles: Vec<_> = (0..10)
///     .map(|_| {
///         let (sem, inside) = (sem.clone(), inside.clone());
///         thread::spawn(move || {
///             let _permit = sem.acquire();
///             assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
///             thread::yield_now();
///             inside.fetch_sub(1, Ordering::SeqCst);
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// ```
pub struct Semaphore {
    permits: Mutex<usize>,
    cv: Condvar,
}

impl Semaphore {
    /// Creates a semaphore holding `permits` permits.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Semaphore;
    ///
    /// static CONNECTIONS: Semaphore = Semaphore::new(100);
    /// assert_eq!(CONNECTIONS.available_permits(), 100);
    /// ```
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            permits: Mutex::new(permits),
            cv: Condvar::new(),
        }
    }

    /// Takes a permit, blocking until one is free (gevent:
    /// `Semaphore.acquire()`). The permit is given back when the returned
    /// guard is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// let permit = sem.acquire();
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.take(None);
        SemaphorePermit { sem: self }
    }

    /// Takes a permit if one is free, without blocking (gevent:
    /// `Semaphore.acquire(blocking=False)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// let _p = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let mut p = lock(&self.permits);
        if *p == 0 {
            return None;
        }
        *p -= 1;
        Some(SemaphorePermit { sem: self })
    }

    /// Takes a permit, blocking at most `dur`; `None` when none became free
    /// in time (gevent: `Semaphore.acquire(timeout=dur)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Semaphore;
    /// use std::time::Duration;
    ///
    /// let sem = Semaphore::new(0);
    /// assert!(sem.acquire_timeout(Duration::from_millis(10)).is_none());
    /// sem.add_permits(1);
    /// assert!(sem.acquire_timeout(Duration::from_millis(10)).is_some());
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, dur: Duration) -> Option<SemaphorePermit<'_>> {
        if self.take(deadline_after(dur)) {
            Some(SemaphorePermit { sem: self })
        } else {
            None
        }
    }

    /// Takes a permit of a shared semaphore, blocking until one is free; the
    /// guard owns a reference to the semaphore, so it can be moved into
    /// another thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Semaphore;
    /// use shim_thread as thread;
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// let permit = sem.clone().acquire_owned();
    /// let t = thread::spawn(move || drop(permit));
    /// t.join().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    #[track_caller]
    pub fn acquire_owned(self: Arc<Self>) -> OwnedSemaphorePermit {
        self.take(None);
        OwnedSemaphorePermit { sem: Some(self) }
    }

    /// As [`try_acquire`](Semaphore::try_acquire), with a guard that owns a
    /// reference to the semaphore.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Semaphore;
    /// use std::sync::Arc;
    ///
    /// let sem = Arc::new(Semaphore::new(1));
    /// let _p = sem.clone().try_acquire_owned().unwrap();
    /// assert!(sem.clone().try_acquire_owned().is_none());
    /// ```
    pub fn try_acquire_owned(self: Arc<Self>) -> Option<OwnedSemaphorePermit> {
        let mut p = lock(&self.permits);
        if *p == 0 {
            return None;
        }
        *p -= 1;
        drop(p);
        Some(OwnedSemaphorePermit { sem: Some(self) })
    }

    /// Adds `n` permits, waking as many waiters (gevent:
    /// `Semaphore.release()`, `n` times). The count saturates at
    /// `usize::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Semaphore;
    ///
    /// let sem = Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut p = lock(&self.permits);
        *p = p.saturating_add(n);
        if n == 1 {
            self.cv.notify_one();
        } else {
            self.cv.notify_all();
        }
    }

    /// The number of free permits now (gevent: `Semaphore.counter`); it may
    /// have changed by the time it is read.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Semaphore;
    ///
    /// let sem = Semaphore::new(3);
    /// let _p = sem.acquire();
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn available_permits(&self) -> usize {
        *lock(&self.permits)
    }

    /// Blocks until a permit is free, without taking it, or `deadline`
    /// passes; `true` when one is free (gevent: `Semaphore.wait`).
    #[track_caller]
    pub(crate) fn wait_free(&self, deadline: Option<Instant>) -> bool {
        let mut p = lock(&self.permits);
        loop {
            if *p > 0 {
                // Someone else may want it: pass the wakeup on.
                self.cv.notify_one();
                return true;
            }
            let (g, timed_out) = wait_until(&self.cv, p, deadline);
            p = g;
            if timed_out {
                return *p > 0;
            }
        }
    }

    #[track_caller]
    fn take(&self, deadline: Option<Instant>) -> bool {
        let mut p = lock(&self.permits);
        loop {
            if *p > 0 {
                *p -= 1;
                if *p > 0 {
                    // A `wait_free` may have consumed a notification meant
                    // for a taker; keep the chain going.
                    self.cv.notify_one();
                }
                return true;
            }
            let (g, timed_out) = wait_until(&self.cv, p, deadline);
            p = g;
            if timed_out && *p == 0 {
                return false;
            }
        }
    }

    fn release(&self) {
        // Giving a permit back must not be cut short by a cancellation
        // (the permit would be lost): deferred to the next wait.
        shim_rt::cancel::defer(|| self.add_permits(1));
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .finish()
    }
}

/// A permit of a [`Semaphore`], given back when dropped.
///
/// Returned by [`Semaphore::acquire`], [`Semaphore::try_acquire`] and
/// [`Semaphore::acquire_timeout`].
#[must_use = "the permit is given back at once if unused"]
#[clippy::has_significant_drop]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for ever: the semaphore has one permit fewer.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Semaphore;
    ///
    /// let sem = Semaphore::new(2);
    /// sem.acquire().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// A permit of a shared [`Semaphore`], given back when dropped; returned by
/// [`Semaphore::acquire_owned`].
#[must_use = "the permit is given back at once if unused"]
#[clippy::has_significant_drop]
pub struct OwnedSemaphorePermit {
    /// `None` once forgotten.
    sem: Option<Arc<Semaphore>>,
}

impl OwnedSemaphorePermit {
    /// Keeps the permit taken for ever: the semaphore has one permit fewer.
    pub fn forget(mut self) {
        self.sem = None;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if let Some(sem) = self.sem.take() {
            sem.release();
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .finish_non_exhaustive()
    }
}
