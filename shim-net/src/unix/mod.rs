//! Unix domain sockets: `std::os::unix::net`, cooperative.
//!
//! greenstd exposes this module as `greenstd::os::unix::net`. As in
//! [`crate`], a call that blocks suspends the calling coroutine instead of
//! its worker thread, and blocks a plain OS thread as std does. The socket
//! address type, [`SocketAddr`], is std's own.
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! use shim_net::unix::UnixStream;
//!
//! let (mut a, mut b) = UnixStream::pair().unwrap();
//! a.write_all(b"hello").unwrap();
//! let mut buf = [0; 5];
//! b.read_exact(&mut buf).unwrap();
//! assert_eq!(&buf, b"hello");
//! ```

mod addr;
mod datagram;
mod listener;
mod stream;

pub use std::os::unix::net::SocketAddr;

pub use datagram::UnixDatagram;
pub use listener::{Incoming, UnixListener};
pub use stream::UnixStream;
