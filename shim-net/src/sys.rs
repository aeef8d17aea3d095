//! shim-net's OS seam: the socket calls Linux and the BSDs spell
//! differently (the rest of the OS seam is `shim_rt::sys`).
//!
//! * Linux: `SOCK_NONBLOCK` at
//!   creation and `accept4`, `MSG_NOSIGNAL` on every send, abstract Unix
//!   socket names.
//! * macOS: no `SOCK_NONBLOCK`/`accept4`: `O_NONBLOCK` is set right after
//!   (socket2 sets `FD_CLOEXEC` and `SO_NOSIGPIPE`, as std does, so no
//!   `MSG_NOSIGNAL` is needed); FreeBSD has `accept4` and `MSG_NOSIGNAL`.
//!   Neither has abstract names.

use std::io;
use std::os::unix::net::SocketAddr;

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

/// The flags of every send: never wait, never raise `SIGPIPE`.
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
pub(crate) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
/// The flags of every send: never wait (`SO_NOSIGPIPE`, set on every
/// socket, keeps `SIGPIPE` away).
#[cfg(any(target_os = "macos", target_os = "ios"))]
pub(crate) const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT;

/// A new non-blocking, close-on-exec socket.
pub(crate) fn socket(domain: Domain, ty: Type) -> io::Result<Socket> {
    #[cfg(not(any(target_os = "macos", target_os = "ios")))]
    {
        Socket::new(domain, ty.nonblocking(), None)
    }
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    {
        let sock = Socket::new(domain, ty, None)?;
        sock.set_nonblocking(true)?;
        Ok(sock)
    }
}

/// Accepts a connection on `listener` as a non-blocking, close-on-exec
/// socket (one non-blocking attempt).
pub(crate) fn accept(listener: SockRef<'_>) -> io::Result<(Socket, SockAddr)> {
    #[cfg(not(any(target_os = "macos", target_os = "ios")))]
    {
        listener.accept4(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
    }
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    {
        let (sock, addr) = listener.accept()?;
        sock.set_nonblocking(true)?;
        Ok((sock, addr))
    }
}

/// The abstract name of a Unix socket address (Linux only: `None` elsewhere).
pub(crate) fn abstract_name(addr: &SocketAddr) -> Option<&[u8]> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt;
        #[cfg(target_os = "linux")]
        use std::os::linux::net::SocketAddrExt;
        addr.as_abstract_name()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = addr;
        None
    }
}
