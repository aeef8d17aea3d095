//! `io::pipe`, `PipeReader`, `PipeWriter`: std's anonymous pipes, read and
//! written cooperatively.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};

use crate::fd::{raw_pipe, GreenFd};

/// Creates an anonymous pipe.
///
/// # Behavior
///
/// A pipe is a one-way data channel provided by the OS, which works across
/// processes. A pipe is typically used to communicate between two or more
/// separate processes, as there are better, faster ways to communicate
/// within a single process.
///
/// In particular:
///
/// * A read on a [`PipeReader`] blocks until the pipe is non-empty.
/// * A write on a [`PipeWriter`] blocks when the pipe is full.
/// * When all copies of a [`PipeWriter`] are closed, a read on the
///   corresponding [`PipeReader`] will return EOF.
/// * [`PipeWriter`] can be shared, and multiple processes or threads can
///   write to it at once, but writes (above a target-specific threshold) may
///   have their data interleaved.
/// * [`PipeReader`] can be shared, and multiple processes or threads can
///   read it at once. Any given byte will only get consumed by one reader.
///   There are no guarantees about data interleaving.
/// * Portable applications cannot assume any atomicity of messages larger
///   than a single byte.
///
/// In a greenstd coroutine, a read or write that has to wait suspends the
/// coroutine instead of its worker. Both ends are created with
/// `O_CLOEXEC` and in blocking mode, as std creates them: the pipe handed to
/// a child (through [`Stdio`](std::process::Stdio)) or given back (`into_raw_fd`, `OwnedFd`) is
/// the blocking pipe std would hand over.
///
/// # Errors
///
/// The OS error of `pipe2(2)` (e.g. too many open files).
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use shim_io::pipe;
///
/// let (mut reader, mut writer) = pipe()?;
/// writer.write_all(b"hello")?;
/// drop(writer);
/// let mut s = String::new();
/// reader.read_to_string(&mut s)?;
/// assert_eq!(s, "hello");
/// # std::io::Result::Ok(())
/// ```
#[track_caller]
pub fn pipe() -> io::Result<(PipeReader, PipeWriter)> {
    let (r, w) = raw_pipe()?;
    Ok((
        PipeReader {
            inner: GreenFd::new_pipe(r),
        },
        PipeWriter {
            inner: GreenFd::new_pipe(w),
        },
    ))
}

/// Read end of an anonymous pipe (see [`pipe`]).
pub struct PipeReader {
    inner: GreenFd,
}

/// Write end of an anonymous pipe (see [`pipe`]).
pub struct PipeWriter {
    inner: GreenFd,
}

impl PipeReader {
    /// Creates a new [`PipeReader`] instance that shares the same underlying
    /// file description.
    ///
    /// # Errors
    ///
    /// The OS error of `fcntl(F_DUPFD_CLOEXEC)`.
    #[track_caller]
    pub fn try_clone(&self) -> io::Result<PipeReader> {
        Ok(PipeReader {
            inner: self.inner.try_clone()?,
        })
    }
}

impl PipeWriter {
    /// Creates a new [`PipeWriter`] instance that shares the same underlying
    /// file description.
    ///
    /// # Errors
    ///
    /// The OS error of `fcntl(F_DUPFD_CLOEXEC)`.
    #[track_caller]
    pub fn try_clone(&self) -> io::Result<PipeWriter> {
        Ok(PipeWriter {
            inner: self.inner.try_clone()?,
        })
    }
}

impl Read for &PipeReader {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.inner.read_vectored(bufs)
    }
}

impl Read for PipeReader {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.inner.read_vectored(bufs)
    }
}

impl Write for &PipeWriter {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    #[track_caller]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.inner.write_vectored(bufs)
    }

    #[track_caller]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for PipeWriter {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    #[track_caller]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.inner.write_vectored(bufs)
    }

    #[track_caller]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The descriptor traits and conversions std has for its pipe types, for a
/// type `$t` that wraps a [`sys::GreenFd`] in a field `inner` and stands for
/// std's `$std` (`shim_rt::__fd_traits!`), and the `Stdio` conversion: one
/// definition for the pipe ends here and the child pipes of `shim-process`.
#[doc(hidden)]
#[macro_export]
macro_rules! __green_fd_traits {
    ($t:ident, $std:ty) => {
        ::shim_rt::__fd_traits!($t, $std, $crate::sys::GreenFd::adopt);

        impl From<$t> for ::std::process::Stdio {
            /// A child's stdio that is this end of the pipe (blocking, as std
            /// hands it to the child).
            fn from(p: $t) -> ::std::process::Stdio {
                ::std::process::Stdio::from(p.inner.into_fd())
            }
        }
    };
}

/// std's `Debug` for the pipe types.
macro_rules! pipe_debug {
    ($t:ident, $std:ty) => {
        impl std::fmt::Debug for $t {
            /// Formats as std's type does.
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&*self.inner.view::<$std>(), f)
            }
        }
    };
}

crate::__green_fd_traits!(PipeReader, std::io::PipeReader);
crate::__green_fd_traits!(PipeWriter, std::io::PipeWriter);
pipe_debug!(PipeReader, std::io::PipeReader);
pipe_debug!(PipeWriter, std::io::PipeWriter);
