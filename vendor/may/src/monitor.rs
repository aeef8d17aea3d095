//! greenstd patch: what a monitor thread outside the scheduler needs to
//! find a worker stuck in one coroutine and move that worker's other work
//! to the rest (as Go's sysmon hands off a P), without waking periodically
//! while every worker sleeps.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::scheduler::{get_scheduler, Scheduler};

/// Set while a monitor waits in [`wait_for_activity`].
static MONITOR_WAITING: AtomicBool = AtomicBool::new(false);
static ACTIVITY: Mutex<()> = Mutex::new(());
static ACTIVITY_CV: Condvar = Condvar::new();

/// Called by a worker whose `epoll_wait` returned.
#[inline]
pub(crate) fn worker_woke(_s: &Scheduler) {
    // Pairs with the fence in `wait_for_activity`.
    fence(Ordering::SeqCst);
    if MONITOR_WAITING.load(Ordering::Relaxed) {
        let _g = ACTIVITY.lock();
        ACTIVITY_CV.notify_all();
    }
}

/// The number of worker threads (starts the scheduler).
pub fn workers() -> usize {
    get_scheduler().workers
}

/// How many times worker `id` has picked a coroutine to run (or looked for
/// one) so far. Unchanged between two reads while the worker is not asleep:
/// the worker is inside one coroutine (or one batch of events) all along.
pub fn worker_ticks(id: usize) -> u64 {
    get_scheduler().worker_state[id]
        .ticks
        .load(Ordering::Relaxed)
}

/// `true` while worker `id` is asleep in `epoll_wait` (or about to be).
pub fn worker_sleeping(id: usize) -> bool {
    get_scheduler().worker_state[id]
        .sleeping
        .load(Ordering::Acquire)
}

/// The `pthread_t` of worker `id`, once it runs (to signal it).
pub fn worker_thread(id: usize) -> Option<libc::pthread_t> {
    match get_scheduler().worker_state[id]
        .thread
        .load(Ordering::Acquire)
    {
        0 => None,
        t => Some(t as libc::pthread_t),
    }
}

/// The worker the calling thread is, if it is one.
pub fn current_worker() -> Option<usize> {
    match crate::scheduler::WORKER_ID.get() {
        usize::MAX => None,
        id => Some(id),
    }
}

/// Calls `f` with the tag and name of the coroutine running on this thread,
/// if any. Reads only; allocates nothing and takes no lock, so it may be
/// called from a signal handler that interrupted the coroutine.
pub fn peek_current<R>(f: impl FnOnce(u64, Option<&str>) -> R) -> Option<R> {
    crate::local::peek_co().map(|co| f(co.tag(), co.name()))
}

/// Blocks the calling (monitor) thread while every worker sleeps, until one
/// wakes or `timeout` passes. Returns at once if some worker is awake.
pub fn wait_for_activity(timeout: Option<Duration>) {
    let s = get_scheduler();
    let mut g = ACTIVITY.lock();
    MONITOR_WAITING.store(true, Ordering::Relaxed);
    // Pairs with the fence in `worker_woke`: either that worker sees us
    // waiting, or we see it awake.
    fence(Ordering::SeqCst);
    if s.sleeping_workers() == s.workers {
        match timeout {
            Some(t) => {
                ACTIVITY_CV.wait_for(&mut g, t);
            }
            None => ACTIVITY_CV.wait(&mut g),
        }
    }
    MONITOR_WAITING.store(false, Ordering::Relaxed);
}

/// Moves the runnable coroutines queued on worker `id` and the coroutines
/// its ready I/O events would wake to the shared queue, where any other
/// worker takes them, and wakes a sleeping worker for them. For a worker
/// stuck in one coroutine. Returns how many coroutines were moved.
///
/// Must not be called on a worker thread.
pub fn rescue(id: usize) -> usize {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Option<may_queue::spmc::Local<crate::coroutine_impl::CoroutineImpl>>> =
            const { std::cell::RefCell::new(None) };
        static EVENTS: std::cell::RefCell<Vec<crate::io::sys::SysEvent>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    assert!(current_worker().is_none(), "rescue called on a worker");
    let s = get_scheduler();
    let mut moved = EVENTS.with(|ev| {
        let mut ev = ev.borrow_mut();
        if ev.is_empty() {
            ev.resize(256, crate::io::sys::empty_event());
        }
        s.get_selector().rescue(s, id, &mut ev)
    });
    moved += SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let local = scratch.get_or_insert_with(|| may_queue::spmc::local().1);
        s.rescue_local(id, local)
    });
    moved
}
