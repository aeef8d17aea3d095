//! `OnceLock`: a [`Once`] and a slot.

use std::cell::UnsafeCell;
use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};

use crate::once::{Once, STATE_COMPLETE};

/// A synchronization primitive which can nominally be written to only once.
///
/// This is `std::sync::OnceLock`, cooperative: callers that find the
/// initialiser running park (their coroutine, or their thread) until it is
/// done, so an initialiser may block cooperatively without stalling workers.
/// If the initialiser panics, the cell stays uninitialised and a later
/// caller runs its own initialiser.
///
/// # Examples
///
/// ```
/// use shim_sync::OnceLock;
///
/// static CELL: OnceLock<usize> = OnceLock::new();
///
/// // `OnceLock` has not been written to yet.
/// assert!(CELL.get().is_none());
///
/// // Spawn a thread and write to `OnceLock`.
/// std::thread::spawn(|| {
///     let value = CELL.get_or_init(|| 12345);
///     assert_eq!(value, &12345);
/// })
/// .join()
/// .unwrap();
///
/// // `OnceLock` now contains the value.
/// assert_eq!(CELL.get(), Some(&12345));
/// ```
pub struct OnceLock<T> {
    once: Once,
    /// `Some` once the `Once` completed. An `Option` rather than std's
    /// `MaybeUninit` plus a `Drop` impl: with no `Drop` impl of its own the
    /// cell is dropped field by field, so the drop checker asks of `T` only
    /// what dropping a `T` needs, as std's `#[may_dangle]` (unstable) does;
    /// a cell may hold a reference that dies before it (std's `dropck`
    /// test).
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is written once, under the `Once`, and read only after
// completion; shared access hands out `&T` (needs `Sync`) and any context
// may write or drop it (needs `Send`).
unsafe impl<T: Sync + Send> Sync for OnceLock<T> {}
// SAFETY: moving the cell moves the `T`.
unsafe impl<T: Send> Send for OnceLock<T> {}

impl<T: RefUnwindSafe + UnwindSafe> RefUnwindSafe for OnceLock<T> {}
impl<T: UnwindSafe> UnwindSafe for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// Creates a new uninitialized cell.
    #[inline]
    #[must_use]
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            once: Once::new(),
            value: UnsafeCell::new(None),
        }
    }

    /// Gets the reference to the underlying value.
    ///
    /// Returns `None` if the cell is uninitialized, or being initialized.
    /// This method never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::OnceLock;
    ///
    /// let cell = OnceLock::new();
    /// assert!(cell.get().is_none());
    /// cell.set(1).unwrap();
    /// assert_eq!(cell.get(), Some(&1));
    /// ```
    #[inline]
    pub fn get(&self) -> Option<&T> {
        if self.once.is_completed() {
            // SAFETY: completed, so the value is initialised and never
            // written again while shared.
            Some(unsafe { self.get_unchecked() })
        } else {
            None
        }
    }

    /// Gets the mutable reference to the underlying value.
    ///
    /// Returns `None` if the cell is uninitialized.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::OnceLock;
    ///
    /// let mut cell = OnceLock::new();
    /// cell.set(1).unwrap();
    /// *cell.get_mut().unwrap() += 1;
    /// assert_eq!(cell.get(), Some(&2));
    /// ```
    #[inline]
    pub fn get_mut(&mut self) -> Option<&mut T> {
        // `&mut self` is exclusive: the slot is the truth.
        self.value.get_mut().as_mut()
    }

    /// Blocks the current coroutine (or thread) until the cell is
    /// initialized.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::OnceLock;
    /// use std::thread;
    ///
    /// static VALUE: OnceLock<u32> = OnceLock::new();
    /// let waiter = thread::spawn(|| *VALUE.wait());
    /// VALUE.set(7).unwrap();
    /// assert_eq!(waiter.join().unwrap(), 7);
    /// ```
    #[track_caller]
    pub fn wait(&self) -> &T {
        self.once.wait_force();
        // SAFETY: `wait_force` returns only once completed.
        unsafe { self.get_unchecked() }
    }

    /// Initializes the contents of the cell to `value`.
    ///
    /// May block if another caller is currently attempting to initialize the
    /// cell. The cell is guaranteed to contain a value when `set` returns,
    /// though not necessarily the one provided.
    ///
    /// # Errors
    ///
    /// `Err(value)` if the cell was already initialized.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::OnceLock;
    ///
    /// static CELL: OnceLock<i32> = OnceLock::new();
    /// assert!(CELL.get().is_none());
    /// assert_eq!(CELL.set(92), Ok(()));
    /// assert_eq!(CELL.set(62), Err(62));
    /// assert_eq!(CELL.get(), Some(&92));
    /// ```
    #[track_caller]
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        if !self.once.is_completed() {
            let slot = &self.value;
            self.once.call_once_force(|_| {
                if let Some(v) = value.take() {
                    // SAFETY: we run inside the `Once`, the only writer,
                    // before completion: nobody else touches the slot.
                    unsafe {
                        *slot.get() = Some(v);
                    }
                }
            });
        }
        match value {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }

    /// Gets the contents of the cell, initializing it to `f()` if the cell
    /// was uninitialized.
    ///
    /// Many callers may call `get_or_init` concurrently with different
    /// initializing functions, but it is guaranteed that only one function
    /// will be executed; the others wait (cooperatively) for it.
    ///
    /// # Panics
    ///
    /// If `f()` panics, the panic is propagated to the caller, and the cell
    /// remains uninitialized.
    ///
    /// It is an error to reentrantly initialize the cell from `f`; it
    /// deadlocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::OnceLock;
    ///
    /// let cell = OnceLock::new();
    /// let value = cell.get_or_init(|| 92);
    /// assert_eq!(value, &92);
    /// let value = cell.get_or_init(|| unreachable!());
    /// assert_eq!(value, &92);
    /// ```
    #[track_caller]
    pub fn get_or_init<F>(&self, f: F) -> &T
    where
        F: FnOnce() -> T,
    {
        if let Some(v) = self.get() {
            return v;
        }
        self.initialize(f);
        // SAFETY: `initialize` returns only once completed (a panicking
        // initialiser unwinds through it).
        unsafe { self.get_unchecked() }
    }

    /// Consumes the `OnceLock`, returning the wrapped value. Returns `None`
    /// if the cell was uninitialized.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::OnceLock;
    ///
    /// let cell: OnceLock<String> = OnceLock::new();
    /// assert_eq!(cell.into_inner(), None);
    ///
    /// let cell = OnceLock::new();
    /// cell.set("hello".to_string()).unwrap();
    /// assert_eq!(cell.into_inner(), Some("hello".to_string()));
    /// ```
    #[inline]
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// Takes the value out of this `OnceLock`, moving it back to an
    /// uninitialized state.
    ///
    /// Has no effect and returns `None` if the `OnceLock` was uninitialized.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::OnceLock;
    ///
    /// let mut cell: OnceLock<String> = OnceLock::new();
    /// assert_eq!(cell.take(), None);
    ///
    /// let mut cell = OnceLock::new();
    /// cell.set("hello".to_string()).unwrap();
    /// assert_eq!(cell.take(), Some("hello".to_string()));
    /// assert_eq!(cell.get(), None);
    /// ```
    #[inline]
    pub fn take(&mut self) -> Option<T> {
        if self.once.state_mut() == STATE_COMPLETE {
            self.once.reset_mut();
        }
        self.value.get_mut().take()
    }

    /// Runs `f` under the `Once` (ignoring poison from an earlier panicking
    /// initialiser) and stores its value, unless another caller did first.
    #[cold]
    #[track_caller]
    fn initialize(&self, f: impl FnOnce() -> T) {
        let slot = &self.value;
        self.once.call_once_force(|_| {
            let v = f();
            // SAFETY: we run inside the `Once`, the only writer, before
            // completion: nobody else reads or writes the slot.
            unsafe {
                *slot.get() = Some(v);
            }
        });
    }

    /// # Safety
    ///
    /// The cell is initialised.
    #[inline]
    unsafe fn get_unchecked(&self) -> &T {
        // SAFETY: per the caller's contract.
        unsafe { (*self.value.get()).as_ref().unwrap_unchecked() }
    }
}

impl<T> Default for OnceLock<T> {
    /// Creates a new uninitialized cell.
    #[inline]
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    #[inline]
    fn clone(&self) -> OnceLock<T> {
        let cell = Self::new();
        if let Some(value) = self.get() {
            let _ = cell.set(value.clone());
        }
        cell
    }
}

impl<T> From<T> for OnceLock<T> {
    /// Creates a new cell with its contents set to `value`.
    #[inline]
    fn from(value: T) -> Self {
        let cell = Self::new();
        let _ = cell.set(value);
        cell
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    /// Equality for two `OnceLock`s: both uninitialized, or both holding
    /// equal values.
    #[inline]
    fn eq(&self, other: &OnceLock<T>) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceLock<T> {}
