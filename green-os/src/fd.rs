//! Readiness of descriptors the caller does not own: [`wait_readable`],
//! [`wait_writable`] and [`poll()`].
//!
//! The descriptor belongs to someone else (a C library, the user), and may
//! already be registered with greenstd's pollers by its own socket type, so
//! it is never registered as it is:
//!
//! * one descriptor: a duplicate (`F_DUPFD_CLOEXEC`, the same open file
//!   description under another number) is registered for the wait and
//!   closed after it;
//! * [`poll()`]: the descriptors go into a private epoll instance (a
//!   kqueue on macOS and FreeBSD), level-triggered, and that instance — readable when any member is
//!   ready — is what the coroutine waits on; one `poll(2)` with a zero
//!   timeout then gives the exact `revents`.
//!
//! Every waiter has its own duplicate or epoll instance, so any number of
//! coroutines and threads may wait on one descriptor.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, Not};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use shim_rt::io::{poll_fd, Interest, IoSource};
use shim_rt::wait::{pause, WaitKind, WaitOn};

use crate::cvt;

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timed out")
}

/// Waits until `fd` is readable: data to read, a connection to accept, end
/// of stream, or an error condition (gevent's `wait_read`).
///
/// Suspends only the calling coroutine; on a plain OS thread it blocks in
/// `poll(2)`. `timeout` `None` waits for ever; a zero timeout only checks.
/// Any number of coroutines and threads may wait on one descriptor, and the
/// descriptor may be a greenstd socket, a std one, a pipe, a terminal or
/// one a C library handed out. Readiness is a hint, as with `poll(2)`: the
/// read that follows may still find nothing when another reader was faster,
/// so use it with a non-blocking descriptor.
///
/// # Errors
///
/// [`io::ErrorKind::TimedOut`] when `timeout` passes first; `EBADF` when
/// `fd` is not an open descriptor (`poll`'s `POLLNVAL`); the OS error
/// when the descriptor cannot be duplicated or waited on.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use green_os::wait_readable;
///
/// let (mut a, mut b) = UnixStream::pair().unwrap();
/// let reader = shim_thread::spawn(move || {
///     // Suspends this coroutine only, though `b` is std's blocking socket.
///     wait_readable(&b, Some(Duration::from_secs(10))).unwrap();
///     let mut buf = [0; 5];
///     b.read_exact(&mut buf).unwrap();
///     buf
/// });
/// a.write_all(b"hello").unwrap();
/// assert_eq!(&reader.join().unwrap(), b"hello");
///
/// // Nothing to read: a timeout.
/// let (_c, d) = UnixStream::pair().unwrap();
/// let e = wait_readable(&d, Some(Duration::from_millis(10))).unwrap_err();
/// assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
/// ```
#[track_caller]
pub fn wait_readable<F: AsFd>(fd: F, timeout: Option<Duration>) -> io::Result<()> {
    wait(fd.as_fd(), Interest::Read, timeout)
}

/// Waits until `fd` is writable: room in its buffer, a finished connect, or
/// an error condition (gevent's `wait_write`).
///
/// As [`wait_readable`] for the other direction.
///
/// # Errors
///
/// [`io::ErrorKind::TimedOut`] when `timeout` passes first; the OS error
/// when the descriptor cannot be duplicated or waited on.
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use green_os::wait_writable;
///
/// let (a, _b) = UnixStream::pair().unwrap();
/// // An empty socket buffer has room.
/// wait_writable(&a, Some(Duration::from_secs(10))).unwrap();
/// ```
#[track_caller]
pub fn wait_writable<F: AsFd>(fd: F, timeout: Option<Duration>) -> io::Result<()> {
    wait(fd.as_fd(), Interest::Write, timeout)
}

/// A deadline `timeout` from now; `None` for none (or too far away).
fn deadline_of(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

#[track_caller]
fn wait(fd: BorrowedFd<'_>, interest: Interest, timeout: Option<Duration>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    let deadline = deadline_of(timeout);
    if !shim_rt::in_coroutine() {
        return match poll_fd(raw, interest, deadline)? {
            true => Ok(()),
            false => Err(timed_out()),
        };
    }
    // Ready already (a regular file always is)? Then no registration.
    if poll_fd(raw, interest, Some(Instant::now()))? {
        return Ok(());
    }
    if timeout.is_some_and(|t| t.is_zero()) {
        return Err(timed_out());
    }
    let shared = Shared::acquire(fd)?;
    let dup = &shared.owned;
    loop {
        match dup.wait(interest, interest.kind(), deadline) {
            Ok(true) => {}
            Ok(false) => return Err(timed_out()),
            // epoll refuses a file that cannot be polled. On Linux that is
            // a file with no poll method (regular files, directories),
            // which poll(2) always reports ready, so the check above has
            // returned already; only a kernel or a filter that refuses
            // anyway gets here (green_cancel reaches it with seccomp).
            // Nothing will then say when it is ready: wait for the
            // deadline, recorded and interruptible.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                let kind = match interest {
                    Interest::Read => WaitKind::Read,
                    Interest::Write => WaitKind::Write,
                };
                pause(deadline, WaitOn::new(kind, raw as usize));
                return Err(timed_out());
            }
            Err(e) => return Err(e),
        }
        // An edge may be stale (another reader took the data): ask. As
        // poll(2), which also goes back to sleep when it finds nothing.
        if poll_fd(raw, interest, Some(Instant::now()))? {
            return Ok(());
        }
    }
}

/// The duplicates being waited on, by the caller's descriptor number, with
/// how many waiters use each.
///
/// The coroutines that wait on one descriptor at the same time share one
/// duplicate and one registration (the kernel limits how many epoll
/// registrations one file may have, to 500-1000 depending on nesting;
/// sharing lifts that limit, and saves the system calls). The number is a
/// sound key: each waiter borrows the descriptor for its whole wait, so
/// while an entry has waiters the number cannot be closed and reused for
/// another file. The last waiter out closes the duplicate.
static SHARED: Mutex<Option<HashMap<RawFd, Entry>>> = Mutex::new(None);

/// A shared duplicate and its number of waiters.
type Entry = (Arc<IoSource>, usize);

/// One waiter's use of a shared duplicate.
struct Shared {
    key: RawFd,
    owned: Arc<IoSource>,
}

impl Shared {
    fn acquire(fd: BorrowedFd<'_>) -> io::Result<Shared> {
        let key = fd.as_raw_fd();
        let mut map = SHARED.lock();
        let map = map.get_or_insert_with(HashMap::new);
        let owned = match map.get_mut(&key) {
            Some((owned, users)) => {
                *users += 1;
                owned.clone()
            }
            None => {
                let owned = Arc::new(IoSource::new(fd.try_clone_to_owned()?));
                map.insert(key, (owned.clone(), 1));
                owned
            }
        };
        Ok(Shared { key, owned })
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let last = {
            let mut map = SHARED.lock();
            let map = map.get_or_insert_with(HashMap::new);
            match map.get_mut(&self.key) {
                Some((_, users)) if *users > 1 => {
                    *users -= 1;
                    None
                }
                _ => map.remove(&self.key),
            }
        };
        // Deregistered and closed outside the lock, by the last `Arc`.
        drop(last);
    }
}

/// The events of a [`PollFd`]: `poll(2)`'s flags (`POLLIN`, `POLLOUT`, …).
///
/// Combine them with `|`; test them with [`contains`](PollFlags::contains)
/// or [`intersects`](PollFlags::intersects).
///
/// # Examples
///
/// ```
/// use green_os::PollFlags;
///
/// let f = PollFlags::POLLIN | PollFlags::POLLPRI;
/// assert!(f.contains(PollFlags::POLLIN));
/// assert!(!f.intersects(PollFlags::POLLOUT));
/// assert_eq!(format!("{f:?}"), "POLLIN | POLLPRI");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PollFlags(libc::c_short);

impl PollFlags {
    /// There is data to read.
    pub const POLLIN: PollFlags = PollFlags(libc::POLLIN);
    /// There is some exceptional condition (out-of-band data, …).
    pub const POLLPRI: PollFlags = PollFlags(libc::POLLPRI);
    /// Writing is now possible.
    pub const POLLOUT: PollFlags = PollFlags(libc::POLLOUT);
    /// Normal data may be read (as `POLLIN`).
    pub const POLLRDNORM: PollFlags = PollFlags(libc::POLLRDNORM);
    /// Priority band data may be read.
    pub const POLLRDBAND: PollFlags = PollFlags(libc::POLLRDBAND);
    /// Normal data may be written (as `POLLOUT`).
    pub const POLLWRNORM: PollFlags = PollFlags(libc::POLLWRNORM);
    /// Priority data may be written.
    pub const POLLWRBAND: PollFlags = PollFlags(libc::POLLWRBAND);
    /// The peer closed its end of a stream socket, or shut down writing
    /// (Linux only, as in nix).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub const POLLRDHUP: PollFlags = PollFlags(libc::POLLRDHUP);
    /// Error condition (only in `revents`).
    pub const POLLERR: PollFlags = PollFlags(libc::POLLERR);
    /// Hang up (only in `revents`).
    pub const POLLHUP: PollFlags = PollFlags(libc::POLLHUP);
    /// Invalid request: the descriptor is not open (only in `revents`).
    pub const POLLNVAL: PollFlags = PollFlags(libc::POLLNVAL);

    const NAMES: &'static [(PollFlags, &'static str)] = &[
        (PollFlags::POLLIN, "POLLIN"),
        (PollFlags::POLLPRI, "POLLPRI"),
        (PollFlags::POLLOUT, "POLLOUT"),
        (PollFlags::POLLRDNORM, "POLLRDNORM"),
        (PollFlags::POLLRDBAND, "POLLRDBAND"),
        (PollFlags::POLLWRNORM, "POLLWRNORM"),
        (PollFlags::POLLWRBAND, "POLLWRBAND"),
        #[cfg(any(target_os = "linux", target_os = "android"))]
        (PollFlags::POLLRDHUP, "POLLRDHUP"),
        (PollFlags::POLLERR, "POLLERR"),
        (PollFlags::POLLHUP, "POLLHUP"),
        (PollFlags::POLLNVAL, "POLLNVAL"),
    ];

    /// No flag.
    pub const fn empty() -> PollFlags {
        PollFlags(0)
    }

    /// The flags as `poll(2)`'s `short`.
    pub const fn bits(self) -> libc::c_short {
        self.0
    }

    /// Flags from `poll(2)`'s `short`, unknown bits kept.
    pub const fn from_bits_retain(bits: libc::c_short) -> PollFlags {
        PollFlags(bits)
    }

    /// `true` when no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `true` when every flag of `other` is set.
    pub const fn contains(self, other: PollFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `true` when any flag of `other` is set.
    pub const fn intersects(self, other: PollFlags) -> bool {
        self.0 & other.0 != 0
    }
}

impl BitOr for PollFlags {
    type Output = PollFlags;
    fn bitor(self, rhs: PollFlags) -> PollFlags {
        PollFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for PollFlags {
    fn bitor_assign(&mut self, rhs: PollFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for PollFlags {
    type Output = PollFlags;
    fn bitand(self, rhs: PollFlags) -> PollFlags {
        PollFlags(self.0 & rhs.0)
    }
}

impl BitAndAssign for PollFlags {
    fn bitand_assign(&mut self, rhs: PollFlags) {
        self.0 &= rhs.0;
    }
}

impl Not for PollFlags {
    type Output = PollFlags;
    fn not(self) -> PollFlags {
        PollFlags(!self.0)
    }
}

impl fmt::Debug for PollFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("(empty)");
        }
        let mut rest = *self;
        let mut first = true;
        for &(flag, name) in PollFlags::NAMES {
            if rest.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
                rest &= !flag;
            }
        }
        if !rest.is_empty() {
            if !first {
                f.write_str(" | ")?;
            }
            write!(f, "{:#x}", rest.0)?;
        }
        Ok(())
    }
}

/// One descriptor to [`poll()`], with the events asked for and the events
/// that happened: `poll(2)`'s `struct pollfd`, borrowing the descriptor.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// use green_os::{PollFd, PollFlags};
///
/// let (a, _b) = UnixStream::pair().unwrap();
/// let pfd = PollFd::new(a.as_fd(), PollFlags::POLLIN);
/// assert_eq!(pfd.events(), PollFlags::POLLIN);
/// assert!(pfd.revents().is_empty());
/// ```
#[repr(transparent)]
pub struct PollFd<'fd> {
    // `repr(transparent)`: a slice of these is an array of `pollfd`.
    pfd: libc::pollfd,
    _fd: PhantomData<BorrowedFd<'fd>>,
}

impl<'fd> PollFd<'fd> {
    /// Watches `fd` for `events`. `POLLERR`, `POLLHUP` and `POLLNVAL` are
    /// always reported, whatever `events` says.
    pub fn new(fd: BorrowedFd<'fd>, events: PollFlags) -> PollFd<'fd> {
        PollFd {
            pfd: libc::pollfd {
                fd: fd.as_raw_fd(),
                events: events.0,
                revents: 0,
            },
            _fd: PhantomData,
        }
    }

    /// The events asked for.
    pub fn events(&self) -> PollFlags {
        PollFlags(self.pfd.events)
    }

    /// Changes the events asked for.
    pub fn set_events(&mut self, events: PollFlags) {
        self.pfd.events = events.0;
    }

    /// The events the last [`poll()`] found (empty before the first).
    pub fn revents(&self) -> PollFlags {
        PollFlags(self.pfd.revents)
    }
}

impl AsFd for PollFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor is borrowed for 'fd, which outlives `self`.
        unsafe { BorrowedFd::borrow_raw(self.pfd.fd) }
    }
}

impl fmt::Debug for PollFd<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollFd")
            .field("fd", &self.pfd.fd)
            .field("events", &self.events())
            .field("revents", &self.revents())
            .finish()
    }
}

/// Waits until one of `fds` is ready, or `timeout` passes (gevent's
/// `select.poll`; `poll(2)`).
///
/// Returns how many entries have a non-empty [`revents`](PollFd::revents)
/// (0 on timeout), with every entry's `revents` set exactly as `poll(2)`
/// sets them — `POLLERR`, `POLLHUP` and `POLLNVAL` included. `timeout`
/// `None` waits for ever; a zero timeout only checks; an empty `fds` just
/// sleeps for `timeout`.
///
/// In a coroutine only the coroutine waits: the descriptors are watched by
/// a private epoll instance for the duration of the call, and `poll(2)`
/// with a zero timeout reads the result. On a plain OS thread this is
/// `poll(2)` itself. Either way, any number of callers may poll the same
/// descriptors at once.
///
/// # Differences from `poll(2)`
///
/// * `EINTR` is retried (with what is left of the timeout), as std's
///   blocking calls do.
/// * The timeout is rounded up to whole milliseconds on a plain thread, as
///   `poll(2)` rounds it; in a coroutine it is kept to greenstd's timer
///   resolution.
///
/// # Errors
///
/// The OS error of `poll(2)` (`EINVAL` for more descriptors than
/// `RLIMIT_NOFILE`, `ENOMEM`), or of `epoll_create1`/`epoll_ctl` in a
/// coroutine.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use green_os::{poll, PollFd, PollFlags};
///
/// let (mut a, b) = UnixStream::pair().unwrap();
/// let (_c, d) = UnixStream::pair().unwrap();
/// a.write_all(b"x").unwrap();
/// let mut fds = [
///     PollFd::new(b.as_fd(), PollFlags::POLLIN),
///     PollFd::new(d.as_fd(), PollFlags::POLLIN),
/// ];
/// let n = shim_thread::scope(|s| {
///     s.spawn(|| poll(&mut fds, Some(Duration::from_secs(10)))).join().unwrap()
/// })
/// .unwrap();
/// assert_eq!(n, 1);
/// assert_eq!(fds[0].revents(), PollFlags::POLLIN);
/// assert!(fds[1].revents().is_empty());
/// ```
#[track_caller]
pub fn poll(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> io::Result<usize> {
    let deadline = deadline_of(timeout);
    if !shim_rt::in_coroutine() {
        return poll_blocking(fds, deadline);
    }
    let n = poll_now(fds)?;
    if n > 0 || timeout.is_some_and(|t| t.is_zero()) {
        return Ok(n);
    }
    let watch = watch(fds)?;
    // Recorded on the user's first descriptor, as the fallback records it.
    let first = fds.first().map_or(0, |f| f.pfd.fd as usize);
    loop {
        match watch.wait_on(Interest::Read, WaitOn::new(WaitKind::Poll, first), deadline) {
            Ok(true) => {}
            // Timed out: report what is true now (usually nothing).
            Ok(false) => return poll_now(fds),
            // The kernel refuses one more nested epoll path to one of the
            // descriptors (about 100 other pollers of it at this moment).
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ELOOP)) => {
                drop(watch);
                return poll_stepping(fds, deadline);
            }
            Err(e) => return Err(e),
        }
        // The instance is readable only while a member is ready, but that
        // member may have been drained since: ask poll(2).
        let n = poll_now(fds)?;
        if n > 0 {
            return Ok(n);
        }
    }
}

/// The fallback of [`poll()`] when the kernel refuses the nesting: checks
/// with a zero timeout, sleeping cooperatively in between (1 ms, doubling up
/// to 16 ms).
#[track_caller]
fn poll_stepping(fds: &mut [PollFd<'_>], deadline: Option<Instant>) -> io::Result<usize> {
    let mut step = Duration::from_millis(1);
    loop {
        let n = poll_now(fds)?;
        let now = Instant::now();
        if n > 0 || deadline.is_some_and(|d| now >= d) {
            return Ok(n);
        }
        let wake = now + step;
        let first = fds.first().map_or(0, |f| f.pfd.fd as usize);
        pause(
            Some(deadline.map_or(wake, |d| d.min(wake))),
            WaitOn::new(WaitKind::Poll, first),
        );
        step = (step * 2).min(Duration::from_millis(16));
    }
}

/// `poll(2)` with a zero timeout.
fn poll_now(fds: &mut [PollFd<'_>]) -> io::Result<usize> {
    poll_sys(fds, 0)
}

fn poll_sys(fds: &mut [PollFd<'_>], timeout_ms: libc::c_int) -> io::Result<usize> {
    loop {
        // SAFETY: `PollFd` is a transparent `pollfd`, so the slice is a
        // valid array of `fds.len()` entries for the kernel to update.
        let r = unsafe {
            libc::poll(
                fds.as_mut_ptr().cast::<libc::pollfd>(),
                fds.len() as libc::nfds_t,
                timeout_ms,
            )
        };
        match cvt(r) {
            Ok(n) => return Ok(n as usize),
            // Only the zero-timeout call retries here; a blocking one
            // recomputes its timeout first.
            Err(e) if e.kind() == io::ErrorKind::Interrupted && timeout_ms == 0 => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `poll(2)` on a plain thread, until `deadline`.
fn poll_blocking(fds: &mut [PollFd<'_>], deadline: Option<Instant>) -> io::Result<usize> {
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_nanos()
                .div_ceil(1_000_000)
                .min(libc::c_int::MAX as u128) as libc::c_int,
        };
        match poll_sys(fds, timeout_ms) {
            Ok(0) if deadline.is_some_and(|d| Instant::now() < d) => continue,
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A private selector (epoll on Linux, kqueue on macOS and FreeBSD) over
/// the descriptors of one [`poll()`] call, to be waited on through
/// greenstd's pollers.
fn watch(fds: &[PollFd<'_>]) -> io::Result<IoSource> {
    // One entry per descriptor, with the union of the events asked for
    // (poll(2) allows a descriptor twice; epoll does not).
    let mut wanted: HashMap<RawFd, libc::c_short> = HashMap::with_capacity(fds.len());
    for pfd in fds {
        if pfd.pfd.fd >= 0 {
            *wanted.entry(pfd.pfd.fd).or_default() |= pfd.pfd.events;
        }
    }
    // Each `fd` is borrowed by a `PollFd` for the whole poll.
    Ok(IoSource::new(shim_rt::sys::poll_set(wanted)?))
}
