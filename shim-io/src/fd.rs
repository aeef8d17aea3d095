//! [`GreenFd`]: a descriptor whose reads and writes block cooperatively,
//! the building block of greenstd's pipes (`io::pipe`, the child pipes of
//! `process`) and of its standard streams.
//!
//! # How a read or write avoids blocking the worker
//!
//! A descriptor may be shared with other processes (a pipe handed to a
//! child, a terminal) and `O_NONBLOCK` belongs to the *open file
//! description*: setting it changes the descriptor for everyone who shares
//! it. So the flags are left alone wherever the kernel allows it, and each
//! attempt is made non-blocking by itself:
//!
//! * anonymous pipes: `preadv2`/`pwritev2` with `RWF_NOWAIT` (Linux 5.x and
//!   later accept it on pipes; named FIFOs and terminals refuse it);
//! * sockets: `recv`/`send` with `MSG_DONTWAIT`;
//! * regular files and block devices never report "would block": in a
//!   coroutine they are read and written on the offload pool;
//! * anything else (terminals, named FIFOs, character devices), and pipes on
//!   a kernel that refuses `RWF_NOWAIT`: `O_NONBLOCK` is set on the
//!   description while greenstd holds it and cleared again when the
//!   descriptor is given back (`into_raw_fd`, `OwnedFd`, `Stdio`).
//!
//! An attempt that would block waits for readiness on the pollers
//! (cooperatively) and is retried. On a plain OS thread a pipe is read and
//! written with plain `read(2)`/`write(2)`, exactly as std does.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use shim_rt::io::{Interest, IoSource, View};
use shim_rt::{in_coroutine, offload};

pub(crate) use shim_rt::sys::{file_flags, fstat, set_o_nonblock};

/// How the attempts on a descriptor are made non-blocking; see the module
/// documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Mode {
    /// An anonymous pipe: `RWF_NOWAIT` per call, flags untouched.
    NoWait = 0,
    /// A socket: `MSG_DONTWAIT` per call, flags untouched.
    Socket = 1,
    /// `O_NONBLOCK` set by greenstd on the description.
    NonBlock = 2,
    /// A regular file or block device: the offload pool in a coroutine.
    Offload = 3,
}

impl Mode {
    fn from_u8(v: u8) -> Mode {
        match v {
            0 => Mode::NoWait,
            1 => Mode::Socket,
            2 => Mode::NonBlock,
            _ => Mode::Offload,
        }
    }
}

/// What the kernel says about anonymous pipes, found once with a pipe of
/// our own: the device number of pipefs (anonymous pipes have it, named
/// FIFOs do not) and whether `RWF_NOWAIT` works on them.
struct PipeFacts {
    dev: libc::dev_t,
    nowait: bool,
}

fn pipe_facts() -> &'static PipeFacts {
    static FACTS: OnceLock<PipeFacts> = OnceLock::new();
    FACTS.get_or_init(|| {
        let Ok((r, w)) = raw_pipe() else {
            return PipeFacts {
                dev: 0,
                nowait: false,
            };
        };
        let dev = fstat(r.as_raw_fd()).map_or(0, |st| st.st_dev);
        let mut byte = [0u8; 1];
        // The pipe is empty: a working RWF_NOWAIT says EAGAIN, an
        // unsupported one EOPNOTSUPP (or EINVAL/ENOSYS on old kernels).
        let nowait = matches!(
            preadv2_nowait(r.as_raw_fd(), &mut [IoSliceMut::new(&mut byte)]),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN)
        );
        drop(w);
        PipeFacts { dev, nowait }
    })
}

/// A close-on-exec pipe, as std's `io::pipe` and `Stdio::piped` create pipes.
pub(crate) use shim_rt::sys::pipe_cloexec as raw_pipe;

/// How to make attempts on the descriptor `st` describes non-blocking, or
/// `None` if it must get `O_NONBLOCK`.
pub(crate) fn classify(st: &libc::stat) -> Option<Mode> {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFIFO => {
            let facts = pipe_facts();
            (facts.nowait && st.st_dev == facts.dev).then_some(Mode::NoWait)
        }
        libc::S_IFSOCK => Some(Mode::Socket),
        libc::S_IFREG | libc::S_IFBLK => Some(Mode::Offload),
        _ => None,
    }
}

/// `preadv2(fd, bufs, -1, RWF_NOWAIT)`: one read at the file position that
/// fails with `EAGAIN` instead of waiting (`EOPNOTSUPP` where the OS has
/// no `RWF_NOWAIT`: see [`shim_rt::sys::read_nowait`]).
pub(crate) fn preadv2_nowait(fd: RawFd, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    shim_rt::sys::read_nowait(fd, bufs, -1)
}

/// `pwritev2(fd, bufs, -1, RWF_NOWAIT)`: one write that fails with
/// `EAGAIN` instead of waiting (and writes what fits).
pub(crate) use shim_rt::sys::write_nowait as pwritev2_nowait;

pub(crate) use shim_rt::sys::{readv, writev};

/// `recvmsg(2)` with `MSG_DONTWAIT` into several buffers (read(2) on a
/// socket is recv with no flags).
fn recv_dontwait(fd: RawFd, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    shim_rt::sys::recv_vectored(fd, bufs, libc::MSG_DONTWAIT)
}

/// `sendmsg(2)` with `MSG_DONTWAIT` from several buffers (write(2) on a
/// socket is send with no flags: `SIGPIPE` behaves as for write).
fn send_dontwait(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    shim_rt::sys::send_vectored(fd, bufs, libc::MSG_DONTWAIT)
}

/// The buffers of one transfer, in either direction.
pub(crate) enum Bufs<'a, 'b> {
    Read(&'a mut [IoSliceMut<'b>]),
    Write(&'a [IoSlice<'b>]),
}

impl Bufs<'_, '_> {
    pub(crate) fn interest(&self) -> Interest {
        match self {
            Bufs::Read(_) => Interest::Read,
            Bufs::Write(_) => Interest::Write,
        }
    }

    /// The plain, blocking (or `O_NONBLOCK`) call std makes.
    pub(crate) fn plain(&mut self, fd: RawFd) -> io::Result<usize> {
        match self {
            Bufs::Read(b) => readv(fd, b),
            Bufs::Write(b) => writev(fd, b),
        }
    }

    /// One attempt that does not wait, in `mode` (`NoWait` or `Socket`).
    pub(crate) fn no_wait(&mut self, fd: RawFd, mode: Mode) -> io::Result<usize> {
        match (self, mode) {
            (Bufs::Read(b), Mode::NoWait) => preadv2_nowait(fd, b),
            (Bufs::Write(b), Mode::NoWait) => pwritev2_nowait(fd, b),
            (Bufs::Read(b), Mode::Socket) => recv_dontwait(fd, b),
            (Bufs::Write(b), Mode::Socket) => send_dontwait(fd, b),
            (b, _) => b.plain(fd),
        }
    }
}

/// A descriptor whose reads and writes block cooperatively in a coroutine
/// and exactly as std's on a plain OS thread (see the module documentation):
/// an [`IoSource`] and how its attempts are made non-blocking.
///
/// For greenstd's own crates (`shim-process` builds its child pipes on it).
#[derive(Debug)]
pub struct GreenFd {
    src: IoSource,
    mode: AtomicU8,
}

impl GreenFd {
    /// `user_nonblocking`: `O_NONBLOCK` was on when the descriptor came in,
    /// the user's choice, so a transfer that would block fails with
    /// `WouldBlock`, as in std.
    fn with_mode(fd: OwnedFd, mode: Mode, user_nonblocking: bool) -> GreenFd {
        let src = IoSource::new(fd);
        if user_nonblocking {
            src.set_nonblocking(true);
        }
        GreenFd {
            src,
            mode: AtomicU8::new(mode as u8),
        }
    }

    /// Takes a descriptor greenstd (or std, for greenstd) just created and
    /// holds alone: one end of a new pipe, in blocking mode.
    pub(crate) fn new_pipe(fd: OwnedFd) -> GreenFd {
        GreenFd::new_pipe_with(fd, pipe_facts().nowait)
    }

    /// [`GreenFd::new_pipe`], with or without `RWF_NOWAIT` (tests force the
    /// fallback through it).
    fn new_pipe_with(fd: OwnedFd, nowait: bool) -> GreenFd {
        let mode = if nowait {
            Mode::NoWait
        } else if set_o_nonblock(fd.as_raw_fd(), true).is_ok() {
            Mode::NonBlock
        } else {
            // Cannot happen on a pipe we hold; if it did, plain blocking
            // calls on the offload pool are still correct.
            Mode::Offload
        };
        GreenFd::with_mode(fd, mode, false)
    }

    /// Takes over a descriptor from outside (`From<OwnedFd>`, `FromRawFd`):
    /// its current blocking mode is kept as the user's. Cannot fail (the
    /// traits cannot): a descriptor that rejects `fstat` or `fcntl` reports
    /// the OS error when used.
    pub fn adopt(fd: OwnedFd) -> GreenFd {
        let raw = fd.as_raw_fd();
        let user_nonblocking = file_flags(raw).is_ok_and(|f| f & libc::O_NONBLOCK != 0);
        let mode = match fstat(raw).ok().as_ref().and_then(classify) {
            Some(mode) => mode,
            None => {
                if !user_nonblocking {
                    let _ = set_o_nonblock(raw, true);
                }
                Mode::NonBlock
            }
        };
        GreenFd::with_mode(fd, mode, user_nonblocking)
    }

    /// A description greenstd opened itself with `O_NONBLOCK` (the
    /// standard streams' private reopenings): never handed out.
    pub(crate) fn private(fd: OwnedFd) -> GreenFd {
        GreenFd::with_mode(fd, Mode::NonBlock, false)
    }

    /// The source, for transfers of one's own (the standard streams).
    pub(crate) fn source(&self) -> &IoSource {
        &self.src
    }

    /// The descriptor.
    pub fn raw(&self) -> RawFd {
        self.src.raw()
    }

    /// The owned descriptor, borrowed.
    pub fn fd(&self) -> &OwnedFd {
        self.src.fd()
    }

    fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::Relaxed))
    }

    /// Gives the descriptor up as std would hand it over: `O_NONBLOCK`
    /// cleared again if greenstd set it.
    pub fn into_fd(self) -> OwnedFd {
        let restore = self.mode() == Mode::NonBlock && !self.src.is_nonblocking();
        let fd = self.src.into_fd();
        if restore {
            // On failure it stays non-blocking, the only other state.
            let _ = set_o_nonblock(fd.as_raw_fd(), false);
        }
        fd
    }

    /// A new handle to the same description (`F_DUPFD_CLOEXEC`, as std's
    /// `try_clone`), made non-blocking the same way.
    pub(crate) fn try_clone(&self) -> io::Result<GreenFd> {
        Ok(GreenFd {
            src: self.src.try_clone()?,
            mode: AtomicU8::new(self.mode() as u8),
        })
    }

    /// Views the descriptor as one of std's types, for the calls that never
    /// block (`Debug`). Never use the view to read, write or close.
    pub(crate) fn view<T: FromRawFd>(&self) -> View<'_, T> {
        self.src.view()
    }

    /// Reads, as std's `read` on a pipe: cooperative in a coroutine.
    #[track_caller]
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_vectored(&mut [IoSliceMut::new(buf)])
    }

    /// Reads into several buffers, as std's `read_vectored` (`readv`).
    #[track_caller]
    pub fn read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.transfer(Bufs::Read(bufs))
    }

    /// Writes, as std's `write` on a pipe: cooperative in a coroutine.
    #[track_caller]
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    /// Writes from several buffers, as std's `write_vectored` (`writev`).
    #[track_caller]
    pub fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.transfer(Bufs::Write(bufs))
    }

    #[track_caller]
    fn transfer(&self, mut bufs: Bufs<'_, '_>) -> io::Result<usize> {
        let fd = self.raw();
        match self.mode() {
            // On a plain thread `offload::run` runs it right here.
            Mode::Offload => return offload::run(|| bufs.plain(fd)),
            // A plain OS thread makes std's call; so does a descriptor
            // whose owner asked for non-blocking mode.
            Mode::NoWait | Mode::Socket if !in_coroutine() || self.src.is_nonblocking() => {
                return bufs.plain(fd)
            }
            _ => {}
        }
        let interest = bufs.interest();
        let r = self.src.io(interest, interest.kind(), || {
            let mode = self.mode();
            let r = match mode {
                Mode::NonBlock | Mode::Offload => bufs.plain(fd),
                mode => bufs.no_wait(fd, mode),
            };
            match r {
                // `O_NONBLOCK` set since we took the descriptor (through
                // `as_raw_fd`): the user's choice, std would fail.
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        && mode != Mode::NonBlock
                        && file_flags(fd).is_ok_and(|f| f & libc::O_NONBLOCK != 0) =>
                {
                    Ok(Err(e))
                }
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) && mode == Mode::NoWait => {
                    // The kernel refused RWF_NOWAIT after all.
                    set_o_nonblock(fd, true)?;
                    self.mode.store(Mode::NonBlock as u8, Ordering::Relaxed);
                    bufs.plain(fd).map(Ok)
                }
                r => r.map(Ok),
            }
        });
        r?
    }
}

impl io::Read for &GreenFd {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        GreenFd::read(self, buf)
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        GreenFd::read_vectored(self, bufs)
    }
}

impl io::Write for &GreenFd {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        GreenFd::write(self, buf)
    }

    #[track_caller]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        GreenFd::write_vectored(self, bufs)
    }

    #[track_caller]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for GreenFd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_are_nowait_or_nonblocking_and_handed_back_blocking() {
        let (r, w) = raw_pipe().unwrap();
        let (r, w) = (GreenFd::new_pipe(r), GreenFd::new_pipe(w));
        assert_eq!(w.write(b"abc").unwrap(), 3);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 3);
        let r = r.into_fd();
        assert_eq!(file_flags(r.as_raw_fd()).unwrap() & libc::O_NONBLOCK, 0);
        drop(w);
    }

    #[test]
    fn the_o_nonblock_fallback_is_cleared_on_the_way_out() {
        let (r, w) = raw_pipe().unwrap();
        let (r, w) = (
            GreenFd::new_pipe_with(r, false),
            GreenFd::new_pipe_with(w, false),
        );
        assert_ne!(file_flags(r.raw()).unwrap() & libc::O_NONBLOCK, 0);
        assert_eq!(w.write(b"abc").unwrap(), 3);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 3);
        for end in [r.into_fd(), w.into_fd()] {
            assert_eq!(file_flags(end.as_raw_fd()).unwrap() & libc::O_NONBLOCK, 0);
        }
    }

    #[test]
    fn adopting_a_non_blocking_descriptor_keeps_would_block() {
        let (r, _w) = raw_pipe().unwrap();
        set_o_nonblock(r.as_raw_fd(), true).unwrap();
        let r = GreenFd::adopt(r);
        let mut buf = [0u8; 4];
        let e = r.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let r = r.into_fd();
        assert_ne!(file_flags(r.as_raw_fd()).unwrap() & libc::O_NONBLOCK, 0);
    }
}
