//! Readiness events, taken by the scheduler's workers themselves.
//!
//! A descriptor is registered (edge-triggered, both directions) directly in
//! the selector of one of `may`'s workers (epoll on Linux, kqueue on macOS
//! and FreeBSD), beside may's own sockets, tagged as greenstd's: one
//! `epoll_wait` per worker serves both, with no selector nested in another
//! and no coroutine in between. The worker that takes an event calls
//! [`HOOK`]'s `ready`, which wakes every waiter of each ready direction of
//! the [`Registration`] from that worker (the woken coroutines go straight
//! to its run queue). A worker takes its events before it sleeps and every
//! 61 coroutines it runs (see `vendor/may/PATCHES.md`).
//!
//! A registration lives as long as an event may name it: [`deregister`]
//! removes the descriptor and hands the registration's reference to its
//! worker, which drops it once the events it may already have taken are
//! handled (may's own rule for its sockets' event data).

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;

use may::embed::{self, IoHook};

use crate::io::Registration;

/// How the workers reach greenstd's registrations.
static HOOK: IoHook = IoHook { ready, release };

/// An event named the registration at `token`; `events` are the
/// selector's bits, which `crate::sys` names [`crate::sys::READABLE`] etc.
fn ready(token: usize, events: u32) {
    // SAFETY: the token is the address of a Registration kept alive by its
    // owner, or after `deregister` by the reference handed to the worker,
    // which is released only after every event naming it was handled.
    let reg = unsafe { &*(token as *const Registration) };
    reg.ready(events);
}

/// No event can name the registration at `token` any more.
fn release(token: usize) {
    // SAFETY: the reference `deregister` turned into this token, released
    // once.
    drop(unsafe { Arc::from_raw(token as *const Registration) });
}

/// Adds `fd` to its worker's selector, with `reg` as its readiness.
///
/// Called from a coroutine (the runtime runs already): registering never
/// starts it.
pub(crate) fn register(fd: RawFd, reg: &Arc<Registration>) -> io::Result<()> {
    // SAFETY: the token, `reg`'s address (aligned, so even), stays valid
    // until `release` is called for it, after `deregister`.
    unsafe { embed::register_io(fd, Arc::as_ptr(reg) as usize, &HOOK) }
}

/// Removes `fd` from its worker's selector (call it before `fd` is closed);
/// `reg` is freed as soon as no event can name it.
pub(crate) fn deregister(fd: RawFd, reg: Arc<Registration>) {
    embed::deregister_io(fd, Arc::into_raw(reg) as usize);
}
