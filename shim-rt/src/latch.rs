//! A one-shot event: set once, waited on by any number of coroutines and threads.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::park::{self, Waker};

/// A one-shot event. Waiters block (cooperatively in coroutines) until
/// [`Latch::set`] is called; afterwards every wait returns at once.
///
/// `set` touches the latch after making it visible as set, so a latch that
/// is waited on and set from different contexts must outlive both (keep it in
/// an `Arc`).
#[derive(Debug, Default)]
pub struct Latch {
    done: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
}

impl Latch {
    /// A latch that is not set.
    pub const fn new() -> Latch {
        Latch {
            done: AtomicBool::new(false),
            waiters: Mutex::new(Vec::new()),
        }
    }

    /// `true` once [`Latch::set`] has been called.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Sets the latch and wakes every waiter.
    pub fn set(&self) {
        let waiters = {
            let mut w = self.waiters.lock();
            self.done.store(true, Ordering::Release);
            std::mem::take(&mut *w)
        };
        for w in waiters {
            w.wake();
        }
    }

    /// Waits until the latch is set.
    pub fn wait(&self) {
        let mut registered = false;
        while !self.is_set() {
            if !registered {
                let mut w = self.waiters.lock();
                if self.done.load(Ordering::Acquire) {
                    return;
                }
                w.push(Waker::current());
                registered = true;
            }
            park::park();
        }
    }
}
