//! The shards' selector on Linux: epoll, edge-triggered.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use crate::sys::{cvt, CLOSED, READABLE, WRITABLE};

/// One ready event as the kernel reports it.
pub(crate) type Event = libc::epoll_event;

/// A new, close-on-exec selector descriptor.
pub(crate) fn new() -> io::Result<OwnedFd> {
    // SAFETY: a plain syscall; the descriptor is checked and owned at once.
    Ok(unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) })
}

/// Adds `fd` to `selector` for edge-triggered readiness of both
/// directions; its events carry `token`.
///
/// # Safety
///
/// Events naming `token` are reported until [`deregister`]: whatever it
/// points to must outlive every [`poll`] that may return them.
pub(crate) unsafe fn register(selector: RawFd, fd: RawFd, token: usize) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET)
            as u32,
        u64: token as u64,
    };
    // SAFETY: `ev` lives across the call.
    cvt(unsafe { libc::epoll_ctl(selector, libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
    Ok(())
}

/// Removes `fd` from `selector`; failure (`fd` already closed) is harmless.
pub(crate) fn deregister(selector: RawFd, fd: RawFd) {
    // SAFETY: a plain syscall.
    unsafe {
        libc::epoll_ctl(selector, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut());
    }
}

/// Takes up to `events.capacity()` ready events without blocking into the
/// (empty) `events`. Returns how many there were.
pub(crate) fn poll(selector: RawFd, events: &mut Vec<Event>) -> usize {
    let cap = events.capacity().min(libc::c_int::MAX as usize);
    // SAFETY: `events` has room for `cap` entries; the kernel fills at
    // most that many and we set the length to what it reports.
    let n = unsafe { libc::epoll_wait(selector, events.as_mut_ptr(), cap as libc::c_int, 0) };
    let n = n.max(0) as usize;
    // SAFETY: the kernel initialised the first `n` entries.
    unsafe { events.set_len(n) };
    n
}

/// The token of `ev` and what it reports ([`READABLE`], [`WRITABLE`],
/// [`CLOSED`]).
#[inline]
pub(crate) fn token_and_readiness(ev: &Event) -> (usize, u32) {
    const ERR: u32 = (libc::EPOLLERR | libc::EPOLLHUP) as u32;
    const READ: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) as u32 | ERR;
    const WRITE: u32 = libc::EPOLLOUT as u32 | ERR;
    const HUP: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
    let flags = ev.events;
    let mut r = 0;
    if flags & READ != 0 {
        r |= READABLE;
    }
    if flags & WRITE != 0 {
        r |= WRITABLE;
    }
    if flags & HUP != 0 {
        r |= CLOSED;
    }
    (ev.u64 as usize, r)
}
