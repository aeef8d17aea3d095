//! The shards' selector on macOS and FreeBSD: kqueue, one `EVFILT_READ`
//! and one `EVFILT_WRITE` filter per descriptor, both `EV_CLEAR` (edge
//! triggered, as epoll's `EPOLLET`).
//!
//! Differences from epoll: out-of-band data (`EPOLLPRI`) is not watched
//! (kqueue reports it only through `EVFILT_EXCEPT`, which std's sockets do
//! not need); a hang-up is `EV_EOF` on the direction's filter.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

use crate::sys::{cvt, CLOSED, READABLE, WRITABLE};

/// One ready event as the kernel reports it.
pub(crate) type Event = libc::kevent;

/// A `kevent` change, built from zero: the struct's fields differ between
/// the BSDs (FreeBSD has `ext`).
fn change(fd: RawFd, filter: i16, flags: u16, token: usize) -> Event {
    // SAFETY: `kevent` is a plain C struct for which all zeroes is valid.
    let mut kev: Event = unsafe { std::mem::zeroed() };
    kev.ident = fd as libc::uintptr_t;
    kev.filter = filter;
    kev.flags = flags;
    kev.udata = token as _;
    kev
}

/// Applies `changes`, each with `EV_RECEIPT` so that every result comes
/// back as an event; the first error among them is returned.
fn apply(selector: RawFd, changes: &mut [Event]) -> io::Result<()> {
    // SAFETY: `changes` is valid for reading and writing for its length.
    cvt(unsafe {
        libc::kevent(
            selector,
            changes.as_ptr(),
            changes.len() as libc::c_int,
            changes.as_mut_ptr(),
            changes.len() as libc::c_int,
            ptr::null(),
        )
    })?;
    for c in changes.iter() {
        if c.flags & libc::EV_ERROR != 0 && c.data != 0 {
            return Err(io::Error::from_raw_os_error(c.data as i32));
        }
    }
    Ok(())
}

/// A new, close-on-exec selector descriptor.
pub(crate) fn new() -> io::Result<OwnedFd> {
    // SAFETY: a plain syscall; the descriptor is checked and owned at once.
    let fd = unsafe { OwnedFd::from_raw_fd(cvt(libc::kqueue())?) };
    // SAFETY: plain fcntl on a descriptor we own.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    Ok(fd)
}

/// Adds `fd` to `selector` for edge-triggered readiness of both
/// directions; its events carry `token`.
///
/// # Safety
///
/// Events naming `token` are reported until [`deregister`]: whatever it
/// points to must outlive every [`poll`] that may return them.
pub(crate) unsafe fn register(selector: RawFd, fd: RawFd, token: usize) -> io::Result<()> {
    let flags = libc::EV_ADD | libc::EV_CLEAR | libc::EV_RECEIPT;
    let mut changes = [
        change(fd, libc::EVFILT_READ, flags, token),
        change(fd, libc::EVFILT_WRITE, flags, token),
    ];
    apply(selector, &mut changes)
}

/// Removes `fd` from `selector`; failure (`fd` already closed, which
/// removes it anyway) is harmless.
pub(crate) fn deregister(selector: RawFd, fd: RawFd) {
    let flags = libc::EV_DELETE | libc::EV_RECEIPT;
    let mut changes = [
        change(fd, libc::EVFILT_READ, flags, 0),
        change(fd, libc::EVFILT_WRITE, flags, 0),
    ];
    apply(selector, &mut changes).ok();
}

/// Takes up to `events.capacity()` ready events without blocking into the
/// (empty) `events`. Returns how many there were.
pub(crate) fn poll(selector: RawFd, events: &mut Vec<Event>) -> usize {
    let cap = events.capacity().min(libc::c_int::MAX as usize);
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `events` has room for `cap` entries; the kernel fills at
    // most that many and we set the length to what it reports.
    let n = unsafe {
        libc::kevent(
            selector,
            ptr::null(),
            0,
            events.as_mut_ptr(),
            cap as libc::c_int,
            &zero,
        )
    };
    let n = n.max(0) as usize;
    // SAFETY: the kernel initialised the first `n` entries.
    unsafe { events.set_len(n) };
    n
}

/// The token of `ev` and what it reports ([`READABLE`], [`WRITABLE`],
/// [`CLOSED`]).
#[inline]
pub(crate) fn token_and_readiness(ev: &Event) -> (usize, u32) {
    let mut r = if ev.filter == libc::EVFILT_WRITE {
        WRITABLE
    } else {
        READABLE
    };
    if ev.flags & libc::EV_ERROR != 0 {
        r |= READABLE | WRITABLE | CLOSED;
    } else if ev.flags & libc::EV_EOF != 0 {
        r |= CLOSED;
    }
    (ev.udata as usize, r)
}
