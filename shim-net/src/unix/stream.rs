//! [`UnixStream`], as in `std::os::unix::net`.

use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use super::SocketAddr;
use crate::socket::{fd_traits, stream_io, Socket};
use shim_rt::io::Interest;

/// A Unix stream socket.
///
/// As [`std::os::unix::net::UnixStream`], except that a call that blocks
/// suspends the calling coroutine instead of its worker thread. [`Read`](std::io::Read)
/// and [`Write`](std::io::Write) are also implemented for `&UnixStream`.
///
/// # Examples
///
/// ```no_run
/// use std::io::prelude::*;
/// use shim_net::unix::UnixStream;
///
/// fn main() -> std::io::Result<()> {
///     let mut stream = UnixStream::connect("/path/to/my/socket")?;
///     stream.write_all(b"hello world")?;
///     let mut response = String::new();
///     stream.read_to_string(&mut response)?;
///     println!("{response}");
///     Ok(())
/// }
/// ```
pub struct UnixStream {
    pub(super) inner: Socket,
}

fd_traits!(UnixStream, std::os::unix::net::UnixStream);

type Std = std::os::unix::net::UnixStream;

impl UnixStream {
    pub(super) fn from_std(s: Std) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: Socket::new(OwnedFd::from(s), false)?,
        })
    }

    /// Connects to the socket named by `path`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixStream;
    ///
    /// let socket = match UnixStream::connect("/tmp/sock") {
    ///     Ok(sock) => sock,
    ///     Err(e) => {
    ///         println!("Couldn't connect: {e:?}");
    ///         return
    ///     }
    /// };
    /// ```
    #[track_caller]
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        // std's own checks (NUL bytes, length) and encoding of the path.
        let addr = SocketAddr::from_pathname(path)?;
        UnixStream::connect_addr(&addr)
    }

    /// Connects to the socket specified by `socket_addr`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::{UnixListener, UnixStream};
    ///
    /// let dir = std::env::temp_dir().join(format!("shim-net-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("connect_addr.sock");
    /// let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path).unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let sock = UnixStream::connect_addr(&addr).unwrap();
    /// # drop(sock);
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    #[track_caller]
    pub fn connect_addr(socket_addr: &SocketAddr) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: super::addr::connect(socket_addr)?,
        })
    }

    /// Creates an unnamed pair of connected sockets.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixStream;
    ///
    /// let (sock1, sock2) = match UnixStream::pair() {
    ///     Ok((sock1, sock2)) => (sock1, sock2),
    ///     Err(e) => {
    ///         println!("Couldn't create a pair of sockets: {e:?}");
    ///         return
    ///     }
    /// };
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Std::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Creates a new independently owned handle to the underlying socket.
    ///
    /// Both handles read and write the same stream of data, and options set
    /// on one (timeouts, the non-blocking mode) apply to both.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixStream;
    ///
    /// let (socket, _) = UnixStream::pair().unwrap();
    /// let sock_copy = socket.try_clone().expect("Couldn't clone socket");
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: self.inner.try_clone()?,
        })
    }

    /// Returns the socket address of the local half of this connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixStream;
    ///
    /// let (socket, _) = UnixStream::pair().unwrap();
    /// assert!(socket.local_addr().unwrap().is_unnamed());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.view::<Std>().local_addr()
    }

    /// Returns the socket address of the remote half of this connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixStream;
    ///
    /// let (socket, _) = UnixStream::pair().unwrap();
    /// assert!(socket.peer_addr().unwrap().is_unnamed());
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.view::<Std>().peer_addr()
    }

    /// Sets the read timeout for the socket: with `Some`, reads that wait
    /// longer fail with [`io::ErrorKind::WouldBlock`] (`EAGAIN`), as std. A
    /// zero [`Duration`] is an [`io::ErrorKind::InvalidInput`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shim_net::unix::UnixStream;
    ///
    /// let (socket, _) = UnixStream::pair().unwrap();
    /// socket.set_read_timeout(Some(Duration::new(1, 0))).expect("Couldn't set read timeout");
    /// let result = socket.set_read_timeout(Some(Duration::new(0, 0)));
    /// assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::InvalidInput)
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.view::<Std>().set_read_timeout(timeout)?;
        self.inner.record_timeout(Interest::Read, timeout);
        Ok(())
    }

    /// Sets the write timeout for the socket: with `Some`, writes that wait
    /// longer fail with [`io::ErrorKind::WouldBlock`] (`EAGAIN`), as std. A
    /// zero [`Duration`] is an [`io::ErrorKind::InvalidInput`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shim_net::unix::UnixStream;
    ///
    /// let (socket, _) = UnixStream::pair().unwrap();
    /// socket.set_write_timeout(Some(Duration::new(1, 0))).expect("Couldn't set write timeout");
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.view::<Std>().set_write_timeout(timeout)?;
        self.inner.record_timeout(Interest::Write, timeout);
        Ok(())
    }

    /// Returns the read timeout of this socket, as the OS reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shim_net::unix::UnixStream;
    ///
    /// let (socket, _) = UnixStream::pair().unwrap();
    /// socket.set_read_timeout(Some(Duration::new(1, 0))).expect("Couldn't set read timeout");
    /// assert_eq!(socket.read_timeout().unwrap(), Some(Duration::new(1, 0)));
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.view::<Std>().read_timeout()
    }

    /// Returns the write timeout of this socket, as the OS reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shim_net::unix::UnixStream;
    ///
    /// let (socket, _) = UnixStream::pair().unwrap();
    /// socket.set_write_timeout(Some(Duration::new(1, 0))).expect("Couldn't set write timeout");
    /// assert_eq!(socket.write_timeout().unwrap(), Some(Duration::new(1, 0)));
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.view::<Std>().write_timeout()
    }

    /// Moves the socket into or out of non-blocking mode: in non-blocking
    /// mode reads and writes return [`io::ErrorKind::WouldBlock`] at once
    /// when they would otherwise wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixStream;
    ///
    /// let (socket, _) = UnixStream::pair().unwrap();
    /// socket.set_nonblocking(true).expect("Couldn't set nonblocking");
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking)
    }

    /// Returns the value of the `SO_ERROR` option, clearing it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixStream;
    ///
    /// let (socket, _) = UnixStream::pair().unwrap();
    /// if let Ok(Some(err)) = socket.take_error() {
    ///     println!("Got error: {err:?}");
    /// }
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.view::<Std>().take_error()
    }

    /// Shuts down the read, write, or both halves of this connection.
    ///
    /// Shutting down the read half wakes the coroutines and threads blocked
    /// reading from this socket (or a clone of it): their reads return 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Shutdown;
    /// use shim_net::unix::UnixStream;
    ///
    /// let (socket, _) = UnixStream::pair().unwrap();
    /// socket.shutdown(Shutdown::Both).expect("shutdown function failed");
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.view::<Std>().shutdown(how)
    }
}

stream_io!(UnixStream);
