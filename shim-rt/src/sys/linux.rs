//! Linux (and Android): the calls the BSDs spell differently.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// `poll(2)` events for "readable": input, priority data, peer hang-up.
pub(super) const POLL_READ: libc::c_short = libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP;

/// The kernel id of the calling thread.
pub(crate) fn gettid() -> i32 {
    // SAFETY: a plain system call.
    unsafe { libc::gettid() }
}

/// The address of the calling thread's `errno` (for a signal handler,
/// which must save and restore it).
pub fn errno_location() -> *mut libc::c_int {
    // SAFETY: no preconditions; the address is the calling thread's own.
    unsafe { libc::__errno_location() }
}

/// A pipe whose two ends are close-on-exec: `(read, write)`.
pub fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A monotonic clock that is cheap to read (no system call), with a few
/// milliseconds of resolution.
pub(crate) const fn coarse_clock() -> libc::clockid_t {
    libc::CLOCK_MONOTONIC_COARSE
}

/// The ids of every thread of the process (`/proc/self/task`).
pub(crate) fn thread_ids() -> io::Result<Vec<i32>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc/self/task")? {
        if let Some(tid) = e?.file_name().to_str().and_then(|s| s.parse().ok()) {
            v.push(tid);
        }
    }
    Ok(v)
}

/// The kernel's listen backlog limit (`net.core.somaxconn`), if readable.
pub(crate) fn listen_backlog_max() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
}

/// The stack `(lowest address, size)` of the live thread `thread`.
pub(crate) fn thread_stack(thread: libc::pthread_t) -> Option<(usize, usize)> {
    // SAFETY: `attr` is initialised by pthread_getattr_np before use and
    // destroyed after; the caller promises `thread` is alive.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(thread, &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let r = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        if r != 0 {
            return None;
        }
        Some((addr as usize, size))
    }
}
