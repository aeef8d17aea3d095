//! A selector on macOS and FreeBSD: kqueue.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::sys::cvt;

/// A new, close-on-exec selector descriptor.
pub(crate) fn new() -> io::Result<OwnedFd> {
    // SAFETY: a plain syscall; the descriptor is checked and owned at once.
    let fd = unsafe { OwnedFd::from_raw_fd(cvt(libc::kqueue())?) };
    // SAFETY: plain fcntl on a descriptor we own.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    Ok(fd)
}
