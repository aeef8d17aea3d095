//! The calls on descriptors that every Unix spells alike, for every crate
//! of greenstd (one `cvt`, one copy of each call).

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::IOV_MAX;

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

/// `readv(2)`, as std's pipes and standard streams read.
pub fn readv(fd: RawFd, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    // SAFETY: `IoSliceMut` is ABI-compatible with `iovec` on Unix and the
    // buffers are valid for writes for the call.
    let r = unsafe {
        libc::readv(
            fd,
            bufs.as_mut_ptr().cast(),
            bufs.len().min(IOV_MAX) as libc::c_int,
        )
    };
    cvt(r).map(|n| n as usize)
}

/// `writev(2)`, as std's pipes and standard streams write.
pub fn writev(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: `IoSlice` is ABI-compatible with `iovec` and the kernel only
    // reads the buffers.
    let r = unsafe {
        libc::writev(
            fd,
            bufs.as_ptr().cast(),
            bufs.len().min(IOV_MAX) as libc::c_int,
        )
    };
    cvt(r).map(|n| n as usize)
}

/// `recv(2)` with `flags | MSG_DONTWAIT`.
///
/// On Linux made as a raw system call, as is [`send`]: glibc's `recv` and
/// `send` are thread-cancellation points and bracket the call with two
/// bookkeeping calls, about 30 instructions per transfer — 4% of
/// greenstd's user-space work per echo round trip. Rust never uses thread
/// cancellation, and these calls never block. On x86_64 the `syscall`
/// instruction is made inline (see `raw_syscall6`).
#[inline]
pub fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        // SAFETY: `buf` is valid for writes of its length; no address is
        // asked for.
        unsafe {
            raw_syscall6(
                libc::SYS_recvfrom,
                fd as usize,
                buf.as_mut_ptr() as usize,
                buf.len(),
                (flags | libc::MSG_DONTWAIT) as usize,
                0,
                0,
            )
        }
    }
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        not(all(target_os = "linux", target_arch = "x86_64"))
    ))]
    {
        // SAFETY: `buf` is valid for writes of its length; no address is
        // asked for.
        let r = unsafe {
            libc::syscall(
                libc::SYS_recvfrom,
                fd,
                buf.as_mut_ptr(),
                buf.len(),
                flags | libc::MSG_DONTWAIT,
                std::ptr::null_mut::<libc::sockaddr>(),
                std::ptr::null_mut::<libc::socklen_t>(),
            ) as libc::ssize_t
        };
        cvt(r).map(|n| n as usize)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // SAFETY: `buf` is valid for writes of its length.
        let r = unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags | libc::MSG_DONTWAIT,
            )
        };
        cvt(r).map(|n| n as usize)
    }
}

/// `send(2)` with `flags` (a raw system call on Linux, see [`recv`]).
#[inline]
pub fn send(fd: RawFd, buf: &[u8], flags: libc::c_int) -> io::Result<usize> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        // SAFETY: `buf` is valid for reads of its length; no address is given.
        unsafe {
            raw_syscall6(
                libc::SYS_sendto,
                fd as usize,
                buf.as_ptr() as usize,
                buf.len(),
                flags as usize,
                0,
                0,
            )
        }
    }
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        not(all(target_os = "linux", target_arch = "x86_64"))
    ))]
    {
        // SAFETY: `buf` is valid for reads of its length; no address is given.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sendto,
                fd,
                buf.as_ptr(),
                buf.len(),
                flags,
                std::ptr::null::<libc::sockaddr>(),
                0 as libc::socklen_t,
            ) as libc::ssize_t
        };
        cvt(r).map(|n| n as usize)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // SAFETY: `buf` is valid for reads of its length.
        let r = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), flags) };
        cvt(r).map(|n| n as usize)
    }
}

/// A system call with six arguments made by the `syscall` instruction
/// itself, its result as the kernel gives it: a count, or `-errno` (then
/// the error, made without going through `errno`). glibc's `syscall()`
/// costs a call, a move of every argument and, on error, a store to
/// `errno`: about 11 instructions of each transfer on greenstd's echo path.
///
/// # Safety
///
/// As the system call `nr` with these arguments demands (pointers valid for
/// what the call does with them).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[inline(always)]
unsafe fn raw_syscall6(
    nr: libc::c_long,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
) -> io::Result<usize> {
    let r: isize;
    // SAFETY: the x86_64 Linux system call convention: number and result in
    // rax, arguments in rdi, rsi, rdx, r10, r8, r9; the kernel clobbers rcx
    // and r11 and leaves the stack alone. What the call does with memory is
    // the caller's contract.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => r,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            in("r8") a5,
            in("r9") a6,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    // The kernel's errors are -4095..=-1.
    if (-4095..0).contains(&r) {
        Err(io::Error::from_raw_os_error(-r as i32))
    } else {
        Ok(r as usize)
    }
}

/// `recvmsg(2)` with `flags` into several buffers (no address, no control
/// data).
pub fn recv_vectored(
    fd: RawFd,
    bufs: &mut [IoSliceMut<'_>],
    flags: libc::c_int,
) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSliceMut` is ABI-compatible with `iovec` on Unix.
    msg.msg_iov = bufs.as_mut_ptr().cast();
    msg.msg_iovlen = bufs.len().min(IOV_MAX) as _;
    // SAFETY: `msg` points at `bufs`, valid for writes for the call.
    cvt(unsafe { libc::recvmsg(fd, &mut msg, flags) }).map(|n| n as usize)
}

/// `sendmsg(2)` with `flags` from several buffers (no address, no control
/// data).
pub fn send_vectored(fd: RawFd, bufs: &[IoSlice<'_>], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is ABI-compatible with `iovec` on Unix; sendmsg only reads.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(IOV_MAX) as _;
    // SAFETY: `msg` points at `bufs`, valid for reads for the call.
    cvt(unsafe { libc::sendmsg(fd, &msg, flags) }).map(|n| n as usize)
}
