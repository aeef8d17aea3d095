//! greenstd's `std::sync`: the same items, with the same signatures and
//! semantics, whose blocking operations park the calling *coroutine* instead
//! of its worker thread. On a plain OS thread they block the thread, as
//! std's do, and every primitive may be shared between coroutines and
//! threads in any mix.
//!
//! The facade re-exports this crate as `greenstd::sync`.
//!
//! * Blocking primitives, re-implemented: [`Mutex`], [`RwLock`],
//!   [`Condvar`], [`Barrier`], [`Once`], [`OnceLock`], [`LazyLock`],
//!   [`mpsc`].
//! * Types that never block, re-exported from std: [`Arc`], [`Weak`],
//!   [`atomic`], [`PoisonError`], [`TryLockError`], [`LockResult`],
//!   [`TryLockResult`], and the `mpsc` error types — so code that matches on
//!   std's types works unchanged.
//!
//! All of them are built on the runtime core's one wait mechanism
//! (`shim_rt::wait`: FIFO waiter queues whose nodes live in the waiting
//! frame), not on `may`'s sync types. Every blocking method is
//! `#[track_caller]`: a blocked coroutine's record (`green::dump()`, the
//! deadlock report) names the user's line. Differences from std are listed in the crate's README section of
//! greenstd; the notable one: a [`Condvar`] may be used with several
//! mutexes over its life (std may panic).

#![warn(missing_docs)]

mod barrier;
mod condvar;
mod lazy_lock;
pub mod mpsc;
mod mutex;
mod once;
mod once_lock;
mod poison;
mod rwlock;

pub use std::sync::atomic;
pub use std::sync::{Arc, LockResult, PoisonError, TryLockError, TryLockResult, Weak};

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use lazy_lock::LazyLock;
pub use mutex::{Mutex, MutexGuard};
#[allow(deprecated)]
pub use once::ONCE_INIT;
pub use once::{Once, OnceState};
pub use once_lock::OnceLock;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
