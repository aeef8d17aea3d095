//! gevent's OS-level API for greenstd, exposed as `greenstd::green`:
//!
//! * [`wait_readable`] / [`wait_writable`] (gevent's `wait_read` /
//!   `wait_write`) and [`poll()`] (gevent's `select.poll`): wait for
//!   readiness of any descriptor — one from a C library, `libc`, a pipe, a
//!   terminal — suspending only the calling coroutine;
//! * [`signal`]: receive signals (`SIGTERM`, `SIGINT`, `SIGHUP`, …)
//!   cooperatively, to stop a server gracefully (gevent's
//!   `signal_handler`);
//! * [`bind_with_backlog`] and [`bind_unix_with_backlog`]: listeners with an
//!   explicit listen backlog, and [`listen_backlog`], the default that
//!   `TcpListener::bind` uses (a deliberate difference from std: the
//!   kernel's `somaxconn` instead of 128).
//!
//! On a plain OS thread every call behaves as its blocking counterpart
//! (`poll(2)` really blocks the thread).

#![warn(missing_docs)]

mod fd;
mod listen;
pub mod signal;

pub use fd::{poll, wait_readable, wait_writable, PollFd, PollFlags};
pub use listen::{bind_unix_with_backlog, bind_with_backlog, listen_backlog};

use shim_rt::sys::cvt;
