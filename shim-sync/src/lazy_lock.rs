//! `LazyLock`: a [`Once`] and a slot holding first the initialiser, then
//! the value.

use std::cell::UnsafeCell;
use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};

use crate::once::{Once, STATE_COMPLETE, STATE_POISONED};

union Data<T, F> {
    value: ManuallyDrop<T>,
    f: ManuallyDrop<F>,
}

/// A value which is initialized on the first access.
///
/// This is `std::sync::LazyLock`, cooperative: while the initialiser runs,
/// other callers park (their coroutines, not their workers), so an
/// initialiser may sleep or do I/O.
///
/// # Poisoning
///
/// If the initialization closure panics, the lock is poisoned: every later
/// access (dereference or [`force`](LazyLock::force)) panics.
///
/// # Examples
///
/// ```
/// use shim_sync::LazyLock;
///
/// static DEEP_THOUGHT: LazyLock<String> = LazyLock::new(|| (6 * 7).to_string());
///
/// assert_eq!(&*DEEP_THOUGHT, "42");
/// ```
pub struct LazyLock<T, F = fn() -> T> {
    once: Once,
    data: UnsafeCell<Data<T, F>>,
}

// SAFETY: the initialiser runs once (moved out under the `Once`, so it must
// be `Send`), and the value is then shared (`Sync`) and may be dropped by
// any context (`Send`).
unsafe impl<T: Sync + Send, F: Send> Sync for LazyLock<T, F> {}

impl<T: RefUnwindSafe + UnwindSafe, F: UnwindSafe> RefUnwindSafe for LazyLock<T, F> {}
impl<T: UnwindSafe, F: UnwindSafe> UnwindSafe for LazyLock<T, F> {}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// Creates a new lazy value with the given initializing function.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::LazyLock;
    ///
    /// let hello = "Hello, World!".to_string();
    ///
    /// let lazy = LazyLock::new(|| hello.to_uppercase());
    ///
    /// assert_eq!(&*lazy, "HELLO, WORLD!");
    /// ```
    #[inline]
    pub const fn new(f: F) -> LazyLock<T, F> {
        LazyLock {
            once: Once::new(),
            data: UnsafeCell::new(Data {
                f: ManuallyDrop::new(f),
            }),
        }
    }

    /// Forces the evaluation of this lazy value and returns a mutable
    /// reference to the result.
    ///
    /// # Panics
    ///
    /// If the initialization closure panics, the panic is propagated to the
    /// caller, and the lock becomes poisoned: all future accesses panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::LazyLock;
    ///
    /// let mut lazy = LazyLock::new(|| 92);
    ///
    /// let p = LazyLock::force_mut(&mut lazy);
    /// assert_eq!(*p, 92);
    /// *p = 44;
    /// assert_eq!(*lazy, 44);
    /// ```
    pub fn force_mut(this: &mut LazyLock<T, F>) -> &mut T {
        match this.once.state_mut() {
            STATE_COMPLETE => {}
            STATE_POISONED => panic_poisoned(),
            _ => {
                // Marked poisoned while `f` runs: if it panics, the lock
                // stays poisoned (and `f`, moved out, is not dropped twice).
                this.once.set_mut(false);
                let data = this.data.get_mut();
                // SAFETY: incomplete, so the slot holds `f`; the state now
                // says it does not, so it is taken exactly once.
                let f = unsafe { ManuallyDrop::take(&mut data.f) };
                let value = f();
                data.value = ManuallyDrop::new(value);
                this.once.set_mut(true);
            }
        }
        // SAFETY: complete, so the slot holds the value; `&mut this` is
        // exclusive.
        unsafe { &mut this.data.get_mut().value }
    }

    /// Forces the evaluation of this lazy value and returns a reference to
    /// the result. This is equivalent to the `Deref` impl, but is explicit.
    ///
    /// This method will block the calling coroutine (or thread) if another
    /// initialization routine is currently running.
    ///
    /// # Panics
    ///
    /// If the initialization closure panics, the panic is propagated to the
    /// caller, and the lock becomes poisoned: all future accesses panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::LazyLock;
    ///
    /// let lazy = LazyLock::new(|| 92);
    ///
    /// assert_eq!(LazyLock::force(&lazy), &92);
    /// assert_eq!(&*lazy, &92);
    /// ```
    #[inline]
    #[track_caller]
    pub fn force(this: &LazyLock<T, F>) -> &T {
        if !this.once.is_completed() {
            Self::initialize(this);
        }
        // SAFETY: complete, so the slot holds the value, never written again
        // while shared.
        unsafe { &(*this.data.get()).value }
    }

    #[cold]
    #[track_caller]
    fn initialize(this: &LazyLock<T, F>) {
        this.once.call_once_force(|state| {
            if state.is_poisoned() {
                panic_poisoned();
            }
            // SAFETY: we run inside the `Once`, before completion, the only
            // context touching the slot, which still holds `f`. If `f`
            // panics the `Once` is poisoned and the slot is never read.
            let data = unsafe { &mut *this.data.get() };
            // SAFETY: as above: the slot holds `f`, taken exactly once.
            let f = unsafe { ManuallyDrop::take(&mut data.f) };
            let value = f();
            data.value = ManuallyDrop::new(value);
        });
        if !this.once.is_completed() {
            // Another caller's initialiser panicked while we waited.
            panic_poisoned();
        }
    }
}

impl<T, F> LazyLock<T, F> {
    /// Returns a mutable reference to the value if initialized. Otherwise
    /// (if uninitialized or poisoned), returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::LazyLock;
    ///
    /// let mut lazy = LazyLock::new(|| 92);
    ///
    /// assert_eq!(LazyLock::get_mut(&mut lazy), None);
    /// let _ = LazyLock::force(&lazy);
    /// *LazyLock::get_mut(&mut lazy).unwrap() = 44;
    /// assert_eq!(*lazy, 44);
    /// ```
    #[inline]
    pub fn get_mut(this: &mut LazyLock<T, F>) -> Option<&mut T> {
        if this.once.state_mut() == STATE_COMPLETE {
            // SAFETY: complete, so the slot holds the value.
            Some(unsafe { &mut this.data.get_mut().value })
        } else {
            None
        }
    }

    /// Returns a reference to the value if initialized. Otherwise (if
    /// uninitialized or poisoned), returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::LazyLock;
    ///
    /// let lazy = LazyLock::new(|| 92);
    ///
    /// assert_eq!(LazyLock::get(&lazy), None);
    /// let _ = LazyLock::force(&lazy);
    /// assert_eq!(LazyLock::get(&lazy), Some(&92));
    /// ```
    #[inline]
    pub fn get(this: &LazyLock<T, F>) -> Option<&T> {
        if this.once.is_completed() {
            // SAFETY: complete, so the slot holds the value.
            Some(unsafe { &(*this.data.get()).value })
        } else {
            None
        }
    }
}

impl<T, F> Drop for LazyLock<T, F> {
    fn drop(&mut self) {
        match self.once.state_mut() {
            // SAFETY: complete: the slot holds the value, dropped once here.
            STATE_COMPLETE => unsafe { ManuallyDrop::drop(&mut self.data.get_mut().value) },
            // Poisoned: `f` was consumed and no value was stored.
            STATE_POISONED => {}
            // SAFETY: incomplete: the slot holds `f`, dropped once here.
            _ => unsafe { ManuallyDrop::drop(&mut self.data.get_mut().f) },
        }
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;

    /// Dereferences the value, initialising it first if needed (blocking
    /// while another initialiser runs).
    ///
    /// # Panics
    ///
    /// If the initialization closure panics; see [`LazyLock::force`].
    #[inline]
    #[track_caller]
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T, F: FnOnce() -> T> DerefMut for LazyLock<T, F> {
    /// Mutably dereferences the value, initialising it first if needed.
    ///
    /// # Panics
    ///
    /// If the initialization closure panics; see [`LazyLock::force_mut`].
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        LazyLock::force_mut(self)
    }
}

impl<T: Default> Default for LazyLock<T> {
    /// Creates a new lazy value using `Default` as the initializing function.
    #[inline]
    fn default() -> LazyLock<T> {
        LazyLock::new(T::default)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("LazyLock");
        match LazyLock::get(self) {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

#[cold]
#[track_caller]
fn panic_poisoned() -> ! {
    panic!("LazyLock instance has previously been poisoned")
}
