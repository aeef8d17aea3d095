//! The cooperative budget, tokio's `coop`: a coroutine whose blocking
//! calls keep returning without suspending — an error loop (`accept`
//! failing with `EMFILE`), a socket that always has data — yields once
//! every [`BUDGET`] such calls, so it cannot keep its worker from the
//! other coroutines that are runnable.
//!
//! The budget lives here and nowhere else: the one suspend point
//! (`wait::suspend`) renews it after every sleep, on the worker
//! the coroutine resumes on, and
//! every blocking entry point calls [`spend`] when it returns without
//! having suspended. It is kept per OS thread: a coroutine switch happens
//! only at a suspend, which renews it, so on a worker it is the running
//! coroutine's. On a plain OS thread it costs the same counter and never
//! yields.

use std::cell::Cell;

/// Blocking calls that return at once before the coroutine yields (tokio's
/// figure).
pub(crate) const BUDGET: u32 = 128;

thread_local! {
    static LEFT: Cell<u32> = const { Cell::new(BUDGET) };
}

/// Renews the budget: the caller is about to suspend (or yield).
///
/// Never inlined: a thread-local's address must be computed afresh after a
/// coroutine may have moved to another OS thread.
#[inline(never)]
pub(crate) fn reset() {
    LEFT.with(|l| l.set(BUDGET));
}

/// Spends one unit of the budget: a blocking call returns without having
/// suspended. The [`BUDGET`]th in a row in a coroutine yields first, as
/// `thread::yield_now` does (every coroutine runnable now, on its worker or
/// woken from outside — a timer, I/O, another thread — runs before it),
/// then returns.
#[inline(never)]
pub(crate) fn spend() {
    let spent = LEFT.with(|l| {
        let n = l.get().saturating_sub(1);
        l.set(n);
        n == 0
    });
    // An unwinding coroutine keeps its OS thread (see `sleeper::Sleeper`).
    if spent && !std::thread::panicking() {
        // The same yield as `thread::yield_now`: behind everything
        // runnable now, timer-woken coroutines and ready I/O included.
        let _ = may::embed::try_suspend(may::embed::Suspended::resume_after_runnable);
        reset();
    }
}

/// What is left of the budget on this thread.
#[cfg(test)]
#[inline(never)]
fn left() -> u32 {
    LEFT.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::coroutine;
    use std::time::Duration;

    #[test]
    fn a_plain_thread_never_yields_and_the_budget_renews() {
        for _ in 0..3 * BUDGET {
            spend();
        }
        assert!(left() > 0);
    }

    #[test]
    fn a_coroutine_yields_once_per_budget() {
        let done = coroutine(|| {
            reset();
            let before = left();
            for _ in 0..BUDGET - 1 {
                spend();
            }
            let low = left();
            spend(); // the BUDGET-th: yields, and renews
            (before, low, left())
        });
        let (before, low, after) = done.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!((before, low, after), (BUDGET, 1, BUDGET));
    }
}
