//! Blocking the current execution context: a coroutine yields to its worker,
//! a plain OS thread really blocks.
//!
//! These are the primitives every blocking shim is built on. They may return
//! spuriously: callers loop on their own condition.

use std::time::Instant;

use crate::hub;

/// `true` when the caller runs inside a coroutine, `false` on a plain OS thread.
///
/// Never inlined, like every function here that reads thread-local state:
/// the optimiser treats a thread-local's address as fixed for the life of a
/// function, but a coroutine that blocks may resume on another OS thread.
/// Read in a frame of its own, the address is computed afresh each call.
#[inline(never)]
pub fn in_coroutine() -> bool {
    may::coroutine::is_coroutine()
}

/// A handle that wakes one parked execution context: a coroutine or an OS thread.
#[derive(Clone)]
pub enum Waker {
    /// A coroutine: waking it puts it back on a worker's run queue.
    Coroutine(may::coroutine::Coroutine),
    /// A plain OS thread: waking it unparks the thread.
    Thread(std::thread::Thread),
}

impl Waker {
    /// The waker of the calling coroutine or thread.
    #[inline(never)]
    pub fn current() -> Waker {
        if in_coroutine() {
            Waker::Coroutine(may::coroutine::current())
        } else {
            Waker::Thread(std::thread::current())
        }
    }

    /// Wakes the context. If it is not parked, its next [`park`] returns at once.
    #[inline]
    pub fn wake(&self) {
        match self {
            Waker::Coroutine(co) => co.unpark(),
            Waker::Thread(t) => t.unpark(),
        }
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Waker::Coroutine(_) => f.write_str("Waker::Coroutine"),
            Waker::Thread(t) => f.debug_tuple("Waker::Thread").field(&t.id()).finish(),
        }
    }
}

/// Blocks the current context until it is woken (or spuriously).
///
/// In a coroutine the worker thread goes on running other coroutines.
#[inline(never)]
pub fn park() {
    if in_coroutine() {
        may::coroutine::park();
    } else {
        std::thread::park();
    }
}

/// Blocks the current context until it is woken, `deadline` passes, or
/// spuriously. Returns `true` when `deadline` has passed.
///
/// In a coroutine the deadline is kept by the hub thread, which wakes the
/// coroutine onto a worker when it expires (may's own timer would run the
/// coroutine on the timer thread itself).
#[inline(never)]
pub fn park_until(deadline: Instant) -> bool {
    let now = Instant::now();
    if now >= deadline {
        return true;
    }
    if in_coroutine() {
        let key = hub::add_timer(deadline, Waker::current());
        may::coroutine::park();
        hub::cancel_timer(key);
    } else {
        std::thread::park_timeout(deadline - now);
    }
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
#[inline(never)]
pub fn yield_now() {
    if !in_coroutine() {
        return std::thread::yield_now();
    }
    may::coroutine::yield_now();
}
