//! Blocking the current execution context: a coroutine yields to its worker,
//! a plain OS thread really blocks.
//!
//! These are the primitives every blocking shim is built on. They may return
//! spuriously: callers loop on their own condition.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use may::embed::Suspended;

use crate::task::{self, Task};
use crate::timer;

/// `true` when the caller runs inside a coroutine, `false` on a plain OS thread.
///
/// The thread-local state it reads is read in a frame of its own
/// (`may::embed::current` is never inlined): the optimiser treats a
/// thread-local's address as fixed for the life of a function, but a
/// coroutine that blocks may resume on another OS thread.
#[inline]
pub fn in_coroutine() -> bool {
    may::embed::current().is_some()
}

/// A handle that wakes one parked execution context: a coroutine or an OS thread.
#[derive(Clone)]
pub enum Waker {
    /// A coroutine, by its task: waking it puts it back on a worker's run queue.
    Coroutine(Arc<Task>),
    /// A plain OS thread: waking it unparks the thread.
    Thread(std::thread::Thread),
}

impl Waker {
    /// The waker of the calling coroutine or thread.
    pub fn current() -> Waker {
        task::with_current_coroutine(|me| Waker::Coroutine(me.clone()))
            .unwrap_or_else(|| Waker::Thread(std::thread::current()))
    }

    /// Wakes the context. If it is not parked, its next park returns at once.
    #[inline]
    pub fn wake(&self) {
        match self {
            Waker::Coroutine(task) => task.wake(),
            Waker::Thread(t) => t.unpark(),
        }
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Waker::Coroutine(t) => f.debug_tuple("Waker::Coroutine").field(&t.id()).finish(),
            Waker::Thread(t) => f.debug_tuple("Waker::Thread").field(&t.id()).finish(),
        }
    }
}

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
pub(crate) struct Sleeper {
    state: AtomicU8,
    /// The sleeping coroutine. Written by the owner's `suspend` callback
    /// while `ASLEEP` is clear (no waker touches it then); taken by whoever
    /// clears `ASLEEP`.
    co: UnsafeCell<Option<Suspended>>,
}

// SAFETY: `co` is only touched by the party the state word makes its
// owner (see the field), one at a time; the acquire/release operations on
// the state order those accesses.
unsafe impl Sync for Sleeper {}

/// A wake-up is pending: the next sleep returns at once.
const WAKE: u8 = 1;
/// `thread::park`'s token is available (only the owner takes it).
const PARK: u8 = 2;
/// The coroutine sleeps: it is in `co`.
const ASLEEP: u8 = 4;
/// With `ASLEEP`: the sleep is `thread::park`'s, which an unpark ends too.
const PARKED: u8 = 8;

impl Sleeper {
    pub(crate) const fn new() -> Sleeper {
        Sleeper {
            state: AtomicU8::new(0),
            co: UnsafeCell::new(None),
        }
    }

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

    /// Takes the park token if it is there.
    #[inline]
    pub(crate) fn take_park_token(&self) -> bool {
        // Only the owner clears PARK: seen here, it is still there below.
        self.state.load(Ordering::Relaxed) & PARK != 0
            && self.state.fetch_and(!PARK, Ordering::Acquire) & PARK != 0
    }

    /// Suspends the owner with `asleep` set, unless a bit of `stop` is set
    /// (before, or by the time it is off its stack). A wake-up that stops
    /// it is consumed; a park token is left.
    #[inline]
    fn sleep_unless(&self, stop: u8, asleep: u8) {
        let s = self.state.load(Ordering::Relaxed);
        if s & stop != 0 {
            if s & WAKE != 0 {
                self.state.fetch_and(!WAKE, Ordering::Acquire);
            }
            return;
        }
        if std::thread::panicking() {
            return self.sleep_unwinding(stop);
        }
        may::embed::suspend(|co| {
            // Its stack below what it uses now may go back to the kernel
            // if it sleeps long (a store here; `resume` takes it back).
            co.offer_stack_trim();
            // SAFETY: ASLEEP is clear: the cell is ours.
            unsafe { *self.co.get() = Some(co) };
            let mut s = self.state.load(Ordering::Relaxed);
            loop {
                if s & stop != 0 {
                    // Woken since the check above (wakers never touch the
                    // cell while ASLEEP is clear): run on.
                    if s & WAKE != 0 {
                        self.state.fetch_and(!WAKE, Ordering::Acquire);
                    }
                    // SAFETY: still ours, see above.
                    if let Some(co) = unsafe { (*self.co.get()).take() } {
                        co.resume();
                    }
                    return;
                }
                match self.state.compare_exchange_weak(
                    s,
                    s | asleep,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    // The coroutine now belongs to whoever clears ASLEEP,
                    // who may resume it at once: nothing here touches
                    // `self` any more.
                    Ok(_) => return,
                    Err(now) => s = now,
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
                Ok(_) if s & ends != 0 => {
                    before_resume();
                    // SAFETY: we cleared ASLEEP: the cell is ours until the
                    // coroutine runs again.
                    if let Some(co) = unsafe { (*self.co.get()).take() } {
                        co.resume();
                    }
                    return;
                }
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }
}

#[cfg(test)]
impl Sleeper {
    fn is_asleep(&self) -> bool {
        self.state.load(Ordering::Acquire) & ASLEEP != 0
    }
}

impl std::fmt::Debug for Sleeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleeper")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Which token ends a raw sleep ([`sleep_as`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Token {
    /// A wake-up ([`Task::wake`]): any wait's.
    Wake,
    /// A wake-up or `thread::park`'s token ([`Task::unpark`]): `park`'s.
    Park,
}

/// The raw sleep under the one suspend point ([`crate::wait::suspend`]):
/// blocks `me`, the caller's own task, until `token` comes, `deadline`
/// passes, or spuriously. Returns `true` when `deadline` has passed.
/// Nothing is recorded and no interrupt is looked at: only the suspend
/// point (and the loom-free unit tests) call it.
///
/// In a coroutine the deadline is kept by a worker's timers (`timer`), which
/// wake the coroutine onto that worker's run queue when it expires.
#[inline]
pub(crate) fn sleep_as(me: &Arc<Task>, deadline: Option<Instant>, token: Token) -> bool {
    let sleep = |s: &Sleeper| match token {
        Token::Wake => s.sleep(),
        Token::Park => s.sleep_parked(),
    };
    let Some(deadline) = deadline else {
        match me.sleeper() {
            Some(s) => sleep(s),
            None => std::thread::park(),
        }
        return false;
    };
    let now = Instant::now();
    if now >= deadline {
        return true;
    }
    match me.sleeper() {
        Some(s) => {
            let me = me.clone();
            let key = timer::add(deadline, Box::new(move || me.wake()));
            sleep(s);
            timer::cancel(key);
        }
        None => std::thread::park_timeout(deadline - now),
    }
    Instant::now() >= deadline
}

/// Lets other coroutines run (in a coroutine) or gives up the time slice (on
/// an OS thread).
///
/// In a coroutine this is gevent's `sleep(0)`: every coroutine that is
/// runnable when it is called runs before the caller runs again. Its
/// worker first runs its expired timers, takes its ready I/O (at most every
/// 50 µs: a look is a system call) and moves the shared queue of wake-ups
/// from other threads to its own queue; the caller goes to the back. So a
/// coroutine that computes and yields in a loop cannot starve the others,
/// on any number of workers.
///
/// Inlined into the caller: a frame that spans the switch costs a
/// mispredicted return when the coroutine resumes (the worker's calls
/// in between have overwritten the return predictions).
#[inline]
pub fn yield_now() {
    // may's `yield_now` without its cancellation checks (greenstd
    // cancels at waits, not at yields): the coroutine goes behind every
    // coroutine runnable now — woken by a timer, I/O, another thread or a
    // spawn (gevent's `sleep(0)`).
    // An unwinding coroutine keeps its OS thread (see
    // `Sleeper::sleep_unwinding`).
    if std::thread::panicking()
        || may::embed::try_suspend(Suspended::resume_after_runnable).is_err()
    {
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests;
