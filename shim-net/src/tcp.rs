//! TCP: [`TcpStream`], [`TcpListener`] and [`Incoming`], as in `std::net`.

use std::io;
use std::iter::FusedIterator;
use std::net::{Shutdown, SocketAddr};

use crate::ToSocketAddrs;
use std::os::fd::OwnedFd;
use std::panic::Location;
use std::time::{Duration, Instant};

use crate::sys;
use shim_rt::wait::WaitKind;
use socket2::{Domain, SockAddr, SockRef, Type};

use crate::addr;
use crate::socket::{fd_traits, ip_addr, relisten, stream_io, Socket};
use shim_rt::io::Interest;

/// A TCP stream between a local and a remote socket.
///
/// As [`std::net::TcpStream`], except that a call that blocks suspends the
/// calling coroutine instead of its worker thread (on a plain OS thread it
/// blocks the thread, as std). The connection is closed when the value is
/// dropped. Reading and writing go through [`Read`](std::io::Read) and [`Write`](std::io::Write), which
/// are also implemented for `&TcpStream`, so one coroutine may read while
/// another writes.
///
/// # Examples
///
/// ```no_run
/// use std::io::prelude::*;
/// use shim_net::TcpStream;
///
/// fn main() -> std::io::Result<()> {
///     let mut stream = TcpStream::connect("127.0.0.1:34254")?;
///
///     stream.write(&[1])?;
///     stream.read(&mut [0; 128])?;
///     Ok(())
/// } // the stream is closed here
/// ```
pub struct TcpStream {
    inner: Socket,
}

/// A TCP socket server, listening for connections.
///
/// As [`std::net::TcpListener`]: after [`bind`](TcpListener::bind), accept
/// connections with [`accept`](TcpListener::accept) or by iterating over
/// [`incoming`](TcpListener::incoming). Any number of coroutines and
/// threads may accept on one listener at once. The socket is closed when
/// the value is dropped.
///
/// # Examples
///
/// ```no_run
/// use shim_net::{TcpListener, TcpStream};
///
/// fn handle_client(stream: TcpStream) {
///     // ...
/// }
///
/// fn main() -> std::io::Result<()> {
///     let listener = TcpListener::bind("127.0.0.1:80")?;
///
///     // accept connections and process them serially
///     for stream in listener.incoming() {
///         handle_client(stream?);
///     }
///     Ok(())
/// }
/// ```
pub struct TcpListener {
    inner: Socket,
}

/// An iterator that infinitely [`accept`]s connections on a [`TcpListener`].
///
/// Created by [`TcpListener::incoming`].
///
/// [`accept`]: TcpListener::accept
#[must_use = "iterators are lazy and do nothing unless consumed"]
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

fd_traits!(TcpStream, std::net::TcpStream);
fd_traits!(TcpListener, std::net::TcpListener);

fn zero_timeout() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "cannot set a 0 duration timeout",
    )
}

/// Connects a new socket to `addr`, waiting at most `timeout` (with std's
/// `connect_timeout` checks when it is given).
fn connect_one(
    addr: &SocketAddr,
    timeout: Option<Duration>,
    location: &'static Location<'static>,
) -> io::Result<TcpStream> {
    let sock = sys::socket(Domain::for_address(*addr), Type::STREAM)?;
    let inner = Socket::new(OwnedFd::from(sock), true)?;
    match SockRef::from(inner.fd()).connect(&SockAddr::from(*addr)) {
        Ok(()) => return Ok(TcpStream { inner }),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let deadline = match timeout {
        None => None,
        Some(t) if t.is_zero() => return Err(zero_timeout()),
        // A timeout too far away to represent is no timeout.
        Some(t) => Instant::now().checked_add(t),
    };
    inner.wait_connected(deadline, location)?;
    Ok(TcpStream { inner })
}

impl TcpStream {
    /// Opens a TCP connection to a remote host.
    ///
    /// `addr` is an address of the remote host. Anything which implements
    /// [`ToSocketAddrs`] can be supplied; host names are resolved without
    /// blocking a worker. If `addr` yields multiple addresses, `connect`
    /// is attempted with each of them in order until a connection succeeds;
    /// if none does, the error of the last attempt is returned. An address
    /// list that resolves to nothing gives [`io::ErrorKind::InvalidInput`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::{SocketAddr, TcpStream};
    ///
    /// if let Ok(stream) = TcpStream::connect("127.0.0.1:8080") {
    ///     println!("Connected to the server!");
    /// } else {
    ///     println!("Couldn't connect to server...");
    /// }
    ///
    /// let addrs = [
    ///     SocketAddr::from(([127, 0, 0, 1], 8080)),
    ///     SocketAddr::from(([127, 0, 0, 1], 8081)),
    /// ];
    /// if let Ok(stream) = TcpStream::connect(&addrs[..]) {
    ///     println!("Connected to the server!");
    /// }
    /// ```
    #[track_caller]
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let location = Location::caller();
        addr::each_addr(addr, |a| connect_one(a, None, location))
    }

    /// Opens a TCP connection to a remote host with a timeout.
    ///
    /// Unlike `connect`, `connect_timeout` takes a single [`SocketAddr`]
    /// since a timeout must be applied to individual addresses. A zero
    /// `timeout` is an [`io::ErrorKind::InvalidInput`] error; an attempt that
    /// does not finish in time fails with [`io::ErrorKind::TimedOut`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    /// assert_eq!(stream.peer_addr().unwrap(), addr);
    /// ```
    #[track_caller]
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        connect_one(addr, Some(timeout), Location::caller())
    }

    /// Returns the socket address of the remote peer of this TCP connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let stream = TcpStream::connect(addr).unwrap();
    /// assert_eq!(stream.peer_addr().unwrap(), addr);
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.view::<std::net::TcpStream>().peer_addr()
    }

    /// Returns the socket address of the local half of this TCP connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert_eq!(stream.local_addr().unwrap().ip(), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.view::<std::net::TcpStream>().local_addr()
    }

    /// Shuts down the read, write, or both halves of this connection.
    ///
    /// Shutting down the read half wakes the coroutines and threads blocked
    /// reading from this socket (or a clone of it): their reads return 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{Shutdown, TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.shutdown(Shutdown::Both).expect("shutdown call failed");
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.view::<std::net::TcpStream>().shutdown(how)
    }

    /// Creates a new independently owned handle to the underlying socket.
    ///
    /// The returned `TcpStream` refers to the same stream: both read and
    /// write the same data, and options set on one (timeouts, the
    /// non-blocking mode) apply to both.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let stream_clone = stream.try_clone().expect("clone failed...");
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: self.inner.try_clone()?,
        })
    }

    /// Sets the read timeout to the timeout specified.
    ///
    /// With `None`, [`read`] calls block indefinitely. A read that times out
    /// fails with [`io::ErrorKind::WouldBlock`] (`EAGAIN`), as std on Unix.
    /// A zero [`Duration`] is an [`io::ErrorKind::InvalidInput`] error.
    ///
    /// [`read`]: std::io::Read::read
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_read_timeout(None).expect("set_read_timeout call failed");
    /// let result = stream.set_read_timeout(Some(Duration::new(0, 0)));
    /// let err = result.unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput)
    /// ```
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner
            .view::<std::net::TcpStream>()
            .set_read_timeout(dur)?;
        self.inner.record_timeout(Interest::Read, dur);
        Ok(())
    }

    /// Sets the write timeout to the timeout specified.
    ///
    /// With `None`, [`write`] calls block indefinitely. A write that times
    /// out fails with [`io::ErrorKind::WouldBlock`] (`EAGAIN`), as std on
    /// Unix. A zero [`Duration`] is an [`io::ErrorKind::InvalidInput`] error.
    ///
    /// [`write`]: std::io::Write::write
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_write_timeout(None).expect("set_write_timeout call failed");
    /// let result = stream.set_write_timeout(Some(Duration::new(0, 0)));
    /// assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::InvalidInput)
    /// ```
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner
            .view::<std::net::TcpStream>()
            .set_write_timeout(dur)?;
        self.inner.record_timeout(Interest::Write, dur);
        Ok(())
    }

    /// Returns the read timeout of this socket (`None`: reads block
    /// indefinitely), as the OS reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_read_timeout(None).expect("set_read_timeout call failed");
    /// assert_eq!(stream.read_timeout().unwrap(), None);
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.view::<std::net::TcpStream>().read_timeout()
    }

    /// Returns the write timeout of this socket (`None`: writes block
    /// indefinitely), as the OS reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_write_timeout(None).expect("set_write_timeout call failed");
    /// assert_eq!(stream.write_timeout().unwrap(), None);
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.view::<std::net::TcpStream>().write_timeout()
    }

    /// Receives data on the socket from the remote address to which it is
    /// connected, without removing that data from the queue. On success,
    /// returns the number of bytes peeked.
    ///
    /// Successive calls return the same data (`MSG_PEEK`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let (server, _) = listener.accept().unwrap();
    /// client.write_all(b"hello").unwrap();
    /// let mut buf = [0; 10];
    /// let len = server.peek(&mut buf).expect("peek failed");
    /// assert_eq!(&buf[..len], &b"hello"[..len]);
    /// ```
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .io(Interest::Read, || self.inner.recv(buf, libc::MSG_PEEK))
    }

    /// Sets the value of the `TCP_NODELAY` option on this socket.
    ///
    /// If set, this option disables the Nagle algorithm: segments are sent
    /// as soon as possible, even if there is only a small amount of data.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_nodelay(true).expect("set_nodelay call failed");
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner
            .view::<std::net::TcpStream>()
            .set_nodelay(nodelay)
    }

    /// Gets the value of the `TCP_NODELAY` option on this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_nodelay(true).expect("set_nodelay call failed");
    /// assert_eq!(stream.nodelay().unwrap_or(false), true);
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.view::<std::net::TcpStream>().nodelay()
    }

    /// Sets the value for the `IP_TTL` option on this socket: the
    /// time-to-live field of every packet sent from it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_ttl(100).expect("set_ttl call failed");
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.view::<std::net::TcpStream>().set_ttl(ttl)
    }

    /// Gets the value of the `IP_TTL` option for this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_ttl(100).expect("set_ttl call failed");
    /// assert_eq!(stream.ttl().unwrap_or(0), 100);
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.view::<std::net::TcpStream>().ttl()
    }

    /// Gets the value of the `SO_ERROR` option on this socket, clearing it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.take_error().expect("No error was expected...");
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.view::<std::net::TcpStream>().take_error()
    }

    /// Moves this TCP stream into or out of non-blocking mode.
    ///
    /// In non-blocking mode `read`, `write`, `peek` and the like return
    /// [`io::ErrorKind::WouldBlock`] at once when they would otherwise wait.
    /// The mode is shared with the stream's clones.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_nonblocking(true).expect("set_nonblocking call failed");
    ///
    /// let mut buf = vec![];
    /// match stream.read_to_end(&mut buf) {
    ///     Err(e) if e.kind() == io::ErrorKind::WouldBlock => {} // nothing sent yet
    ///     other => panic!("unexpected: {other:?}"),
    /// }
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking)
    }
}

stream_io!(TcpStream);

impl TcpListener {
    /// Creates a new `TcpListener` bound to the specified address.
    ///
    /// Binding with port 0 asks the OS for a free port; see
    /// [`local_addr`](TcpListener::local_addr). If `addr` yields multiple
    /// addresses, `bind` is attempted with each in order until one
    /// succeeds; if none does, the error of the last attempt is returned.
    /// As std on Unix it sets `SO_REUSEADDR` (not `SO_REUSEPORT`: binding a
    /// port in use fails with [`io::ErrorKind::AddrInUse`]).
    ///
    /// # Difference from std: the listen backlog
    ///
    /// std listens with a backlog of 128; greenstd with the kernel's
    /// `net.core.somaxconn` (4096 on current kernels), or the value set
    /// with `GREENSTD_LISTEN_BACKLOG` or `Config::listen_backlog`. Its
    /// accept loop shares the workers with every handler, so under load it
    /// runs less often than std's dedicated thread would; a burst of
    /// connects then overflows a queue of 128 and the kernel drops the
    /// handshakes (clients retry a second or more later, or are reset). A
    /// bad `GREENSTD_LISTEN_BACKLOG` is an [`io::ErrorKind::InvalidInput`]
    /// error.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(listener.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let backlog = shim_rt::config::listen_backlog()?;
        let addrs = addr::resolve(addr)?;
        // Binding and listening never block: std's own does them, with its
        // options; then the backlog is deepened.
        let fd = OwnedFd::from(std::net::TcpListener::bind(&addrs[..])?);
        relisten(&fd, backlog)?;
        Ok(TcpListener {
            inner: Socket::new(fd, false)?,
        })
    }

    /// Returns the local socket address of this listener.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{IpAddr, Ipv4Addr, TcpListener};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert_eq!(listener.local_addr().unwrap().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.view::<std::net::TcpListener>().local_addr()
    }

    /// Creates a new independently owned handle to the underlying socket.
    ///
    /// Both handles accept from the same queue of connections; options set
    /// on one (the non-blocking mode) apply to both.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let listener_clone = listener.try_clone().unwrap();
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: self.inner.try_clone()?,
        })
    }

    /// Accepts a new incoming connection from this listener.
    ///
    /// Waits (cooperatively in a coroutine) until a connection arrives, and
    /// returns the stream and the remote peer's address. Any number of
    /// coroutines and threads may wait here at once; each connection goes
    /// to one of them.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// match listener.accept() {
    ///     Ok((_socket, addr)) => assert_eq!(addr, client.local_addr().unwrap()),
    ///     Err(e) => println!("couldn't get client: {e:?}"),
    /// }
    /// ```
    #[track_caller]
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (sock, addr) = self.inner.io_as(Interest::Read, WaitKind::Accept, || {
            sys::accept(SockRef::from(self.inner.fd()))
        })?;
        let stream = TcpStream {
            inner: Socket::new(OwnedFd::from(sock), true)?,
        };
        Ok((stream, ip_addr(&addr)?))
    }

    /// Returns an iterator over the connections being received on this
    /// listener. It never returns `None`; each item is the result of
    /// [`accept`](TcpListener::accept), without the peer's address.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// for stream in listener.incoming() {
    ///     match stream {
    ///         Ok(stream) => {
    ///             println!("new client!");
    ///             break;
    ///         }
    ///         Err(e) => { /* connection failed */ }
    ///     }
    /// }
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Sets the value for the `IP_TTL` option on this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// listener.set_ttl(100).expect("could not set TTL");
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.view::<std::net::TcpListener>().set_ttl(ttl)
    }

    /// Gets the value of the `IP_TTL` option for this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// listener.set_ttl(100).expect("could not set TTL");
    /// assert_eq!(listener.ttl().unwrap_or(0), 100);
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.view::<std::net::TcpListener>().ttl()
    }

    /// Sets the value of `IPV6_V6ONLY` (it can only be set before binding).
    #[deprecated(
        since = "1.16.0",
        note = "this option can only be set before the socket is bound"
    )]
    #[allow(deprecated)]
    pub fn set_only_v6(&self, only_v6: bool) -> io::Result<()> {
        self.inner
            .view::<std::net::TcpListener>()
            .set_only_v6(only_v6)
    }

    /// Gets the value of `IPV6_V6ONLY`.
    #[deprecated(
        since = "1.16.0",
        note = "this option can only be set before the socket is bound"
    )]
    #[allow(deprecated)]
    pub fn only_v6(&self) -> io::Result<bool> {
        self.inner.view::<std::net::TcpListener>().only_v6()
    }

    /// Gets the value of the `SO_ERROR` option on this socket, clearing it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// listener.take_error().expect("No error was expected");
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.view::<std::net::TcpListener>().take_error()
    }

    /// Moves this listener into or out of non-blocking mode: in non-blocking
    /// mode [`accept`](TcpListener::accept) returns
    /// [`io::ErrorKind::WouldBlock`] at once when no connection is pending.
    /// Accepted streams are in blocking mode either way.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use shim_net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// listener.set_nonblocking(true).expect("Cannot set non-blocking");
    /// match listener.accept() {
    ///     Err(e) if e.kind() == io::ErrorKind::WouldBlock => {} // no client yet
    ///     other => panic!("unexpected: {other:?}"),
    /// }
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking)
    }
}

impl<'a> Iterator for Incoming<'a> {
    type Item = io::Result<TcpStream>;
    #[track_caller]
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|p| p.0))
    }
}

impl FusedIterator for Incoming<'_> {}
