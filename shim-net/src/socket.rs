//! The machinery every socket type shares: a descriptor that is always
//! `O_NONBLOCK` underneath, owned by an [`IoSource`] (its registration, the mode the user asked for
//! (blocking or not) and the timeouts), and the socket calls.
//!
//! * Every operation is a non-blocking attempt, retried after waiting for
//!   readiness: cooperatively in a coroutine, with `poll(2)` on a plain
//!   thread. Data transfers also pass `MSG_DONTWAIT`, so they never block a
//!   worker even if someone cleared `O_NONBLOCK` on a shared description.
//! * The user's non-blocking flag and the timeouts are shared by
//!   `try_clone`d handles, as `O_NONBLOCK` (per file description) and
//!   `SO_RCVTIMEO`/`SO_SNDTIMEO` (per socket) are shared in std.
//! * Timeouts are also set on the socket itself (where they have no effect
//!   while it is non-blocking), so `read_timeout()` reports what std reports
//!   and a descriptor handed back by `into_raw_fd` keeps them.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::panic::Location;
use std::time::{Duration, Instant};

use crate::sys;
use shim_rt::io::{Interest, IoSource, View};
use shim_rt::wait::{WaitKind, WaitOn};

/// A non-blocking socket descriptor with cooperative blocking operations:
/// an [`IoSource`] that owns the descriptor, its registration, the user's
/// mode and the timeouts; this type adds the socket calls.
#[derive(Debug)]
pub(crate) struct Socket {
    src: IoSource,
}

use shim_rt::sys::{cvt, file_flags, set_o_nonblock};

/// Reads `SO_RCVTIMEO`/`SO_SNDTIMEO` as std's `read_timeout` does.
fn kernel_timeout(fd: RawFd, dir: Interest) -> io::Result<Option<Duration>> {
    let opt = match dir {
        Interest::Read => libc::SO_RCVTIMEO,
        Interest::Write => libc::SO_SNDTIMEO,
    };
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` and `len` are live and `len` is the size of `tv`.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&mut tv as *mut libc::timeval).cast(),
            &mut len,
        )
    })?;
    if tv.tv_sec == 0 && tv.tv_usec == 0 {
        Ok(None)
    } else {
        Ok(Some(Duration::new(
            tv.tv_sec as u64,
            tv.tv_usec as u32 * 1000,
        )))
    }
}

/// Sets the backlog of a socket that already listens: `listen(2)` again,
/// which on Linux only changes the queue's length. Used after std's own
/// `bind` (which listens with 128 for TCP) to apply greenstd's backlog
/// (`shim_rt::config::listen_backlog`).
pub(crate) fn relisten(fd: &OwnedFd, backlog: u32) -> io::Result<()> {
    let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
    // SAFETY: a plain syscall on a descriptor we hold.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(())
}

/// Reinterprets an initialised buffer as one the kernel may write to.
fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and the callers only
    // pass the slice to calls that write initialised bytes into it.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

impl Socket {
    /// Wraps a socket this crate just created (or accepted), which the user
    /// sees in blocking mode without timeouts. Sets `O_NONBLOCK` unless
    /// `already_nonblocking`.
    pub(crate) fn new(fd: OwnedFd, already_nonblocking: bool) -> io::Result<Socket> {
        if !already_nonblocking {
            set_o_nonblock(fd.as_raw_fd(), true)?;
        }
        Ok(Socket {
            src: IoSource::new(fd),
        })
    }

    /// Takes over a descriptor from outside (`from_raw_fd`, `From<OwnedFd>`,
    /// std's socket types): its current mode becomes the user's mode and its
    /// timeouts are read from the kernel.
    ///
    /// This cannot fail (`FromRawFd` cannot): on a descriptor that rejects
    /// `fcntl`, the operations report the OS error when used.
    pub(crate) fn adopt(fd: OwnedFd) -> Socket {
        let raw = fd.as_raw_fd();
        let user_nonblocking = file_flags(raw).is_ok_and(|f| f & libc::O_NONBLOCK != 0);
        if !user_nonblocking {
            let _ = set_o_nonblock(raw, true);
        }
        let read = kernel_timeout(raw, Interest::Read).ok().flatten();
        let write = kernel_timeout(raw, Interest::Write).ok().flatten();
        Socket {
            src: IoSource::adopt(fd, user_nonblocking, read, write),
        }
    }

    /// Gives the descriptor up, in the mode the user asked for: `O_NONBLOCK`
    /// is cleared unless they called `set_nonblocking(true)`.
    ///
    /// `O_NONBLOCK` belongs to the file description, which `try_clone`d
    /// handles share: clearing it here also clears it under them. Their
    /// reads and writes stay cooperative (they pass `MSG_DONTWAIT`); the
    /// calls that rely on `O_NONBLOCK` (`accept`, and std's Unix datagram
    /// `recv_from`/`send_to_addr` used through a [`View`]) would then block
    /// their thread.
    pub(crate) fn into_fd(self) -> OwnedFd {
        let nonblocking = self.src.is_nonblocking();
        let fd = self.src.into_fd();
        if !nonblocking {
            // The descriptor is valid: on failure it stays non-blocking,
            // which is the only other state it can be in.
            let _ = set_o_nonblock(fd.as_raw_fd(), false);
        }
        fd
    }

    /// A new handle to the same socket (`F_DUPFD_CLOEXEC`, as std), sharing
    /// the non-blocking flag and timeouts with this one.
    pub(crate) fn try_clone(&self) -> io::Result<Socket> {
        Ok(Socket {
            src: self.src.try_clone()?,
        })
    }

    #[inline]
    pub(crate) fn raw(&self) -> RawFd {
        self.src.raw()
    }

    pub(crate) fn fd(&self) -> &OwnedFd {
        self.src.fd()
    }

    /// Views the descriptor as one of std's socket types, for the calls
    /// that never block (options, addresses, `Debug`). Never use the view to
    /// change the descriptor's blocking mode.
    pub(crate) fn view<T: FromRawFd>(&self) -> View<'_, T> {
        self.src.view()
    }

    /// The user's non-blocking flag (`set_nonblocking`).
    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        // Check the descriptor is usable, as std's ioctl would.
        file_flags(self.raw())?;
        self.src.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Records a timeout the caller has just set on the socket (with std's
    /// validation, through a [`View`]); operations obey the recorded value.
    pub(crate) fn record_timeout(&self, dir: Interest, dur: Option<Duration>) {
        self.src.set_timeout(dir, dur);
    }

    /// Runs the non-blocking attempt `op` as a blocking call: retried after
    /// each readiness of `dir`, until the timeout of `dir`. In user
    /// non-blocking mode, `op` runs once and `WouldBlock` is returned as is.
    /// Waits are recorded as `read` or `write` at the caller's call site.
    #[track_caller]
    #[inline]
    pub(crate) fn io<R>(&self, dir: Interest, op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        self.src.io(dir, dir.kind(), op)
    }

    /// [`Socket::io`], with the waits recorded as `kind` (`accept`).
    #[track_caller]
    #[inline]
    pub(crate) fn io_as<R>(
        &self,
        dir: Interest,
        kind: WaitKind,
        op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        self.src.io(dir, kind, op)
    }

    /// [`Socket::io`] for one stream transfer of `len` bytes (see
    /// `IoSource::stream_io`: a short transfer lets the next one skip a
    /// syscall certain to fail).
    #[track_caller]
    #[inline]
    pub(crate) fn stream_io(
        &self,
        dir: Interest,
        len: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.src.stream_io(dir, len, op)
    }

    /// Waits until a non-blocking `connect` finished, as std's
    /// `connect_timeout` does: `TimedOut` when `deadline` passes first, the
    /// socket's error when the connection failed.
    /// The wait is recorded as `connect` at `location` (the user's line).
    pub(crate) fn wait_connected(
        &self,
        deadline: Option<Instant>,
        location: &'static Location<'static>,
    ) -> io::Result<()> {
        loop {
            if !self.src.wait_on(
                Interest::Write,
                WaitOn::at(WaitKind::Connect, self.src.as_raw_fd() as usize, location),
                deadline,
            )? {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out",
                ));
            }
            // Readiness may be spurious: ask the kernel.
            if let Some(result) = connect_result(self.fd()) {
                return result;
            }
        }
    }

    // One non-blocking attempt each; callers wrap them in `io`.

    /// `recv(2)` with `flags | MSG_DONTWAIT` (see [`shim_rt::sys::recv`]).
    #[inline]
    pub(crate) fn recv(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
        shim_rt::sys::recv(self.raw(), buf, flags)
    }

    /// `send(2)` with `MSG_NOSIGNAL | MSG_DONTWAIT` (see [`shim_rt::sys::send`]).
    #[inline]
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        shim_rt::sys::send(self.raw(), buf, sys::SEND_FLAGS)
    }

    /// `recvmsg(2)` into several buffers (std uses `readv`).
    pub(crate) fn recv_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        shim_rt::sys::recv_vectored(self.raw(), bufs, libc::MSG_DONTWAIT)
    }

    /// `sendmsg(2)` from several buffers (std uses `writev`).
    pub(crate) fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        shim_rt::sys::send_vectored(self.raw(), bufs, sys::SEND_FLAGS)
    }

    /// `recvfrom(2)` with `flags | MSG_DONTWAIT`, for IP sockets.
    pub(crate) fn recv_from(
        &self,
        buf: &mut [u8],
        flags: libc::c_int,
    ) -> io::Result<(usize, std::net::SocketAddr)> {
        let sock = socket2::SockRef::from(self.fd());
        let (n, addr) = sock.recv_from_with_flags(as_uninit(buf), flags | libc::MSG_DONTWAIT)?;
        Ok((n, ip_addr(&addr)?))
    }

    /// `sendto(2)` with `MSG_NOSIGNAL | MSG_DONTWAIT`.
    pub(crate) fn send_to(&self, buf: &[u8], addr: &socket2::SockAddr) -> io::Result<usize> {
        let sock = socket2::SockRef::from(self.fd());
        sock.send_to_with_flags(buf, addr, sys::SEND_FLAGS)
    }
}

/// Whether a non-blocking `connect` on `fd` has finished, as std's
/// `connect_timeout` checks it: `None` while it is in progress. Never
/// inlined, for the reason given at [`shim_rt::io::attempt`].
#[inline(never)]
fn connect_result(fd: &OwnedFd) -> Option<io::Result<()>> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd that lives across the call.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return (e.kind() != io::ErrorKind::Interrupted).then_some(Err(e));
    }
    // Linux reports refused connections as POLLOUT|POLLERR|POLLHUP.
    if pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
        let err = match socket2::SockRef::from(fd).take_error() {
            Ok(Some(e)) | Err(e) => e,
            Ok(None) => io::Error::other("no error set after POLLHUP"),
        };
        return Some(Err(err));
    }
    (pfd.revents & libc::POLLOUT != 0).then_some(Ok(()))
}

/// An IP socket address from the kernel, as std converts it.
pub(crate) fn ip_addr(addr: &socket2::SockAddr) -> io::Result<std::net::SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "invalid argument"))
}

/// Implements the descriptor traits and the std conversions of a socket
/// type `$t` (a struct with one field `inner: Socket`) whose std
/// counterpart is `$std` (`shim_rt::__fd_traits!`), and socket2's
/// conversions and std's `Debug`.
macro_rules! fd_traits {
    ($t:ident, $std:ty) => {
        shim_rt::__fd_traits!($t, $std, $crate::socket::Socket::adopt);

        impl From<$t> for socket2::Socket {
            /// Hands the socket to socket2, as std's type converts: in the
            /// blocking mode the user asked for. socket2's calls then really
            /// block their thread.
            fn from(s: $t) -> socket2::Socket {
                socket2::Socket::from(std::os::fd::OwnedFd::from(s))
            }
        }

        impl From<socket2::Socket> for $t {
            /// Takes over a socket2 socket, keeping its blocking mode (as
            /// std's conversion does).
            fn from(s: socket2::Socket) -> $t {
                $t::from(std::os::fd::OwnedFd::from(s))
            }
        }

        impl std::fmt::Debug for $t {
            /// Formats as std's type does.
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&*self.inner.view::<$std>(), f)
            }
        }
    };
}
pub(crate) use fd_traits;

/// Implements `Read` and `Write` for a stream socket type `$t` (a struct
/// with one field `inner: Socket`) and for `&$t`, as std has them for its
/// stream types: blocking calls, cooperative in coroutines; `flush` is a
/// no-op.
macro_rules! stream_io {
    ($t:ident) => {
        impl std::io::Read for $t {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }

            #[track_caller]

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                std::io::Read::read_vectored(&mut &*self, bufs)
            }
        }

        impl std::io::Read for &$t {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let len = buf.len();
                self.inner
                    .stream_io(shim_rt::io::Interest::Read, len, || self.inner.recv(buf, 0))
            }

            #[track_caller]

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                self.inner.io(shim_rt::io::Interest::Read, || {
                    self.inner.recv_vectored(bufs)
                })
            }
        }

        impl std::io::Write for $t {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }

            #[track_caller]

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                std::io::Write::write_vectored(&mut &*self, bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Write for &$t {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner
                    .stream_io(shim_rt::io::Interest::Write, buf.len(), || {
                        self.inner.send(buf)
                    })
            }

            #[track_caller]

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.inner.io(shim_rt::io::Interest::Write, || {
                    self.inner.send_vectored(bufs)
                })
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}
pub(crate) use stream_io;
