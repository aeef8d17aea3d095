//! How the core (and the monitor) tell the deadlock detector what happens,
//! without naming it: one hook, registered by the observer when
//! the runtime starts. Until one is registered, events go nowhere (the
//! detector is not running, so it has nothing to miss).

use std::sync::atomic::{AtomicPtr, Ordering};

/// What the core reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A registered plain thread starts a wait that only another task can
    /// end (a deadlock's last piece, perhaps).
    ThreadBlocked,
    /// Something outside the tasks ended — a registered thread, an offload
    /// job: the tasks left may be stuck.
    SomethingEnded,
    /// Every worker has fallen asleep (the monitor sees it): no coroutine
    /// can run, so the tasks may all wait for each other.
    WorkersAsleep,
}

/// The observer: a `fn(Event)`, null until registered.
static HOOK: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Registers `hook` to be told every [`Event`] from now on.
pub(crate) fn register(hook: fn(Event)) {
    HOOK.store(hook as *mut (), Ordering::Release);
}

/// Tells the observer, if there is one.
#[inline]
pub(crate) fn tell(event: Event) {
    let p = HOOK.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: only ever stored from a `fn(Event)` in `register`.
        let hook: fn(Event) = unsafe { std::mem::transmute::<*mut (), fn(Event)>(p) };
        hook(event);
    }
}
