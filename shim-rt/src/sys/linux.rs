//! Linux (and Android): the calls the BSDs spell differently.

use super::cvt;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

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
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
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

/// The most buffers one vectored call takes.
pub const IOV_MAX: usize = libc::UIO_MAXIOV as usize;

/// `preadv2(fd, bufs, offset, RWF_NOWAIT)`: one read that fails with
/// `EAGAIN` instead of waiting (offset -1: at the file position, as
/// `read(2)`). A kernel or file without `RWF_NOWAIT` says `EOPNOTSUPP`
/// (`EINVAL`/`ENOSYS` on old kernels).
pub fn read_nowait(
    fd: RawFd,
    bufs: &mut [IoSliceMut<'_>],
    offset: libc::off_t,
) -> io::Result<usize> {
    // SAFETY: `IoSliceMut` is ABI-compatible with `iovec` on Unix and the
    // buffers are valid for writes for the call.
    let r = unsafe {
        libc::preadv2(
            fd,
            bufs.as_mut_ptr().cast(),
            bufs.len().min(IOV_MAX) as libc::c_int,
            offset,
            libc::RWF_NOWAIT,
        )
    };
    cvt(r).map(|n| n as usize)
}

/// `pwritev2(fd, bufs, -1, RWF_NOWAIT)`: one write at the file position
/// that fails with `EAGAIN` instead of waiting (and writes what fits).
pub fn write_nowait(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: `IoSlice` is ABI-compatible with `iovec` and the kernel only
    // reads the buffers; offset -1 writes at the current position.
    let r = unsafe {
        libc::pwritev2(
            fd,
            bufs.as_ptr().cast(),
            bufs.len().min(IOV_MAX) as libc::c_int,
            -1,
            libc::RWF_NOWAIT,
        )
    };
    cvt(r).map(|n| n as usize)
}

/// A descriptor that becomes readable when the child `pid` exits:
/// `pidfd_open(pid, 0)` (Linux 5.3; close-on-exec by default).
pub fn process_exit_fd(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: a plain syscall with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    cvt(r)?;
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// A descriptor that becomes readable (for good) once [`WakeFd::wake`]
/// is called: an eventfd.
#[derive(Debug)]
pub struct WakeFd {
    fd: OwnedFd,
}

impl WakeFd {
    /// A new, non-blocking, close-on-exec wake descriptor.
    pub fn new() -> io::Result<WakeFd> {
        // SAFETY: a plain syscall; the descriptor is checked and owned at once.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        cvt(fd)?;
        Ok(WakeFd {
            // SAFETY: `fd` was just created and is ours.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Makes the descriptor readable.
    pub fn wake(&self) {
        // SAFETY: writing 8 bytes from a live u64 to our eventfd.
        unsafe { libc::write(self.fd.as_raw_fd(), (&1u64 as *const u64).cast(), 8) };
    }
}

impl AsFd for WakeFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A selector descriptor that is readable while any of `wanted` (each a
/// descriptor and the `poll(2)` events asked of it) is ready, level
/// triggered: an epoll instance, to be waited on through greenstd's
/// pollers. The descriptors must stay open while it is used.
pub fn poll_set(wanted: impl IntoIterator<Item = (RawFd, libc::c_short)>) -> io::Result<OwnedFd> {
    let epoll = super::selector::new()?;
    for (fd, events) in wanted {
        // Linux gives the EPOLL* flags the values of the POLL* flags; ERR
        // and HUP are always reported. Level-triggered.
        let mut ev = libc::epoll_event {
            events: events as u16 as u32,
            u64: 0,
        };
        // SAFETY: `ev` lives across the call.
        let r = unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            let e = io::Error::last_os_error();
            // A regular file or directory: always ready for reading and
            // writing, so poll(2) has answered for it already, and it
            // never becomes ready for anything else.
            if e.raw_os_error() != Some(libc::EPERM) {
                return Err(e);
            }
        }
    }
    Ok(epoll)
}

/// The stack pointer of the interrupted code, from the `ucontext_t` a
/// `SA_SIGINFO` handler receives (`None` on an architecture not listed).
///
/// # Safety
///
/// `ctx` is the `ucontext_t` the kernel passed to the handler.
#[allow(unused_variables)]
pub(crate) unsafe fn stack_pointer(ctx: *mut libc::c_void) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: (the caller's promise) `ctx` is the handler's ucontext_t.
        let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
        Some(uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize)
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: (the caller's promise) `ctx` is the handler's ucontext_t.
        let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
        Some(uc.uc_mcontext.sp as usize)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    None
}

/// Opens the file behind `fd` again, as a new open file description of
/// its own (`/proc/self/fd/N`), with `flags` (`O_CLOEXEC` added).
pub fn reopen(fd: RawFd, flags: libc::c_int) -> io::Result<OwnedFd> {
    let path = format!("/proc/self/fd/{fd}\0");
    // SAFETY: `path` is NUL-terminated; the result is checked and owned.
    let r = unsafe { libc::open(path.as_ptr().cast(), flags | libc::O_CLOEXEC) };
    cvt(r)?;
    // SAFETY: the descriptor was just opened and is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// Makes the calling thread's timed sleeps end within `ns` nanoseconds of
/// their deadline (Linux adds 50 µs of slack by default).
pub(crate) fn set_timer_slack(ns: u64) {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong) };
}
