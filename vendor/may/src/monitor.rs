//! greenstd patch: what a monitor thread outside the scheduler needs to
//! find a worker stuck in one coroutine and hand that worker's slot to
//! another OS thread (as Go's sysmon hands off a P, see `handoff`), or move
//! its other work to the rest, without waking periodically while every
//! worker sleeps.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

pub use crate::handoff::{set_thread_hooks, HandOffError, DEFAULT_MAX_THREADS, IDLE_RETIRE};
use crate::scheduler::{get_scheduler, Runner, Scheduler};

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

/// What the monitor saw of a worker slot: which thread serves it and how
/// many coroutines that thread had started. Two equal looks a while apart
/// mean the thread has been inside one coroutine (or one batch of events)
/// all along.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Look {
    runner: *const Runner,
    ticks: u64,
}

// SAFETY: the pointer is only compared, and dereferenced as a `&'static
// Runner` (runners are never freed), which is `Sync`.
unsafe impl Send for Look {}

impl Look {
    fn runner(&self) -> &'static Runner {
        // SAFETY: runners are leaked, never freed.
        unsafe { &*self.runner }
    }

    /// The kernel thread id of the thread (0 before it runs).
    pub fn tid(&self) -> libc::pid_t {
        self.runner().tid.load(Ordering::Acquire) as libc::pid_t
    }

    /// The `pthread_t` of the thread, to signal it.
    pub fn thread(&self) -> Option<libc::pthread_t> {
        match self.runner().thread.load(Ordering::Acquire) {
            0 => None,
            t => Some(t as libc::pthread_t),
        }
    }
}

/// Looks at worker slot `id`.
pub fn worker_look(id: usize) -> Look {
    let runner = get_scheduler().runner_of(id);
    Look {
        runner,
        ticks: runner.ticks.load(Ordering::Relaxed),
    }
}

/// Hands worker slot `id` to another OS thread (a spare, or a new one up
/// to [`max_threads`]) if it is still as `look` saw it: its thread goes on
/// with the coroutine it is in, and leaves the slot to the other when that
/// coroutine switches. What is queued on the slot moves to the shared queue.
pub fn hand_off(id: usize, look: Look) -> Result<(), HandOffError> {
    let s = get_scheduler();
    s.handoff.hand_off(s, id, look.runner(), look.ticks)
}

/// The threads whose slot was handed off and that are still inside the
/// coroutine that held them (a blocking call, a computation).
pub fn detached() -> Vec<Look> {
    get_scheduler()
        .handoff
        .detached()
        .into_iter()
        .map(|runner| Look {
            runner,
            ticks: runner.ticks.load(Ordering::Relaxed),
        })
        .collect()
}

/// Moves what the detached threads' coroutines woke onto their own queues
/// (in the moment before their hand-off) to the shared queue.
pub fn rescue_detached() -> usize {
    let s = get_scheduler();
    s.handoff
        .detached()
        .into_iter()
        .map(|r| s.handoff.rescue(s, r))
        .sum()
}

/// Sets the most OS threads the scheduler runs at once (workers, spares,
/// and threads held by a blocking coroutine; at least the workers).
pub fn set_max_threads(n: usize) {
    let s = get_scheduler();
    s.handoff.set_max(n.max(s.workers));
}

/// The most OS threads the scheduler runs at once.
pub fn max_threads() -> usize {
    get_scheduler().handoff.max()
}

/// The OS threads the scheduler runs now.
pub fn threads() -> usize {
    get_scheduler().handoff.threads()
}

/// How many hand-offs were made so far.
pub fn handoffs() -> usize {
    get_scheduler().handoff.handoffs()
}

/// `true` while worker `id` is asleep in `epoll_wait` (or about to be).
pub fn worker_sleeping(id: usize) -> bool {
    get_scheduler().worker_state[id]
        .sleeping
        .load(Ordering::Acquire)
}

/// `true` while the thread of worker `id` is in the worker's own poll to
/// sleep there: asleep, or woken and not yet back at its coroutines (a
/// waker takes it off the sleepers at once, and its wake-up may take a
/// while to land). Not inside a coroutine: nothing it runs holds it.
pub fn worker_parked(id: usize) -> bool {
    get_scheduler().worker_state[id]
        .parked
        .load(Ordering::Relaxed)
}

/// The `pthread_t` of the thread serving worker `id`, once it runs (to signal it).
pub fn worker_thread(id: usize) -> Option<libc::pthread_t> {
    worker_look(id).thread()
}

/// `true` on a thread that runs coroutines for the scheduler.
pub fn on_worker() -> bool {
    !crate::scheduler::WORKER.get().is_null()
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
/// stuck in one coroutine. greenstd patch: also runs its expired timers.
/// Returns how many coroutines were moved and timers run.
///
/// Must not be called on a worker thread.
pub fn rescue(id: usize) -> usize {
    thread_local! {
        static EVENTS: std::cell::RefCell<Vec<crate::io::sys::SysEvent>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    assert!(!on_worker(), "rescue called on a worker");
    let s = get_scheduler();
    let moved = EVENTS.with(|ev| {
        let mut ev = ev.borrow_mut();
        if ev.is_empty() {
            ev.resize(256, crate::io::sys::empty_event());
        }
        s.get_selector().rescue(s, id, &mut ev)
    });
    // greenstd patch: and its expired timers (what they wake goes to the
    // shared queue: this is not a worker).
    let fired = s.fire_timers(id);
    moved + fired + s.handoff.rescue(s, s.runner_of(id))
}
