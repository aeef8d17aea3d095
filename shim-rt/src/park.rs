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
/// may's own yield puts the coroutine back on its worker's local queue, and
/// a worker only looks at the coroutines other threads woke for it (its
/// "global" queue) once the local queue is empty: a coroutine that computes
/// and yields in a loop would starve them for ever. So once per
/// [`FAIR_YIELD_INTERVAL`] on each worker, a yield leaves the local queue
/// and comes back through the hub, which lets the worker drain its global
/// queue — checked every [`FAIR_YIELD_COUNT`] yields. Every other yield is
/// may's, which costs a context switch.
#[inline(never)]
pub fn yield_now() {
    if !in_coroutine() {
        return std::thread::yield_now();
    }
    thread_local! {
        static PACE: std::cell::Cell<(u32, Option<Instant>)> = const { std::cell::Cell::new((0, None)) };
    }
    // Per worker thread on purpose: it paces the yields that keep this
    // worker's local queue busy. The clock is read only every
    // FAIR_YIELD_COUNT-th yield.
    let detour = PACE.with(|pace| {
        let (count, last) = pace.get();
        if count + 1 < FAIR_YIELD_COUNT {
            pace.set((count + 1, last));
            return None;
        }
        let now = Instant::now();
        match last {
            Some(t) if now.duration_since(t) < FAIR_YIELD_INTERVAL => {
                pace.set((0, last));
                None
            }
            _ => {
                pace.set((0, Some(now)));
                Some(now)
            }
        }
    });
    if let Some(now) = detour {
        let key = hub::add_timer(now, Waker::current());
        may::coroutine::park();
        hub::cancel_timer(key);
    } else {
        may::coroutine::yield_now();
    }
}

/// How many yields on a worker pass between two looks at the clock; see [`yield_now`].
pub const FAIR_YIELD_COUNT: u32 = 64;

/// How often, at most, a worker's yields go through the hub; see [`yield_now`].
pub const FAIR_YIELD_INTERVAL: std::time::Duration = std::time::Duration::from_millis(2);
