//! macOS and FreeBSD: the same calls as `linux.rs`, the BSD way. There is
//! no `/proc`: the readers give the portable answer (see each function).

use super::cvt;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

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
    cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    // SAFETY: both descriptors are new and ours.
    let ends = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&ends.0, &ends.1] {
        // SAFETY: plain fcntl on a descriptor we own.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
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

/// The most buffers one vectored call takes.
pub const IOV_MAX: usize = libc::IOV_MAX as usize;

/// A read that would fail with `EAGAIN` instead of waiting: there is no
/// `RWF_NOWAIT` here, so always `EOPNOTSUPP`, as a Linux kernel without it
/// says. Callers take their fallback: files go to the offload pool, pipes
/// get `O_NONBLOCK` or the offload pool.
pub fn read_nowait(
    _fd: RawFd,
    _bufs: &mut [IoSliceMut<'_>],
    _offset: libc::off_t,
) -> io::Result<usize> {
    Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
}

/// A write that would fail with `EAGAIN` instead of waiting: always
/// `EOPNOTSUPP` here (see [`read_nowait`]).
pub fn write_nowait(_fd: RawFd, _bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
}

/// A descriptor that becomes readable when the child `pid` exits: a
/// kqueue of its own watching `EVFILT_PROC`/`NOTE_EXIT` for `pid` (a
/// kqueue is readable while it has a pending event), close-on-exec — what
/// a pidfd is on Linux. Fails (`ESRCH`) if `pid` has already exited; the
/// caller then polls `try_wait`.
pub fn process_exit_fd(pid: u32) -> io::Result<OwnedFd> {
    let kq = super::selector::new()?;
    // SAFETY: `kevent` is a plain C struct for which all zeroes is valid.
    let mut kev: libc::kevent = unsafe { std::mem::zeroed() };
    kev.ident = pid as libc::uintptr_t;
    kev.filter = libc::EVFILT_PROC;
    kev.flags = libc::EV_ADD | libc::EV_ONESHOT | libc::EV_RECEIPT;
    kev.fflags = libc::NOTE_EXIT;
    // SAFETY: `kev` is valid for reading and writing for the call.
    let r = unsafe { libc::kevent(kq.as_raw_fd(), &kev, 1, &mut kev, 1, std::ptr::null()) };
    cvt(r)?;
    if kev.flags & libc::EV_ERROR != 0 && kev.data != 0 {
        return Err(io::Error::from_raw_os_error(kev.data as i32));
    }
    Ok(kq)
}

/// A descriptor that becomes readable (for good) once [`WakeFd::wake`]
/// is called: the read end of a non-blocking pipe (there is no eventfd
/// here).
#[derive(Debug)]
pub struct WakeFd {
    read: OwnedFd,
    write: OwnedFd,
}

impl WakeFd {
    /// A new, non-blocking, close-on-exec wake descriptor.
    pub fn new() -> io::Result<WakeFd> {
        let (read, write) = pipe_cloexec()?;
        for fd in [&read, &write] {
            // SAFETY: plain fcntl on a descriptor we own.
            cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) })?;
        }
        Ok(WakeFd { read, write })
    }

    /// Makes the descriptor readable.
    pub fn wake(&self) {
        // SAFETY: writing one byte from a live buffer to our pipe (a full
        // pipe is readable already).
        unsafe { libc::write(self.write.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
    }
}

impl AsFd for WakeFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

/// A selector descriptor that is readable while any of `wanted` (each a
/// descriptor and the `poll(2)` events asked of it) is ready, level
/// triggered: a kqueue with an `EVFILT_READ` filter for `POLLIN`/`POLLPRI`
/// and an `EVFILT_WRITE` filter for `POLLOUT` (hang-ups and errors come
/// with them, as `EV_EOF`/`EV_ERROR`). The descriptors must stay open
/// while it is used.
pub fn poll_set(wanted: impl IntoIterator<Item = (RawFd, libc::c_short)>) -> io::Result<OwnedFd> {
    let kq = super::selector::new()?;
    for (fd, events) in wanted {
        let mut filters = Vec::with_capacity(2);
        if events & (libc::POLLIN | libc::POLLPRI) != 0 {
            filters.push(libc::EVFILT_READ);
        }
        if events & libc::POLLOUT != 0 {
            filters.push(libc::EVFILT_WRITE);
        }
        for filter in filters {
            // SAFETY: `kevent` is a plain C struct for which all zeroes is valid.
            let mut kev: libc::kevent = unsafe { std::mem::zeroed() };
            kev.ident = fd as libc::uintptr_t;
            kev.filter = filter;
            kev.flags = libc::EV_ADD | libc::EV_RECEIPT;
            // SAFETY: `kev` is valid for reading and writing for the call.
            let r = unsafe { libc::kevent(kq.as_raw_fd(), &kev, 1, &mut kev, 1, std::ptr::null()) };
            cvt(r)?;
            // A descriptor kqueue cannot watch for this (`EINVAL`: e.g.
            // writing to a regular file, always ready, which poll(2) has
            // answered for already) is left out, as epoll's `EPERM`.
            if kev.flags & libc::EV_ERROR != 0 && kev.data != 0 && kev.data != libc::EINVAL as _ {
                return Err(io::Error::from_raw_os_error(kev.data as i32));
            }
        }
    }
    Ok(kq)
}

/// The stack pointer of the interrupted code, from the `ucontext_t` a
/// `SA_SIGINFO` handler receives (`None` on an architecture not listed).
///
/// # Safety
///
/// `ctx` is the `ucontext_t` the kernel passed to the handler.
#[allow(unused_variables)]
pub(crate) unsafe fn stack_pointer(ctx: *mut libc::c_void) -> Option<usize> {
    #[cfg(all(any(target_os = "macos", target_os = "ios"), target_arch = "x86_64"))]
    {
        // SAFETY: (the caller's promise) `ctx` is the handler's ucontext_t,
        // whose `uc_mcontext` points to the saved machine state.
        let sp = unsafe {
            (*(*(ctx as *const libc::ucontext_t)).uc_mcontext)
                .__ss
                .__rsp
        };
        Some(sp as usize)
    }
    #[cfg(all(any(target_os = "macos", target_os = "ios"), target_arch = "aarch64"))]
    {
        // SAFETY: as above.
        let sp = unsafe { (*(*(ctx as *const libc::ucontext_t)).uc_mcontext).__ss.__sp };
        Some(sp as usize)
    }
    #[cfg(all(target_os = "freebsd", target_arch = "x86_64"))]
    {
        // SAFETY: (the caller's promise) `ctx` is the handler's ucontext_t.
        let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
        Some(uc.uc_mcontext.mc_rsp as usize)
    }
    #[cfg(all(target_os = "freebsd", target_arch = "aarch64"))]
    {
        // SAFETY: (the caller's promise) `ctx` is the handler's ucontext_t.
        let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
        Some(uc.uc_mcontext.mc_gpregs.gp_sp as usize)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    None
}

/// Opening the file behind `fd` again as a new open file description:
/// `Unsupported` (there is no `/proc/self/fd`; macOS's `/dev/fd/N` gives a
/// duplicate of the same description, which is not what callers want).
pub fn reopen(_fd: RawFd, _flags: libc::c_int) -> io::Result<OwnedFd> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Linux's timer slack has no equivalent here: a no-op.
pub(crate) fn set_timer_slack(_ns: u64) {}
