//! [`UnixListener`] and its [`Incoming`], as in `std::os::unix::net`.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use super::{SocketAddr, UnixStream};
use crate::socket::{fd_traits, relisten, Socket};
use shim_rt::io::Interest;

/// A structure representing a Unix domain socket server.
///
/// As [`std::os::unix::net::UnixListener`], except that
/// [`accept`](UnixListener::accept) suspends the calling coroutine instead
/// of its worker thread. Any number of coroutines and threads may accept at
/// once.
///
/// # Examples
///
/// ```no_run
/// use std::thread;
/// use shim_net::unix::{UnixStream, UnixListener};
///
/// fn handle_client(stream: UnixStream) {
///     // ...
/// }
///
/// fn main() -> std::io::Result<()> {
///     let listener = UnixListener::bind("/path/to/the/socket")?;
///
///     // accept connections and process them, spawning a new thread for each one
///     for stream in listener.incoming() {
///         match stream {
///             Ok(stream) => {
///                 /* connection succeeded */
///                 thread::spawn(|| handle_client(stream));
///             }
///             Err(err) => {
///                 /* connection failed */
///                 break;
///             }
///         }
///     }
///     Ok(())
/// }
/// ```
pub struct UnixListener {
    inner: Socket,
}

/// An iterator over incoming connections to a [`UnixListener`].
///
/// It never returns `None`.
#[derive(Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

fd_traits!(UnixListener, std::os::unix::net::UnixListener);

type Std = std::os::unix::net::UnixListener;

impl UnixListener {
    /// Wraps a listener std just bound, with greenstd's `backlog` (std's
    /// own on Linux is `somaxconn`, greenstd's default too).
    fn from_std(l: Std, backlog: u32) -> io::Result<UnixListener> {
        let fd = OwnedFd::from(l);
        relisten(&fd, backlog)?;
        Ok(UnixListener {
            inner: Socket::new(fd, false)?,
        })
    }

    /// Creates a new `UnixListener` bound to the specified socket.
    ///
    /// It listens with the kernel's `net.core.somaxconn` as backlog, as
    /// std does on Linux, unless another value is set with
    /// `GREENSTD_LISTEN_BACKLOG` or `Config::listen_backlog` (a bad
    /// `GREENSTD_LISTEN_BACKLOG` is an [`io::ErrorKind::InvalidInput`] error).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixListener;
    ///
    /// let listener = match UnixListener::bind("/path/to/the/socket") {
    ///     Ok(sock) => sock,
    ///     Err(e) => {
    ///         println!("Couldn't connect: {e:?}");
    ///         return
    ///     }
    /// };
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let backlog = shim_rt::config::listen_backlog()?;
        // Binding and listening never block: std's own does them.
        UnixListener::from_std(Std::bind(path)?, backlog)
    }

    /// Creates a new `UnixListener` bound to the specified socket address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixListener;
    ///
    /// fn main() -> std::io::Result<()> {
    ///     let listener1 = UnixListener::bind("path/to/socket")?;
    ///     let addr = listener1.local_addr()?;
    ///     drop(listener1);
    ///     std::fs::remove_file("path/to/socket")?;
    ///
    ///     let listener2 = UnixListener::bind_addr(&addr)?;
    ///     Ok(())
    /// }
    /// ```
    pub fn bind_addr(socket_addr: &SocketAddr) -> io::Result<UnixListener> {
        let backlog = shim_rt::config::listen_backlog()?;
        UnixListener::from_std(Std::bind_addr(socket_addr)?, backlog)
    }

    /// Accepts a new incoming connection to this listener: waits until one
    /// arrives, and returns the stream and the peer's address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixListener;
    ///
    /// fn main() -> std::io::Result<()> {
    ///     let listener = UnixListener::bind("/path/to/the/socket")?;
    ///
    ///     match listener.accept() {
    ///         Ok((socket, addr)) => println!("Got a client: {addr:?}"),
    ///         Err(e) => println!("accept function failed: {e:?}"),
    ///     }
    ///     Ok(())
    /// }
    /// ```
    #[track_caller]
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        // std's accept on the non-blocking descriptor: one attempt, with
        // std's conversion of the peer address.
        let (stream, addr) =
            self.inner
                .io_as(Interest::Read, shim_rt::wait::WaitKind::Accept, || {
                    self.inner.view::<Std>().accept()
                })?;
        Ok((UnixStream::from_std(stream)?, addr))
    }

    /// Creates a new independently owned handle to the underlying socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixListener;
    ///
    /// let listener = UnixListener::bind("/path/to/the/socket").unwrap();
    /// let listener_copy = listener.try_clone().expect("try_clone failed");
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        Ok(UnixListener {
            inner: self.inner.try_clone()?,
        })
    }

    /// Returns the local socket address of this listener.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixListener;
    ///
    /// let listener = UnixListener::bind("/path/to/the/socket").unwrap();
    /// let addr = listener.local_addr().expect("Couldn't get local address");
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.view::<Std>().local_addr()
    }

    /// Moves the socket into or out of non-blocking mode: in non-blocking
    /// mode [`accept`](UnixListener::accept) returns
    /// [`io::ErrorKind::WouldBlock`] at once when no connection is pending.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixListener;
    ///
    /// let listener = UnixListener::bind("/path/to/the/socket").unwrap();
    /// listener.set_nonblocking(true).expect("Couldn't set non blocking");
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking)
    }

    /// Returns the value of the `SO_ERROR` option, clearing it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixListener;
    ///
    /// let listener = UnixListener::bind("/tmp/sock").unwrap();
    /// if let Ok(Some(err)) = listener.take_error() {
    ///     println!("Got error: {err:?}");
    /// }
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.view::<Std>().take_error()
    }

    /// Returns an iterator over incoming connections. It never returns
    /// `None`; each item is the result of [`accept`](UnixListener::accept)
    /// without the peer's address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::{UnixStream, UnixListener};
    ///
    /// fn handle_client(stream: UnixStream) {
    ///     // ...
    /// }
    ///
    /// fn main() -> std::io::Result<()> {
    ///     let listener = UnixListener::bind("/path/to/the/socket")?;
    ///     for stream in listener.incoming() {
    ///         match stream {
    ///             Ok(stream) => handle_client(stream),
    ///             Err(err) => break,
    ///         }
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

impl<'a> IntoIterator for &'a UnixListener {
    type Item = io::Result<UnixStream>;
    type IntoIter = Incoming<'a>;

    fn into_iter(self) -> Incoming<'a> {
        self.incoming()
    }
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;

    #[track_caller]
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|s| s.0))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}
