//! `RwLock`: an atomic state word (reader count, writer bit, parked bit) on
//! the fast path, the shared wait queue when contended.
//!
//! Fairness: once anybody waits (the `PARKED` bit), new readers queue too, so
//! a steady stream of readers cannot starve a writer. An unlock wakes the
//! first waiter if it is a writer, or every reader at the front of the queue.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

use shim_rt::wait::{stack_address, Holder, Notifier, WaitKind, WaitOn, WaitQueue, WaitResult};

use crate::poison;

const WRITER: usize = 1;
const PARKED: usize = 2;
const ONE_READER: usize = 4;
const READERS: usize = !(WRITER | PARKED);

const TAG_READER: u64 = 0;
const TAG_WRITER: u64 = 1;

#[derive(Debug)]
struct RawRwLock {
    state: AtomicUsize,
    /// An address on the writer's stack while a writer holds the lock
    /// (see `RawMutex::owner`).
    writer: AtomicUsize,
    queue: WaitQueue,
}

impl RawRwLock {
    const fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicUsize::new(0),
            writer: AtomicUsize::new(0),
            queue: WaitQueue::new(),
        }
    }

    /// The record of a wait of `kind`: held by the writer, if one holds it.
    #[track_caller]
    fn wait_on(&self, kind: WaitKind, s: usize) -> WaitOn {
        let on = WaitOn::new(kind, self as *const RawRwLock as usize);
        if s & WRITER != 0 {
            on.held_by(Holder::Stack(self.writer.load(Ordering::Relaxed)))
        } else {
            on
        }
    }

    #[inline]
    fn try_read(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (WRITER | PARKED) != 0 {
                return false;
            }
            let Some(n) = s.checked_add(ONE_READER) else {
                return false;
            };
            match self
                .state
                .compare_exchange_weak(s, n, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(x) => s = x,
            }
        }
    }

    #[inline]
    #[track_caller]
    fn read(&self) {
        if !self.try_read() {
            self.read_slow();
        }
    }

    #[cold]
    #[track_caller]
    fn read_slow(&self) {
        let mut woken = false;
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & WRITER == 0 && (s & PARKED == 0 || woken) {
                if let Some(n) = s.checked_add(ONE_READER) {
                    if self
                        .state
                        .compare_exchange_weak(s, n, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        return;
                    }
                    continue;
                }
            }
            if s & PARKED == 0
                && self
                    .state
                    .compare_exchange_weak(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let r = self.queue.wait(
                self.wait_on(WaitKind::RwLockRead, s),
                TAG_READER,
                None,
                || {
                    let s = self.state.load(Ordering::Relaxed);
                    s & PARKED != 0 && (s & WRITER != 0 || !woken)
                },
                || {},
            );
            if r == WaitResult::Interrupted {
                // Off the queue, holding nothing: a due cancellation or
                // deadline unwinds (a stale PARKED is cleared by the next
                // unlock).
                shim_rt::cancel::interrupted();
            }
            woken = r == WaitResult::Notified;
        }
    }

    #[inline]
    fn try_write(&self) -> bool {
        let ok = self
            .state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if ok {
            self.writer.store(stack_address(), Ordering::Relaxed);
        }
        ok
    }

    #[inline]
    #[track_caller]
    fn write(&self) {
        if !self.try_write() {
            self.write_slow();
            self.writer.store(stack_address(), Ordering::Relaxed);
        }
    }

    #[cold]
    #[track_caller]
    fn write_slow(&self) {
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & (WRITER | READERS) == 0 {
                if self
                    .state
                    .compare_exchange_weak(s, s | WRITER, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
                continue;
            }
            if s & PARKED == 0
                && self
                    .state
                    .compare_exchange_weak(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let r = self.queue.wait(
                self.wait_on(WaitKind::RwLockWrite, s),
                TAG_WRITER,
                None,
                || {
                    let s = self.state.load(Ordering::Relaxed);
                    s & PARKED != 0 && s & (WRITER | READERS) != 0
                },
                || {},
            );
            if r == WaitResult::Interrupted {
                shim_rt::cancel::interrupted();
            }
        }
    }

    /// # Safety
    ///
    /// The caller holds a read lock.
    #[inline]
    unsafe fn read_unlock(&self) {
        let prev = self.state.fetch_sub(ONE_READER, Ordering::Release);
        if prev & READERS == ONE_READER && prev & PARKED != 0 {
            self.wake_next(|s| s);
        }
    }

    /// # Safety
    ///
    /// The caller holds the write lock.
    #[inline]
    unsafe fn write_unlock(&self) {
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.wake_next(|s| s & !WRITER);
        }
    }

    /// # Safety
    ///
    /// The caller holds the write lock; it then holds a read lock.
    unsafe fn downgrade(&self) {
        let prev = self.state.fetch_add(ONE_READER - WRITER, Ordering::Release);
        if prev & PARKED != 0 {
            // Readers queued at the front may now share the lock.
            self.queue.notify_with(|n| {
                if n.front_tag() == Some(TAG_READER) {
                    self.notify_front(n);
                }
            });
        }
    }

    /// Under the queue's lock: applies `release` to the state, wakes the
    /// next waiter(s) if no reader holds the lock any more, and keeps
    /// `PARKED` set only while waiters remain. Any holder that releases the
    /// lock while `PARKED` is set comes here, so a waiter left queued is
    /// always woken by the last holder.
    #[cold]
    fn wake_next(&self, release: impl Fn(usize) -> usize) {
        self.queue.notify_with(|n| {
            if release(self.state.load(Ordering::Relaxed)) & READERS == 0 {
                self.notify_front(n);
            }
            let mut s = self.state.load(Ordering::Relaxed);
            loop {
                let mut next = release(s) & !PARKED;
                if !n.is_empty() {
                    next |= PARKED;
                }
                match self.state.compare_exchange_weak(
                    s,
                    next,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(x) => s = x,
                }
            }
        });
    }

    /// Notifies the first waiter if it is a writer, else every reader at the
    /// front of the queue.
    fn notify_front(&self, n: &mut Notifier<'_>) {
        match n.front_tag() {
            Some(TAG_WRITER) => {
                n.notify_one();
            }
            Some(_) => {
                while n.front_tag() == Some(TAG_READER) {
                    n.notify_one();
                }
            }
            None => {}
        }
    }
}

/// A reader-writer lock.
///
/// This is `std::sync::RwLock` with cooperative blocking: waiting parks the
/// coroutine (a plain OS thread blocks as with std). Any number of readers
/// or at most one writer hold it at a time. Once a writer waits, new readers
/// wait behind it, so writers are not starved.
///
/// Poisoning is as std's: a writer that panics while holding the lock
/// poisons it; a panicking reader does not.
///
/// # Examples
///
/// ```
/// use shim_sync::RwLock;
///
/// let lock = RwLock::new(5);
/// {
///     let r1 = lock.read().unwrap();
///     let r2 = lock.read().unwrap();
///     assert_eq!(*r1, 5);
///     assert_eq!(*r2, 5);
/// }
/// {
///     let mut w = lock.write().unwrap();
///     *w += 1;
///     assert_eq!(*w, 6);
/// }
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

// SAFETY: as std: ownership of `T` may move with the lock.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: readers share `&T` across contexts (needs `Sync`), a writer gets
// `&mut T` from any context (needs `Send`).
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T: ?Sized> UnwindSafe for RwLock<T> {}
impl<T: ?Sized> RefUnwindSafe for RwLock<T> {}

/// RAII structure used to release the shared read access of a lock when
/// dropped.
///
/// This structure is created by the [`read`](RwLock::read) and
/// [`try_read`](RwLock::try_read) methods on [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
#[clippy::has_significant_drop]
pub struct RwLockReadGuard<'rwlock, T: ?Sized + 'rwlock> {
    // `NonNull<T>` and the raw lock, not `&RwLock<T>` (whose `UnsafeCell`
    // would make the guard invariant): covariant in `T`, as std's.
    data: NonNull<T>,
    inner_lock: &'rwlock RawRwLock,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a `&RwLockReadGuard` gives only `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

/// RAII structure used to release the exclusive write access of a lock when
/// dropped.
///
/// This structure is created by the [`write`](RwLock::write) and
/// [`try_write`](RwLock::try_write) methods on [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
#[clippy::has_significant_drop]
pub struct RwLockWriteGuard<'rwlock, T: ?Sized + 'rwlock> {
    lock: &'rwlock RwLock<T>,
    poison: poison::Guard,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a `&RwLockWriteGuard` gives only `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> RwLock<T> {
    /// Creates a new instance of an `RwLock<T>` which is unlocked.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::RwLock;
    ///
    /// static LOCK: RwLock<Vec<u8>> = RwLock::new(Vec::new());
    /// LOCK.write().unwrap().push(1);
    /// assert_eq!(*LOCK.read().unwrap(), [1]);
    /// ```
    #[inline]
    pub const fn new(t: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            poison: poison::Flag::new(),
            data: UnsafeCell::new(t),
        }
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks this `RwLock` with shared read access, blocking the current
    /// coroutine (or thread) until it can be acquired.
    ///
    /// # Errors
    ///
    /// If the lock is poisoned, an error holding the acquired guard.
    ///
    /// # Panics
    ///
    /// Re-locking for reading while holding the lock may deadlock when a
    /// writer waits in between (as std).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{Arc, RwLock};
    /// use std::thread;
    ///
    /// let lock = Arc::new(RwLock::new(1));
    /// let c_lock = Arc::clone(&lock);
    /// let n = lock.read().unwrap();
    /// assert_eq!(*n, 1);
    /// thread::spawn(move || {
    ///     let r = c_lock.read();
    ///     assert!(r.is_ok());
    /// }).join().unwrap();
    /// ```
    #[inline]
    #[track_caller]
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        self.raw.read();
        // SAFETY: we hold a read lock.
        unsafe { RwLockReadGuard::new(self) }
    }

    /// Attempts to acquire this `RwLock` with shared read access without
    /// blocking.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if a writer holds (or waits for) the lock, `Poisoned`
    /// (holding the guard) if it is poisoned.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::RwLock;
    ///
    /// let lock = RwLock::new(1);
    /// match lock.try_read() {
    ///     Ok(n) => assert_eq!(*n, 1),
    ///     Err(_) => unreachable!(),
    /// };
    /// ```
    #[inline]
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        if self.raw.try_read() {
            // SAFETY: we hold a read lock.
            Ok(unsafe { RwLockReadGuard::new(self) }?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Locks this `RwLock` with exclusive write access, blocking the current
    /// coroutine (or thread) until it can be acquired.
    ///
    /// # Errors
    ///
    /// If the lock is poisoned, an error holding the acquired guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::RwLock;
    ///
    /// let lock = RwLock::new(1);
    /// let mut n = lock.write().unwrap();
    /// *n = 2;
    /// assert!(lock.try_read().is_err());
    /// ```
    #[inline]
    #[track_caller]
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        self.raw.write();
        // SAFETY: we hold the write lock.
        unsafe { RwLockWriteGuard::new(self) }
    }

    /// Attempts to lock this `RwLock` with exclusive write access without
    /// blocking.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the lock is held, `Poisoned` (holding the guard) if
    /// it is poisoned.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::RwLock;
    ///
    /// let lock = RwLock::new(1);
    /// let n = lock.read().unwrap();
    /// assert_eq!(*n, 1);
    /// assert!(lock.try_write().is_err());
    /// ```
    #[inline]
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        if self.raw.try_write() {
            // SAFETY: we hold the write lock.
            Ok(unsafe { RwLockWriteGuard::new(self) }?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Determines whether the lock is poisoned.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{Arc, RwLock};
    /// use std::thread;
    ///
    /// let lock = Arc::new(RwLock::new(0));
    /// let c_lock = Arc::clone(&lock);
    /// let _ = thread::spawn(move || {
    ///     let _lock = c_lock.write().unwrap();
    ///     panic!(); // the lock gets poisoned
    /// }).join();
    /// assert_eq!(lock.is_poisoned(), true);
    /// ```
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clear the poisoned state from a lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{Arc, RwLock};
    /// use std::thread;
    ///
    /// let lock = Arc::new(RwLock::new(0));
    /// let c_lock = Arc::clone(&lock);
    /// let _ = thread::spawn(move || {
    ///     let _lock = c_lock.write().unwrap();
    ///     panic!(); // the lock gets poisoned
    /// }).join();
    /// assert_eq!(lock.is_poisoned(), true);
    /// let guard = lock.write().unwrap_or_else(|mut e| {
    ///     **e.get_mut() = 1;
    ///     lock.clear_poison();
    ///     e.into_inner()
    /// });
    /// assert_eq!(lock.is_poisoned(), false);
    /// assert_eq!(*guard, 1);
    /// ```
    #[inline]
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// Consumes this `RwLock`, returning the underlying data.
    ///
    /// # Errors
    ///
    /// If the lock is poisoned, an error holding the data.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::RwLock;
    ///
    /// let lock = RwLock::new(String::new());
    /// lock.write().unwrap().push_str("hello");
    /// assert_eq!(lock.into_inner().unwrap(), "hello");
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

    /// Returns a mutable reference to the underlying data, without locking.
    ///
    /// # Errors
    ///
    /// If the lock is poisoned, an error holding the reference.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::RwLock;
    ///
    /// let mut lock = RwLock::new(0);
    /// *lock.get_mut().unwrap() = 10;
    /// assert_eq!(*lock.read().unwrap(), 10);
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
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
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

impl<T: Default> Default for RwLock<T> {
    /// Creates a new `RwLock<T>`, with the `Default` value for T.
    fn default() -> RwLock<T> {
        RwLock::new(Default::default())
    }
}

impl<T> From<T> for RwLock<T> {
    /// Creates a new instance of an `RwLock<T>` which is unlocked.
    /// This is equivalent to [`RwLock::new`].
    fn from(t: T) -> Self {
        RwLock::new(t)
    }
}

impl<'rwlock, T: ?Sized> RwLockReadGuard<'rwlock, T> {
    /// # Safety
    ///
    /// The caller holds a read lock on `lock`.
    unsafe fn new(lock: &'rwlock RwLock<T>) -> LockResult<RwLockReadGuard<'rwlock, T>> {
        let guard = RwLockReadGuard {
            // SAFETY: `UnsafeCell::get` never returns null.
            data: unsafe { NonNull::new_unchecked(lock.data.get()) },
            inner_lock: &lock.raw,
            _not_send: PhantomData,
        };
        if lock.poison.get() {
            Err(PoisonError::new(guard))
        } else {
            Ok(guard)
        }
    }
}

impl<'rwlock, T: ?Sized> RwLockWriteGuard<'rwlock, T> {
    /// # Safety
    ///
    /// The caller holds the write lock on `lock`.
    unsafe fn new(lock: &'rwlock RwLock<T>) -> LockResult<RwLockWriteGuard<'rwlock, T>> {
        poison::map_result(lock.poison.guard(), |poison| RwLockWriteGuard {
            lock,
            poison,
            _not_send: PhantomData,
        })
    }

    /// Downgrades a write-locked `RwLockWriteGuard` into a read-locked
    /// [`RwLockReadGuard`], atomically: no writer can take the lock in
    /// between. Readers waiting at the front of the queue are let in.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{RwLock, RwLockWriteGuard};
    ///
    /// let lock = RwLock::new(1);
    /// let mut w = lock.write().unwrap();
    /// *w += 1;
    /// let r = RwLockWriteGuard::downgrade(w);
    /// assert_eq!(*r, 2);
    /// assert!(lock.try_read().is_ok());
    /// assert!(lock.try_write().is_err());
    /// ```
    pub fn downgrade(s: Self) -> RwLockReadGuard<'rwlock, T> {
        let lock = s.lock;
        lock.poison.done(&s.poison);
        std::mem::forget(s);
        // SAFETY: we held the write lock; `downgrade` turns it into a read
        // lock, which the new guard owns.
        unsafe {
            lock.raw.downgrade();
        }
        RwLockReadGuard {
            // SAFETY: `UnsafeCell::get` never returns null.
            data: unsafe { NonNull::new_unchecked(lock.data.get()) },
            inner_lock: &lock.raw,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: a read lock is held, so no `&mut T` exists.
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the write lock is held.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held and the guard is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard holds a read lock.
        unsafe { self.inner_lock.read_unlock() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        // SAFETY: the guard holds the write lock.
        unsafe { self.lock.raw.write_unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
