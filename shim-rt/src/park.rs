//! Blocking the current execution context: a coroutine yields to its worker,
//! a plain OS thread really blocks.
//!
//! These are the primitives every blocking shim is built on. They may return
//! spuriously: callers loop on their own condition.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use may::embed::Suspended;

use crate::hub;
use crate::task::{self, Task};

/// `true` when the caller runs inside a coroutine, `false` on a plain OS thread.
///
/// The thread-local state it reads is read in a frame of its own
/// (`may::embed::current` is never inlined): the optimiser treats a
/// thread-local's address as fixed for the life of a function, but a
/// coroutine that blocks may resume on another OS thread.
#[inline]
pub fn in_coroutine() -> bool {
    may::embed::current().is_some()
}

/// A handle that wakes one parked execution context: a coroutine or an OS thread.
#[derive(Clone)]
pub enum Waker {
    /// A coroutine, by its task: waking it puts it back on a worker's run queue.
    Coroutine(Arc<Task>),
    /// A plain OS thread: waking it unparks the thread.
    Thread(std::thread::Thread),
}

impl Waker {
    /// The waker of the calling coroutine or thread.
    pub fn current() -> Waker {
        task::with_current_coroutine(|me| Waker::Coroutine(me.clone()))
            .unwrap_or_else(|| Waker::Thread(std::thread::current()))
    }

    /// Wakes the context. If it is not parked, its next [`park`] returns at once.
    #[inline]
    pub fn wake(&self) {
        match self {
            Waker::Coroutine(task) => task.wake(),
            Waker::Thread(t) => t.unpark(),
        }
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Waker::Coroutine(t) => f.debug_tuple("Waker::Coroutine").field(&t.id()).finish(),
            Waker::Thread(t) => f.debug_tuple("Waker::Thread").field(&t.id()).finish(),
        }
    }
}

/// Where a coroutine sleeps: a wake-up token and, while the coroutine
/// sleeps, the coroutine itself (taken off its worker by
/// `may::embed::suspend`). Every wait of a greenstd coroutine sleeps here
/// and every wake-up of one — a notifier, an unpark, a timer, an
/// interrupt — goes through [`Sleeper::wake`]: one state machine, where
/// may's own `Park` would add a second under greenstd's.
///
/// The token has std's `park`/`unpark` shape: a wake-up that finds the
/// coroutine awake is kept, and its next [`Sleeper::sleep`] returns at
/// once. Waits loop on their own condition, so a token left over from an
/// earlier wait only costs one spurious return.
pub(crate) struct Sleeper {
    state: AtomicU8,
    /// The sleeping coroutine. Written by the owner's `suspend` callback
    /// while the state is `S_IDLE` or `S_TOKEN` (no waker touches it then);
    /// taken by whoever moves the state out of `S_ASLEEP`.
    co: UnsafeCell<Option<Suspended>>,
}

// SAFETY: `co` is only touched by the party the state machine makes its
// owner (see the field), one at a time; the state's acquire/release
// operations order those accesses.
unsafe impl Sync for Sleeper {}

/// Awake, no token.
const S_IDLE: u8 = 0;
/// Awake, a wake-up is pending: the next sleep returns at once.
const S_TOKEN: u8 = 1;
/// Asleep: the coroutine is in `co`.
const S_ASLEEP: u8 = 2;

impl Sleeper {
    pub(crate) const fn new() -> Sleeper {
        Sleeper {
            state: AtomicU8::new(S_IDLE),
            co: UnsafeCell::new(None),
        }
    }

    /// Sleeps until woken, or consumes a pending token and returns at once.
    /// Only the coroutine that owns the sleeper calls it, from inside itself.
    #[inline]
    pub(crate) fn sleep(&self) {
        if self
            .state
            .compare_exchange(S_TOKEN, S_IDLE, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        may::embed::suspend(|co| {
            // SAFETY: the state is S_IDLE or S_TOKEN: the cell is ours.
            unsafe { *self.co.get() = Some(co) };
            if let Err(s) =
                self.state
                    .compare_exchange(S_IDLE, S_ASLEEP, Ordering::AcqRel, Ordering::Acquire)
            {
                // A wake-up came since the check above (wakers leave a
                // token and never touch the cell): take it, run on.
                debug_assert_eq!(s, S_TOKEN);
                self.state.store(S_IDLE, Ordering::Relaxed);
                // SAFETY: still ours, see above.
                if let Some(co) = unsafe { (*self.co.get()).take() } {
                    co.resume();
                }
            }
            // Else the coroutine now belongs to the next `wake`, which may
            // resume it at once: nothing here touches `self` any more.
        });
    }

    /// Wakes the owner if it sleeps (it goes on the calling worker's run
    /// queue, or the shared one off a worker); else leaves a token.
    #[inline]
    pub(crate) fn wake(&self) {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            // Even a token already there is written again (a release
            // read-modify-write, as std's parker's `swap`): the owner's
            // acquire of the token then also orders what the caller did
            // before this wake, which a token left by an earlier wake
            // would not.
            let to = match s {
                S_ASLEEP => S_IDLE,
                _ => S_TOKEN,
            };
            match self
                .state
                .compare_exchange_weak(s, to, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(S_ASLEEP) => {
                    // SAFETY: we moved the state out of S_ASLEEP: the
                    // cell is ours until the coroutine runs again.
                    if let Some(co) = unsafe { (*self.co.get()).take() } {
                        co.resume();
                    }
                    return;
                }
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }
}

#[cfg(test)]
impl Sleeper {
    fn is_asleep(&self) -> bool {
        self.state.load(Ordering::Acquire) == S_ASLEEP
    }
}

impl std::fmt::Debug for Sleeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleeper")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Blocks `me`, the caller's own task, until it is woken, `deadline`
/// passes, or spuriously. Returns `true` when `deadline` has passed.
///
/// In a coroutine the deadline is kept by the hub thread, which wakes the
/// coroutine onto a worker when it expires (may's own timer would run the
/// coroutine on the timer thread itself).
#[inline]
pub(crate) fn park_as(me: &Arc<Task>, deadline: Option<Instant>) -> bool {
    let Some(deadline) = deadline else {
        match me.sleeper() {
            Some(s) => s.sleep(),
            None => std::thread::park(),
        }
        return false;
    };
    let now = Instant::now();
    if now >= deadline {
        return true;
    }
    match me.sleeper() {
        Some(s) => {
            let key = hub::add_timer(deadline, Waker::Coroutine(me.clone()));
            s.sleep();
            hub::cancel_timer(key);
        }
        None => std::thread::park_timeout(deadline - now),
    }
    Instant::now() >= deadline
}

/// Blocks the current context until it is woken (or spuriously).
///
/// In a coroutine the worker thread goes on running other coroutines.
pub fn park() {
    if task::with_current_coroutine(|me| park_as(me, None)).is_none() {
        std::thread::park();
    }
}

/// Blocks the current context until it is woken, `deadline` passes, or
/// spuriously. Returns `true` when `deadline` has passed.
///
/// In a coroutine the deadline is kept by the hub thread, which wakes the
/// coroutine onto a worker when it expires (may's own timer would run the
/// coroutine on the timer thread itself).
pub fn park_until(deadline: Instant) -> bool {
    if let Some(r) = task::with_current_coroutine(|me| park_as(me, Some(deadline))) {
        return r;
    }
    let now = Instant::now();
    if now >= deadline {
        return true;
    }
    std::thread::park_timeout(deadline - now);
    Instant::now() >= deadline
}

/// Parks with an optional deadline; see [`park`] and [`park_until`].
/// Returns `true` when the deadline has passed.
#[inline]
pub fn park_deadline(deadline: Option<Instant>) -> bool {
    match deadline {
        None => {
            park();
            false
        }
        Some(d) => park_until(d),
    }
}

/// Lets other coroutines run (in a coroutine) or gives up the time slice (on
/// an OS thread).
///
/// In a coroutine this is may's yield: the coroutine goes to the back of its
/// worker's queue. It is fair to coroutines woken from elsewhere (timers,
/// other threads) too: greenstd's scheduler patch has every worker take one
/// coroutine in 61 from the shared queue of such wake-ups before its own
/// queue, so a coroutine that computes and yields in a loop cannot starve
/// them.
pub fn yield_now() {
    if !in_coroutine() {
        return std::thread::yield_now();
    }
    // may's `yield_now` without its cancellation checks (greenstd
    // cancels at waits, not at yields): the coroutine goes to the back of
    // the run queue.
    may::embed::suspend(Suspended::resume);
}

#[cfg(test)]
mod tests;
