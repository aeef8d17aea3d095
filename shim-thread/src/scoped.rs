//! Scoped threads: `scope`, `Scope`, `ScopedJoinHandle`.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use shim_rt::wait::{WaitKind, WaitOn, WaitQueue};

use crate::builder::Builder;
use crate::join::JoinInner;
use crate::thread::Thread;

/// A scope to spawn scoped threads in. See [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    pub(crate) data: Arc<ScopeData>,
    /// Invariance over 'scope, so the scope cannot shrink.
    scope: PhantomData<&'scope mut &'scope ()>,
    /// Invariance over 'env, so the scope cannot shrink either.
    env: PhantomData<&'env mut &'env ()>,
}

/// What a scope's threads share with the scope's owner.
pub(crate) struct ScopeData {
    num_running_threads: AtomicUsize,
    a_thread_panicked: AtomicBool,
    /// The scope's owner waits here for the count to reach 0.
    done: WaitQueue,
}

impl ScopeData {
    pub(crate) fn increment_num_running_threads(&self) {
        // Cannot realistically overflow: each thread needs a stack.
        self.num_running_threads.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn decrement_num_running_threads(&self, panic: bool) {
        if panic {
            self.a_thread_panicked.store(true, Ordering::Relaxed);
        }
        // SeqCst, then the queue's SeqCst count: see `WaitQueue::has_waiters`.
        if self.num_running_threads.fetch_sub(1, Ordering::SeqCst) == 1 && self.done.has_waiters() {
            self.done.notify_all();
        }
    }
}

/// An owned permission to join on a scoped thread (block on its termination).
///
/// See [`Scope::spawn`] for details.
pub struct ScopedJoinHandle<'scope, T>(pub(crate) JoinInner<'scope, T>);

/// Creates a scope for spawning scoped threads.
///
/// The function passed to `scope` is given a [`Scope`] object, through which
/// scoped threads can be spawned. Unlike non-scoped threads, scoped threads
/// can borrow non-`'static` data, as the scope guarantees all threads will
/// be joined at the end of the scope.
///
/// All threads spawned within the scope that haven't been manually joined
/// are automatically joined before this function returns — cooperatively
/// when the caller is a coroutine.
///
/// # Panics
///
/// If any of the automatically joined threads panicked, this function
/// panics. If you want to handle panics from spawned threads, `join` them
/// before the end of the scope.
///
/// # Examples
///
/// ```
/// use shim_thread as thread;
///
/// let mut a = vec![1, 2, 3];
/// let mut x = 0;
///
/// thread::scope(|s| {
///     s.spawn(|| {
///         println!("hello from the first scoped thread");
///         // We can borrow `a` here.
///         dbg!(&a);
///     });
///     s.spawn(|| {
///         println!("hello from the second scoped thread");
///         // We can even mutably borrow `x` here,
///         // because no other threads are using it.
///         x += a[0] + a[2];
///     });
///     println!("hello from the main thread");
/// });
///
/// // After the scope, we can modify and access our variables again:
/// a.push(4);
/// assert_eq!(x, a.len());
/// ```
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        data: Arc::new(ScopeData {
            num_running_threads: AtomicUsize::new(0),
            a_thread_panicked: AtomicBool::new(false),
            done: WaitQueue::new(),
        }),
        env: PhantomData,
        scope: PhantomData,
    };

    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));

    let data = &*scope.data;
    let on = WaitOn::new(WaitKind::Scope, data as *const ScopeData as usize);
    while data.num_running_threads.load(Ordering::Acquire) != 0 {
        let _ = data.done.wait(
            on,
            0,
            None,
            || data.num_running_threads.load(Ordering::SeqCst) != 0,
            || {},
        );
    }

    match result {
        Err(e) => resume_unwind(e),
        Ok(_) if scope.data.a_thread_panicked.load(Ordering::Relaxed) => {
            panic!("a scoped thread panicked")
        }
        Ok(result) => result,
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a new thread within a scope, returning a [`ScopedJoinHandle`]
    /// for it.
    ///
    /// Unlike non-scoped threads, threads spawned with this function may
    /// borrow non-`'static` data from outside the scope.
    ///
    /// # Panics
    ///
    /// Panics if the thread cannot be spawned; use
    /// [`Builder::spawn_scoped`] to recover from such errors.
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        Builder::new()
            .spawn_scoped(self, f)
            .expect("failed to spawn thread")
    }
}

impl<'scope, T> ScopedJoinHandle<'scope, T> {
    /// Extracts a handle to the underlying thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_thread as thread;
    ///
    /// thread::scope(|s| {
    ///     let t = s.spawn(|| {
    ///         println!("hello");
    ///     });
    ///     println!("thread id: {:?}", t.thread().id());
    /// });
    /// ```
    pub fn thread(&self) -> &Thread {
        &self.0.thread
    }

    /// Waits for the associated thread to finish.
    ///
    /// If the thread panicked, `Err` holds the panic payload and the scope
    /// does not panic for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_thread as thread;
    ///
    /// thread::scope(|s| {
    ///     let t = s.spawn(|| {
    ///         panic!("oh no");
    ///     });
    ///     assert!(t.join().is_err());
    /// });
    /// ```
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        self.0.join()
    }

    /// Checks if the associated thread has finished running its main
    /// function. Does not block.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field(
                "num_running_threads",
                &self.data.num_running_threads.load(Ordering::Relaxed),
            )
            .field(
                "a_thread_panicked",
                &self.data.a_thread_panicked.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle").finish_non_exhaustive()
    }
}
