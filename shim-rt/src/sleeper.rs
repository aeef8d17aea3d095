//! Where a coroutine sleeps: the one state word every sleep and every
//! wake-up of a greenstd coroutine goes through (model-checked by loom,
//! `loom_models.rs`). The raw sleep built on it is `park::sleep_as`.

use std::sync::atomic::Ordering;

use may::embed::Suspended;

use crate::atomic;

/// Where a coroutine sleeps: its wake-up token, `thread::park`'s token,
/// and, while the coroutine sleeps, the coroutine itself (taken off its
/// worker by `may::embed::suspend`).
///
/// Every wait of a greenstd coroutine sleeps here, and every wake-up of
/// one — a notifier, a timer, an interrupt ([`Sleeper::wake`]) or an
/// unpark ([`Sleeper::unpark`]) — goes through this one state word: may's
/// own `Park` under it, or a separate parker for `thread::park` over it,
/// would each add a second state machine with its own atomic operations.
///
/// Both tokens have std's `park`/`unpark` shape: one that arrives while
/// the coroutine is awake is kept, and ends its next sleep of that kind at
/// once. A wake-up ends any sleep; an unpark ends only a sleep of
/// `thread::park` ([`Sleeper::sleep_parked`]), so it never cuts a lock's
/// or a channel's wait short. Waits loop on their own condition, so a wake
/// token left over from an earlier wait costs one spurious return.
pub(crate) struct Sleeper<C = Suspended> {
    state: atomic::AtomicU8,
    /// The sleeping coroutine. Written by the owner's `suspend` callback
    /// while `ASLEEP` is clear (no waker touches it then); taken by whoever
    /// clears `ASLEEP`. (`C` is a stand-in in the loom model, which cannot
    /// suspend a coroutine.)
    co: atomic::UnsafeCell<Option<C>>,
}

// SAFETY: `co` is only touched by the party the state word makes its
// owner (see the field), one at a time; the acquire/release operations on
// the state order those accesses. What it holds is sent between threads.
unsafe impl<C: Send> Sync for Sleeper<C> {}

/// A wake-up is pending: the next sleep returns at once.
const WAKE: u8 = 1;
/// `thread::park`'s token is available (only the owner takes it).
const PARK: u8 = 2;
/// The coroutine sleeps: it is in `co`.
const ASLEEP: u8 = 4;
/// With `ASLEEP`: the sleep is `thread::park`'s, which an unpark ends too.
const PARKED: u8 = 8;

/// The state machine, one step per method: the code the coroutine's sleep
/// and its wakers run, and what the loom model drives
/// (`loom_models.rs`, with a stand-in for the suspended coroutine).
impl<C> Sleeper<C> {
    pub(crate) fn new() -> Sleeper<C> {
        Sleeper {
            state: atomic::AtomicU8::new(0),
            co: atomic::UnsafeCell::new(None),
        }
    }

    /// Takes the park token if it is there.
    #[inline]
    pub(crate) fn take_park_token(&self) -> bool {
        // Only the owner clears PARK: seen here, it is still there below.
        self.state.load(Ordering::Relaxed) & PARK != 0
            && self.state.fetch_and(!PARK, Ordering::Acquire) & PARK != 0
    }

    /// The owner's look before it suspends: `true` when a bit of `stop` is
    /// set (a wake-up is consumed, a park token left): it runs on.
    #[inline]
    fn stopped(&self, stop: u8) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        if s & stop != 0 {
            if s & WAKE != 0 {
                self.state.fetch_and(!WAKE, Ordering::Acquire);
            }
            return true;
        }
        false
    }

    /// The owner, off its stack (in may's `suspend` callback), puts itself
    /// in the cell, which is its own while ASLEEP is clear.
    #[inline]
    fn put(&self, co: C) {
        // SAFETY: ASLEEP is clear: the cell is the owner's.
        self.co.with_mut(|p| unsafe { *p = Some(co) });
    }

    /// Takes the coroutine out of the cell: by the owner when [`settle`]
    /// fails, by the waker that cleared ASLEEP.
    ///
    /// [`settle`]: Sleeper::settle
    #[inline]
    fn take(&self) -> Option<C> {
        // SAFETY: the caller owns the cell (see `co`).
        self.co.with_mut(|p| unsafe { (*p).take() })
    }

    /// Sets `asleep` unless a bit of `stop` is set by now: `true` when the
    /// coroutine now belongs to whoever clears ASLEEP (who may resume it at
    /// once: the owner touches nothing of `self` after); `false` when it
    /// was stopped (a wake-up consumed): the owner takes itself back.
    #[inline]
    fn settle(&self, stop: u8, asleep: u8) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & stop != 0 {
                // Woken since the look before (wakers never touch the
                // cell while ASLEEP is clear): run on.
                if s & WAKE != 0 {
                    self.state.fetch_and(!WAKE, Ordering::Acquire);
                }
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                s | asleep,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// A waker's step: if `ends` is set, clears the sleep (setting `token`
    /// too unless it is the wake-up token, which the resumption delivers)
    /// and returns `true`: the caller now owns the cell and resumes the
    /// coroutine; else sets `token` and returns `false`.
    #[inline]
    fn give(&self, token: u8, ends: u8) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let to = if s & ends != 0 {
                (s & !(ASLEEP | PARKED)) | (token & PARK)
            } else {
                s | token
            };
            match self
                .state
                .compare_exchange_weak(s, to, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return s & ends != 0,
                Err(now) => s = now,
            }
        }
    }
}

impl Sleeper {
    /// Sleeps until woken, or consumes a pending wake-up and returns at
    /// once. Only the coroutine that owns the sleeper calls it, from inside
    /// itself.
    #[inline]
    pub(crate) fn sleep(&self) {
        self.sleep_unless(WAKE, ASLEEP);
    }

    /// `thread::park`'s sleep: as [`Sleeper::sleep`], and it also ends (or
    /// does not begin) when the park token is there, which it leaves for
    /// [`Sleeper::take_park_token`].
    #[inline]
    pub(crate) fn sleep_parked(&self) {
        self.sleep_unless(WAKE | PARK, ASLEEP | PARKED);
    }

    /// Suspends the owner with `asleep` set, unless a bit of `stop` is set
    /// (before, or by the time it is off its stack). A wake-up that stops
    /// it is consumed; a park token is left.
    #[inline]
    fn sleep_unless(&self, stop: u8, asleep: u8) {
        if self.stopped(stop) {
            return;
        }
        if std::thread::panicking() {
            return self.sleep_unwinding(stop);
        }
        may::embed::suspend(|co| {
            // Its stack below what it uses now may go back to the kernel
            // if it sleeps long (a store here; `resume` takes it back).
            co.offer_stack_trim();
            self.put(co);
            if !self.settle(stop, asleep) {
                if let Some(co) = self.take() {
                    co.resume();
                }
            }
        });
    }

    /// The sleep of a coroutine that unwinds (a destructor waits during a
    /// panic or a cancellation): its OS thread waits, polling the state
    /// word, instead of switching. std counts panics per OS thread; a
    /// coroutine suspended mid-unwind would leave its worker's count raised
    /// for every coroutine that runs there meanwhile (`thread::panicking()`
    /// true: guards poison, cancellations are held back), and resumed on
    /// another worker it would end its unwinding there, leaving the first
    /// count raised for good. The worker is handed off while it waits, as
    /// for any blocking call (`monitor`). Wakers need no change: a wake-up
    /// finds ASLEEP clear and only sets its bit, which the poll sees.
    #[cold]
    fn sleep_unwinding(&self, stop: u8) {
        let mut pause = std::time::Duration::from_micros(10);
        loop {
            let s = self.state.load(Ordering::Acquire);
            if s & stop != 0 {
                if s & WAKE != 0 {
                    self.state.fetch_and(!WAKE, Ordering::Acquire);
                }
                return;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(1));
        }
    }

    /// Ends the owner's sleep, any sleep (it goes on the calling worker's
    /// run queue, or the shared one off a worker); if it is awake, leaves a
    /// wake-up for its next sleep.
    #[inline]
    pub(crate) fn wake(&self) {
        // A token already there is written again (a release
        // read-modify-write, as std's parker's `swap`): the owner's acquire
        // of the token then also orders what the caller did before this
        // wake, which a token left by an earlier wake would not.
        self.set_or_resume(WAKE, ASLEEP, || {});
    }

    /// Makes the park token available and ends the owner's sleep if it is
    /// `thread::park`'s, running `before_resume` first (the coroutine
    /// cannot run meanwhile).
    #[inline]
    pub(crate) fn unpark(&self, before_resume: impl FnOnce()) {
        self.set_or_resume(PARK, PARKED, before_resume);
    }

    /// If `ends` is set, clears the sleep and resumes the coroutine after
    /// `before_resume` (setting `token` too unless it is the wake-up token,
    /// which that resumption delivers); else sets `token`.
    #[inline]
    fn set_or_resume(&self, token: u8, ends: u8, before_resume: impl FnOnce()) {
        if self.give(token, ends) {
            before_resume();
            // We cleared ASLEEP: the cell is ours until the coroutine runs
            // again.
            if let Some(co) = self.take() {
                co.resume();
            }
        }
    }
}

#[cfg(test)]
impl<C> Sleeper<C> {
    pub(crate) fn is_asleep(&self) -> bool {
        self.state.load(Ordering::Acquire) & ASLEEP != 0
    }
}

/// The steps, for the loom model (`loom_models`): the owner's sleep is
/// `model_stopped`, then (off its stack) `model_put` and `model_settle`,
/// taking itself back when that fails; a waker's is `model_give`, then
/// `model_take` when it ended the sleep.
#[cfg(all(test, loom))]
impl<C> Sleeper<C> {
    pub(crate) const WAKE: u8 = WAKE;
    pub(crate) const PARK: u8 = PARK;
    pub(crate) const ASLEEP: u8 = ASLEEP;
    pub(crate) const PARKED: u8 = PARKED;
    pub(crate) fn model_stopped(&self, stop: u8) -> bool {
        self.stopped(stop)
    }
    pub(crate) fn model_put(&self, co: C) {
        self.put(co)
    }
    pub(crate) fn model_settle(&self, stop: u8, asleep: u8) -> bool {
        self.settle(stop, asleep)
    }
    pub(crate) fn model_give(&self, token: u8, ends: u8) -> bool {
        self.give(token, ends)
    }
    pub(crate) fn model_take(&self) -> Option<C> {
        self.take()
    }
    pub(crate) fn model_state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }
}

impl<C> std::fmt::Debug for Sleeper<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleeper")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
