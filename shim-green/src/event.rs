//! `Event` and `AsyncResult`: gevent.event's two classes.

use std::any::Any;
use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use shim_sync::{Condvar, Mutex, MutexGuard};

use crate::wait::{Waitable, Watcher, Watchers};

/// Locks a mutex of this crate, ignoring poison: every critical section
/// here leaves the state consistent, also when a wait inside it unwinds.
#[track_caller]
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits on `cv` until `deadline` (`None`: no deadline); returns the guard
/// and `true` when the deadline has passed.
#[track_caller]
pub(crate) fn wait_until<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
) -> (MutexGuard<'a, T>, bool) {
    match deadline {
        None => (cv.wait(guard).unwrap_or_else(|e| e.into_inner()), false),
        Some(d) => {
            let now = Instant::now();
            if now >= d {
                return (guard, true);
            }
            let (g, _) = cv
                .wait_timeout(guard, d - now)
                .unwrap_or_else(|e| e.into_inner());
            (g, Instant::now() >= d)
        }
    }
}

/// `Instant::now() + dur`, or `None` (no deadline) when that is too far to represent.
pub(crate) fn deadline_after(dur: Duration) -> Option<Instant> {
    Instant::now().checked_add(dur)
}

/// A flag that coroutines and threads can wait for: gevent's
/// `gevent.event.Event` (Python's `threading.Event`).
///
/// [`set`](Event::set) raises the flag and wakes every waiter;
/// [`clear`](Event::clear) lowers it; [`wait`](Event::wait) blocks while it
/// is down. A waiter that was blocked when `set` was called returns even if
/// the flag is cleared again before it runs. Waiting parks a coroutine
/// (its worker runs others) and blocks a plain OS thread.
///
/// # Examples
///
/// ```
/// use shim_green::Event;
/// use shim_thread as thread;
/// use std::sync::Arc;
///
/// let ready = Arc::new(Event::new());
/// let r = ready.clone();
/// let waiter = thread::spawn(move || {
///     r.wait();
///     "woken"
/// });
/// ready.set();
/// assert_eq!(waiter.join().unwrap(), "woken");
/// assert!(ready.is_set());
/// ```
pub struct Event {
    /// The generation: odd while set. A waiter returns once it changed
    /// from the even value it saw.
    state: Mutex<u64>,
    cv: Condvar,
    flag: AtomicBool,
    pub(crate) watchers: Watchers,
}

impl Event {
    /// Creates an event whose flag is down.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Event;
    ///
    /// static STARTED: Event = Event::new();
    /// assert!(!STARTED.is_set());
    /// ```
    pub const fn new() -> Event {
        Event {
            state: Mutex::new(0),
            cv: Condvar::new(),
            flag: AtomicBool::new(false),
            watchers: Watchers::new(),
        }
    }

    /// Raises the flag and wakes every waiter (gevent: `Event.set`).
    /// Setting a set event does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Event;
    ///
    /// let e = Event::new();
    /// e.set();
    /// e.wait(); // returns at once
    /// ```
    pub fn set(&self) {
        {
            let mut s = lock(&self.state);
            if *s % 2 == 1 {
                return;
            }
            *s += 1;
            self.flag.store(true, Ordering::Release);
            self.cv.notify_all();
        }
        self.watchers.notify();
    }

    /// Lowers the flag (gevent: `Event.clear`): later waits block until
    /// the next [`set`](Event::set).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Event;
    ///
    /// let e = Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        let mut s = lock(&self.state);
        if *s % 2 == 1 {
            *s += 1;
            self.flag.store(false, Ordering::Release);
        }
    }

    /// `true` while the flag is raised (gevent: `Event.is_set`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Event;
    ///
    /// let e = Event::new();
    /// assert!(!e.is_set());
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Blocks until the flag is raised (gevent: `Event.wait()`); returns at
    /// once if it is.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Event;
    /// use shim_thread as thread;
    /// use std::sync::Arc;
    ///
    /// let e = Arc::new(Event::new());
    /// let e2 = e.clone();
    /// thread::spawn(move || e2.set());
    /// e.wait();
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        self.wait_deadline(None);
    }

    /// Blocks until the flag is raised or `dur` has passed; returns `true`
    /// when it was raised (gevent: `Event.wait(timeout)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Event;
    /// use std::time::Duration;
    ///
    /// let e = Event::new();
    /// assert!(!e.wait_timeout(Duration::from_millis(10)));
    /// e.set();
    /// assert!(e.wait_timeout(Duration::from_millis(10)));
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, dur: Duration) -> bool {
        self.wait_deadline(deadline_after(dur))
    }

    #[track_caller]
    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        if self.is_set() {
            return true;
        }
        let mut s = lock(&self.state);
        let seen = *s;
        if seen % 2 == 1 {
            return true;
        }
        loop {
            let (g, timed_out) = wait_until(&self.cv, s, deadline);
            s = g;
            if *s != seen {
                return true;
            }
            if timed_out {
                return false;
            }
        }
    }
}

// A set or clear is one step under the lock: a panic cannot leave an event
// half-changed (as std's sync types, it is unwind-safe).
impl UnwindSafe for Event {}
impl RefUnwindSafe for Event {}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

impl crate::wait::sealed::Sealed for Event {}
impl Waitable for Event {
    fn is_ready(&self) -> bool {
        self.is_set()
    }
    fn __watch(&self, w: Watcher) -> Option<u64> {
        Some(self.watchers.add(w))
    }
    fn __unwatch(&self, key: u64) {
        self.watchers.remove(key)
    }
}

/// The payload of a panic, kept so that it can be shared: the error of an
/// [`AsyncResult`] filled by [`AsyncResult::set_panic`].
///
/// A panic's payload (`Box<dyn Any + Send>`) cannot be read from two
/// threads at once; this keeps it out of reach behind `&self` (only its
/// message, taken when it was stored, is), so `&Panicked` can be shared.
/// [`AsyncResult::into_inner`] gives the payload back, to
/// [`resume_unwind`](std::panic::resume_unwind) it for example.
pub struct Panicked {
    payload: Box<dyn Any + Send>,
    message: Option<String>,
}

// SAFETY: `payload` is only reached through `&mut self` or by value
// (`payload_mut`, `into_payload`); `&Panicked` exposes nothing of it, so
// sharing a `&Panicked` between threads shares no `&(dyn Any + Send)`.
unsafe impl Sync for Panicked {}

impl Panicked {
    /// Keeps a panic's payload (as returned by `catch_unwind` or `join`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Panicked;
    ///
    /// let payload = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
    /// assert_eq!(Panicked::new(payload).message(), Some("boom"));
    /// ```
    pub fn new(payload: Box<dyn Any + Send>) -> Panicked {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            Some((*s).to_owned())
        } else {
            payload.downcast_ref::<String>().cloned()
        };
        Panicked { payload, message }
    }

    /// The panic's message, when its payload was a `&str` or a `String`
    /// (as `panic!("…")` makes).
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The payload, to inspect it (`downcast_ref`).
    pub fn payload_mut(&mut self) -> &mut (dyn Any + Send) {
        &mut *self.payload
    }

    /// The payload, to resume the panic with it.
    pub fn into_payload(self) -> Box<dyn Any + Send> {
        self.payload
    }
}

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panicked")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => write!(f, "panicked: {m}"),
            None => f.write_str("panicked"),
        }
    }
}

/// A value that will arrive later, which any number of coroutines and
/// threads can wait for: gevent's `gevent.event.AsyncResult`.
///
/// It is filled once, with a value ([`set`](AsyncResult::set)) or an error
/// ([`set_error`](AsyncResult::set_error); gevent's `set_exception`), and
/// then every [`get`](AsyncResult::get) — past and future — returns a
/// reference to it. The error type `E` defaults to [`Panicked`], which
/// [`set_panic`](AsyncResult::set_panic) fills from a caught panic.
///
/// # Examples
///
/// ```
/// use shim_green::AsyncResult;
/// use shim_thread as thread;
/// use std::sync::Arc;
///
/// let result: Arc<AsyncResult<u32>> = Arc::new(AsyncResult::new());
/// let r = result.clone();
/// thread::spawn(move || r.set(42).unwrap());
/// assert_eq!(result.get().ok(), Some(&42));
/// ```
pub struct AsyncResult<T, E = Panicked> {
    value: OnceLock<Result<T, E>>,
    /// Held while a value is stored; the `Condvar`'s mutex.
    lock: Mutex<()>,
    cv: Condvar,
    pub(crate) watchers: Watchers,
}

impl<T, E> AsyncResult<T, E> {
    /// Creates an empty result.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::AsyncResult;
    ///
    /// let r: AsyncResult<String> = AsyncResult::new();
    /// assert!(!r.is_ready());
    /// ```
    pub const fn new() -> AsyncResult<T, E> {
        AsyncResult {
            value: OnceLock::new(),
            lock: Mutex::new(()),
            cv: Condvar::new(),
            watchers: Watchers::new(),
        }
    }

    /// Stores `value` and wakes every waiter (gevent: `AsyncResult.set`).
    ///
    /// # Errors
    ///
    /// `Err(value)` when the result was already filled (gevent replaces
    /// the value; here a result never changes once read).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::AsyncResult;
    ///
    /// let r: AsyncResult<u8> = AsyncResult::new();
    /// assert_eq!(r.set(1), Ok(()));
    /// assert_eq!(r.set(2), Err(2));
    /// assert_eq!(r.get().ok(), Some(&1));
    /// ```
    pub fn set(&self, value: T) -> Result<(), T> {
        self.set_result(Ok(value)).map_err(|r| match r {
            Ok(v) => v,
            Err(_) => unreachable!("set_result returns what it was given"),
        })
    }

    /// Stores the error `err` and wakes every waiter (gevent:
    /// `AsyncResult.set_exception`).
    ///
    /// # Errors
    ///
    /// `Err(err)` when the result was already filled.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::AsyncResult;
    ///
    /// let r: AsyncResult<u8, String> = AsyncResult::new();
    /// r.set_error("no route".to_string()).unwrap();
    /// assert_eq!(r.get().unwrap_err(), "no route");
    /// assert!(!r.is_successful());
    /// ```
    pub fn set_error(&self, err: E) -> Result<(), E> {
        self.set_result(Err(err)).map_err(|r| match r {
            Err(e) => e,
            Ok(_) => unreachable!("set_result returns what it was given"),
        })
    }

    /// Stores `result` — a value or an error — and wakes every waiter.
    ///
    /// # Errors
    ///
    /// `Err(result)` when the result was already filled.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::AsyncResult;
    ///
    /// let r: AsyncResult<u32, std::num::ParseIntError> = AsyncResult::new();
    /// r.set_result("42".parse()).unwrap();
    /// assert_eq!(r.get().ok(), Some(&42));
    /// ```
    pub fn set_result(&self, result: Result<T, E>) -> Result<(), Result<T, E>> {
        {
            // Setters take the lock, so `OnceLock::set` never waits on a
            // racing setter (it would block the OS thread).
            let _g = lock(&self.lock);
            self.value.set(result)?;
            self.cv.notify_all();
        }
        self.watchers.notify();
        Ok(())
    }

    /// `true` once the result holds a value or an error (gevent:
    /// `AsyncResult.ready`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::AsyncResult;
    ///
    /// let r: AsyncResult<()> = AsyncResult::new();
    /// assert!(!r.is_ready());
    /// r.set(()).unwrap();
    /// assert!(r.is_ready());
    /// ```
    #[inline]
    pub fn is_ready(&self) -> bool {
        self.value.get().is_some()
    }

    /// `true` once the result holds a value, not an error (gevent:
    /// `AsyncResult.successful`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::AsyncResult;
    ///
    /// let r: AsyncResult<u8, ()> = AsyncResult::new();
    /// assert!(!r.is_successful());
    /// r.set(3).unwrap();
    /// assert!(r.is_successful());
    /// ```
    #[inline]
    pub fn is_successful(&self) -> bool {
        matches!(self.value.get(), Some(Ok(_)))
    }

    /// The value or error, without waiting; `None` while the result is
    /// empty (gevent: `AsyncResult.get(block=False)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::AsyncResult;
    ///
    /// let r: AsyncResult<u8> = AsyncResult::new();
    /// assert!(r.try_get().is_none());
    /// r.set(5).unwrap();
    /// assert_eq!(r.try_get().unwrap().ok(), Some(&5));
    /// ```
    pub fn try_get(&self) -> Option<Result<&T, &E>> {
        self.value.get().map(Result::as_ref)
    }

    /// Blocks until the result is filled and returns the value or the
    /// error (gevent: `AsyncResult.get()`, which raises the exception).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::AsyncResult;
    /// use shim_thread as thread;
    /// use std::sync::Arc;
    ///
    /// let r: Arc<AsyncResult<&str>> = Arc::new(AsyncResult::new());
    /// let setter = r.clone();
    /// thread::spawn(move || setter.set("done").unwrap());
    /// assert_eq!(r.get().ok(), Some(&"done"));
    /// ```
    #[track_caller]
    pub fn get(&self) -> Result<&T, &E> {
        self.wait_deadline(None);
        self.value
            .get()
            .map(Result::as_ref)
            .expect("greenstd: AsyncResult woken while empty")
    }

    /// Blocks until the result is filled or `dur` has passed; `None` on
    /// timeout (gevent: `AsyncResult.get(timeout=dur)`, which raises
    /// `Timeout`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::AsyncResult;
    /// use std::time::Duration;
    ///
    /// let r: AsyncResult<u8> = AsyncResult::new();
    /// assert!(r.get_timeout(Duration::from_millis(10)).is_none());
    /// ```
    #[track_caller]
    pub fn get_timeout(&self, dur: Duration) -> Option<Result<&T, &E>> {
        self.wait_deadline(deadline_after(dur));
        self.try_get()
    }

    /// Blocks until the result is filled, without looking at it (gevent:
    /// `AsyncResult.wait()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::AsyncResult;
    ///
    /// let r: AsyncResult<u8> = AsyncResult::new();
    /// r.set(1).unwrap();
    /// r.wait();
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        self.wait_deadline(None);
    }

    /// Takes the value or error out of the result; `None` if it was never
    /// filled.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::AsyncResult;
    ///
    /// let r: AsyncResult<String> = AsyncResult::new();
    /// r.set("owned".to_string()).unwrap();
    /// assert_eq!(r.into_inner().unwrap().unwrap(), "owned");
    /// ```
    #[track_caller]
    pub fn into_inner(self) -> Option<Result<T, E>> {
        self.value.into_inner()
    }

    #[track_caller]
    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        if self.is_ready() {
            return true;
        }
        let mut g = lock(&self.lock);
        loop {
            if self.is_ready() {
                return true;
            }
            let (g2, timed_out) = wait_until(&self.cv, g, deadline);
            g = g2;
            if timed_out {
                return self.is_ready();
            }
        }
    }
}

impl<T> AsyncResult<T, Panicked> {
    /// Stores a caught panic as the error (gevent: `set_exception` with
    /// the greenlet's exception), for example the `Err` of `catch_unwind`
    /// or of a thread's `join`.
    ///
    /// # Errors
    ///
    /// `Err(payload)` when the result was already filled.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::AsyncResult;
    /// use shim_thread as thread;
    ///
    /// let r: AsyncResult<u8> = AsyncResult::new();
    /// let payload = thread::spawn(|| -> u8 { panic!("lost") }).join().unwrap_err();
    /// r.set_panic(payload).unwrap();
    /// assert_eq!(r.get().unwrap_err().message(), Some("lost"));
    /// ```
    pub fn set_panic(&self, payload: Box<dyn Any + Send>) -> Result<(), Box<dyn Any + Send>> {
        self.set_error(Panicked::new(payload))
            .map_err(Panicked::into_payload)
    }
}

// Filled in one step under the lock, as std's `OnceLock`.
impl<T: UnwindSafe, E: UnwindSafe> UnwindSafe for AsyncResult<T, E> {}
impl<T: RefUnwindSafe + UnwindSafe, E: RefUnwindSafe + UnwindSafe> RefUnwindSafe
    for AsyncResult<T, E>
{
}

impl<T, E> Default for AsyncResult<T, E> {
    fn default() -> AsyncResult<T, E> {
        AsyncResult::new()
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for AsyncResult<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("value", &self.value.get())
            .finish_non_exhaustive()
    }
}

impl<T, E> crate::wait::sealed::Sealed for AsyncResult<T, E> {}
impl<T, E> Waitable for AsyncResult<T, E> {
    fn is_ready(&self) -> bool {
        AsyncResult::is_ready(self)
    }
    fn __watch(&self, w: Watcher) -> Option<u64> {
        Some(self.watchers.add(w))
    }
    fn __unwatch(&self, key: u64) {
        self.watchers.remove(key)
    }
}
