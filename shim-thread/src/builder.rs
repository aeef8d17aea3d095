//! `Builder`: spawning with a name and a stack size.

use std::io;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use shim_rt::config::MAX_STACK_SIZE;
use shim_rt::latch::Latch;
use shim_rt::task::{self, Task};

use crate::join::{JoinHandle, JoinInner, Packet};
use crate::scoped::{Scope, ScopeData, ScopedJoinHandle};
use crate::thread::Thread;

/// Thread factory, which can be used in order to configure the properties of
/// a new thread.
///
/// Methods can be chained on it in order to configure it: [`name`](Builder::name)
/// and [`stack_size`](Builder::stack_size). Then [`spawn`](Builder::spawn)
/// starts the thread — a coroutine — and returns an `io::Result` to its
/// handle.
///
/// # Examples
///
/// ```
/// use shim_thread as thread;
///
/// let builder = thread::Builder::new();
///
/// let handler = builder
///     .spawn(|| {
///         // thread code
///     })
///     .unwrap();
///
/// handler.join().unwrap();
/// ```
#[derive(Debug)]
#[must_use = "must eventually spawn the thread"]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// Generates the base configuration for spawning a thread, from which
    /// configuration methods can be chained.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_thread as thread;
    ///
    /// let builder = thread::Builder::new()
    ///     .name("foo".into())
    ///     .stack_size(64 * 1024);
    ///
    /// let handler = builder.spawn(|| {}).unwrap();
    /// handler.join().unwrap();
    /// ```
    pub fn new() -> Builder {
        Builder {
            name: None,
            stack_size: None,
        }
    }

    /// Names the thread-to-be. The name is used in panic messages and
    /// returned by [`Thread::name`].
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
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// Sets the size of the stack (in bytes) for the new thread.
    ///
    /// The size is rounded up to whole pages and to at least 16 KiB. A
    /// coroutine's stack never grows: what is asked for here is all it gets.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_thread as thread;
    ///
    /// let builder = thread::Builder::new().stack_size(32 * 1024);
    /// builder.spawn(|| {}).unwrap().join().unwrap();
    /// ```
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawns a new thread by taking ownership of the `Builder`, and returns
    /// an `io::Result` to its [`JoinHandle`].
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a stack size above 1 GiB; `OutOfMemory` when no
    /// stack could be mapped; the runtime's configuration error if it could
    /// not start.
    ///
    /// # Panics
    ///
    /// Panics if a thread name was set and it contained null bytes (as
    /// std, with std's message).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_thread as thread;
    ///
    /// let builder = thread::Builder::new();
    /// let handler = builder.spawn(|| 1 + 1).unwrap();
    /// assert_eq!(handler.join().unwrap(), 2);
    /// ```
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // The body goes to the coroutine by value, not boxed: it lives in
        // the coroutine's first frame, on the stack page every coroutine
        // has resident anyway (a box would cost 64 bytes of heap for the
        // coroutine's whole life — 1.4% of an idle connection).
        let stack_size = self.stack_size;
        let (task, packet, main) = self.prepare(f, None)?;
        task::spawn(task.clone(), stack_size, main)?;
        Ok(JoinHandle(JoinInner {
            thread: Thread::from_task(task),
            packet,
        }))
    }

    /// Spawns a new thread without any lifetime restrictions, returning an
    /// `io::Result` to its [`JoinHandle`].
    ///
    /// # Safety
    ///
    /// The caller has to ensure that the spawned thread does not outlive any
    /// references in the supplied thread closure and its return type — for
    /// example by joining it before they go out of scope.
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_thread as thread;
    ///
    /// let x = 1;
    /// let thread_x = &x;
    /// // SAFETY: the handle is joined before `x` goes out of scope.
    /// let handler = unsafe {
    ///     thread::Builder::new()
    ///         .spawn_unchecked(move || println!("x = {}", *thread_x))
    ///         .unwrap()
    /// };
    /// // the caller joins before `x` goes out of scope
    /// handler.join().unwrap();
    /// ```
    pub unsafe fn spawn_unchecked<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        // SAFETY: forwarded from the caller.
        Ok(JoinHandle(unsafe { self.spawn_unchecked_(f, None) }?))
    }

    /// Spawns a new scoped thread using the settings set through this
    /// `Builder`. Unlike [`Scope::spawn`], this returns an `io::Result`.
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
    ///     thread::Builder::new()
    ///         .name("first".to_string())
    ///         .spawn_scoped(s, || {
    ///             println!("hello from the {:?} scoped thread", thread::current().name());
    ///             dbg!(&a);
    ///         })
    ///         .unwrap();
    ///     thread::Builder::new()
    ///         .name("second".to_string())
    ///         .spawn_scoped(s, || {
    ///             x += a[0] + a[2];
    ///         })
    ///         .unwrap();
    /// });
    ///
    /// a.push(4);
    /// assert_eq!(x, a.len());
    /// ```
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        // SAFETY: `scope` waits for every thread spawned in it before it
        // returns, so nothing borrowed for 'scope ends before the thread.
        let inner = unsafe { self.spawn_unchecked_(f, Some(scope.data.clone())) }?;
        Ok(ScopedJoinHandle(inner))
    }

    /// Checks the settings and makes the new thread's task, its packet and
    /// its main function (which runs `f` and publishes the result).
    #[allow(clippy::type_complexity)]
    fn prepare<'scope, F, T>(
        self,
        f: F,
        scope: Option<Arc<ScopeData>>,
    ) -> io::Result<(
        Arc<Task>,
        Arc<Packet<'scope, T>>,
        impl FnOnce() + Send + use<'scope, F, T>,
    )>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        if let Some(name) = &self.name {
            if name.as_bytes().contains(&0) {
                // As std (its `Thread::new`), with its message (which shows
                // the `NulError`).
                if let Err(e) = std::ffi::CString::new(name.as_bytes()) {
                    panic!("thread name may not contain interior null bytes: {e:?}");
                }
            }
        }
        if let Some(size) = self.stack_size {
            if size > MAX_STACK_SIZE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "stack size {size} is above greenstd's maximum of {MAX_STACK_SIZE} bytes"
                    ),
                ));
            }
        }
        let task = Task::new_coroutine(self.name);
        let packet: Arc<Packet<'scope, T>> = Arc::new(Packet {
            scope,
            result: Mutex::new(None),
            done: Latch::new(),
            watchers: Default::default(),
            started_on: std::sync::atomic::AtomicU64::new(0),
            _marker: PhantomData,
        });
        let their_packet = packet.clone();
        let main = move || {
            // SAFETY: pthread_self has no preconditions.
            let me = unsafe { libc::pthread_self() } as u64;
            their_packet
                .started_on
                .store(me, std::sync::atomic::Ordering::Release);
            let result = catch_unwind(AssertUnwindSafe(f));
            // From here on nothing unwinds: thread-local destructors and the
            // publication of the result are not cut short by a cancellation.
            shim_rt::cancel::close_current();
            task::destroy_locals();
            *their_packet
                .result
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(result);
            // Finished before anyone can see the result.
            task::finish_current();
            their_packet.done.set();
            their_packet.watchers.fire();
            // Dropping our share last: for a scoped thread this may end the scope.
            drop(their_packet);
        };
        Ok((task, packet, main))
    }

    /// # Safety
    ///
    /// The thread must not outlive anything `f` or `T` borrow.
    unsafe fn spawn_unchecked_<'scope, F, T>(
        self,
        f: F,
        scope: Option<Arc<ScopeData>>,
    ) -> io::Result<JoinInner<'scope, T>>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let stack_size = self.stack_size;
        let (task, packet, main) = self.prepare(f, scope)?;
        let main: Box<dyn FnOnce() + Send + '_> = Box::new(main);
        // SAFETY: only the lifetime is erased; the caller guarantees the
        // coroutine does not outlive what `f` and `T` borrow.
        let main: Box<dyn FnOnce() + Send + 'static> = unsafe {
            std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Box<dyn FnOnce() + Send + 'static>>(
                main,
            )
        };
        if let Some(scope) = &packet.scope {
            scope.increment_num_running_threads();
        }
        // On failure `main` (and its share of the packet) is dropped, which
        // undoes the increment above.
        task::spawn(task.clone(), stack_size, main)?;
        Ok(JoinInner {
            thread: Thread::from_task(task),
            packet,
        })
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}
