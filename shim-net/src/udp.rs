//! UDP: [`UdpSocket`], as in `std::net`.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::ToSocketAddrs;
use std::os::fd::OwnedFd;
use std::time::Duration;

use socket2::SockAddr;

use crate::addr;
use crate::socket::{fd_traits, Socket};
use shim_rt::io::Interest;

/// A UDP socket.
///
/// As [`std::net::UdpSocket`], except that a call that blocks suspends the
/// calling coroutine instead of its worker thread (on a plain OS thread it
/// blocks the thread, as std). Any number of coroutines and threads may
/// receive or send on one socket at once (share it with an `Arc`).
///
/// # Examples
///
/// ```
/// use shim_net::UdpSocket;
///
/// fn main() -> std::io::Result<()> {
///     let socket = UdpSocket::bind("127.0.0.1:0")?;
///     let me = socket.local_addr()?;
///     socket.send_to(b"ping", me)?;
///
///     let mut buf = [0; 10];
///     let (amt, src) = socket.recv_from(&mut buf)?;
///     assert_eq!((&buf[..amt], src), (&b"ping"[..], me));
///     Ok(())
/// } // the socket is closed here
/// ```
pub struct UdpSocket {
    inner: Socket,
}

fd_traits!(UdpSocket, std::net::UdpSocket);

macro_rules! std_call {
    ($self:ident . $m:ident ( $($a:expr),* )) => {
        $self.inner.view::<std::net::UdpSocket>().$m($($a),*)
    };
}

impl UdpSocket {
    /// Creates a UDP socket bound to the given address.
    ///
    /// If `addr` yields multiple addresses, `bind` is attempted with each
    /// in order until one succeeds; if none does, the error of the last
    /// attempt is returned. Port 0 asks the OS for a free port.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{SocketAddr, UdpSocket};
    ///
    /// let addrs = [
    ///     SocketAddr::from(([127, 0, 0, 1], 0)),
    ///     SocketAddr::from(([127, 0, 0, 1], 3401)),
    /// ];
    /// let socket = UdpSocket::bind(&addrs[..]).expect("couldn't bind to address");
    /// ```
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let addrs = addr::resolve(addr)?;
        // Binding never blocks: std's own does it.
        let std = std::net::UdpSocket::bind(&addrs[..])?;
        Ok(UdpSocket {
            inner: Socket::new(OwnedFd::from(std), false)?,
        })
    }

    /// Receives a single datagram message on the socket. On success,
    /// returns the number of bytes read and the origin. Excess bytes of a
    /// datagram larger than `buf` are discarded.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.send_to(b"hi", socket.local_addr().unwrap()).unwrap();
    /// let mut buf = [0; 10];
    /// let (number_of_bytes, src_addr) = socket.recv_from(&mut buf).expect("Didn't receive data");
    /// let filled_buf = &mut buf[..number_of_bytes];
    /// ```
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner
            .io(Interest::Read, || self.inner.recv_from(buf, 0))
    }

    /// Receives a single datagram message on the socket without removing it
    /// from the queue. On success, returns the number of bytes read and the
    /// origin.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.send_to(b"hi", socket.local_addr().unwrap()).unwrap();
    /// let mut buf = [0; 10];
    /// let (number_of_bytes, src_addr) = socket.peek_from(&mut buf).expect("Didn't receive data");
    /// let filled_buf = &mut buf[..number_of_bytes];
    /// ```
    #[track_caller]
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner
            .io(Interest::Read, || self.inner.recv_from(buf, libc::MSG_PEEK))
    }

    /// Sends data on the socket to the given address. On success, returns
    /// the number of bytes written.
    ///
    /// `addr` is resolved (without blocking a worker) and the data sent to
    /// its first address; an address that resolves to nothing is an
    /// [`io::ErrorKind::InvalidInput`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.send_to(&[0; 10], "127.0.0.1:4242").expect("couldn't send data");
    /// ```
    #[track_caller]
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let target = match addr::resolve(addr)?.into_iter().next() {
            Some(a) => SockAddr::from(a),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no addresses to send data to",
                ))
            }
        };
        self.inner
            .io(Interest::Write, || self.inner.send_to(buf, &target))
    }

    /// Returns the socket address of the remote peer this socket was
    /// connected to; [`io::ErrorKind::NotConnected`] if it is not connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{SocketAddr, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// assert_eq!(socket.peer_addr().unwrap_err().kind(), std::io::ErrorKind::NotConnected);
    /// socket.connect("127.0.0.1:41203").expect("couldn't connect to address");
    /// assert_eq!(socket.peer_addr().unwrap(), SocketAddr::from(([127, 0, 0, 1], 41203)));
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        std_call!(self.peer_addr())
    }

    /// Returns the socket address this socket was created from.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::{Ipv4Addr, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// assert_eq!(socket.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        std_call!(self.local_addr())
    }

    /// Creates a new independently owned handle to the underlying socket.
    ///
    /// Both handles send and receive on the same socket; options set on one
    /// (timeouts, the non-blocking mode) apply to both.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// let socket_clone = socket.try_clone().expect("couldn't clone the socket");
    /// ```
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            inner: self.inner.try_clone()?,
        })
    }

    /// Sets the read timeout: with `Some`, receives that wait longer fail
    /// with [`io::ErrorKind::WouldBlock`] (`EAGAIN`), as std on Unix. A zero
    /// [`Duration`] is an [`io::ErrorKind::InvalidInput`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let result = socket.set_read_timeout(Some(Duration::new(0, 0)));
    /// assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::InvalidInput)
    /// ```
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        std_call!(self.set_read_timeout(dur))?;
        self.inner.record_timeout(Interest::Read, dur);
        Ok(())
    }

    /// Sets the write timeout: with `Some`, sends that wait longer fail
    /// with [`io::ErrorKind::WouldBlock`] (`EAGAIN`), as std on Unix. A zero
    /// [`Duration`] is an [`io::ErrorKind::InvalidInput`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let result = socket.set_write_timeout(Some(Duration::new(0, 0)));
    /// assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::InvalidInput)
    /// ```
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        std_call!(self.set_write_timeout(dur))?;
        self.inner.record_timeout(Interest::Write, dur);
        Ok(())
    }

    /// Returns the read timeout of this socket, as the OS reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.set_read_timeout(None).expect("set_read_timeout call failed");
    /// assert_eq!(socket.read_timeout().unwrap(), None);
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        std_call!(self.read_timeout())
    }

    /// Returns the write timeout of this socket, as the OS reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.set_write_timeout(None).expect("set_write_timeout call failed");
    /// assert_eq!(socket.write_timeout().unwrap(), None);
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        std_call!(self.write_timeout())
    }

    /// Sets the value of the `SO_BROADCAST` option for this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.set_broadcast(false).expect("set_broadcast call failed");
    /// ```
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        std_call!(self.set_broadcast(broadcast))
    }

    /// Gets the value of the `SO_BROADCAST` option for this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.set_broadcast(false).expect("set_broadcast call failed");
    /// assert_eq!(socket.broadcast().unwrap(), false);
    /// ```
    pub fn broadcast(&self) -> io::Result<bool> {
        std_call!(self.broadcast())
    }

    /// Sets the value of the `IP_MULTICAST_LOOP` option for this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.set_multicast_loop_v4(false).expect("set_multicast_loop_v4 call failed");
    /// ```
    pub fn set_multicast_loop_v4(&self, multicast_loop_v4: bool) -> io::Result<()> {
        std_call!(self.set_multicast_loop_v4(multicast_loop_v4))
    }

    /// Gets the value of the `IP_MULTICAST_LOOP` option for this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.set_multicast_loop_v4(false).expect("set_multicast_loop_v4 call failed");
    /// assert_eq!(socket.multicast_loop_v4().unwrap(), false);
    /// ```
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        std_call!(self.multicast_loop_v4())
    }

    /// Sets the value of the `IP_MULTICAST_TTL` option for this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.set_multicast_ttl_v4(42).expect("set_multicast_ttl_v4 call failed");
    /// ```
    pub fn set_multicast_ttl_v4(&self, multicast_ttl_v4: u32) -> io::Result<()> {
        std_call!(self.set_multicast_ttl_v4(multicast_ttl_v4))
    }

    /// Gets the value of the `IP_MULTICAST_TTL` option for this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.set_multicast_ttl_v4(42).expect("set_multicast_ttl_v4 call failed");
    /// assert_eq!(socket.multicast_ttl_v4().unwrap(), 42);
    /// ```
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        std_call!(self.multicast_ttl_v4())
    }

    /// Sets the value of the `IPV6_MULTICAST_LOOP` option for this socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("[::1]:0").expect("couldn't bind to address");
    /// socket.set_multicast_loop_v6(false).expect("set_multicast_loop_v6 call failed");
    /// ```
    pub fn set_multicast_loop_v6(&self, multicast_loop_v6: bool) -> io::Result<()> {
        std_call!(self.set_multicast_loop_v6(multicast_loop_v6))
    }

    /// Gets the value of the `IPV6_MULTICAST_LOOP` option for this socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("[::1]:0").expect("couldn't bind to address");
    /// socket.set_multicast_loop_v6(false).expect("set_multicast_loop_v6 call failed");
    /// assert_eq!(socket.multicast_loop_v6().unwrap(), false);
    /// ```
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        std_call!(self.multicast_loop_v6())
    }

    /// Sets the value for the `IP_TTL` option on this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.set_ttl(42).expect("set_ttl call failed");
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        std_call!(self.set_ttl(ttl))
    }

    /// Gets the value of the `IP_TTL` option for this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.set_ttl(42).expect("set_ttl call failed");
    /// assert_eq!(socket.ttl().unwrap(), 42);
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        std_call!(self.ttl())
    }

    /// Executes an operation of the `IP_ADD_MEMBERSHIP` type: joins the
    /// multicast group `multiaddr` on the interface with address
    /// `interface` (`0.0.0.0`: the system chooses).
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        std_call!(self.join_multicast_v4(multiaddr, interface))
    }

    /// Executes an operation of the `IPV6_ADD_MEMBERSHIP` type: joins the
    /// multicast group `multiaddr` on the interface with index `interface`
    /// (0: the system chooses).
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        std_call!(self.join_multicast_v6(multiaddr, interface))
    }

    /// Executes an operation of the `IP_DROP_MEMBERSHIP` type: leaves a
    /// group joined with [`join_multicast_v4`](UdpSocket::join_multicast_v4).
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        std_call!(self.leave_multicast_v4(multiaddr, interface))
    }

    /// Executes an operation of the `IPV6_DROP_MEMBERSHIP` type: leaves a
    /// group joined with [`join_multicast_v6`](UdpSocket::join_multicast_v6).
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        std_call!(self.leave_multicast_v6(multiaddr, interface))
    }

    /// Gets the value of the `SO_ERROR` option on this socket, clearing it.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// match socket.take_error() {
    ///     Ok(Some(error)) => println!("UdpSocket error: {error:?}"),
    ///     Ok(None) => println!("No error"),
    ///     Err(error) => println!("UdpSocket.take_error failed: {error:?}"),
    /// }
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        std_call!(self.take_error())
    }

    /// Connects this socket to a remote address, so that [`send`] and
    /// [`recv`] can be used, and filters out datagrams from other addresses.
    ///
    /// If `addr` yields multiple addresses, `connect` is attempted with each
    /// in order until one succeeds; if none does, the error of the last
    /// attempt is returned.
    ///
    /// [`send`]: UdpSocket::send
    /// [`recv`]: UdpSocket::recv
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.connect("127.0.0.1:8080").expect("connect function failed");
    /// ```
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let addrs = addr::resolve(addr)?;
        // Connecting a datagram socket never blocks: std's own does it.
        std_call!(self.connect(&addrs[..]))
    }

    /// Sends data on the socket to the remote address it is connected to.
    /// On success, returns the number of bytes written.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.connect(socket.local_addr().unwrap()).expect("connect function failed");
    /// socket.send(&[0, 1, 2]).expect("couldn't send message");
    /// ```
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.io(Interest::Write, || self.inner.send(buf))
    }

    /// Receives a single datagram from the remote address the socket is
    /// connected to. On success, returns the number of bytes read.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.connect(socket.local_addr().unwrap()).expect("connect function failed");
    /// socket.send(&[0, 1, 2]).unwrap();
    /// let mut buf = [0; 10];
    /// match socket.recv(&mut buf) {
    ///     Ok(received) => println!("received {received} bytes {:?}", &buf[..received]),
    ///     Err(e) => println!("recv function failed: {e:?}"),
    /// }
    /// ```
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.io(Interest::Read, || self.inner.recv(buf, 0))
    }

    /// Receives a single datagram from the connected remote address without
    /// removing it from the input queue. On success, returns the number of
    /// bytes peeked.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").expect("couldn't bind to address");
    /// socket.connect(socket.local_addr().unwrap()).expect("connect function failed");
    /// socket.send(&[0, 1, 2]).unwrap();
    /// let mut buf = [0; 10];
    /// assert_eq!(socket.peek(&mut buf).unwrap(), 3);
    /// assert_eq!(socket.recv(&mut buf).unwrap(), 3);
    /// ```
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .io(Interest::Read, || self.inner.recv(buf, libc::MSG_PEEK))
    }

    /// Moves this UDP socket into or out of non-blocking mode: in
    /// non-blocking mode receives and sends return
    /// [`io::ErrorKind::WouldBlock`] at once when they would otherwise wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use shim_net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_nonblocking(true).unwrap();
    /// let mut buf = [0; 10];
    /// assert_eq!(socket.recv_from(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking)
    }
}
