//! Timers, kept by the scheduler's workers (the one timer service of the
//! vendored `may`, see `vendor/may/PATCHES.md`): the raw sleep's deadline
//! (`park`) and the deadlines of `cancel`.
//!
//! Each worker slot has its own timer list, served by its event loop: the
//! worker sleeps in its selector until its next deadline, and looks at its
//! timers every 61 coroutines it runs; the monitor runs the expired timers
//! of a worker stuck in one coroutine. A timed wait takes only that slot's
//! lock. An expired timer *wakes* its waiter (which then runs from the
//! worker's run queue) or runs a short action (a deadline marking its task
//! and interrupting it); no coroutine ever runs inside a timer.

use std::time::Instant;

use crate::config;

/// Identifies one pending timer, to cancel it.
pub(crate) type TimerKey = may::embed::TimerKey;

/// The timers live in the runtime's workers: a timer set before anything
/// else started the runtime (a deadline on a plain thread) starts it, in
/// the one place that does.
fn runtime() {
    if config::running().is_none() {
        // A bad configuration is reported by the call that spawns; the
        // timer still works on may's defaults.
        let _ = config::start();
    }
}

/// Runs `f` on a worker at `deadline`, unless cancelled first: a wake-up,
/// or a short action (a deadline marking its task). `f` must be short and
/// must not block: its worker waits for it.
pub(crate) fn add(deadline: Instant, f: Box<dyn FnOnce() + Send>) -> TimerKey {
    runtime();
    may::embed::add_timer(deadline, f)
}

/// Cancels a timer; what it would have run is dropped.
pub(crate) fn cancel(key: TimerKey) {
    may::embed::cancel_timer(key);
}

/// Number of pending timers (0 if the runtime never started).
pub(crate) fn pending() -> usize {
    may::embed::pending_timers()
}
