//! The raw sleep: a coroutine yields to its worker, a plain OS thread
//! really blocks. Only the one suspend point (`wait::suspend`) calls it;
//! it may return spuriously (the suspend point loops on its condition).
//! Also `yield_now`, and whether the caller is a coroutine.

use std::sync::Arc;
use std::time::Instant;

use may::embed::Suspended;

use crate::sleeper::Sleeper;
use crate::task_core::Task;
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
///
/// Inlined into the suspend point; a sleep with a deadline is out of line.
#[inline(always)]
pub(crate) fn sleep_as(me: &Arc<Task>, deadline: Option<Instant>, token: Token) -> bool {
    let Some(deadline) = deadline else {
        match me.sleeper() {
            Some(s) => sleep_for(s, token),
            None => std::thread::park(),
        }
        return false;
    };
    sleep_until(me, deadline, token)
}

/// The sleep `token` ends: [`Sleeper::sleep`] or [`Sleeper::sleep_parked`].
#[inline(always)]
fn sleep_for(s: &Sleeper, token: Token) {
    match token {
        Token::Wake => s.sleep(),
        Token::Park => s.sleep_parked(),
    }
}

/// [`sleep_as`] with a deadline.
#[inline(never)]
fn sleep_until(me: &Arc<Task>, deadline: Instant, token: Token) -> bool {
    let now = Instant::now();
    if now >= deadline {
        return true;
    }
    match me.sleeper() {
        Some(s) => {
            let me = me.clone();
            let key = timer::add(deadline, Box::new(move || me.wake()));
            sleep_for(s, token);
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
/// worker first runs its expired timers and takes its ready I/O (both at
/// most every ~50 µs: a look is a system call or a lock, so a timer or a
/// socket is at most that late beside a yielding loop) and moves the
/// shared queue of wake-ups from other threads to its own queue; the caller
/// goes to the back. So a
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
