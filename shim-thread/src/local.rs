//! Thread-local storage that is per coroutine: `LocalKey` and `thread_local!`.

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;

use shim_rt::task;

/// A thread local storage (TLS) key which owns its contents.
///
/// Created by the [`thread_local!`](crate::thread_local) macro. Inside a
/// coroutine each coroutine has its own value, initialised lazily on first
/// access and destroyed when the coroutine ends (before its `join`
/// returns). On a plain OS thread the value is the thread's, kept by std's
/// own thread-local machinery.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use shim_thread as thread;
///
/// shim_thread::thread_local!(static FOO: Cell<u32> = Cell::new(1));
///
/// assert_eq!(FOO.get(), 1);
/// FOO.set(2);
///
/// // each thread starts out with the initial value of 1
/// let t = thread::spawn(move || {
///     assert_eq!(FOO.get(), 1);
///     FOO.set(3);
/// });
///
/// // wait for the thread to complete and bail out on panic
/// t.join().unwrap();
///
/// // we retain our original value of 2 despite the child thread
/// assert_eq!(FOO.get(), 2);
/// ```
pub struct LocalKey<T: 'static> {
    os: &'static std::thread::LocalKey<T>,
    init: fn() -> T,
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

/// An error returned by [`LocalKey::try_with`].
#[non_exhaustive]
#[derive(Clone, Copy, Eq, PartialEq)]
pub struct AccessError;

impl fmt::Debug for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessError").finish()
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt("already destroyed", f)
    }
}

impl Error for AccessError {}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn __new(os: &'static std::thread::LocalKey<T>, init: fn() -> T) -> LocalKey<T> {
        LocalKey { os, init }
    }

    /// Acquires a reference to the value in this TLS key.
    ///
    /// Initialises the value with the key's initialiser on first access by
    /// the current thread or coroutine.
    ///
    /// # Panics
    ///
    /// Panics if the key has its destructor running, or it has been
    /// destroyed, or the initialiser or `f` panics.
    pub fn with<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        match self.try_with(f) {
            Ok(r) => r,
            Err(err) => panic!(
                "cannot access a Thread Local Storage value during or after destruction: {err:?}"
            ),
        }
    }

    /// Acquires a reference to the value in this TLS key, or
    /// [`AccessError`] if the key is being or has been destroyed.
    ///
    /// # Panics
    ///
    /// Panics if the initialiser or `f` panics.
    pub fn try_with<F, R>(&'static self, f: F) -> Result<R, AccessError>
    where
        F: FnOnce(&T) -> R,
    {
        self.try_with_init(self.init, f)
    }

    fn try_with_init<I, F, R>(&'static self, init: I, f: F) -> Result<R, AccessError>
    where
        I: FnOnce() -> T,
        F: FnOnce(&T) -> R,
    {
        if shim_rt::in_coroutine() {
            let key = self as *const LocalKey<T> as usize;
            task::with_coroutine_local(key, init, f).ok_or(AccessError)
        } else {
            // std's key initialises itself with the same `init`.
            self.os.try_with(f).map_err(|_| AccessError)
        }
    }

    /// Acquires a reference to the value, initialising it with `value`
    /// instead of the initialiser when it is not initialised yet. Returns
    /// whether `value` was used.
    fn initialize_with<F, R>(&'static self, value: T, f: F) -> R
    where
        F: FnOnce(Option<T>, &T) -> R,
    {
        if shim_rt::in_coroutine() {
            let slot = Cell::new(Some(value));
            let init = || slot.take().expect("initialiser runs once");
            let key = self as *const LocalKey<T> as usize;
            match task::with_coroutine_local(key, init, |v| (slot.take(), v as *const T)) {
                Some((rest, ptr)) => {
                    // SAFETY: the value lives as long as the coroutine's
                    // locals, which outlive this call.
                    f(rest, unsafe { &*ptr })
                }
                None => panic!(
                    "cannot access a Thread Local Storage value during or after destruction: AccessError"
                ),
            }
        } else {
            self.os.with(|v| f(Some(value), v))
        }
    }
}

impl<T: 'static> LocalKey<Cell<T>> {
    /// Sets or initialises the contained value.
    ///
    /// Unlike the other methods, this will *not* run the lazy initialiser
    /// when the value is not initialised yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// shim_thread::thread_local! {
    ///     static X: Cell<i32> = panic!("!");
    /// }
    ///
    /// // Calling X.get() here would result in a panic.
    /// X.set(123); // But X.set() is fine, as it skips the initializer above.
    /// assert_eq!(X.get(), 123);
    /// ```
    pub fn set(&'static self, value: T) {
        if shim_rt::in_coroutine() {
            self.initialize_with(Cell::new(value), |value, cell| {
                if let Some(value) = value {
                    cell.set(value.into_inner());
                }
            });
        } else {
            self.os.set(value)
        }
    }

    /// Returns a copy of the contained value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// shim_thread::thread_local! {
    ///     static X: Cell<i32> = const { Cell::new(1) };
    /// }
    ///
    /// assert_eq!(X.get(), 1);
    /// ```
    pub fn get(&'static self) -> T
    where
        T: Copy,
    {
        self.with(Cell::get)
    }

    /// Takes the contained value, leaving `Default::default()` in its place.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// shim_thread::thread_local! {
    ///     static X: Cell<Option<i32>> = const { Cell::new(Some(1)) };
    /// }
    ///
    /// assert_eq!(X.take(), Some(1));
    /// assert_eq!(X.take(), None);
    /// ```
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(Cell::take)
    }

    /// Replaces the contained value, returning the old value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// shim_thread::thread_local! {
    ///     static X: Cell<i32> = const { Cell::new(1) };
    /// }
    ///
    /// assert_eq!(X.replace(2), 1);
    /// assert_eq!(X.replace(3), 2);
    /// ```
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

impl<T: 'static> LocalKey<RefCell<T>> {
    /// Acquires a reference to the contained value.
    ///
    /// # Panics
    ///
    /// Panics if the value is currently mutably borrowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// shim_thread::thread_local! {
    ///     static X: RefCell<Vec<i32>> = RefCell::new(Vec::new());
    /// }
    ///
    /// X.with_borrow(|v| assert!(v.is_empty()));
    /// ```
    pub fn with_borrow<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        self.with(|cell| f(&cell.borrow()))
    }

    /// Acquires a mutable reference to the contained value.
    ///
    /// # Panics
    ///
    /// Panics if the value is currently borrowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// shim_thread::thread_local! {
    ///     static X: RefCell<Vec<i32>> = RefCell::new(Vec::new());
    /// }
    ///
    /// X.with_borrow_mut(|v| v.push(1));
    ///
    /// X.with_borrow(|v| assert_eq!(*v, vec![1]));
    /// ```
    pub fn with_borrow_mut<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        self.with(|cell| f(&mut cell.borrow_mut()))
    }

    /// Sets or initialises the contained value.
    ///
    /// Unlike the other methods, this will *not* run the lazy initialiser
    /// when the value is not initialised yet.
    ///
    /// # Panics
    ///
    /// Panics if the value is currently borrowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// shim_thread::thread_local! {
    ///     static X: RefCell<Vec<i32>> = panic!("!");
    /// }
    ///
    /// // Calling X.with() here would result in a panic.
    ///
    /// X.set(vec![1, 2, 3]); // But X.set() is fine, as it skips the initializer above.
    ///
    /// X.with_borrow(|v| assert_eq!(*v, vec![1, 2, 3]));
    /// ```
    pub fn set(&'static self, value: T) {
        if shim_rt::in_coroutine() {
            self.initialize_with(RefCell::new(value), |value, cell| {
                if let Some(value) = value {
                    *cell.borrow_mut() = value.into_inner();
                }
            });
        } else {
            self.os.set(value)
        }
    }

    /// Takes the contained value, leaving `Default::default()` in its place.
    ///
    /// # Panics
    ///
    /// Panics if the value is currently borrowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// shim_thread::thread_local! {
    ///     static X: RefCell<Vec<i32>> = RefCell::new(Vec::new());
    /// }
    ///
    /// X.with_borrow_mut(|v| v.push(1));
    ///
    /// let a = X.take();
    ///
    /// assert_eq!(a, vec![1]);
    ///
    /// X.with_borrow(|v| assert!(v.is_empty()));
    /// ```
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(RefCell::take)
    }

    /// Replaces the contained value, returning the old value.
    ///
    /// # Panics
    ///
    /// Panics if the value is currently borrowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    ///
    /// shim_thread::thread_local! {
    ///     static X: RefCell<Vec<i32>> = RefCell::new(Vec::new());
    /// }
    ///
    /// let prev = X.replace(vec![1, 2, 3]);
    /// assert!(prev.is_empty());
    ///
    /// X.with_borrow(|v| assert_eq!(*v, vec![1, 2, 3]));
    /// ```
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

/// Declares a new thread local storage key of type [`LocalKey`].
///
/// Same syntax as std's: any number of `static` declarations, each with
/// optional attributes and visibility, separated by `;`, with a lazy
/// initialiser or a `const { … }` one. Values are per coroutine inside
/// coroutines and per thread on plain OS threads.
///
/// # Examples
///
/// ```
/// use std::cell::{Cell, RefCell};
///
/// shim_thread::thread_local! {
///     pub static FOO: Cell<u32> = const { Cell::new(1) };
///
///     static BAR: RefCell<Vec<f32>> = RefCell::new(vec![1.0, 2.0]);
/// }
///
/// assert_eq!(FOO.get(), 1);
/// BAR.with_borrow(|v| assert_eq!(v[1], 2.0));
/// ```
#[macro_export]
macro_rules! thread_local {
    () => {};

    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const $init:block; $($rest:tt)*) => {
        $crate::__thread_local_inner!($(#[$attr])* $vis $name, $t, const $init);
        $crate::thread_local!($($rest)*);
    };

    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const $init:block) => {
        $crate::__thread_local_inner!($(#[$attr])* $vis $name, $t, const $init);
    };

    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $crate::__thread_local_inner!($(#[$attr])* $vis $name, $t, $init);
        $crate::thread_local!($($rest)*);
    };

    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::__thread_local_inner!($(#[$attr])* $vis $name, $t, $init);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __thread_local_inner {
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty, const $init:block) => {
        $(#[$attr])* $vis static $name: $crate::LocalKey<$t> = {
            #[inline]
            fn __init() -> $t {
                $init
            }
            $crate::__std_thread_local!(static __OS: $t = const $init);
            $crate::LocalKey::__new(&__OS, __init)
        };
    };

    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty, $init:expr) => {
        $(#[$attr])* $vis static $name: $crate::LocalKey<$t> = {
            #[inline]
            fn __init() -> $t {
                $init
            }
            $crate::__std_thread_local!(static __OS: $t = __init());
            $crate::LocalKey::__new(&__OS, __init)
        };
    };
}
