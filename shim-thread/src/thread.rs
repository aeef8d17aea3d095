//! `Thread`, `ThreadId`, `current`, `park`.

use std::fmt;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shim_rt::task::{self, Task};

/// A unique identifier for a running thread or coroutine.
///
/// Ids are never reused during the life of the process. Obtained from
/// [`Thread::id`].
///
/// # Examples
///
/// ```
/// use shim_thread as thread;
///
/// let other_thread = thread::spawn(|| thread::current().id());
///
/// let other_thread_id = other_thread.join().unwrap();
/// assert!(thread::current().id() != other_thread_id);
/// ```
#[derive(Eq, PartialEq, Clone, Copy, Hash, Debug)]
pub struct ThreadId(NonZeroU64);

/// A handle to a thread or coroutine.
///
/// Obtained from [`current`] or [`JoinHandle::thread`](crate::JoinHandle::thread).
/// Cloning it is cheap; every clone refers to the same thread.
#[derive(Clone)]
pub struct Thread {
    pub(crate) inner: Arc<Task>,
}

impl Thread {
    pub(crate) fn from_task(inner: Arc<Task>) -> Thread {
        Thread { inner }
    }

    /// Gets the thread's unique identifier.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_thread as thread;
    ///
    /// let other_thread = thread::spawn(|| thread::current().id());
    /// let other_thread_id = other_thread.join().unwrap();
    /// assert!(thread::current().id() != other_thread_id);
    /// ```
    pub fn id(&self) -> ThreadId {
        ThreadId(self.inner.id())
    }

    /// Gets the thread's name: `Some("main")` for the main thread, the name
    /// given to [`Builder::name`](crate::Builder::name), or `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_thread as thread;
    ///
    /// let builder = thread::Builder::new().name("foo".into());
    /// let handler = builder
    ///     .spawn(|| assert_eq!(thread::current().name(), Some("foo")))
    ///     .unwrap();
    /// handler.join().unwrap();
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// Atomically makes the handle's token available if it is not already.
    ///
    /// Every thread is equipped with a token, initially unavailable. If the
    /// thread is blocked in [`park`] or [`park_timeout`], it wakes; otherwise
    /// its next call to `park` returns at once, consuming the token.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_thread as thread;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let flag = Arc::new(AtomicBool::new(false));
    /// let flag2 = flag.clone();
    /// let parked = thread::spawn(move || {
    ///     while !flag2.load(Ordering::Acquire) {
    ///         thread::park();
    ///     }
    /// });
    /// thread::sleep(Duration::from_millis(10));
    /// flag.store(true, Ordering::Release);
    /// parked.thread().unpark();
    /// parked.join().unwrap();
    /// ```
    #[inline]
    pub fn unpark(&self) {
        self.inner.unpark()
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// Gets a handle to the thread that invokes it: the coroutine when called
/// in one, the OS thread otherwise.
///
/// # Examples
///
/// ```
/// use shim_thread as thread;
///
/// let handler = thread::Builder::new()
///     .name("named thread".into())
///     .spawn(|| {
///         let handle = thread::current();
///         assert_eq!(handle.name(), Some("named thread"));
///     })
///     .unwrap();
///
/// handler.join().unwrap();
/// ```
pub fn current() -> Thread {
    Thread::from_task(task::current())
}

/// Blocks unless or until the current thread's token is made available.
///
/// A call to `park` does not guarantee that the thread will remain parked
/// forever; greenstd's `park` does not return spuriously, but callers
/// should loop on their own condition as with std. In a coroutine only the
/// coroutine blocks; on an OS thread the thread really parks.
///
/// # Examples
///
/// ```
/// use shim_thread as thread;
///
/// let parked = thread::spawn(|| thread::park());
/// parked.thread().unpark();
/// parked.join().unwrap();
/// ```
#[track_caller]
#[inline]
pub fn park() {
    task::park_current()
}

/// Blocks unless or until the current thread's token is made available or
/// the specified duration has been reached (may wake spuriously).
///
/// # Examples
///
/// ```
/// use shim_thread::park_timeout;
/// use std::time::{Duration, Instant};
///
/// let timeout = Duration::from_millis(20);
/// let beginning_park = Instant::now();
/// park_timeout(timeout);
/// assert!(beginning_park.elapsed() >= timeout);
/// ```
#[track_caller]
pub fn park_timeout(dur: Duration) {
    match Instant::now().checked_add(dur) {
        Some(deadline) => task::park_current_until(deadline),
        None => task::park_current(),
    }
}

/// Use [`park_timeout`].
///
/// Blocks unless or until the current thread's token is made available or
/// the specified duration in milliseconds has been reached.
#[deprecated(since = "1.6.0", note = "replaced by `std::thread::park_timeout`")]
#[track_caller]
pub fn park_timeout_ms(ms: u32) {
    park_timeout(Duration::from_millis(ms as u64))
}
