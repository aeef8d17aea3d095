//! greenstd patch: the one timer service — a timer list per worker slot,
//! served by the slot's own event loop (its `epoll_wait`/`kevent` sleeps
//! until the slot's next deadline). A timed wait takes only its slot's
//! lock, never a process-wide one; may's own timer thread is gone.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use parking_lot::Mutex;

/// What an expired timer runs, on the slot's worker (or on the monitor
/// rescuing a stuck worker). It must not block.
pub(crate) type Action = Box<dyn FnOnce() + Send>;

/// Identifies one pending timer, to cancel it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerKey {
    slot: u32,
    at: Instant,
    id: u64,
}

/// `sleep_until` while the slot's worker is awake.
const AWAKE: u64 = 0;
/// `sleep_until` while it sleeps with no deadline.
pub(crate) const FOREVER: u64 = u64::MAX;

/// The timers of one worker slot.
pub(crate) struct SlotTimers {
    pending: Mutex<BTreeMap<(Instant, u64), Action>>,
    /// How many are pending (read without the lock).
    len: AtomicUsize,
    next_id: AtomicU64,
    /// The earliest deadline (as `sleep_until`'s nanoseconds), or
    /// [`FOREVER`]: read without the lock by the other slots' idle workers,
    /// which run this slot's expired timers when its own worker is busy.
    next_at: AtomicU64,
    /// When the slot's worker plans to wake (nanoseconds since `base()`,
    /// plus one), [`FOREVER`], or [`AWAKE`].
    sleep_until: AtomicU64,
}

/// The time the sleep deadlines are counted from.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

pub(crate) fn nanos(at: Instant) -> u64 {
    let n = at.saturating_duration_since(base()).as_nanos();
    u64::try_from(n)
        .unwrap_or(FOREVER - 1)
        .saturating_add(1)
        .min(FOREVER - 1)
}

impl SlotTimers {
    pub(crate) fn new() -> SlotTimers {
        SlotTimers {
            pending: Mutex::new(BTreeMap::new()),
            len: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            sleep_until: AtomicU64::new(AWAKE),
            next_at: AtomicU64::new(FOREVER),
        }
    }

    /// Adds a timer; returns its key and whether the slot's worker must be
    /// woken (it sleeps past `at`).
    pub(crate) fn add(&self, slot: usize, at: Instant, action: Action) -> (TimerKey, bool) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut pending = self.pending.lock();
            pending.insert((at, id), action);
            self.next_at.fetch_min(nanos(at), Ordering::Relaxed);
            // SeqCst, before the look at `sleep_until` below: pairs with
            // `plan`'s store-then-look.
            self.len.fetch_add(1, Ordering::SeqCst);
        }
        // After the insert: a worker that planned its sleep before it saw
        // this timer left its plan here (`plan` stores under the lock).
        let at_ns = nanos(at);
        let mut wake = false;
        let mut s = self.sleep_until.load(Ordering::SeqCst);
        while s != AWAKE && at_ns < s {
            match self.sleep_until.compare_exchange_weak(
                s,
                at_ns,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    wake = true;
                    break;
                }
                Err(now) => s = now,
            }
        }
        let key = TimerKey {
            slot: slot as u32,
            at,
            id,
        };
        (key, wake)
    }

    /// Removes a pending timer; `false` if it already fired (or was
    /// cancelled). Its action is dropped outside the lock.
    pub(crate) fn cancel(&self, key: TimerKey) -> bool {
        let action = {
            let mut pending = self.pending.lock();
            let a = pending.remove(&(key.at, key.id));
            if a.is_some() {
                self.len.fetch_sub(1, Ordering::Relaxed);
                self.set_next(&pending);
            }
            a
        };
        action.is_some()
    }

    /// The worker woke: adds no longer need to wake it.
    #[inline]
    pub(crate) fn awake(&self) {
        self.sleep_until.store(AWAKE, Ordering::SeqCst);
    }

    /// Runs every expired timer's action (outside the lock). Returns how
    /// many ran.
    #[inline]
    pub(crate) fn fire(&self) -> usize {
        if self.len.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        self.fire_slow()
    }

    /// [`fire`] for another slot's worker: only if a deadline has passed,
    /// and not if the slot's lock is taken.
    pub(crate) fn help(&self, now_ns: u64) -> usize {
        if self.next_at.load(Ordering::Relaxed) > now_ns {
            return 0;
        }
        match self.pending.try_lock() {
            Some(pending) => self.fire_locked(pending),
            None => 0,
        }
    }

    /// The earliest deadline, as nanoseconds (see `next_at`).
    pub(crate) fn next_at(&self) -> u64 {
        self.next_at.load(Ordering::Relaxed)
    }

    fn set_next(&self, pending: &BTreeMap<(Instant, u64), Action>) {
        let next = pending
            .first_key_value()
            .map_or(FOREVER, |(k, _)| nanos(k.0));
        self.next_at.store(next, Ordering::Relaxed);
    }

    #[cold]
    fn fire_slow(&self) -> usize {
        self.fire_locked(self.pending.lock())
    }

    fn fire_locked(
        &self,
        pending: parking_lot::MutexGuard<'_, BTreeMap<(Instant, u64), Action>>,
    ) -> usize {
        let now = Instant::now();
        let mut expired: smallvec::SmallVec<[Action; 16]> = smallvec::SmallVec::new();
        {
            let mut pending = pending;
            while let Some(entry) = pending.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                expired.push(entry.remove());
            }
            self.len.fetch_sub(expired.len(), Ordering::Relaxed);
            self.set_next(&pending);
        }
        let n = expired.len();
        for a in expired {
            a();
        }
        n
    }

    /// The worker is about to sleep: records until when, and returns the
    /// nanoseconds until the next deadline (`None`: no timer).
    #[inline]
    pub(crate) fn plan(&self) -> Option<u64> {
        // No timer: no lock. Either `add` sees FOREVER (and wakes the
        // worker) or this sees its count.
        self.sleep_until.store(FOREVER, Ordering::SeqCst);
        if self.len.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let pending = self.pending.lock();
        let next = pending.first_key_value().map(|(k, _)| k.0);
        self.sleep_until
            .store(next.map_or(FOREVER, nanos), Ordering::SeqCst);
        drop(pending);
        next.map(|at| {
            let d = at.saturating_duration_since(Instant::now()).as_nanos();
            u64::try_from(d).unwrap_or(u64::MAX)
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

impl TimerKey {
    pub(crate) fn slot(&self) -> usize {
        self.slot as usize
    }
}
