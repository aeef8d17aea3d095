//! macOS and FreeBSD: the same calls as `linux.rs`, the BSD way. There is
//! no `/proc`: the readers give the portable answer (see each function).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `poll(2)` events for "readable": input and priority data (the BSDs
/// have no `POLLRDHUP`; a hang-up is reported as `POLLIN`/`POLLHUP`).
pub(super) const POLL_READ: libc::c_short = libc::POLLIN | libc::POLLPRI;

/// The kernel id of the calling thread (truncated to `i32` on macOS, where
/// it is 64 bits; only compared with other ids of this process).
pub(crate) fn gettid() -> i32 {
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    {
        let mut id = 0u64;
        // SAFETY: `id` is valid for the call to fill; the thread is the
        // calling one.
        unsafe { libc::pthread_threadid_np(libc::pthread_self(), &mut id) };
        id as i32
    }
    #[cfg(target_os = "freebsd")]
    // SAFETY: no preconditions.
    unsafe {
        libc::pthread_getthreadid_np()
    }
}

/// The address of the calling thread's `errno` (for a signal handler,
/// which must save and restore it).
pub fn errno_location() -> *mut libc::c_int {
    // SAFETY: no preconditions; the address is the calling thread's own.
    unsafe { libc::__error() }
}

/// A pipe whose two ends are close-on-exec: `(read, write)`. macOS has no
/// `pipe2`: the flag is set right after `pipe` (a `fork` in between, in
/// another thread, could inherit the ends, as with std's own fallback).
pub fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and ours.
    let ends = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&ends.0, &ends.1] {
        // SAFETY: plain fcntl on a descriptor we own.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(ends)
}

/// A monotonic clock that is cheap to read, with coarse resolution.
pub(crate) const fn coarse_clock() -> libc::clockid_t {
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    {
        libc::CLOCK_UPTIME_RAW_APPROX
    }
    #[cfg(target_os = "freebsd")]
    {
        libc::CLOCK_MONOTONIC_FAST
    }
}

/// The ids of every thread of the process: unknown without `/proc`
/// (`Unsupported`). The deadlock detector then proves a deadlock from the
/// tasks it knows only when no thread could be outside them, as it does
/// when `/proc` is not mounted on Linux.
pub(crate) fn thread_ids() -> io::Result<Vec<i32>> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// The kernel's listen backlog limit: not read (`kern.ipc.somaxconn` is a
/// sysctl, not a file); the caller uses `SOMAXCONN`.
pub(crate) fn listen_backlog_max() -> Option<u32> {
    None
}

/// The stack `(lowest address, size)` of the live thread `thread`.
pub(crate) fn thread_stack(thread: libc::pthread_t) -> Option<(usize, usize)> {
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    {
        // SAFETY: the caller promises `thread` is alive. macOS reports the
        // stack's top (it grows down).
        let (top, size) = unsafe {
            (
                libc::pthread_get_stackaddr_np(thread) as usize,
                libc::pthread_get_stacksize_np(thread),
            )
        };
        Some((top.checked_sub(size)?, size))
    }
    #[cfg(target_os = "freebsd")]
    // SAFETY: `attr` is initialised by pthread_attr_init and filled by
    // pthread_attr_get_np before use, and destroyed after; the caller
    // promises `thread` is alive.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_attr_init(&mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_get_np(thread, &mut attr) == 0
            && libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        ok.then_some((addr as usize, size))
    }
}
