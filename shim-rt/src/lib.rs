//! The runtime core of greenstd: the one place that owns the `may` scheduler.
//!
//! Every other shim calls into this crate for:
//!
//! * [`config`]: worker count, default stack size, offload pool size, and
//!   [`config::start`], the one entry that starts the runtime lazily;
//! * [`task`]: the identity of the running thread or coroutine (what
//!   `std::thread::current()` returns), spawning, its park token and its
//!   thread-locals;
//! * [`park`]: the waker, `yield_now`, and whether the caller is a
//!   coroutine;
//! * [`wait`]: the one wait mechanism every blocking primitive is built on
//!   (waiter queues, timeouts, interruption, and the record of what each
//!   task waits on);
//! * [`latch`]: a one-shot event that works for both kinds of waiter;
//! * [`cancel`]: cancellation, deadlines, shields;
//! * [`io`]: [`io::IoSource`], the one owner of a descriptor greenstd waits
//!   on (its registration, the user's mode and timeouts, the one retry
//!   loop), with any number of waiters per direction;
//! * [`offload`]: the bounded pool for work that cannot be made cooperative
//!   (spawning processes, FFI);
//! * [`inspect`] and [`monitor`]: a snapshot of every task
//!   (`green::dump()`), the blocked-worker monitor.
//!
//! The modules are layered, bottom up (ARCHITECTURE.md; checked by
//! `tests/layers.rs`: a module names only its own layer or below, in no
//! cycle): the OS (`sys`, `atomic`); the settings (`config`); timers and
//! the observers' hook (`timer`, `observe`); the task's core (`record`,
//! `sleeper`, `task_core`: a task and everything a wait works on); the raw
//! sleep (`park`); the wait (`wait`, `latch`, `coop`); tasks (`task`,
//! `cancel`); I/O (`io`, `poller`, `offload`); the start-up (`start`);
//! the observers (`inspect`, `deadlock`, `monitor`, `overflow`,
//! `panic_hook`). The layers below reach the ones above only through
//! hooks: `observe` for the observers' events, and `START`, the start-up
//! this crate root binds.
//!
//! Timers and readiness are both kept by the workers themselves (the
//! vendored `may`): each worker slot has its own timer list, served by its
//! event loop (`timer` is the thin layer over it), and descriptors are
//! registered in the workers' own selectors (`poller`). An expired timer
//! or a ready descriptor *wakes* its waiter, which then runs from that
//! worker's run queue; no coroutine runs inside either.

#![warn(missing_docs)]

mod atomic;
pub mod cancel;
pub mod config;
mod coop;
mod deadlock;
pub mod inspect;
pub mod io;
pub mod latch;
#[cfg(all(test, loom))]
mod loom_models;
pub mod monitor;
mod observe;
pub mod offload;
mod overflow;
mod panic_hook;
pub mod park;
mod poller;
mod record;
mod sleeper;
mod start;
pub mod sys;
pub mod task;
mod task_core;
#[cfg(test)]
mod test_util;
mod timer;
pub mod wait;

pub use config::Config;

/// How the runtime starts, once: [`config::start`] (the first spawn, the
/// first timer, `green::runtime()`) calls it with the resolved settings.
/// The crate root is the one place that names every layer: it binds the
/// start-up (`start.rs`) and the observers, in the order they start, into
/// this hook, so the layers below call up into neither by name.
static START: fn(&config::Settings) -> std::io::Result<()> = |settings| {
    start::run(
        settings,
        &[
            overflow::OBSERVER,
            panic_hook::OBSERVER,
            monitor::OBSERVER,
            deadlock::OBSERVER,
            inspect::OBSERVER,
        ],
    )
};
pub use park::in_coroutine;
