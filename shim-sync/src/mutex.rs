//! `Mutex`: an atomic state word on the fast path, the shared wait queue
//! when contended.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

use shim_rt::wait::{stack_address, Holder, WaitKind, WaitOn, WaitQueue};

use crate::poison;

const UNLOCKED: u32 = 0;
/// Locked, nobody waiting.
const LOCKED: u32 = 1;
/// Locked, and someone may be waiting: unlocking must wake one.
const CONTENDED: u32 = 2;

/// The lock itself, without data or poisoning (also used by `Condvar`).
#[derive(Debug)]
pub(crate) struct RawMutex {
    state: AtomicU32,
    /// An address on the holder's stack, stored when it takes the lock:
    /// who holds it, for the deadlock report (meaningless while unlocked).
    owner: AtomicUsize,
    queue: WaitQueue,
}

impl RawMutex {
    pub(crate) const fn new() -> RawMutex {
        RawMutex {
            state: AtomicU32::new(UNLOCKED),
            owner: AtomicUsize::new(0),
            queue: WaitQueue::new(),
        }
    }

    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let ok = self
            .state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if ok {
            self.owner.store(stack_address(), Ordering::Relaxed);
        }
        ok
    }

    #[inline]
    #[track_caller]
    pub(crate) fn lock(&self) {
        if !self.try_lock() {
            self.lock_contended();
            self.owner.store(stack_address(), Ordering::Relaxed);
        }
    }

    #[cold]
    #[track_caller]
    fn lock_contended(&self) {
        // First attempt: if it frees up while we spin, take it as LOCKED
        // (no waiter known).
        let s = self.spin();
        if s == UNLOCKED
            && self
                .state
                .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return;
        }
        loop {
            // Announce a waiter; if that took the lock, we own it. Once we
            // have waited, we always take it as CONTENDED: other waiters
            // may still be queued and the next unlock must wake one.
            if self.state.swap(CONTENDED, Ordering::Acquire) == UNLOCKED {
                return;
            }
            let on = WaitOn::new(WaitKind::Mutex, self as *const RawMutex as usize)
                .held_by(Holder::Stack(self.owner.load(Ordering::Relaxed)));
            let _ = self.queue.wait(
                on,
                0,
                None,
                || self.state.load(Ordering::Relaxed) == CONTENDED,
                || {},
            );
            self.spin();
        }
    }

    /// A short spin while the lock is held and nobody is queued (the holder
    /// runs on another worker or thread and may be about to release it).
    #[inline]
    fn spin(&self) -> u32 {
        let mut s = self.state.load(Ordering::Relaxed);
        let mut spins = 0;
        while s == LOCKED && spins < 64 {
            std::hint::spin_loop();
            spins += 1;
            s = self.state.load(Ordering::Relaxed);
        }
        s
    }

    /// # Safety
    ///
    /// The caller holds the lock.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        if self.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            self.queue.notify_one();
        }
    }
}

/// A mutual exclusion primitive useful for protecting shared data.
///
/// This is `std::sync::Mutex` with cooperative blocking: a coroutine that
/// waits for the lock parks and lets its worker run other coroutines; a plain
/// OS thread blocks as with std. The same mutex can be shared between
/// coroutines and threads, and may be held across blocking calls (sleep,
/// I/O) without stalling a worker.
///
/// Poisoning is as std's: a guard dropped while its holder panics poisons
/// the mutex, and later `lock`s return `Err(PoisonError)` holding the guard.
///
/// # Examples
///
/// ```
/// use shim_sync::{Arc, Mutex};
/// use std::thread;
///
/// let data = Arc::new(Mutex::new(0));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let data = Arc::clone(&data);
///         thread::spawn(move || *data.lock().unwrap() += 1)
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*data.lock().unwrap(), 4);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

// SAFETY: as std: the mutex hands out `&mut T` to one holder at a time, so
// sharing it needs only `T: Send` (the value may be used from, and moved to,
// whichever context holds the lock).
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: see above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T: ?Sized> UnwindSafe for Mutex<T> {}
impl<T: ?Sized> RefUnwindSafe for Mutex<T> {}

/// An RAII implementation of a "scoped lock" of a mutex. When this structure
/// is dropped (falls out of scope), the lock will be unlocked.
///
/// The data protected by the mutex can be accessed through this guard via its
/// `Deref` and `DerefMut` implementations.
///
/// This structure is created by the [`lock`](Mutex::lock) and
/// [`try_lock`](Mutex::try_lock) methods on [`Mutex`].
#[must_use = "if unused the Mutex will immediately unlock"]
#[clippy::has_significant_drop]
pub struct MutexGuard<'a, T: ?Sized + 'a> {
    lock: &'a Mutex<T>,
    poison: poison::Guard,
    /// Not `Send`, as std's.
    _not_send: std::marker::PhantomData<*const ()>,
}

// SAFETY: a `&MutexGuard` only gives `&T`, so sharing it needs `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// Creates a new mutex in an unlocked state ready for use.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Mutex;
    ///
    /// static COUNTER: Mutex<u32> = Mutex::new(0);
    /// *COUNTER.lock().unwrap() += 1;
    /// assert_eq!(*COUNTER.lock().unwrap(), 1);
    /// ```
    #[inline]
    pub const fn new(t: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            poison: poison::Flag::new(),
            data: UnsafeCell::new(t),
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires a mutex, blocking the current coroutine (or thread) until it
    /// is able to do so.
    ///
    /// Upon returning, the caller is the only holder of the lock. An RAII
    /// guard is returned to allow scoped unlock of the lock.
    ///
    /// # Errors
    ///
    /// If another user of this mutex panicked while holding it, this call
    /// returns an error containing the acquired guard.
    ///
    /// # Panics
    ///
    /// Locking a mutex that the caller already holds deadlocks (std may
    /// deadlock or panic).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{Arc, Mutex};
    /// use std::thread;
    ///
    /// let mutex = Arc::new(Mutex::new(0));
    /// let c_mutex = Arc::clone(&mutex);
    ///
    /// thread::spawn(move || {
    ///     *c_mutex.lock().unwrap() = 10;
    /// }).join().expect("thread::spawn failed");
    /// assert_eq!(*mutex.lock().unwrap(), 10);
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.raw.lock();
        // SAFETY: we just acquired the lock.
        unsafe { MutexGuard::new(self) }
    }

    /// Attempts to acquire this lock without blocking.
    ///
    /// # Errors
    ///
    /// `TryLockError::WouldBlock` if the lock is held, and
    /// `TryLockError::Poisoned` (holding the acquired guard) if it was
    /// poisoned.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{Mutex, TryLockError};
    ///
    /// let mutex = Mutex::new(1);
    /// let guard = mutex.try_lock().unwrap();
    /// assert!(matches!(mutex.try_lock(), Err(TryLockError::WouldBlock)));
    /// drop(guard);
    /// assert_eq!(*mutex.try_lock().unwrap(), 1);
    /// ```
    #[inline]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        if self.raw.try_lock() {
            // SAFETY: we just acquired the lock.
            Ok(unsafe { MutexGuard::new(self) }?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Determines whether the mutex is poisoned.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{Arc, Mutex};
    /// use std::thread;
    ///
    /// let mutex = Arc::new(Mutex::new(0));
    /// let c_mutex = Arc::clone(&mutex);
    /// let _ = thread::spawn(move || {
    ///     let _lock = c_mutex.lock().unwrap();
    ///     panic!(); // the mutex gets poisoned
    /// }).join();
    /// assert_eq!(mutex.is_poisoned(), true);
    /// ```
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clear the poisoned state from a mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{Arc, Mutex};
    /// use std::thread;
    ///
    /// let mutex = Arc::new(Mutex::new(0));
    /// let c_mutex = Arc::clone(&mutex);
    /// let _ = thread::spawn(move || {
    ///     let _lock = c_mutex.lock().unwrap();
    ///     panic!(); // the mutex gets poisoned
    /// }).join();
    ///
    /// assert_eq!(mutex.is_poisoned(), true);
    /// let x = mutex.lock().unwrap_or_else(|mut e| {
    ///     **e.get_mut() = 1;
    ///     mutex.clear_poison();
    ///     e.into_inner()
    /// });
    /// assert_eq!(mutex.is_poisoned(), false);
    /// assert_eq!(*x, 1);
    /// ```
    #[inline]
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// Consumes this mutex, returning the underlying data.
    ///
    /// # Errors
    ///
    /// If another user of this mutex panicked while holding it, this returns
    /// an error containing the data.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Mutex;
    ///
    /// let mutex = Mutex::new(0);
    /// assert_eq!(mutex.into_inner().unwrap(), 0);
    /// ```
    pub fn into_inner(self) -> LockResult<T>
    where
        T: Sized,
    {
        let poisoned = self.poison.get();
        let data = self.data.into_inner();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }

    /// Returns a mutable reference to the underlying data.
    ///
    /// Since this call borrows the `Mutex` mutably, no actual locking needs
    /// to take place.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned, an error containing the reference.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Mutex;
    ///
    /// let mut mutex = Mutex::new(0);
    /// *mutex.get_mut().unwrap() = 10;
    /// assert_eq!(*mutex.lock().unwrap(), 10);
    /// ```
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let poisoned = self.poison.get();
        let data = self.data.get_mut();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }

    /// The lock, for `Condvar`.
    #[inline]
    pub(crate) fn raw(&self) -> &RawMutex {
        &self.raw
    }

    /// The poison flag, for `Condvar`.
    #[inline]
    pub(crate) fn poison_flag(&self) -> &poison::Flag {
        &self.poison
    }
}

impl<T> From<T> for Mutex<T> {
    /// Creates a new mutex in an unlocked state ready for use.
    /// This is equivalent to [`Mutex::new`].
    fn from(t: T) -> Self {
        Mutex::new(t)
    }
}

impl<T: Default> Default for Mutex<T> {
    /// Creates a `Mutex<T>`, with the `Default` value for T.
    fn default() -> Mutex<T> {
        Mutex::new(Default::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => {
                d.field("data", &&*guard);
            }
            Err(TryLockError::Poisoned(err)) => {
                d.field("data", &&**err.get_ref());
            }
            Err(TryLockError::WouldBlock) => {
                d.field("data", &format_args!("<locked>"));
            }
        }
        d.field("poisoned", &self.poison.get());
        d.finish_non_exhaustive()
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// # Safety
    ///
    /// The caller holds `lock`'s raw lock.
    unsafe fn new(lock: &'a Mutex<T>) -> LockResult<MutexGuard<'a, T>> {
        poison::map_result(lock.poison.guard(), |poison| MutexGuard {
            lock,
            poison,
            _not_send: std::marker::PhantomData,
        })
    }

    /// The mutex this guard holds, for `Condvar`.
    #[inline]
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.lock
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no `&mut T` exists elsewhere.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock and is borrowed mutably, so this
        // is the only reference to the data.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        // SAFETY: the guard holds the lock.
        unsafe { self.lock.raw.unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
