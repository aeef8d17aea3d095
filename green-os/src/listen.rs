//! Listeners with an explicit listen backlog.

use std::io;

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use shim_net::unix::UnixListener;
use shim_net::{TcpListener, ToSocketAddrs};

use crate::cvt;

/// The listen backlog that `TcpListener::bind` and `UnixListener::bind` use
/// now: the value set with `Config::listen_backlog`, else
/// `GREENSTD_LISTEN_BACKLOG`, else the kernel's `net.core.somaxconn`.
///
/// std's TCP listeners use 128. greenstd's default is deeper on purpose: its
/// accept loop shares the workers with every handler, so under load it runs
/// less often than std's dedicated thread would, and a burst of connects
/// would overflow a queue of 128 — the kernel then drops the handshakes,
/// and clients retry a second or more later, or are reset.
///
/// # Errors
///
/// `InvalidInput` when `GREENSTD_LISTEN_BACKLOG` holds a bad value.
///
/// # Examples
///
/// ```
/// let backlog = green_os::listen_backlog().unwrap();
/// assert!(backlog >= 128);
/// ```
pub fn listen_backlog() -> io::Result<u32> {
    shim_rt::config::listen_backlog()
}

/// `listen(2)` again on a listening socket: on Linux that only sets the
/// length of its queue.
fn set_backlog(fd: impl AsFd, backlog: u32) -> io::Result<()> {
    let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
    // SAFETY: a plain syscall on a descriptor the caller holds.
    cvt(unsafe { libc::listen(fd.as_fd().as_raw_fd(), backlog) })?;
    Ok(())
}

/// Creates a [`TcpListener`] bound to `addr`, as `TcpListener::bind` does,
/// with a listen backlog of `backlog` instead of the default
/// ([`listen_backlog`]).
///
/// The kernel caps the queue at `net.core.somaxconn`; it holds one more
/// connection than `backlog` says. A connection that finds the queue full
/// has its handshake dropped (the client retries after a second or more).
///
/// # Errors
///
/// `InvalidInput` for a backlog above `MAX_LISTEN_BACKLOG` (`i32::MAX`, as
/// `Config::listen_backlog` and `GREENSTD_LISTEN_BACKLOG`); else as
/// `TcpListener::bind`.
///
/// # Examples
///
/// ```
/// use green_os::bind_with_backlog;
///
/// let listener = bind_with_backlog("127.0.0.1:0", 16).unwrap();
/// assert_ne!(listener.local_addr().unwrap().port(), 0);
/// ```
pub fn bind_with_backlog<A: ToSocketAddrs>(addr: A, backlog: u32) -> io::Result<TcpListener> {
    shim_rt::config::check_listen_backlog(backlog)?;
    let listener = TcpListener::bind(addr)?;
    set_backlog(&listener, backlog)?;
    Ok(listener)
}

/// Creates a [`UnixListener`] bound to `path`, as `UnixListener::bind`
/// does, with a listen backlog of `backlog` instead of the default
/// ([`listen_backlog`]).
///
/// # Errors
///
/// `InvalidInput` for a backlog above `MAX_LISTEN_BACKLOG` (as
/// [`bind_with_backlog`]); else as `UnixListener::bind`.
///
/// # Examples
///
/// ```
/// use green_os::bind_unix_with_backlog;
///
/// let dir = std::env::temp_dir().join(format!("greenstd-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("backlog.sock");
/// let listener = bind_unix_with_backlog(&path, 16).unwrap();
/// drop(listener);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn bind_unix_with_backlog<P: AsRef<Path>>(path: P, backlog: u32) -> io::Result<UnixListener> {
    shim_rt::config::check_listen_backlog(backlog)?;
    let listener = UnixListener::bind(path)?;
    set_backlog(&listener, backlog)?;
    Ok(listener)
}
