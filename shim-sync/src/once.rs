//! `Once`: a state word and the shared wait queue. Callers that find the
//! initialiser running park (cooperatively in coroutines) until it ends.

use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};

use shim_rt::wait::{WaitKind, WaitOn, WaitQueue};

const INCOMPLETE: u8 = 0;
const POISONED: u8 = 1;
const RUNNING: u8 = 2;
const COMPLETE: u8 = 3;

/// A low-level synchronization primitive for one-time global execution.
///
/// This is `std::sync::Once`, cooperative: callers that find the
/// initialisation running wait by parking their coroutine, so an initialiser
/// that itself blocks cooperatively (sleep, I/O) does not stall the workers.
///
/// # Examples
///
/// ```
/// use shim_sync::Once;
///
/// static START: Once = Once::new();
///
/// START.call_once(|| {
///     // run initialization here
/// });
/// assert!(START.is_completed());
/// ```
pub struct Once {
    state: AtomicU8,
    queue: WaitQueue,
}

impl UnwindSafe for Once {}
impl RefUnwindSafe for Once {}

/// State yielded to [`Once::call_once_force()`]'s closure parameter. The
/// state can be used to query the poison status of the [`Once`].
pub struct OnceState {
    poisoned: bool,
}

/// Initialization value for static [`Once`] values.
///
/// # Examples
///
/// ```
/// #![allow(deprecated)]
/// use shim_sync::{Once, ONCE_INIT};
///
/// static START: Once = ONCE_INIT;
/// ```
#[deprecated(since = "1.38.0", note = "the `Once::new()` function is now preferred")]
#[allow(clippy::declare_interior_mutable_const)]
pub const ONCE_INIT: Once = Once::new();

impl Once {
    /// Creates a new `Once` value.
    #[inline]
    #[allow(clippy::new_without_default)] // std's `Once` has no `Default`
    #[must_use]
    pub const fn new() -> Once {
        Once {
            state: AtomicU8::new(INCOMPLETE),
            queue: WaitQueue::new(),
        }
    }

    /// Performs an initialization routine once and only once. The given
    /// closure will be executed if this is the first time `call_once` has
    /// been called, and otherwise the routine will *not* be invoked.
    ///
    /// This method will block the calling coroutine (or thread) if another
    /// initialization routine is currently running. When this function
    /// returns, it is guaranteed that some initialization has run and
    /// completed (it might not be the closure specified).
    ///
    /// # Panics
    ///
    /// The closure `f` will only be executed once even if this is called
    /// concurrently amongst many threads. If that closure panics, however,
    /// then it will *poison* this [`Once`] instance, causing all future
    /// invocations of `call_once` to also panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Once;
    ///
    /// static mut VAL: usize = 0;
    /// static INIT: Once = Once::new();
    ///
    /// fn get_cached_val() -> usize {
    ///     // SAFETY: VAL is written only inside `call_once`.
    ///     unsafe {
    ///         INIT.call_once(|| {
    ///             VAL = 42;
    ///         });
    ///         VAL
    ///     }
    /// }
    /// assert_eq!(get_cached_val(), 42);
    /// ```
    #[track_caller]
    pub fn call_once<F>(&self, f: F)
    where
        F: FnOnce(),
    {
        if self.is_completed() {
            return;
        }
        let mut f = Some(f);
        self.call(false, &mut |_| {
            if let Some(f) = f.take() {
                f()
            }
        });
    }

    /// Performs the same function as [`call_once()`] except ignores
    /// poisoning.
    ///
    /// Unlike [`call_once()`], if this [`Once`] has been poisoned (i.e., a
    /// previous call to [`call_once()`] or [`call_once_force()`] caused a
    /// panic), calling [`call_once_force()`] will still invoke the closure
    /// `f` and will _not_ result in an immediate panic. If `f` panics, the
    /// [`Once`] will remain in a poison state. If `f` does _not_ panic, the
    /// [`Once`] will no longer be in a poison state and all future calls to
    /// [`call_once()`] or [`call_once_force()`] will be no-ops.
    ///
    /// The closure `f` is yielded a [`OnceState`] structure which can be
    /// used to query the poison status of the [`Once`].
    ///
    /// [`call_once()`]: Once::call_once
    /// [`call_once_force()`]: Once::call_once_force
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Once;
    /// use std::thread;
    ///
    /// static INIT: Once = Once::new();
    ///
    /// // poison the once
    /// let handle = thread::spawn(|| {
    ///     INIT.call_once(|| panic!());
    /// });
    /// assert!(handle.join().is_err());
    ///
    /// // poisoning propagates
    /// let handle = thread::spawn(|| {
    ///     INIT.call_once(|| {});
    /// });
    /// assert!(handle.join().is_err());
    ///
    /// // call_once_force will still run and reset the poisoned state
    /// INIT.call_once_force(|state| {
    ///     assert!(state.is_poisoned());
    /// });
    ///
    /// // once any success happens, we stop propagating the poison
    /// INIT.call_once(|| {});
    /// ```
    #[track_caller]
    pub fn call_once_force<F>(&self, f: F)
    where
        F: FnOnce(&OnceState),
    {
        if self.is_completed() {
            return;
        }
        let mut f = Some(f);
        self.call(true, &mut |state| {
            if let Some(f) = f.take() {
                f(state)
            }
        });
    }

    /// Returns `true` if some [`call_once()`](Once::call_once) call has
    /// completed successfully. Specifically, `is_completed` will return
    /// false in the following situations:
    ///   * [`call_once()`](Once::call_once) was not called at all,
    ///   * [`call_once()`](Once::call_once) was called, but has not yet
    ///     completed,
    ///   * the [`Once`] instance is poisoned
    ///
    /// This function returning `false` does not mean that [`Once`] has not
    /// been executed.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Once;
    ///
    /// static INIT: Once = Once::new();
    ///
    /// assert_eq!(INIT.is_completed(), false);
    /// INIT.call_once(|| {
    ///     assert_eq!(INIT.is_completed(), false);
    /// });
    /// assert_eq!(INIT.is_completed(), true);
    /// ```
    #[inline]
    pub fn is_completed(&self) -> bool {
        self.state.load(Ordering::Acquire) == COMPLETE
    }

    /// Blocks the current coroutine (or thread) until initialization has
    /// completed.
    ///
    /// # Panics
    ///
    /// If this [`Once`] has been poisoned because an initialization closure
    /// has panicked, this method will also panic. Use
    /// [`wait_force`](Self::wait_force) if this behavior is not desired.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Once;
    /// use std::thread;
    ///
    /// static READY: Once = Once::new();
    ///
    /// let thread = thread::spawn(|| {
    ///     READY.wait();
    ///     println!("everything is ready");
    /// });
    ///
    /// READY.call_once(|| println!("performing setup"));
    /// thread.join().unwrap();
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        if !self.is_completed() {
            self.wait_inner(false);
        }
    }

    /// Blocks the current coroutine (or thread) until initialization has
    /// completed, ignoring poisoning.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Once;
    ///
    /// let once = Once::new();
    /// once.call_once(|| {});
    /// once.wait_force();
    /// ```
    #[track_caller]
    pub fn wait_force(&self) {
        if !self.is_completed() {
            self.wait_inner(true);
        }
    }

    #[track_caller]
    fn wait_inner(&self, ignore_poisoning: bool) {
        loop {
            match self.state.load(Ordering::Acquire) {
                COMPLETE => return,
                POISONED if !ignore_poisoning => panic_poisoned(),
                s => self.park_while(s),
            }
        }
    }

    /// Parks until the state is no longer `s` (or spuriously).
    #[track_caller]
    fn park_while(&self, s: u8) {
        let _ = self.queue.wait(
            WaitOn::new(WaitKind::Once, self as *const Once as usize),
            0,
            None,
            || self.state.load(Ordering::Acquire) == s,
            || {},
        );
    }

    #[cold]
    #[track_caller]
    fn call(&self, ignore_poisoning: bool, f: &mut dyn FnMut(&OnceState)) {
        loop {
            let s = self.state.load(Ordering::Acquire);
            match s {
                COMPLETE => return,
                POISONED if !ignore_poisoning => panic_poisoned(),
                INCOMPLETE | POISONED => {
                    if self
                        .state
                        .compare_exchange(s, RUNNING, Ordering::Acquire, Ordering::Acquire)
                        .is_err()
                    {
                        continue;
                    }
                    // If `f` panics, the guard poisons the Once and wakes
                    // the waiters.
                    let mut guard = CompletionGuard {
                        once: self,
                        set_state_on_drop_to: POISONED,
                    };
                    f(&OnceState {
                        poisoned: s == POISONED,
                    });
                    guard.set_state_on_drop_to = COMPLETE;
                    return;
                }
                _ => self.park_while(RUNNING),
            }
        }
    }

    /// `INCOMPLETE`, `POISONED` or `COMPLETE` (for exclusive access).
    pub(crate) fn state_mut(&mut self) -> u8 {
        *self.state.get_mut()
    }

    /// Resets to `INCOMPLETE` (for `OnceLock::take`).
    pub(crate) fn reset_mut(&mut self) {
        *self.state.get_mut() = INCOMPLETE;
    }

    /// Marks the `Once` as poisoned or completed, exclusively.
    pub(crate) fn set_mut(&mut self, completed: bool) {
        *self.state.get_mut() = if completed { COMPLETE } else { POISONED };
    }
}

pub(crate) const STATE_COMPLETE: u8 = COMPLETE;
pub(crate) const STATE_POISONED: u8 = POISONED;

#[cold]
#[track_caller]
fn panic_poisoned() -> ! {
    panic!("Once instance has previously been poisoned");
}

struct CompletionGuard<'a> {
    once: &'a Once,
    set_state_on_drop_to: u8,
}

impl Drop for CompletionGuard<'_> {
    fn drop(&mut self) {
        self.once
            .state
            .store(self.set_state_on_drop_to, Ordering::Release);
        self.once.queue.notify_all();
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").finish_non_exhaustive()
    }
}

impl OnceState {
    /// Returns `true` if the associated [`Once`] was poisoned prior to the
    /// invocation of the closure passed to [`Once::call_once_force()`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Once;
    /// use std::thread;
    ///
    /// static INIT: Once = Once::new();
    ///
    /// // poison the once
    /// let handle = thread::spawn(|| {
    ///     INIT.call_once(|| panic!());
    /// });
    /// assert!(handle.join().is_err());
    ///
    /// INIT.call_once_force(|state| {
    ///     assert!(state.is_poisoned());
    /// });
    /// ```
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}

impl fmt::Debug for OnceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceState")
            .field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}
