//! The result slot shared by a spawned coroutine and its join handle.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use shim_rt::latch::Latch;
use shim_rt::wait::{Holder, WaitKind, WaitOn};

use crate::scoped::ScopeData;
use crate::thread::Thread;

/// Where a coroutine leaves its result for `join`.
pub(crate) struct Packet<'scope, T> {
    pub(crate) scope: Option<Arc<ScopeData>>,
    pub(crate) result: Mutex<Option<std::thread::Result<T>>>,
    pub(crate) done: Latch,
    /// Callbacks run once `done` is set (for `greenstd::green`'s waits).
    pub(crate) watchers: Watchers,
    /// The OS thread the coroutine began to run on (`JoinHandleExt`).
    /// (`pthread_self()`, 0 until set: a word, where a `OnceLock` takes two
    /// — every byte here is a byte of every connection of a server.)
    pub(crate) started_on: std::sync::atomic::AtomicU64,
    pub(crate) _marker: std::marker::PhantomData<Option<&'scope ScopeData>>,
}

impl<T> Drop for Packet<'_, T> {
    fn drop(&mut self) {
        let result = self.result.get_mut().unwrap_or_else(|e| e.into_inner());
        // A panic nobody joined makes `scope` panic, as in std.
        let unhandled_panic = matches!(result, Some(Err(_)));
        // Drop the result (it may borrow from the scope) before the scope
        // may end; a panicking destructor here cannot be reported anywhere.
        if catch_unwind(AssertUnwindSafe(|| *result = None)).is_err() {
            eprintln!("fatal runtime error: thread result panicked on drop");
            std::process::abort();
        }
        if let Some(scope) = &self.scope {
            scope.decrement_num_running_threads(unhandled_panic);
        }
    }
}

/// A callback run once when a thread finishes; see [`crate::__green`].
pub type Watcher = Arc<dyn Fn() + Send + Sync>;

/// The callbacks to run when a thread finishes: `greenstd::green` waits for
/// the first of several threads (and with a timeout) through them.
#[derive(Default)]
pub(crate) struct Watchers {
    inner: Mutex<WatchList>,
}

#[derive(Default)]
struct WatchList {
    /// The last key given out; [`FIRED`] once the callbacks have run.
    next_key: u64,
    entries: Vec<(u64, Watcher)>,
}

/// [`WatchList::next_key`] after [`Watchers::fire`].
const FIRED: u64 = u64::MAX;

impl Watchers {
    /// Registers `w`; `None` (and `w` is not kept) when the thread has
    /// already finished.
    pub(crate) fn add(&self, w: Watcher) -> Option<u64> {
        let mut l = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if l.next_key >= FIRED - 1 {
            // Fired (or, after 2^64 - 2 callbacks, never to fire again).
            return None;
        }
        l.next_key += 1;
        let key = l.next_key;
        l.entries.push((key, w));
        Some(key)
    }

    pub(crate) fn remove(&self, key: u64) {
        let mut l = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        l.entries.retain(|(k, _)| *k != key);
    }

    /// Runs every registered callback (outside the lock), once.
    pub(crate) fn fire(&self) {
        let entries = {
            let mut l = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            l.next_key = FIRED;
            std::mem::take(&mut l.entries)
        };
        for (_, w) in entries {
            w();
        }
    }
}

/// The state shared by [`JoinHandle`] and [`ScopedJoinHandle`](crate::ScopedJoinHandle).
pub(crate) struct JoinInner<'scope, T> {
    pub(crate) thread: Thread,
    pub(crate) packet: Arc<Packet<'scope, T>>,
}

impl<T> JoinInner<'_, T> {
    #[track_caller]
    pub(crate) fn join(self) -> std::thread::Result<T> {
        let target = self.thread.inner.id();
        let on = WaitOn::new(WaitKind::Join, target.get() as usize).held_by(Holder::Task(target));
        self.packet.done.wait_on(on);
        let taken = self
            .packet
            .result
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // `done` is set only after the result is stored.
        taken.expect("greenstd: joined thread left no result")
    }

    pub(crate) fn is_finished(&self) -> bool {
        Arc::strong_count(&self.packet) == 1
    }
}

/// An owned permission to join on a thread (block on its termination).
///
/// A `JoinHandle` *detaches* the associated thread when it is dropped. It is
/// created by [`spawn`](crate::spawn) and [`Builder::spawn`](crate::Builder::spawn).
///
/// # Examples
///
/// ```
/// use shim_thread as thread;
///
/// let join_handle: thread::JoinHandle<_> = thread::spawn(|| {
///     // some work here
/// });
/// join_handle.join().unwrap();
/// ```
pub struct JoinHandle<T>(pub(crate) JoinInner<'static, T>);

impl<T> JoinHandle<T> {
    /// Extracts a handle to the underlying thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_thread as thread;
    ///
    /// let builder = thread::Builder::new();
    /// let join_handle: thread::JoinHandle<_> = builder.spawn(|| {}).unwrap();
    /// let thread = join_handle.thread();
    /// println!("thread id: {:?}", thread.id());
    /// ```
    pub fn thread(&self) -> &Thread {
        &self.0.thread
    }

    /// Waits for the associated thread to finish.
    ///
    /// Returns immediately if it has already finished. In a coroutine only
    /// the coroutine waits; on an OS thread the thread blocks. If the thread
    /// panicked, `Err` holds the panic's payload.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_thread as thread;
    ///
    /// let join_handle = thread::spawn(|| panic!("oops"));
    /// assert!(join_handle.join().is_err());
    /// ```
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        self.0.join()
    }

    /// Checks if the associated thread has finished running its main
    /// function. Does not block.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let handle = thread::spawn(|| thread::sleep(Duration::from_millis(20)));
    /// while !handle.is_finished() {
    ///     thread::sleep(Duration::from_millis(1));
    /// }
    /// handle.join().unwrap();
    /// ```
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}
