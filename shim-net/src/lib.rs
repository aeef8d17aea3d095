//! Networking primitives for TCP/UDP communication: `std::net`, name for
//! name and behaviour for behaviour, except that a call that blocks suspends
//! the calling coroutine instead of its worker thread.
//!
//! greenstd exposes this crate as `greenstd::net` (and its [`unix`] module
//! as `greenstd::os::unix::net`).
//!
//! * [`TcpListener`] and [`TcpStream`] for TCP, [`UdpSocket`] for UDP,
//!   [`unix`] for Unix domain sockets.
//! * The address types ([`IpAddr`], [`SocketAddr`], …), [`Shutdown`] and
//!   [`AddrParseError`] are std's own, re-exported: they never block.
//!   [`ToSocketAddrs`] is greenstd's: std's trait for the same types, whose
//!   host-name lookups run off the workers.
//!
//! # How it blocks
//!
//! Sockets are non-blocking underneath. An operation that would block
//! waits for readiness: inside a coroutine the coroutine is suspended and
//! its worker runs others; on a plain OS thread (`main`, a
//! `std::thread::spawn`ed thread) the thread blocks in `poll(2)`, a real
//! blocking call as in std. Any number of coroutines and threads may block
//! on one socket at once, in both directions; none is lost or woken for
//! the wrong direction.
//!
//! Everything else follows std on Linux: `connect`/`bind` try each resolved
//! address in order; timeouts fail with [`std::io::ErrorKind::WouldBlock`]
//! (`EAGAIN`); [`TcpStream::connect_timeout`] fails with `TimedOut`;
//! `set_nonblocking(true)` makes calls return `WouldBlock` at once;
//! `into_raw_fd` (and the conversions to `OwnedFd` and to std's types) give
//! the descriptor back in the mode the user asked for; `from_raw_fd` (and
//! the conversions from `OwnedFd` and std's types) take the descriptor's
//! current mode as the user's.
//!
//! # Name resolution
//!
//! Every path that resolves a host name — [`ToSocketAddrs::to_socket_addrs`]
//! called directly, `connect`, `bind`, `send_to` — resolves it with std's
//! lookup on greenstd's resolver pool (`GREENSTD_RESOLVER_THREADS`, default
//! 10, apart from the general offload pool), so a slow DNS server suspends
//! only the coroutine that asked. IP literals, in any form, are parsed
//! inline and `localhost` is looked up inline (from `/etc/hosts`).
//!
//! # Differences from std
//!
//! * Passing a socket to code that takes std's types (`From<TcpStream> for
//!   std::net::TcpStream`) is possible, but std's type then really blocks
//!   its thread.
//! * After `into_raw_fd` on one of several `try_clone`d handles (in blocking
//!   mode), the shared file description is blocking again: the remaining
//!   handles still read, write, send and receive cooperatively (those
//!   calls pass `MSG_DONTWAIT`), but `accept`, and a Unix datagram's
//!   `recv_from`/`send_to`/`send_to_addr`, on them block their thread.
//! * [`ToSocketAddrs`] is greenstd's own trait (std's shape, std's
//!   implementations). A type that implements only std's trait (a crate's
//!   own address type, not rebuilt on greenstd) does not implement it:
//!   convert it with std's trait first (see the trait's docs).
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! use shim_net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
//! let (mut server, _) = listener.accept().unwrap();
//! client.write_all(b"hello").unwrap();
//! let mut buf = [0; 5];
//! server.read_exact(&mut buf).unwrap();
//! assert_eq!(&buf, b"hello");
//! ```

#![warn(missing_docs)]

mod addr;
mod socket;
mod sys;
mod tcp;
mod udp;
pub mod unix;

pub use std::net::{
    AddrParseError, IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6,
};

pub use addr::set_test_resolver;
pub use addr::ToSocketAddrs;

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
