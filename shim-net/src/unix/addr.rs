//! Unix socket addresses as the kernel takes them, and a cooperative
//! `connect`.

use std::io;
use std::mem;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::SocketAddr;
use std::time::{Duration, Instant};

use socket2::{Domain, Type};

use crate::socket::Socket;
use shim_rt::io::attempt;
use shim_rt::wait::{WaitKind, WaitOn};

/// The `sockaddr_un` of std's `addr`, as std passes it to the kernel: a
/// pathname with its terminating NUL, an abstract name after a leading NUL,
/// or just the family for an unnamed address.
fn sockaddr_un(addr: &SocketAddr) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: an all-zero `sockaddr_un` is a valid (empty) value.
    let mut raw: libc::sockaddr_un = unsafe { mem::zeroed() };
    raw.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let (prefix, bytes, terminator): (usize, &[u8], usize) = if let Some(p) = addr.as_pathname() {
        (0, p.as_os_str().as_bytes(), 1)
    } else if let Some(name) = crate::sys::abstract_name(addr) {
        (1, name, 0)
    } else {
        (0, &[], 0)
    };
    if prefix + bytes.len() + terminator > raw.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path must be shorter than SUN_LEN",
        ));
    }
    for (dst, &src) in raw.sun_path[prefix..].iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    let len = mem::offset_of!(libc::sockaddr_un, sun_path) + prefix + bytes.len() + terminator;
    Ok((raw, len as libc::socklen_t))
}

/// Connects a new stream socket to `addr`.
///
/// A Unix `connect` completes at once or fails, except when the listener's
/// backlog is full: std's blocking call then waits for room; the
/// non-blocking one fails with `EAGAIN`, and is retried after a short pause
/// (there is no readiness event for room in another socket's backlog).
#[track_caller]
pub(super) fn connect(addr: &SocketAddr) -> io::Result<Socket> {
    let location = std::panic::Location::caller();
    let (raw, len) = sockaddr_un(addr)?;
    let sock = crate::sys::socket(Domain::UNIX, Type::STREAM)?;
    let inner = Socket::new(OwnedFd::from(sock), true)?;
    let mut step = Duration::from_micros(100);
    let fd = inner.raw();
    let mut try_connect = || {
        // SAFETY: `raw` is a valid `sockaddr_un` of which `len` bytes are used.
        let r = unsafe { libc::connect(fd, (&raw as *const libc::sockaddr_un).cast(), len) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    loop {
        // In a frame of its own: see `shim_rt::io::attempt`.
        let e = match attempt(&mut try_connect) {
            Ok(()) => return Ok(inner),
            Err(e) => e,
        };
        match e.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::EINPROGRESS) => {
                inner.wait_connected(None, location)?;
                return Ok(inner);
            }
            Some(libc::EAGAIN) => {
                let on = WaitOn::at(WaitKind::Connect, fd as usize, location);
                shim_rt::wait::pause(Some(Instant::now() + step), on);
                step = (step * 2).min(Duration::from_millis(10));
            }
            _ => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::linux::net::SocketAddrExt;

    #[test]
    fn pathname_and_abstract() {
        let (_, len) = sockaddr_un(&SocketAddr::from_pathname("/a").unwrap()).unwrap();
        assert_eq!(len as usize, 2 + 3);
        let (raw, len) = sockaddr_un(&SocketAddr::from_abstract_name(b"xy").unwrap()).unwrap();
        assert_eq!(len as usize, 2 + 3);
        assert_eq!(raw.sun_path[0], 0);
        assert_eq!(raw.sun_path[1], b'x' as libc::c_char);
    }
}
