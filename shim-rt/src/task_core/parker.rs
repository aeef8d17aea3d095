//! The thread parker: `thread::park`'s token on a plain OS thread. Its
//! wait (`Parker::park`) is `wait`'s; the state machine and the unpark
//! are here, in the task's core.

use std::sync::atomic::Ordering;

use super::Task;
use crate::record::{WaitResult, RUNNABLE};

/// The one-waiter form of a wait, behind `thread::park` on a plain thread:
/// a token that its owner waits for and anyone makes available
/// ([`Parker::unpark`]). A coroutine's token lives in its sleeper
/// instead, under the same rules (`wait::park_coroutine`).
///
/// The same rules as a queue wait — the record, the deadlock detector's view,
/// interruption, the deadline — without a list or a lock: the only waiter
/// is known (the task that owns the parker), so one state word is enough,
/// as in std's futex parker. A token that arrives with an interrupt is
/// kept for the next park (passed on, not lost).
#[derive(Debug)]
pub(crate) struct Parker {
    state: crate::atomic::AtomicU8,
}

const P_EMPTY: u8 = 0;
const P_NOTIFIED: u8 = 1;
const P_PARKED: u8 = 2;

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            state: crate::atomic::AtomicU8::new(P_EMPTY),
        }
    }

    /// Makes the token available, waking `owner` if it is parked.
    #[inline]
    pub(crate) fn unpark(&self, owner: &Task) {
        if self.give() {
            owner.record().set_state(RUNNABLE);
            owner.wake();
        }
    }

    // The state machine, one step per method (what the loom model drives).

    /// Makes the token available; `true` if the owner was parked (the
    /// caller wakes it).
    #[inline]
    pub(crate) fn give(&self) -> bool {
        self.state.swap(P_NOTIFIED, Ordering::AcqRel) == P_PARKED
    }

    /// Takes the token if it is there, before parking.
    #[inline]
    pub(crate) fn take(&self) -> bool {
        self.state
            .compare_exchange(P_NOTIFIED, P_EMPTY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Says "parked"; `false` if the token came meanwhile (it is consumed:
    /// nobody saw us parked).
    #[inline]
    pub(crate) fn enter(&self) -> bool {
        if self
            .state
            .compare_exchange(P_EMPTY, P_PARKED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            self.state.store(P_EMPTY, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The parked owner's test: has the token come?
    #[inline]
    pub(crate) fn is_notified(&self) -> bool {
        self.state.load(Ordering::Acquire) == P_NOTIFIED
    }

    /// Leaves the parked state after the sleep ended as `r`: the token is
    /// consumed (`Notified`), or left for the next park when it raced with
    /// an interrupt; a deadline that raced with it reports it.
    #[inline]
    pub(crate) fn after(&self, r: WaitResult) -> WaitResult {
        // PARKED → EMPTY; `false` if an unparker got there first (the token
        // is then there).
        let leave = || {
            self.state
                .compare_exchange(P_PARKED, P_EMPTY, Ordering::Acquire, Ordering::Acquire)
                .is_ok()
        };
        match r {
            // A token that came with the interrupt stays for the next park.
            WaitResult::Interrupted => {
                leave();
                return r;
            }
            WaitResult::TimedOut if leave() => return r,
            _ => {}
        }
        self.state.store(P_EMPTY, Ordering::Relaxed);
        WaitResult::Notified
    }
}

#[cfg(all(test, loom))]
impl Parker {
    /// The steps, for the loom model (`loom_models`).
    pub(crate) fn model_give(&self) -> bool {
        self.give()
    }
    pub(crate) fn model_take(&self) -> bool {
        self.take()
    }
    pub(crate) fn model_enter(&self) -> bool {
        self.enter()
    }
    pub(crate) fn model_is_notified(&self) -> bool {
        self.is_notified()
    }
    pub(crate) fn model_after(&self, r: WaitResult) -> WaitResult {
        self.after(r)
    }
}
