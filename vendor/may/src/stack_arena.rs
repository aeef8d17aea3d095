//! greenstd patch: the generator's stack arena (stacks without a mapping
//! each, and their trimming), with what says when a sweep is due.
//!
//! A parked coroutine offers its stack with one store and nothing else
//! (`generator::stack_arena::offer`): the park path does not also flag
//! that a sweep is due. The scheduler knows anyway: an offer is only made
//! by a coroutine that ran, and every run counts on its worker. So a sweep
//! is due when the workers ran something since the last sweep, or when
//! the last sweep left offers for the next one (or a stack was freed).

pub use generator::stack_arena::{in_use, prefault, Sweep, TrimState, OFFER_ALIGN};

use crate::scheduler::get_scheduler;
use std::sync::atomic::{AtomicU64, Ordering};

/// The workers' runs counted at the start of the last sweep.
static SWEPT_AT: AtomicU64 = AtomicU64::new(0);

/// The sum of the run counts of the threads serving the worker slots now:
/// it changes whenever a coroutine starts on one (or a slot changes hands).
fn runs() -> u64 {
    let sched = get_scheduler();
    (0..sched.workers).fold(0u64, |sum, id| {
        sum.wrapping_add(sched.runner_of(id).ticks.load(Ordering::Relaxed))
    })
}

/// Whether some offer may be waiting for a [`sweep`]: a coroutine ran since
/// the last one, or it left offers for the next one.
pub fn pending() -> bool {
    generator::stack_arena::pending() || runs() != SWEPT_AT.load(Ordering::Relaxed)
}

/// Returns the pages of stacks offered for at least one sweep period (see
/// `generator::stack_arena::sweep`), if a sweep is [`pending`].
pub fn sweep(budget: usize) -> Sweep {
    let now = runs();
    if !generator::stack_arena::pending() && now == SWEPT_AT.load(Ordering::Relaxed) {
        return Sweep::default();
    }
    // Counted as swept only if every worker sleeps after `now` was read: a
    // coroutine that started before may still be running otherwise, and
    // park (offer) after this sweep looked at its stack. A worker marks
    // itself asleep after its last coroutine parked; one that ran again
    // since `now` changed the count.
    if (0..get_scheduler().workers).all(crate::monitor::worker_sleeping) {
        SWEPT_AT.store(now, Ordering::Relaxed);
    }
    generator::stack_arena::sweep(budget)
}
