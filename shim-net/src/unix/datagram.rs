//! [`UnixDatagram`], as in `std::os::unix::net`.

use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use super::SocketAddr;
use crate::socket::{fd_traits, Socket};
use shim_rt::io::Interest;

/// A Unix datagram socket.
///
/// As [`std::os::unix::net::UnixDatagram`], except that a call that blocks
/// suspends the calling coroutine instead of its worker thread. Any number
/// of coroutines and threads may send and receive on one socket at once.
///
/// # Examples
///
/// ```
/// use shim_net::unix::UnixDatagram;
///
/// let (a, b) = UnixDatagram::pair().unwrap();
/// a.send(b"hello world").unwrap();
/// let mut buf = [0; 100];
/// let count = b.recv(&mut buf).unwrap();
/// assert_eq!(&buf[..count], b"hello world");
/// ```
pub struct UnixDatagram {
    inner: Socket,
}

fd_traits!(UnixDatagram, std::os::unix::net::UnixDatagram);

type Std = std::os::unix::net::UnixDatagram;

impl UnixDatagram {
    fn from_std(s: Std) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            inner: Socket::new(OwnedFd::from(s), false)?,
        })
    }

    /// Creates a Unix datagram socket bound to the given path.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let sock = match UnixDatagram::bind("/path/to/the/socket") {
    ///     Ok(sock) => sock,
    ///     Err(e) => {
    ///         println!("Couldn't bind: {e:?}");
    ///         return
    ///     }
    /// };
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        // Binding never blocks: std's own does it.
        UnixDatagram::from_std(Std::bind(path)?)
    }

    /// Creates a Unix datagram socket bound to an address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixDatagram;
    ///
    /// fn main() -> std::io::Result<()> {
    ///     let sock1 = UnixDatagram::bind("path/to/socket")?;
    ///     let addr = sock1.local_addr()?;
    ///     drop(sock1);
    ///     std::fs::remove_file("path/to/socket")?;
    ///
    ///     let sock2 = UnixDatagram::bind_addr(&addr)?;
    ///     Ok(())
    /// }
    /// ```
    pub fn bind_addr(socket_addr: &SocketAddr) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(Std::bind_addr(socket_addr)?)
    }

    /// Creates a Unix datagram socket which is not bound to any address.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let sock = UnixDatagram::unbound().unwrap();
    /// ```
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(Std::unbound()?)
    }

    /// Creates an unnamed pair of connected sockets.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let (sock1, sock2) = UnixDatagram::pair().unwrap();
    /// ```
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = Std::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    /// Connects the socket to the specified path: [`send`] and [`recv`]
    /// then use it, and datagrams from other addresses are dropped.
    ///
    /// [`send`]: UnixDatagram::send
    /// [`recv`]: UnixDatagram::recv
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let sock = UnixDatagram::unbound().unwrap();
    /// match sock.connect("/path/to/the/socket") {
    ///     Ok(sock) => sock,
    ///     Err(e) => {
    ///         println!("Couldn't connect: {e:?}");
    ///         return
    ///     }
    /// };
    /// ```
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        // Connecting a datagram socket never blocks: std's own does it.
        self.inner.view::<Std>().connect(path)
    }

    /// Connects the socket to an address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixDatagram;
    ///
    /// fn main() -> std::io::Result<()> {
    ///     let bound = UnixDatagram::bind("/path/to/socket")?;
    ///     let addr = bound.local_addr()?;
    ///
    ///     let sock = UnixDatagram::unbound()?;
    ///     sock.connect_addr(&addr)?;
    ///     Ok(())
    /// }
    /// ```
    pub fn connect_addr(&self, socket_addr: &SocketAddr) -> io::Result<()> {
        self.inner.view::<Std>().connect_addr(socket_addr)
    }

    /// Creates a new independently owned handle to the underlying socket;
    /// options set on one (timeouts, the non-blocking mode) apply to both.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let (sock, _) = UnixDatagram::pair().unwrap();
    /// let sock_copy = sock.try_clone().expect("try_clone failed");
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            inner: self.inner.try_clone()?,
        })
    }

    /// Returns the address of this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let sock = UnixDatagram::unbound().unwrap();
    /// assert!(sock.local_addr().unwrap().is_unnamed());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.view::<Std>().local_addr()
    }

    /// Returns the address of this socket's peer (the one given to
    /// [`connect`](UnixDatagram::connect)).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let (sock, _) = UnixDatagram::pair().unwrap();
    /// assert!(sock.peer_addr().unwrap().is_unnamed());
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.view::<Std>().peer_addr()
    }

    /// Receives data from the socket. On success, returns the number of
    /// bytes read and the address from where the data came.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let (sock, other) = UnixDatagram::pair().unwrap();
    /// other.send(b"hi").unwrap();
    /// let mut buf = vec![0; 10];
    /// let (size, sender) = sock.recv_from(buf.as_mut_slice()).unwrap();
    /// assert_eq!(&buf[..size], b"hi");
    /// ```
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        // std's recv_from on the non-blocking descriptor: one attempt, with
        // std's conversion of the sender's address.
        self.inner
            .io(Interest::Read, || self.inner.view::<Std>().recv_from(buf))
    }

    /// Receives data from the socket. On success, returns the number of
    /// bytes read.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let (sock, other) = UnixDatagram::pair().unwrap();
    /// other.send(b"hi").unwrap();
    /// let mut buf = vec![0; 10];
    /// assert_eq!(sock.recv(buf.as_mut_slice()).expect("recv function failed"), 2);
    /// ```
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.io(Interest::Read, || self.inner.recv(buf, 0))
    }

    /// Sends data on the socket to the specified path. On success, returns
    /// the number of bytes written.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let sock = UnixDatagram::unbound().unwrap();
    /// sock.send_to(b"omelette au fromage", "/some/sock").expect("send_to function failed");
    /// ```
    #[track_caller]
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let addr = SocketAddr::from_pathname(path)?;
        self.send_to_addr(buf, &addr)
    }

    /// Sends data on the socket to the specified [`SocketAddr`]. On
    /// success, returns the number of bytes written.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::unix::UnixDatagram;
    ///
    /// fn main() -> std::io::Result<()> {
    ///     let bound = UnixDatagram::bind("/path/to/socket")?;
    ///     let addr = bound.local_addr()?;
    ///
    ///     let sock = UnixDatagram::unbound()?;
    ///     sock.send_to_addr(b"bacon egg and cheese", &addr).expect("send_to_addr function failed");
    ///     Ok(())
    /// }
    /// ```
    #[track_caller]
    pub fn send_to_addr(&self, buf: &[u8], socket_addr: &SocketAddr) -> io::Result<usize> {
        self.inner.io(Interest::Write, || {
            self.inner.view::<Std>().send_to_addr(buf, socket_addr)
        })
    }

    /// Sends data on the socket to the socket's peer. On success, returns
    /// the number of bytes written.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let (sock, _other) = UnixDatagram::pair().unwrap();
    /// sock.send(b"omelette au fromage").expect("send_to function failed");
    /// ```
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.io(Interest::Write, || self.inner.send(buf))
    }

    /// Sets the read timeout for the socket: with `Some`, receives that
    /// wait longer fail with [`io::ErrorKind::WouldBlock`] (`EAGAIN`), as
    /// std. A zero [`Duration`] is an [`io::ErrorKind::InvalidInput`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let sock = UnixDatagram::unbound().unwrap();
    /// sock.set_read_timeout(Some(Duration::new(1, 0))).expect("set_read_timeout function failed");
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.view::<Std>().set_read_timeout(timeout)?;
        self.inner.record_timeout(Interest::Read, timeout);
        Ok(())
    }

    /// Sets the write timeout for the socket: with `Some`, sends that wait
    /// longer fail with [`io::ErrorKind::WouldBlock`] (`EAGAIN`), as std. A
    /// zero [`Duration`] is an [`io::ErrorKind::InvalidInput`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let sock = UnixDatagram::unbound().unwrap();
    /// sock.set_write_timeout(Some(Duration::new(1, 0))).expect("set_write_timeout function failed");
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
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let sock = UnixDatagram::unbound().unwrap();
    /// sock.set_read_timeout(Some(Duration::new(1, 0))).unwrap();
    /// assert_eq!(sock.read_timeout().unwrap(), Some(Duration::new(1, 0)));
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
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let sock = UnixDatagram::unbound().unwrap();
    /// sock.set_write_timeout(Some(Duration::new(1, 0))).unwrap();
    /// assert_eq!(sock.write_timeout().unwrap(), Some(Duration::new(1, 0)));
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.view::<Std>().write_timeout()
    }

    /// Moves the socket into or out of non-blocking mode: in non-blocking
    /// mode receives and sends return [`io::ErrorKind::WouldBlock`] at once
    /// when they would otherwise wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let sock = UnixDatagram::unbound().unwrap();
    /// sock.set_nonblocking(true).expect("set_nonblocking function failed");
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking)
    }

    /// Returns the value of the `SO_ERROR` option, clearing it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let sock = UnixDatagram::unbound().unwrap();
    /// if let Ok(Some(err)) = sock.take_error() {
    ///     println!("Got error: {err:?}");
    /// }
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.view::<Std>().take_error()
    }

    /// Shuts down the read, write, or both halves of this connection.
    /// Shutting down the read half wakes the receivers blocked on it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Shutdown;
    /// use shim_net::unix::UnixDatagram;
    ///
    /// let sock = UnixDatagram::unbound().unwrap();
    /// sock.shutdown(Shutdown::Both).expect("shutdown function failed");
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.view::<Std>().shutdown(how)
    }
}
