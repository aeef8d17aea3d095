//! A task's cancellation state ([`State`]) and its delivery ([`deliver`]):
//! part of the task's core, since every wait looks at it. The policies —
//! cancelling, deadlines, shields — are `cancel`'s, which describes them.

use std::any::Any;
use std::fmt;
use std::panic::resume_unwind;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::Task;
use crate::timer;

/// The payload a cancelled thread unwinds with: `join` on its handle
/// returns `Err(payload)`, and `payload.downcast_ref::<Cancelled>()` is
/// `Some`. The panic hook prints nothing for it (gevent: `GreenletExit`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("thread cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// How soon a delivery that had to wait for a panic to end is retried.
const RETRY: std::time::Duration = std::time::Duration::from_millis(1);

/// The payload of a deadline's unwinding; only `cancel::with_deadline`
/// sees it.
pub(crate) struct Expired {
    pub(crate) id: u64,
}

pub(crate) struct Deadline {
    pub(crate) id: u64,
    pub(crate) expired: bool,
    pub(crate) delivered: bool,
}

/// A task's cancellation state.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) requested: AtomicBool,
    pub(crate) delivered: AtomicBool,
    /// The task's body has returned: nothing is delivered any more.
    pub(crate) closed: AtomicBool,
    /// Depth of `cancel::shield`s (only the task itself changes it).
    pub(crate) shield: AtomicU32,
    /// An unwinding we started is under way.
    pub(crate) unwinding: AtomicBool,
    /// Active deadlines, outermost first, and the payload of
    /// `cancel::cancel_with`; made by the first `with_deadline` or `cancel_with`
    /// (most tasks never have either, and an empty `Vec` here would be 16
    /// bytes more of every task).
    pub(crate) deadlines: Mutex<Option<Box<Rare>>>,
}

/// What few tasks need: their deadlines (it derefs to the list) and a
/// cancellation payload of the caller's choosing.
#[derive(Default)]
pub(crate) struct Rare {
    list: Vec<Deadline>,
    pub(crate) payload: Option<Box<dyn Any + Send>>,
}

impl std::ops::Deref for Rare {
    type Target = Vec<Deadline>;
    fn deref(&self) -> &Vec<Deadline> {
        &self.list
    }
}

impl std::ops::DerefMut for Rare {
    fn deref_mut(&mut self) -> &mut Vec<Deadline> {
        &mut self.list
    }
}

impl State {
    /// The payload to unwind with now, if any (and marks it delivered).
    pub(crate) fn due(&self, me: &Arc<Task>) -> Option<Box<dyn Any + Send>> {
        if self.closed.load(Ordering::SeqCst)
            || self.shield.load(Ordering::SeqCst) > 0
            || self.unwinding.load(Ordering::SeqCst)
        {
            return None;
        }
        if std::thread::panicking() {
            // Unwinding a panic of its own (a destructor waits): a second
            // panic would abort. std counts panics per OS thread, and a
            // coroutine that unwinds elsewhere can leave this thread's count
            // raised, so the answer may be about another coroutine: retry
            // shortly rather than lose the cancellation.
            if self.pending() {
                let weak = Arc::downgrade(me);
                let retry = Instant::now() + RETRY;
                let _ = timer::add(
                    retry,
                    Box::new(move || {
                        if let Some(t) = weak.upgrade() {
                            t.interrupt();
                        }
                    }),
                );
            }
            return None;
        }
        if self.requested.load(Ordering::SeqCst) && !self.delivered.swap(true, Ordering::SeqCst) {
            self.unwinding.store(true, Ordering::SeqCst);
            let chosen = self
                .deadlines
                .lock()
                .as_mut()
                .and_then(|r| r.payload.take());
            return Some(chosen.unwrap_or_else(|| Box::new(Cancelled)));
        }
        let mut d = self.deadlines.lock();
        let e = d
            .iter_mut()
            .flat_map(|v| v.iter_mut())
            .find(|e| e.expired && !e.delivered)?;
        e.delivered = true;
        self.unwinding.store(true, Ordering::SeqCst);
        Some(Box::new(Expired { id: e.id }))
    }

    /// `true` when a wait must leave an interrupt pending rather than end
    /// (the destructor rule, see `wait::suspend`): inside a
    /// `cancel::shield` or `cancel::defer`, and while the thread unwinds (the
    /// destructors an unwinding runs finish their waits, as POSIX threads
    /// disable cancellation while they run their cleanup handlers).
    #[inline]
    pub(crate) fn defers_interrupts(&self) -> bool {
        self.shield.load(Ordering::Relaxed) > 0 || std::thread::panicking()
    }

    /// `true` when something waits to be delivered.
    pub(crate) fn pending(&self) -> bool {
        (self.requested.load(Ordering::SeqCst) && !self.delivered.load(Ordering::SeqCst))
            || self
                .deadlines
                .lock()
                .iter()
                .flat_map(|v| v.iter())
                .any(|e| e.expired && !e.delivered)
    }
}

/// Delivers a due cancellation or deadline of the current task (the
/// wait mechanism calls it when an interrupt ended a wait, the node off
/// its queue; `cancel::interrupted` is its public name): unwinds if a cancellation or an expired deadline is
/// due, else returns (the wait reports `Interrupted`, a spurious wakeup).
pub(crate) fn deliver() {
    super::with_current(|me| {
        if let Some(payload) = me.cancel_state().due(me) {
            resume_unwind(payload);
        }
    })
}
