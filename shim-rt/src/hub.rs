//! The hub: one background thread that keeps the coroutines' timers.
//!
//! It never runs a coroutine. When a timer expires it *wakes* the waiting
//! coroutine, which `may` puts on a worker's run queue. So no coroutine's
//! progress depends on this thread being free (`may`'s own timer thread
//! resumes coroutines itself: CPU work after a `sleep` would run on it and
//! hold every other sleeper back).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::park::Waker;

/// Identifies one pending timer, to cancel it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey(Instant, u64);

struct Timers {
    pending: BTreeMap<TimerKey, Waker>,
    next_id: u64,
    /// While the hub sleeps: `Some(deadline it sleeps until)` (`Some(None)`
    /// = until notified). `None` while it is awake.
    sleeping_until: Option<Option<Instant>>,
}

struct Hub {
    timers: Mutex<Timers>,
    changed: Condvar,
}

static HUB: OnceLock<&'static Hub> = OnceLock::new();

fn hub() -> &'static Hub {
    HUB.get_or_init(|| {
        let hub: &'static Hub = Box::leak(Box::new(Hub {
            timers: Mutex::new(Timers {
                pending: BTreeMap::new(),
                next_id: 0,
                sleeping_until: None,
            }),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("greenstd-hub".into())
            .spawn(move || {
                crate::task::mark_internal_thread();
                hub.run()
            })
            // Without the hub no timed wait could ever end: an environment
            // failure (no thread can be created at all), not bad input.
            .unwrap_or_else(|e| panic!("greenstd: cannot start the hub thread: {e}"));
        hub
    })
}

impl Hub {
    fn add_timer(&self, deadline: Instant, waker: Waker) -> TimerKey {
        let mut t = self.timers.lock();
        t.next_id += 1;
        let key = TimerKey(deadline, t.next_id);
        t.pending.insert(key, waker);
        if let Some(sleep) = t.sleeping_until {
            if sleep.is_none_or(|until| deadline < until) {
                t.sleeping_until = Some(Some(deadline));
                self.changed.notify_one();
            }
        }
        key
    }

    fn cancel_timer(&self, key: TimerKey) {
        self.timers.lock().pending.remove(&key);
    }

    fn run(&self) -> ! {
        let mut expired: Vec<Waker> = Vec::new();
        let mut t = self.timers.lock();
        loop {
            let now = Instant::now();
            while let Some(entry) = t.pending.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                expired.push(entry.remove());
            }
            if !expired.is_empty() {
                drop(t);
                for w in expired.drain(..) {
                    w.wake();
                }
                t = self.timers.lock();
                continue;
            }
            let next = t.pending.first_key_value().map(|(k, _)| k.0);
            t.sleeping_until = Some(next);
            match next {
                None => self.changed.wait(&mut t),
                Some(deadline) => {
                    self.changed.wait_until(&mut t, deadline);
                }
            }
            t.sleeping_until = None;
        }
    }
}

pub(crate) fn add_timer(deadline: Instant, waker: Waker) -> TimerKey {
    hub().add_timer(deadline, waker)
}

pub(crate) fn cancel_timer(key: TimerKey) {
    hub().cancel_timer(key)
}

/// Number of pending timers (0 if the hub never started).
pub(crate) fn pending() -> usize {
    HUB.get().map_or(0, |h| h.timers.lock().pending.len())
}
