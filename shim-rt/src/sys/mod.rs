//! The operating-system seam: every call of greenstd's runtime that is not
//! the same on every Unix lives here, one module per OS family (laid out as
//! mio's `sys/unix/selector/{epoll,kqueue}.rs`).
//!
//! * `selector`: a new epoll (Linux) or kqueue (macOS, FreeBSD)
//!   descriptor, for [`poll_set`] and the child watchers. Sockets are
//!   registered in the workers' own selectors (`crate::poller`), which
//!   report the three bits `READABLE`, `WRITABLE`, `CLOSED`.
//! * `unix`: the calls on descriptors every Unix spells alike (std's
//!   `cvt`, flags, `fstat`, `dup`, vectored and socket transfers), the one
//!   copy for the whole workspace.
//! * `linux` / `bsd`: thread ids, `errno`, pipes, the coarse clock, thread
//!   stack bounds, and the `/proc` readers (with a portable answer where
//!   the BSDs have no `/proc`).
//!
//! Linux is the tested platform; macOS and FreeBSD are type-checked and
//! linted in CI (`.ci/run`), not run there.

mod unix;
pub use unix::{
    cvt, dup_cloexec, file_flags, fstat, readv, recv, recv_vectored, send, send_vectored,
    set_o_nonblock, writev,
};

#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "linux.rs"]
mod os;
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
#[path = "bsd.rs"]
mod os;

#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "selector/epoll.rs"]
pub(crate) mod selector;
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
#[path = "selector/kqueue.rs"]
pub(crate) mod selector;

/// The most buffers one vectored call takes.
pub(crate) use os::IOV_MAX;
pub(crate) use os::{
    coarse_clock, gettid, listen_backlog_max, set_timer_slack, stack_pointer, thread_ids,
    thread_stack,
};
pub use os::{
    errno_location, pipe_cloexec, poll_set, process_exit_fd, read_nowait, reopen, write_nowait,
    WakeFd,
};

/// A selector event: the descriptor is readable (or has an error). The
/// workers' selectors (vendored may's, see `poller`) report these bits.
pub(crate) const READABLE: u32 = may::embed::READABLE;
/// A selector event: the descriptor is writable (or has an error).
pub(crate) const WRITABLE: u32 = may::embed::WRITABLE;
/// A selector event: the peer hung up or the descriptor has an error; no
/// later edge is to be expected for either direction.
pub(crate) const CLOSED: u32 = may::embed::CLOSED;

/// The `poll(2)` events that mean "readable" for [`crate::io::poll_fd`]
/// (`POLLRDHUP` only where it exists).
pub(crate) const POLL_READ: libc::c_short = os::POLL_READ;
