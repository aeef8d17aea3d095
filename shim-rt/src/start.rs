//! The start of the runtime, in one place: `may`'s scheduler configured
//! from the [`Settings`] and warmed up, then the observers started through
//! the [`Observer`]s the crate root lists. Runs once, called by
//! [`crate::config::start`] through the crate root's `START` binding (the
//! first spawn, the first timer, `green::runtime()`): the layers below
//! never name this one, and a socket's registration never starts anything.

use std::io;

use crate::config::{stack_words, Settings};

/// What the start-up does for one observer (the overflow reporter, the
/// panic hook, the monitor, the deadlock detector, the dump signal): each
/// observer module has one, listed in the crate root in the order they
/// start.
pub(crate) struct Observer {
    /// Before `may` starts (its generator then installs its signal and
    /// panic hooks over what is there).
    pub(crate) before: fn(),
    /// Once the scheduler runs; `may_threads` are the threads that
    /// appeared while it started (its workers), `None` when they could not
    /// be told apart from the program's.
    pub(crate) after: fn(&Settings, Option<&[i32]>) -> io::Result<()>,
}

impl Observer {
    /// An observer with nothing to do before the scheduler starts.
    pub(crate) const fn after(after: fn(&Settings, Option<&[i32]>) -> io::Result<()>) -> Observer {
        Observer {
            before: || {},
            after,
        }
    }
}

/// Starts the scheduler with `settings`, then `observers` in order.
pub(crate) fn run(settings: &Settings, observers: &[Observer]) -> io::Result<()> {
    let cfg = may::config();
    cfg.set_workers(settings.workers)
        .set_stack_size(stack_words(settings.stack_size));
    cfg.set_worker_pin(false);
    may::monitor::set_thread_hooks(
        crate::task::mark_internal_thread,
        crate::task_core::registry::internal_thread_exiting,
    );
    for o in observers {
        (o.before)();
    }
    // The threads that appear while may starts are its own (the workers;
    // timers are theirs): the deadlock detector must know them from the
    // program's.
    let before = crate::sys::thread_ids();
    warm_up();
    let after = crate::sys::thread_ids();
    let may_threads = match (before, after) {
        (Ok(b), Ok(a)) => {
            let new: Vec<i32> = a.into_iter().filter(|t| !b.contains(t)).collect();
            (new.len() == settings.workers).then_some(new)
        }
        _ => None,
    };
    may::monitor::set_max_threads(settings.max_threads);
    for o in observers {
        (o.after)(settings, may_threads.as_deref())?;
    }
    Ok(())
}

/// Runs one empty coroutine to completion so that `may` starts its scheduler
/// and its generator installs its signal and panic hooks now, before ours are
/// layered on top of them.
fn warm_up() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    // SAFETY: the closure touches no thread-local storage and cannot overflow
    // its stack; it only sends on a channel.
    let spawned = unsafe {
        may::coroutine::Builder::new().spawn(move || {
            let _ = tx.send(());
        })
    };
    if spawned.is_ok() {
        let _ = rx.recv();
    }
}
