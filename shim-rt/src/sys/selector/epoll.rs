//! A selector on Linux: epoll.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::sys::cvt;

/// A new, close-on-exec selector descriptor.
pub(crate) fn new() -> io::Result<OwnedFd> {
    // SAFETY: a plain syscall; the descriptor is checked and owned at once.
    Ok(unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) })
}
