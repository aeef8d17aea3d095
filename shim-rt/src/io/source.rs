//! [`IoSource`]: the one owner of a descriptor greenstd waits on (mio's
//! `IoSource`, tokio's `PollEvented`).
//!
//! A source owns the descriptor, its registration with the pollers (made
//! on the first wait, removed when the source is dropped or gives the
//! descriptor up), the non-blocking flag the user asked for and the read
//! and write timeouts. It has the only blocking-I/O entry points of
//! greenstd: every socket, pipe, standard stream, pidfd, signal descriptor
//! and watched descriptor contains one, and none pairs a descriptor with
//! readiness by itself.
//!
//! What the descriptor's own flags are (`O_NONBLOCK` set underneath or each
//! attempt made non-blocking by itself) is its owner's business: the
//! source runs the owner's non-blocking attempt, and waits between tries.

use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::io::{Interest, Readiness};
use crate::wait::{WaitKind, WaitOn};

/// State shared by a source and its `try_clone`s, as `O_NONBLOCK` (per
/// file description) and `SO_RCVTIMEO`/`SO_SNDTIMEO` (per socket) are
/// shared in std.
#[derive(Debug)]
struct Shared {
    /// The user asked for non-blocking mode.
    nonblocking: AtomicBool,
    /// Timeouts in nanoseconds, [`NO_TIMEOUT`] for none: read on every
    /// operation, so kept lock-free.
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
}

/// The encoding of "no timeout" (also of one too long to represent).
const NO_TIMEOUT: u64 = u64::MAX;

fn encode_timeout(t: Option<Duration>) -> u64 {
    t.and_then(|t| u64::try_from(t.as_nanos()).ok())
        .map_or(NO_TIMEOUT, |n| n.min(NO_TIMEOUT - 1))
}

impl Default for Shared {
    fn default() -> Shared {
        Shared::FRESH
    }
}

/// What a source whose shared state was never made reads.
static FRESH: Shared = Shared::FRESH;

impl Shared {
    /// A fresh descriptor's state: blocking, no timeouts.
    #[allow(clippy::declare_interior_mutable_const)]
    const FRESH: Shared = Shared {
        nonblocking: AtomicBool::new(false),
        read_timeout: AtomicU64::new(NO_TIMEOUT),
        write_timeout: AtomicU64::new(NO_TIMEOUT),
    };

    fn timeout(&self, interest: Interest) -> &AtomicU64 {
        match interest {
            Interest::Read => &self.read_timeout,
            Interest::Write => &self.write_timeout,
        }
    }
}

/// Removes the descriptor from its poller when dropped: the first field of
/// [`IoSource`], so this happens before the descriptor is closed.
#[derive(Debug)]
struct Registered {
    readiness: Readiness,
    fd: RawFd,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.readiness.deregister(self.fd);
    }
}

/// A descriptor with cooperative blocking operations: the descriptor, its
/// registration with the pollers, the user's non-blocking flag and the
/// timeouts (see the module documentation).
///
/// In a coroutine an operation that would block suspends the coroutine
/// until the descriptor is ready; on a plain OS thread it blocks in
/// `poll(2)`, as std's blocking call would.
#[derive(Debug)]
pub struct IoSource {
    // Field order matters: `reg` is dropped (deregistered) before `fd` closes.
    reg: Registered,
    fd: OwnedFd,
    /// Made on first use (a setter or `try_clone`): until then the source
    /// reads [`FRESH`], and a server's connections, which seldom change
    /// them, keep 48 bytes of heap each.
    shared: OnceLock<Arc<Shared>>,
}

/// A std type viewing an [`IoSource`]'s descriptor without owning it, for
/// the calls that never block (options, addresses, `Debug`).
pub struct View<'a, T> {
    inner: ManuallyDrop<T>,
    _borrow: PhantomData<&'a IoSource>,
}

impl<T> Deref for View<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl IoSource {
    fn with_shared(fd: OwnedFd, shared: OnceLock<Arc<Shared>>) -> IoSource {
        IoSource {
            reg: Registered {
                readiness: Readiness::new(),
                fd: fd.as_raw_fd(),
            },
            fd,
            shared,
        }
    }

    /// Takes `fd`, in the user's blocking mode without timeouts. The
    /// caller has made its attempts non-blocking (`O_NONBLOCK`, or a flag
    /// per call). Not registered until the first wait.
    pub fn new(fd: OwnedFd) -> IoSource {
        IoSource::with_shared(fd, OnceLock::new())
    }

    /// Takes over `fd` from outside, with the mode and timeouts the user
    /// had set on it (`from_raw_fd`, std's types).
    pub fn adopt(
        fd: OwnedFd,
        nonblocking: bool,
        read_timeout: Option<Duration>,
        write_timeout: Option<Duration>,
    ) -> IoSource {
        let source = IoSource::new(fd);
        if nonblocking || read_timeout.is_some() || write_timeout.is_some() {
            source.set_nonblocking(nonblocking);
            source.set_timeout(Interest::Read, read_timeout);
            source.set_timeout(Interest::Write, write_timeout);
        }
        source
    }

    /// The state shared with `try_clone`d handles, as it reads.
    #[inline]
    fn shared(&self) -> &Shared {
        self.shared.get().map_or(&FRESH, |s| s)
    }

    /// The state shared with `try_clone`d handles, made if need be.
    fn shared_made(&self) -> &Arc<Shared> {
        self.shared.get_or_init(Arc::default)
    }

    /// Gives the descriptor up, removed from its poller first. Its flags
    /// are left as they are: restoring the user's mode is the caller's job.
    pub fn into_fd(self) -> OwnedFd {
        let IoSource { reg, fd, .. } = self;
        drop(reg); // deregister first
        fd
    }

    /// A new handle to the same description (`F_DUPFD_CLOEXEC`, as std),
    /// sharing the non-blocking flag and timeouts with this one.
    pub fn try_clone(&self) -> io::Result<IoSource> {
        let fd = self.fd.try_clone()?;
        Ok(IoSource::with_shared(
            fd,
            OnceLock::from(Arc::clone(self.shared_made())),
        ))
    }

    /// The descriptor's number.
    #[inline]
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The owned descriptor, borrowed.
    #[inline]
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Views the descriptor as one of std's types, for the calls that
    /// never block. Never use the view to read, write, close it or change
    /// its blocking mode.
    pub fn view<T: FromRawFd>(&self) -> View<'_, T> {
        View {
            // SAFETY: the descriptor is open and owned by `self`, which the
            // view borrows; `ManuallyDrop` keeps `T` from ever closing it.
            inner: ManuallyDrop::new(unsafe { T::from_raw_fd(self.raw()) }),
            _borrow: PhantomData,
        }
    }

    /// The user's non-blocking flag: a blocking operation then tries once
    /// and returns `WouldBlock` as it is.
    #[inline]
    pub fn is_nonblocking(&self) -> bool {
        self.shared().nonblocking.load(Ordering::Relaxed)
    }

    /// Records the user's non-blocking flag (`set_nonblocking`); the
    /// descriptor's own flags are not touched.
    pub fn set_nonblocking(&self, nonblocking: bool) {
        self.shared_made()
            .nonblocking
            .store(nonblocking, Ordering::Relaxed);
    }

    /// Records the timeout of the operations that wait for `interest`;
    /// `None` for none.
    pub fn set_timeout(&self, interest: Interest, dur: Option<Duration>) {
        self.shared_made()
            .timeout(interest)
            .store(encode_timeout(dur), Ordering::Relaxed);
    }

    /// When an operation waiting for `interest` that starts waiting now
    /// times out.
    #[inline]
    fn deadline(&self, interest: Interest) -> Option<Instant> {
        match self.shared().timeout(interest).load(Ordering::Relaxed) {
            NO_TIMEOUT => None,
            // A timeout too far away to represent is no timeout.
            nanos => Instant::now().checked_add(Duration::from_nanos(nanos)),
        }
    }

    /// Runs the non-blocking attempt `op` as a blocking call: retried after
    /// each readiness for `interest`, until that direction's timeout (then
    /// `EAGAIN`, as std's socket timeouts give on Linux). The waits are
    /// recorded as `kind` at the caller's line (put `#[track_caller]` on
    /// every function between the user and this one). In the user's
    /// non-blocking mode `op` runs once and `WouldBlock` is returned as is.
    /// `EINTR` is retried.
    #[track_caller]
    #[inline]
    pub fn io<R>(
        &self,
        interest: Interest,
        kind: WaitKind,
        op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        self.run(interest, kind, |_| false, op)
    }

    /// [`IoSource::io`] for one stream transfer of `len` bytes (a `recv` or
    /// `send` on a stream socket or pipe) that returns how many bytes it
    /// moved.
    ///
    /// A transfer that moved some but fewer than `len` bytes found the
    /// kernel's buffer drained (or full); until the next readiness edge a
    /// further try can only fail with `EAGAIN`. So the next transfer on
    /// this direction waits for that edge first instead of making the
    /// syscall: a request/response loop (`read`, `write`, `read`, …) saves
    /// the failing `read` of every round trip. An edge that comes in
    /// between is never missed, and once an edge has reported end of
    /// stream, hang-up or an error every transfer makes its syscall.
    #[track_caller]
    #[inline]
    pub fn stream_io(
        &self,
        interest: Interest,
        len: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.run(interest, interest.kind(), |&n| n > 0 && n < len, op)
    }

    #[track_caller]
    #[inline]
    fn run<R>(
        &self,
        interest: Interest,
        kind: WaitKind,
        short: impl Fn(&R) -> bool,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        if self.is_nonblocking() {
            loop {
                match op() {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => return r,
                }
            }
        }
        self.reg.readiness.retry(
            self.raw(),
            interest,
            kind,
            || self.deadline(interest),
            Location::caller(),
            short,
            &mut op,
        )
    }

    /// Waits once until the descriptor is ready for `interest` or
    /// `deadline` passes (`Ok(false)`), recorded as `kind` at the caller's
    /// line. Readiness may be spurious: check with a syscall. The user's
    /// non-blocking flag and timeouts do not apply.
    #[track_caller]
    pub fn wait(
        &self,
        interest: Interest,
        kind: WaitKind,
        deadline: Option<Instant>,
    ) -> io::Result<bool> {
        self.wait_on(interest, WaitOn::new(kind, self.raw() as usize), deadline)
    }

    /// [`IoSource::wait`], recorded as `on`: a `connect` records the line
    /// its user called from, a `poll` the first of the user's descriptors
    /// (not its own epoll instance's, which the user never sees).
    pub fn wait_on(
        &self,
        interest: Interest,
        on: WaitOn,
        deadline: Option<Instant>,
    ) -> io::Result<bool> {
        self.reg
            .readiness
            .wait_once(self.raw(), interest, on, deadline)
    }
}

impl AsFd for IoSource {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for IoSource {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

/// Implements the descriptor traits of a type `$t` whose one field `inner`
/// owns its descriptor (with `fd()`, `raw()` and `into_fd()`, as
/// [`IoSource`] has them), made by `$adopt(OwnedFd)`: `AsFd`, `AsRawFd`,
/// `FromRawFd`, `IntoRawFd`, `From<OwnedFd>` and back, and the conversions
/// from and to std's `$std`. The one definition for every fd-owning type
/// of greenstd (sockets, pipes, child pipes).
#[doc(hidden)]
#[macro_export]
macro_rules! __fd_traits {
    ($t:ident, $std:ty, $adopt:path) => {
        impl ::std::convert::From<::std::os::fd::OwnedFd> for $t {
            /// Takes over `fd`; its current blocking mode becomes the mode
            /// of the new value.
            fn from(fd: ::std::os::fd::OwnedFd) -> $t {
                $t { inner: $adopt(fd) }
            }
        }

        impl ::std::os::fd::AsFd for $t {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                ::std::os::fd::AsFd::as_fd(self.inner.fd())
            }
        }

        impl ::std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                self.inner.raw()
            }
        }

        impl ::std::os::fd::FromRawFd for $t {
            /// Takes ownership of `fd`; its current blocking mode becomes
            /// the mode of the new value.
            unsafe fn from_raw_fd(fd: ::std::os::fd::RawFd) -> $t {
                // SAFETY: the caller guarantees `fd` is open and theirs to give.
                <$t>::from(unsafe {
                    <::std::os::fd::OwnedFd as ::std::os::fd::FromRawFd>::from_raw_fd(fd)
                })
            }
        }

        impl ::std::os::fd::IntoRawFd for $t {
            /// Gives up the descriptor, in the blocking mode the user asked for.
            fn into_raw_fd(self) -> ::std::os::fd::RawFd {
                ::std::os::fd::IntoRawFd::into_raw_fd(self.inner.into_fd())
            }
        }

        impl ::std::convert::From<$t> for ::std::os::fd::OwnedFd {
            /// Gives up the descriptor, in the blocking mode the user asked for.
            fn from(s: $t) -> ::std::os::fd::OwnedFd {
                s.inner.into_fd()
            }
        }

        impl ::std::convert::From<$std> for $t {
            /// Takes over std's type, keeping its blocking mode.
            fn from(s: $std) -> $t {
                <$t>::from(::std::os::fd::OwnedFd::from(s))
            }
        }

        impl ::std::convert::From<$t> for $std {
            /// Hands the descriptor to code that takes std's type, in the
            /// blocking mode the user asked for. std's type really blocks its
            /// thread.
            fn from(s: $t) -> $std {
                <$std>::from(::std::os::fd::OwnedFd::from(s))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::OwnedFd;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::test_util::{coroutine, SLACK};

    fn pipe() -> (IoSource, OwnedFd) {
        let (r, w) = crate::sys::pipe_cloexec().unwrap();
        crate::sys::set_o_nonblock(r.as_raw_fd(), true).unwrap();
        (IoSource::new(r), w)
    }

    fn read_once(src: &IoSource, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: the source owns an open descriptor; `buf` is valid for writes.
        let n = unsafe { libc::read(src.raw(), buf.as_mut_ptr().cast(), buf.len()) };
        crate::sys::cvt(n).map(|n| n as usize)
    }

    /// A descriptor epoll refuses (a regular file) is registered only when
    /// it must wait: until then its operations run as they are.
    #[test]
    fn a_descriptor_the_pollers_refuse_is_registered_only_to_wait() {
        let rx = coroutine(|| {
            let exe = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
            let src = IoSource::new(OwnedFd::from(exe));
            let mut buf = [0u8; 4];
            let read = src.io(Interest::Read, WaitKind::Read, || {
                (&*src.view::<std::fs::File>()).read(&mut buf)
            });
            let wait = src.io(Interest::Read, WaitKind::Read, || {
                Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
            });
            (read.unwrap(), wait.unwrap_err().raw_os_error())
        });
        assert_eq!(rx.recv_timeout(SLACK).unwrap(), (4, Some(libc::EPERM)));
    }

    /// A coroutine waits for data, a timeout is `EAGAIN`, the user's
    /// non-blocking mode returns `WouldBlock` at once; `try_clone` shares
    /// the mode and timeouts; `into_fd` gives the descriptor back.
    #[test]
    fn waits_timeouts_and_the_users_mode() {
        let (src, w) = pipe();
        let src = Arc::new(src);
        let s = src.clone();
        let rx = coroutine(move || {
            let mut buf = [0u8; 8];
            s.io(Interest::Read, WaitKind::Read, || read_once(&s, &mut buf))
        });
        std::thread::sleep(Duration::from_millis(20));
        std::fs::File::from(w.try_clone().unwrap())
            .write_all(b"hey")
            .unwrap();
        assert_eq!(rx.recv_timeout(SLACK).unwrap().unwrap(), 3);

        let clone = src.try_clone().unwrap();
        clone.set_timeout(Interest::Read, Some(Duration::from_millis(30)));
        let s = src.clone();
        let rx = coroutine(move || {
            let t = Instant::now();
            let mut buf = [0u8; 8];
            let r = s.io(Interest::Read, WaitKind::Read, || read_once(&s, &mut buf));
            (r.unwrap_err().raw_os_error(), t.elapsed())
        });
        let (code, took) = rx.recv_timeout(SLACK).unwrap();
        assert_eq!(code, Some(libc::EAGAIN));
        assert!(took >= Duration::from_millis(30), "{took:?}");

        clone.set_nonblocking(true);
        let s = src.clone();
        let rx = coroutine(move || {
            let mut buf = [0u8; 8];
            s.io(Interest::Read, WaitKind::Read, || read_once(&s, &mut buf))
        });
        let e = rx.recv_timeout(SLACK).unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);

        let fd = Arc::into_inner(src).unwrap().into_fd();
        assert!(crate::sys::file_flags(fd.as_raw_fd()).is_ok());
        drop(w);
    }
}
