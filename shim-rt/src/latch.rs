//! A one-shot event: set once, waited on by any number of coroutines and threads.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::task_core::{self as task, deliver};
use crate::wait::{WaitKind, WaitOn, WaitQueue, WaitResult};

/// A one-shot event. Waiters block (cooperatively in coroutines) until
/// [`Latch::set`] is called; afterwards every wait returns at once.
///
/// `set` touches the latch after making it visible as set, so a latch that
/// is waited on and set from different contexts must outlive both (keep it in
/// an `Arc`).
#[derive(Debug, Default)]
pub struct Latch {
    done: AtomicBool,
    queue: WaitQueue,
}

impl Latch {
    /// A latch that is not set.
    pub const fn new() -> Latch {
        Latch {
            done: AtomicBool::new(false),
            queue: WaitQueue::new(),
        }
    }

    /// `true` once [`Latch::set`] has been called.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Sets the latch and wakes every waiter.
    pub fn set(&self) {
        // SeqCst store, then the queue's SeqCst count: see `WaitQueue::has_waiters`.
        self.done.store(true, Ordering::SeqCst);
        if self.queue.has_waiters() {
            self.queue.notify_all();
        }
    }

    /// Waits until the latch is set, recorded as a [`WaitKind::Event`] wait
    /// at the caller's call site.
    #[track_caller]
    pub fn wait(&self) {
        self.wait_on(WaitOn::new(WaitKind::Event, self as *const Latch as usize));
    }

    /// Waits until the latch is set, recorded as `on` (`join` records the
    /// joined thread). A due cancellation or deadline unwinds from here
    /// (unless `on` is uninterruptible); any other interrupt is ignored.
    pub fn wait_on(&self, on: WaitOn) {
        if self.is_set() {
            return;
        }
        task::with_current(|me| {
            while !self.is_set() {
                let r = self.queue.wait_as(
                    me,
                    on,
                    0,
                    None,
                    || !self.done.load(Ordering::SeqCst),
                    || {},
                );
                if r == WaitResult::Interrupted {
                    deliver();
                }
            }
        })
    }
}
