//! The operating-system seam: every call of greenstd's runtime that is not
//! the same on every Unix lives here, one module per OS family (laid out as
//! mio's `sys/unix/selector/{epoll,kqueue}.rs`).
//!
//! * `selector`: the readiness poller behind [`crate::io`]'s shards —
//!   epoll on Linux, kqueue on macOS and FreeBSD. Both are edge-triggered
//!   and report the same three bits (`READABLE`, `WRITABLE`,
//!   `CLOSED`).
//! * `linux` / `bsd`: thread ids, `errno`, pipes, the coarse clock, thread
//!   stack bounds, and the `/proc` readers (with a portable answer where
//!   the BSDs have no `/proc`).
//!
//! Linux is the tested platform; macOS and FreeBSD are type-checked and
//! linted in CI (`.ci/run`), not run there.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "linux.rs"]
mod os;
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
#[path = "bsd.rs"]
mod os;

#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "selector/epoll.rs"]
pub(crate) mod selector;
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
#[path = "selector/kqueue.rs"]
pub(crate) mod selector;

pub(crate) use os::{
    coarse_clock, gettid, listen_backlog_max, set_timer_slack, stack_pointer, thread_ids,
    thread_stack,
};
pub use os::{
    errno_location, pipe_cloexec, poll_set, process_exit_fd, read_nowait, reopen, write_nowait,
    WakeFd, IOV_MAX,
};

/// `Err(last OS error)` for a negative result of a system call (std's
/// `cvt`): the one for the whole workspace.
#[inline]
pub fn cvt<T: Copy + PartialOrd + Default>(r: T) -> std::io::Result<T> {
    if r < T::default() {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// The file status flags of `fd` (`F_GETFL`).
pub fn file_flags(fd: RawFd) -> std::io::Result<libc::c_int> {
    // SAFETY: F_GETFL only reads the flags of a descriptor number; a
    // closed one is `EBADF`.
    cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })
}

/// Sets or clears `O_NONBLOCK` on the file description of `fd`.
pub fn set_o_nonblock(fd: RawFd, on: bool) -> std::io::Result<()> {
    let flags = file_flags(fd)?;
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new != flags {
        // SAFETY: F_SETFL on a descriptor number, with the flags it reported.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, new) })?;
    }
    Ok(())
}

/// `fstat(2)`.
pub fn fstat(fd: RawFd) -> std::io::Result<libc::stat> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is valid for writes for the call.
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

/// A close-on-exec duplicate of the descriptor number `fd`
/// (`F_DUPFD_CLOEXEC`), which may belong to someone else (`EBADF` when it
/// is not open).
pub fn dup_cloexec(fd: RawFd) -> std::io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor and touches no memory.
    let new = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: `new` was just made and is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A selector event: the descriptor is readable (or has an error).
pub(crate) const READABLE: u32 = 1;
/// A selector event: the descriptor is writable (or has an error).
pub(crate) const WRITABLE: u32 = 2;
/// A selector event: the peer hung up or the descriptor has an error; no
/// later edge is to be expected for either direction.
pub(crate) const CLOSED: u32 = 4;

/// The `poll(2)` events that mean "readable" for [`crate::io::poll_fd`]
/// (`POLLRDHUP` only where it exists).
pub(crate) const POLL_READ: libc::c_short = os::POLL_READ;
