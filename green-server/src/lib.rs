//! gevent's servers for greenstd, exposed as `greenstd::green::server`:
//!
//! * [`StreamServer`] (gevent's `StreamServer`): accepts connections on a
//!   TCP or Unix listener and runs a handler for each in a coroutine of its
//!   own, at most [`max_connections`](StreamServer::max_connections) at
//!   once; [`serve_forever`](StreamServer::serve_forever) and a graceful
//!   [`stop`](StreamServer::stop); [`stop_accepting`](StreamServer::stop_accepting)
//!   and [`start_accepting`](StreamServer::start_accepting) pause and
//!   resume accepting, the listener staying bound.
//! * [`DatagramServer`] (gevent's `DatagramServer`): the same for UDP, a
//!   coroutine per datagram.
//!
//! A handler is plain blocking code: it reads and writes its connection as
//! with std, and only its coroutine waits.
//!
//! # Examples
//!
//! An echo server on port 0, stopped after one client:
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use green_server::StreamServer;
//!
//! let server = StreamServer::bind("127.0.0.1:0", |mut conn: shim_net::TcpStream, _peer| {
//!     let mut buf = [0; 1024];
//!     while let Ok(n @ 1..) = conn.read(&mut buf) {
//!         if conn.write_all(&buf[..n]).is_err() {
//!             break;
//!         }
//!     }
//! })
//! .unwrap()
//! .max_connections(10_000);
//! server.start().unwrap();
//!
//! let mut client = std::net::TcpStream::connect(server.local_addr()).unwrap();
//! client.write_all(b"ping").unwrap();
//! let mut reply = [0; 4];
//! client.read_exact(&mut reply).unwrap();
//! assert_eq!(&reply, b"ping");
//! drop(client);
//!
//! assert_eq!(server.stop(Duration::from_secs(5)), 0);
//! ```

#![warn(missing_docs)]

mod core;
mod datagram;
mod stream;

pub use datagram::DatagramServer;
pub use stream::{Listener, StreamServer};
