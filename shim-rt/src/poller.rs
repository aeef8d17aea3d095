//! Readiness events, taken by the scheduler's workers themselves.
//!
//! A descriptor is registered (edge-triggered, both directions) directly in
//! the selector of one of `may`'s workers (epoll on Linux, kqueue on macOS
//! and FreeBSD), beside may's own sockets, tagged as greenstd's: one
//! `epoll_wait` per worker serves both, with no selector nested in another
//! and no coroutine in between. The worker that takes an event calls the
//! registration's [`Ready::ready`] (`io`'s `Registration`), which wakes
//! every waiter of each ready direction from that worker (the woken
//! coroutines go straight to its run queue). A worker takes its events before it sleeps and every
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

/// What the workers' events are delivered to: a descriptor's readiness
/// state (`io`'s `Registration`, which implements it). The poller knows
/// nothing else of it, so `io` names the poller and not the other way.
pub(crate) trait Ready: Send + Sync + 'static {
    /// `events`: the selector's bits, which `crate::sys` names
    /// [`crate::sys::READABLE`], [`crate::sys::WRITABLE`],
    /// [`crate::sys::CLOSED`]. Called on a worker; must not block.
    fn ready(&self, events: u32);
}

/// How the workers reach the registrations of type `R` (one type per
/// process: may keeps the first hook).
fn hook<R: Ready>() -> &'static IoHook {
    &const {
        IoHook {
            ready: ready::<R>,
            release: release::<R>,
        }
    }
}

/// An event named the registration at `token`.
fn ready<R: Ready>(token: usize, events: u32) {
    // SAFETY: the token is the address of an `R` kept alive by its owner,
    // or after `deregister` by the reference handed to the worker, which is
    // released only after every event naming it was handled.
    let reg = unsafe { &*(token as *const R) };
    reg.ready(events);
}

/// No event can name the registration at `token` any more.
fn release<R: Ready>(token: usize) {
    // SAFETY: the reference `deregister` turned into this token, released
    // once.
    drop(unsafe { Arc::from_raw(token as *const R) });
}

/// Adds `fd` to its worker's selector, with `reg` as its readiness.
///
/// Called from a coroutine (the runtime runs already): registering never
/// starts it.
pub(crate) fn register<R: Ready>(fd: RawFd, reg: &Arc<R>) -> io::Result<()> {
    // SAFETY: the token, `reg`'s address (aligned, so even), stays valid
    // until `release` is called for it, after `deregister`.
    unsafe { embed::register_io(fd, Arc::as_ptr(reg) as usize, hook::<R>()) }
}

/// Removes `fd` from its worker's selector (call it before `fd` is closed);
/// `reg` is freed as soon as no event can name it.
pub(crate) fn deregister<R: Ready>(fd: RawFd, reg: Arc<R>) {
    embed::deregister_io(fd, Arc::into_raw(reg) as usize);
}
