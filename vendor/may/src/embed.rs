//! greenstd patch: what an embedder that keeps its own per-coroutine state
//! needs to run its waits directly on the scheduler.
//!
//! * [`embedder_ptr`] / [`set_embedder_ptr`]: one pointer per coroutine,
//!   reached without the local map; [`current`] says in one look whether
//!   the caller runs in a coroutine and gives that pointer.
//! * [`suspend`] / [`Suspended`]: the running coroutine leaves its worker
//!   and is handed, as a value, to a callback that runs on the worker once
//!   the coroutine is off its stack. Whoever ends up holding the
//!   [`Suspended`] resumes it. This is may's `EventSource` protocol (the
//!   one `Park`, `yield_now` and the I/O waits are built on) without the
//!   state of a `Park`: an embedder with its own wait state keeps one state
//!   machine instead of two. may's cancellation (`Coroutine::cancel`) does
//!   not reach a coroutine suspended this way.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::RawFd;

use crate::coroutine_impl::{CoroutineImpl, EventSource, EventSubscriber};
use crate::local::get_co_local_data;
use crate::scheduler::get_scheduler;

pub use crate::local::{embedder_ptr, set_embedder_ptr};

/// Where the caller runs: `None` on a plain thread, `Some(embedder
/// pointer)` in a coroutine (the pointer is null until
/// [`set_embedder_ptr`] gives one).
///
/// Never inlined: the thread-local it reads belongs to the worker that runs
/// the coroutine now, and a coroutine that was suspended may resume on
/// another worker; a frame of its own reads it afresh every time.
#[inline(never)]
pub fn current() -> Option<*const ()> {
    let running = crate::local::RUNNING.get();
    if !running.is_null() {
        // SAFETY: set by `run_coroutine` while the coroutine runs, whose
        // local data lives as long as it does.
        return Some(unsafe { (*running).embedder.get() });
    }
    // SAFETY: the local data lives as long as the running coroutine.
    get_co_local_data().map(|p| unsafe { (*p.as_ptr()).embedder.get() })
}

/// A coroutine taken off its worker by [`suspend`]: it runs again when
/// [`Suspended::resume`] is called, once.
///
/// Dropping it without resuming leaks the coroutine (its stack and
/// everything on it stay allocated): a suspended coroutine cannot be
/// unwound from outside.
pub struct Suspended(ManuallyDrop<CoroutineImpl>);

impl Suspended {
    /// Puts the coroutine back on a run queue: the calling worker's local
    /// queue when called on a worker, the shared queue otherwise. Woken by
    /// a large poll of the worker's (see `scheduler::LARGE_POLL`), the top
    /// of its stack is prefetched.
    ///
    /// Never inlined: it reads the worker's id from a thread-local, and a
    /// caller that also suspends (an `unpark` and a `park` in one loop)
    /// must not reuse an address of that thread-local computed on another
    /// worker (the optimiser treats it as fixed for the life of a
    /// function, and would push onto that worker's queue, which only its
    /// owner may push to).
    #[inline(never)]
    pub fn resume(self) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: taken once; `this` is never dropped (nor is its field).
        let co = unsafe { ManuallyDrop::take(&mut this.0) };
        co.reclaim_stack();
        if crate::scheduler::in_large_poll() {
            co.prefetch_stack();
        }
        get_scheduler().schedule(co);
    }

    /// Puts the coroutine back behind every coroutine runnable now on the
    /// calling worker (gevent's `sleep(0)`): the worker first runs its
    /// expired timers and takes its ready I/O (if it has not for ~50 µs)
    /// and moves the shared queue's coroutines to its own queue. Off a worker,
    /// as [`resume`](Self::resume).
    #[inline(never)]
    pub fn resume_after_runnable(self) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: taken once; `this` is never dropped (nor is its field).
        let co = unsafe { ManuallyDrop::take(&mut this.0) };
        co.reclaim_stack();
        get_scheduler().schedule_yielded(co);
    }

    /// Offers the pages of the coroutine's stack below what it uses now
    /// to be returned to the kernel if it stays suspended for a while
    /// (greenstd's stack arena; nothing for a stack mapped on its own).
    /// [`resume`](Self::resume) takes the offer back first.
    #[inline]
    pub fn offer_stack_trim(&self) {
        self.0.offer_stack_trim();
    }
}

impl std::fmt::Debug for Suspended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Suspended")
    }
}

/// The event source of [`suspend`]: lives in the suspending frame.
struct Suspend<F: FnOnce(Suspended)> {
    then: Option<F>,
}

impl<F: FnOnce(Suspended)> EventSource for Suspend<F> {
    #[inline]
    fn subscribe(&mut self, co: CoroutineImpl) {
        if let Some(then) = self.then.take() {
            // From here `self` may be gone: `then` may hand the coroutine
            // to another thread, which resumes it and returns from
            // `suspend`.
            then(Suspended(ManuallyDrop::new(co)));
        }
    }
}

/// Suspends the running coroutine: once it is off its stack, `then` runs on
/// the worker with the coroutine as a [`Suspended`], and the worker goes on
/// with other coroutines. `suspend` returns when the coroutine is resumed.
///
/// `then` must not block, and must not use anything of the suspended
/// coroutine's frames after it gave the [`Suspended`] away (whoever holds
/// it may resume it at once, on another thread). It may resume it itself:
/// `suspend(Suspended::resume)` is a yield to the back of the run queue.
///
/// # Panics
///
/// When called outside a coroutine.
#[inline]
pub fn suspend<F: FnOnce(Suspended)>(then: F) {
    let mut src = Suspend { then: Some(then) };
    let r: *mut (dyn EventSource + '_) = &mut src;
    // SAFETY: as in `try_suspend`.
    let r = unsafe {
        std::mem::transmute::<*mut (dyn EventSource + '_), *mut (dyn EventSource + 'static)>(r)
    };
    // Outside a coroutine `co_yield_with` panics (it finds no coroutine
    // context).
    generator::co_yield_with(EventSubscriber::new(r));
}

/// [`suspend`] if the caller runs in a coroutine; on a plain thread it
/// gives `then` back, uncalled (one look at where the caller runs, where
/// checking [`current`] first would take two).
#[inline]
pub fn try_suspend<F: FnOnce(Suspended)>(then: F) -> Result<(), F> {
    let mut src = Suspend { then: Some(then) };
    let r: *mut (dyn EventSource + '_) = &mut src;
    // SAFETY: the worker calls `subscribe` through this pointer after the
    // coroutine has switched out and before anyone can resume it (only
    // `subscribe` hands it out); `src` lives in this frame until then.
    let r = unsafe {
        std::mem::transmute::<*mut (dyn EventSource + '_), *mut (dyn EventSource + 'static)>(r)
    };
    match generator::co_try_yield_with(EventSubscriber::new(r)) {
        Ok(()) => Ok(()),
        // Not a coroutine: nothing ran `subscribe`.
        Err(_) => Err(src
            .then
            .take()
            .expect("`then` is only taken by `subscribe`")),
    }
}

/// An embedder's readiness registration reports it is readable.
pub const READABLE: u32 = 1;
/// An embedder's readiness registration reports it is writable.
pub const WRITABLE: u32 = 2;
/// An embedder's readiness registration reports a hang-up or an error.
pub const CLOSED: u32 = 4;

/// What the workers' event loops call for an embedder's own readiness
/// registrations ([`register_io`]), which sit in the workers' selectors
/// beside may's: one `epoll_wait` (or `kevent`) serves both.
#[derive(Debug)]
pub struct IoHook {
    /// Called with a registration's token and what its event reports
    /// ([`READABLE`], [`WRITABLE`], [`CLOSED`]), on the worker that took the
    /// event (or on the monitor rescuing a stuck worker's events), while
    /// that selector's events are being handled. It must not block.
    pub ready: fn(token: usize, events: u32),
    /// Called once for a token given to [`deregister_io`], when no event
    /// naming it can be handled any more: the token may be freed.
    pub release: fn(token: usize),
}

static IO_HOOK: std::sync::OnceLock<&'static IoHook> = std::sync::OnceLock::new();

/// The hook of the embedder's registrations (set by the first
/// [`register_io`]).
#[inline]
pub(crate) fn io_hook() -> &'static IoHook {
    IO_HOOK
        .get()
        .expect("an embedder's event is only reported after register_io set its hook")
}

/// Adds `fd` to the selector of worker `fd % workers` (the worker may puts
/// its own sockets on) for edge-triggered readiness of both directions; its
/// events reach `hook.ready` with `token`.
///
/// Every registration of a process must use the same `hook` (the first one
/// is kept). `token` must be even (it is tagged in the selector to tell it
/// from may's own registrations): an address of something aligned to 2
/// bytes or more. The scheduler must run already (call it from a
/// coroutine): registering never starts it.
///
/// # Safety
///
/// `hook.ready` may be called with `token` until `hook.release` is called
/// for it (after [`deregister_io`]): whatever `token` stands for must stay
/// valid until then.
pub unsafe fn register_io(fd: RawFd, token: usize, hook: &'static IoHook) -> io::Result<()> {
    if token & 1 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an embedder's readiness token must be even",
        ));
    }
    IO_HOOK.get_or_init(|| hook);
    get_scheduler().get_selector().add_embedder_fd(fd, token)
}

/// Removes `fd`, registered with `token` by [`register_io`], from its
/// worker's selector; call it before `fd` is closed. `token` is handed to
/// the hook's `release` once no event naming it can be handled any more
/// (by the worker, before it waits for events again).
pub fn deregister_io(fd: RawFd, token: usize) {
    get_scheduler().get_selector().del_embedder_fd(fd, token)
}

pub use crate::worker_timer::TimerKey;

/// Runs `action` at `at` (never before), on the worker whose slot keeps the
/// timer: the caller's own when called on a worker, otherwise the slots in
/// turn. One timer list per worker slot, served by the slot's event loop
/// (it sleeps in its selector until its next deadline, and looks at its
/// timers every 61 coroutines it runs); the monitor runs the expired timers
/// of a worker stuck in one coroutine. `action` must be short and must not
/// block: it delays every other timer and coroutine of its worker.
///
/// Starts the scheduler if it was not running.
pub fn add_timer(at: std::time::Instant, action: Box<dyn FnOnce() + Send>) -> TimerKey {
    get_scheduler().add_timer_at(at, action)
}

/// Cancels a timer of [`add_timer`]: its action is dropped, not run.
/// Returns `false` if it already ran (or was cancelled).
pub fn cancel_timer(key: TimerKey) -> bool {
    get_scheduler().del_timer(key)
}

/// How many timers are pending (0 before the scheduler started).
pub fn pending_timers() -> usize {
    crate::scheduler::scheduler_if_started().map_or(0, |s| s.pending_timers())
}
