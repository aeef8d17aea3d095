//! `Condvar`: waiters queue on the shared wait queue *before* releasing the
//! mutex, so a notify issued after the release cannot be missed.

use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::{LockResult, PoisonError};
use std::time::{Duration, Instant};

use shim_rt::wait::{WaitKind, WaitOn, WaitQueue, WaitResult};

use crate::mutex::MutexGuard;

/// A type indicating whether a timed wait on a condition variable returned
/// due to a time out or not.
///
/// It is returned by the [`wait_timeout`](Condvar::wait_timeout) method.
#[derive(Debug, PartialEq, Eq, Copy, Clone)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Returns `true` if the wait was known to have timed out.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{Condvar, Mutex};
    /// use std::time::Duration;
    ///
    /// let lock = Mutex::new(());
    /// let cvar = Condvar::new();
    /// let guard = lock.lock().unwrap();
    /// let (_guard, result) = cvar.wait_timeout(guard, Duration::from_millis(5)).unwrap();
    /// assert!(result.timed_out());
    /// ```
    #[must_use]
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A Condition Variable.
///
/// Condition variables represent the ability to block a coroutine (or
/// thread) such that it consumes no CPU time while waiting for an event to
/// occur. This is `std::sync::Condvar`, cooperative: waiting parks the
/// coroutine, not its worker. Unlike std's (which may panic), a `Condvar`
/// may be used with any number of different mutexes over its life.
///
/// Waits may wake up spuriously; use them in a loop on a condition, or use
/// [`wait_while`](Condvar::wait_while).
///
/// # Examples
///
/// ```
/// use shim_sync::{Arc, Condvar, Mutex};
/// use std::thread;
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = Arc::clone(&pair);
///
/// thread::spawn(move || {
///     let (lock, cvar) = &*pair2;
///     let mut started = lock.lock().unwrap();
///     *started = true;
///     cvar.notify_one();
/// });
///
/// let (lock, cvar) = &*pair;
/// let mut started = lock.lock().unwrap();
/// while !*started {
///     started = cvar.wait(started).unwrap();
/// }
/// ```
pub struct Condvar {
    queue: WaitQueue,
}

impl UnwindSafe for Condvar {}
impl RefUnwindSafe for Condvar {}

impl Condvar {
    /// Creates a new condition variable which is ready to be waited on and
    /// notified.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Condvar;
    ///
    /// static CVAR: Condvar = Condvar::new();
    /// CVAR.notify_all();
    /// ```
    #[must_use]
    #[inline]
    pub const fn new() -> Condvar {
        Condvar {
            queue: WaitQueue::new(),
        }
    }

    /// Releases the guard's mutex, blocks until notified or `deadline`, and
    /// re-acquires it. Returns `true` on timeout.
    #[track_caller]
    fn wait_deadline<T: ?Sized>(
        &self,
        guard: &MutexGuard<'_, T>,
        deadline: Option<Instant>,
        kind: WaitKind,
    ) -> bool {
        let mutex = guard.mutex();
        let on = WaitOn::new(kind, self as *const Condvar as usize);
        let r = self.queue.wait(
            on,
            0,
            deadline,
            || true,
            || {
                // SAFETY: `guard` proves the caller holds the lock; the guard
                // stays with our caller and is not used until we re-lock below.
                unsafe { mutex.raw().unlock() }
            },
        );
        mutex.raw().lock();
        r == WaitResult::TimedOut
    }

    /// `wait`, recorded as a wait of `kind` (`Barrier::wait` waits here).
    #[track_caller]
    pub(crate) fn wait_as<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        kind: WaitKind,
    ) -> LockResult<MutexGuard<'a, T>> {
        self.wait_deadline(&guard, None, kind);
        poisoned_or(guard)
    }

    /// Blocks the current coroutine (or thread) until this condition
    /// variable receives a notification.
    ///
    /// Atomically unlocks the mutex of `guard` and blocks; when woken, the
    /// lock is re-acquired before returning. Spurious wakeups are possible.
    ///
    /// # Errors
    ///
    /// If the mutex was poisoned when it is re-acquired, an error holding
    /// the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{Arc, Condvar, Mutex};
    /// use std::thread;
    ///
    /// let pair = Arc::new((Mutex::new(false), Condvar::new()));
    /// let pair2 = Arc::clone(&pair);
    /// thread::spawn(move || {
    ///     let (lock, cvar) = &*pair2;
    ///     *lock.lock().unwrap() = true;
    ///     cvar.notify_one();
    /// });
    /// let (lock, cvar) = &*pair;
    /// let mut started = lock.lock().unwrap();
    /// while !*started {
    ///     started = cvar.wait(started).unwrap();
    /// }
    /// ```
    #[track_caller]
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        self.wait_as(guard, WaitKind::Condvar)
    }

    /// Blocks the current coroutine (or thread) until the provided
    /// `condition` returns `false`, re-checking it after every wakeup.
    ///
    /// # Errors
    ///
    /// If the mutex was poisoned when it is re-acquired, an error holding
    /// the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{Arc, Condvar, Mutex};
    /// use std::thread;
    ///
    /// let pair = Arc::new((Mutex::new(true), Condvar::new()));
    /// let pair2 = Arc::clone(&pair);
    /// thread::spawn(move || {
    ///     let (lock, cvar) = &*pair2;
    ///     *lock.lock().unwrap() = false;
    ///     cvar.notify_one();
    /// });
    /// let (lock, cvar) = &*pair;
    /// let _guard = cvar.wait_while(lock.lock().unwrap(), |pending| *pending).unwrap();
    /// ```
    #[track_caller]
    pub fn wait_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Waits on this condition variable for a notification, timing out after
    /// a specified duration in milliseconds. Returns the guard and whether
    /// the wait timed out.
    ///
    /// # Errors
    ///
    /// If the mutex was poisoned when it is re-acquired, an error holding
    /// the guard and the timeout flag.
    #[deprecated(
        since = "1.6.0",
        note = "replaced by `shim_sync::Condvar::wait_timeout`"
    )]
    #[track_caller]
    pub fn wait_timeout_ms<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        ms: u32,
    ) -> LockResult<(MutexGuard<'a, T>, bool)> {
        match self.wait_timeout(guard, Duration::from_millis(u64::from(ms))) {
            Ok((g, r)) => Ok((g, r.timed_out())),
            Err(e) => {
                let (g, r) = e.into_inner();
                Err(PoisonError::new((g, r.timed_out())))
            }
        }
    }

    /// Waits on this condition variable for a notification, timing out after
    /// a specified duration.
    ///
    /// The returned [`WaitTimeoutResult`] tells whether the timeout elapsed
    /// without a notification. Spurious wakeups are possible.
    ///
    /// # Errors
    ///
    /// If the mutex was poisoned when it is re-acquired, an error holding
    /// the guard and the result.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{Condvar, Mutex};
    /// use std::time::Duration;
    ///
    /// let lock = Mutex::new(false);
    /// let cvar = Condvar::new();
    /// let guard = lock.lock().unwrap();
    /// let (guard, result) = cvar.wait_timeout(guard, Duration::from_millis(10)).unwrap();
    /// assert!(result.timed_out());
    /// assert!(!*guard);
    /// ```
    #[track_caller]
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let deadline = Instant::now().checked_add(dur);
        let timed_out = self.wait_deadline(&guard, deadline, WaitKind::Condvar);
        match poisoned_or(guard) {
            Ok(g) => Ok((g, WaitTimeoutResult(timed_out))),
            Err(e) => Err(PoisonError::new((
                e.into_inner(),
                WaitTimeoutResult(timed_out),
            ))),
        }
    }

    /// Waits on this condition variable for a notification, timing out after
    /// a specified duration, while `condition` returns `true`.
    ///
    /// Returns when `condition` returns `false` (result not timed out) or
    /// when the duration elapsed with `condition` still `true` (timed out).
    ///
    /// # Errors
    ///
    /// If the mutex was poisoned when it is re-acquired, an error holding
    /// the guard and the result.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{Arc, Condvar, Mutex};
    /// use std::thread;
    /// use std::time::Duration;
    ///
    /// let pair = Arc::new((Mutex::new(true), Condvar::new()));
    /// let pair2 = Arc::clone(&pair);
    /// thread::spawn(move || {
    ///     let (lock, cvar) = &*pair2;
    ///     *lock.lock().unwrap() = false;
    ///     cvar.notify_one();
    /// });
    /// let (lock, cvar) = &*pair;
    /// let result = cvar
    ///     .wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(10), |&mut pending| pending)
    ///     .unwrap();
    /// assert!(!result.1.timed_out());
    /// ```
    #[track_caller]
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = Instant::now().checked_add(dur);
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Ok((guard, WaitTimeoutResult(true)));
                }
            }
            self.wait_deadline(&guard, deadline, WaitKind::Condvar);
            guard = match poisoned_or(guard) {
                Ok(g) => g,
                Err(e) => {
                    return Err(PoisonError::new((e.into_inner(), WaitTimeoutResult(false))));
                }
            };
        }
    }

    /// Wakes up one blocked waiter on this condvar, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Condvar;
    ///
    /// let cvar = Condvar::new();
    /// cvar.notify_one(); // nobody waits: no effect
    /// ```
    #[inline]
    pub fn notify_one(&self) {
        if self.queue.waiters() != 0 {
            self.queue.notify_one();
        }
    }

    /// Wakes up all blocked waiters on this condvar.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Condvar;
    ///
    /// let cvar = Condvar::new();
    /// cvar.notify_all(); // nobody waits: no effect
    /// ```
    #[inline]
    pub fn notify_all(&self) {
        if self.queue.waiters() != 0 {
            self.queue.notify_all();
        }
    }
}

fn poisoned_or<T: ?Sized>(guard: MutexGuard<'_, T>) -> LockResult<MutexGuard<'_, T>> {
    if guard.mutex().poison_flag().get() {
        Err(PoisonError::new(guard))
    } else {
        Ok(guard)
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

impl Default for Condvar {
    /// Creates a `Condvar` which is ready to be waited on and notified.
    fn default() -> Condvar {
        Condvar::new()
    }
}
