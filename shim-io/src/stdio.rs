//! The standard streams: `stdin`, `stdout`, `stderr` and the `print!`
//! family, cooperative in coroutines.
//!
//! Descriptors 0, 1 and 2 are usually shared with other processes (the
//! shell's terminal, a pipe from or to the parent), so their file
//! descriptions are never made non-blocking. A transfer in a coroutine looks
//! at what the descriptor is (`fstat`, on every call: a program may
//! `dup2` another file over it) and then:
//!
//! * anonymous pipe: `RWF_NOWAIT` attempts on the descriptor itself, waiting
//!   for readiness on the pollers in between (through an `IoSource` over a
//!   duplicate of the descriptor, made for the wait and closed after it);
//! * socket: `MSG_DONTWAIT` attempts, the same way;
//! * terminal, named FIFO, other character device: the same file is opened
//!   again through `/proc/self/fd/N` as a *private* non-blocking description
//!   (`O_NOCTTY`), read or written in place of the shared one — same data,
//!   same order, nobody else's flags changed;
//! * regular file or block device: the call runs on the offload pool;
//! * when none of this is possible (no `/proc`, as on macOS and FreeBSD:
//!   see `shim_rt::sys::reopen`; a refused open): std's
//!   blocking call, as a last resort.
//!
//! A descriptor the user made non-blocking keeps failing with `WouldBlock`.
//! On a plain OS thread every transfer is std's own blocking call.

use std::cell::{RefCell, UnsafeCell};
use std::fmt;
use std::io::{self, BufRead, BufReader, IoSlice, IoSliceMut, LineWriter, Lines, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, OnceLock, PoisonError};

use shim_rt::io::{attempt, IoSource};
use shim_rt::{in_coroutine, offload};
use shim_sync::{Condvar, Mutex, MutexGuard};

use crate::fd::{classify, file_flags, fstat, Bufs, GreenFd, Mode};

// ---------------------------------------------------------------------------
// Routing a transfer on descriptor 0, 1 or 2.
// ---------------------------------------------------------------------------

/// What a standard descriptor currently is: (device, inode).
type Ident = (libc::dev_t, libc::ino_t);

/// How transfers on one standard descriptor are made in a coroutine.
#[derive(Clone)]
enum How {
    /// Non-blocking attempts on the descriptor itself (`NoWait`, `Socket`);
    /// a wait registers a duplicate of it for the time of the wait (the
    /// descriptor may be closed or replaced behind our back, `dup2`, and a
    /// duplicate kept longer would keep the file open: a pipe's reader
    /// would not see the end of stream when the program closes its stdout).
    Direct(Mode),
    /// A private non-blocking description of the same file.
    Reopened(Arc<GreenFd>),
    /// A regular file or block device: the offload pool.
    Offload,
    /// Nothing better was possible: std's blocking call.
    Inline,
}

#[derive(Default)]
struct Routes {
    current: Option<(Ident, How)>,
}

/// One of the three standard descriptors.
struct StdFd {
    fd: RawFd,
    routes: StdMutex<Routes>,
}

static STD_FDS: [StdFd; 3] = [StdFd::new(0), StdFd::new(1), StdFd::new(2)];

impl StdFd {
    const fn new(fd: RawFd) -> StdFd {
        StdFd {
            fd,
            routes: StdMutex::new(Routes { current: None }),
        }
    }

    /// The route for the file the descriptor refers to now.
    fn route(&self) -> io::Result<How> {
        let st = fstat(self.fd)?;
        let ident = (st.st_dev, st.st_ino);
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((id, how)) = &routes.current {
            if *id == ident {
                return Ok(how.clone());
            }
        }
        let how = match classify(&st) {
            Some(Mode::Offload) => How::Offload,
            Some(mode) => How::Direct(mode),
            None => self.reopen(),
        };
        routes.current = Some((ident, how.clone()));
        Ok(how)
    }

    /// The `RWF_NOWAIT` attempt was refused after all (an old kernel):
    /// reopen the file instead.
    fn no_direct(&self) {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, how)) = &mut routes.current {
            *how = self.reopen();
        }
    }

    /// Opens the file again as a private non-blocking description.
    #[track_caller]
    fn reopen(&self) -> How {
        let access = if self.fd == 0 {
            libc::O_RDONLY
        } else {
            libc::O_WRONLY
        };
        match shim_rt::sys::reopen(self.fd, access | libc::O_NONBLOCK | libc::O_NOCTTY) {
            Ok(fd) => How::Reopened(Arc::new(GreenFd::private(fd))),
            Err(_) => How::Inline,
        }
    }

    /// One transfer, as std's raw standard stream makes it (see the module
    /// documentation).
    #[track_caller]
    fn transfer(&self, mut bufs: Bufs<'_, '_>) -> io::Result<usize> {
        if !in_coroutine() {
            return bufs.plain(self.fd);
        }
        let interest = bufs.interest();
        loop {
            let how = self.route()?;
            let (io_fd, mode, reopened) = match &how {
                How::Offload => return offload::run(|| bufs.plain(self.fd)),
                How::Inline => return bufs.plain(self.fd),
                How::Direct(mode) => (self.fd, *mode, None),
                How::Reopened(g) => (g.raw(), Mode::NonBlock, Some(g.source())),
            };
            // One attempt for the source's retry loop: `Err` only for
            // "wait and try again" (`WouldBlock`, `EINTR`), every other
            // outcome is `Ok`, so an `Err` out of the loop is the pollers'.
            let mut refused = false;
            let mut op = || {
                let r = match mode {
                    Mode::NonBlock => bufs.plain(io_fd),
                    mode => bufs.no_wait(io_fd, mode),
                };
                match r {
                    // The shared description is non-blocking: someone's
                    // choice, and std fails.
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            && file_flags(self.fd).is_ok_and(|f| f & libc::O_NONBLOCK != 0) =>
                    {
                        Ok(Err(e))
                    }
                    Err(e)
                        if e.raw_os_error() == Some(libc::EOPNOTSUPP) && mode == Mode::NoWait =>
                    {
                        refused = true;
                        Ok(Err(e))
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) =>
                    {
                        Err(e)
                    }
                    r => Ok(r),
                }
            };
            let r = match reopened {
                Some(src) => src.io(interest, interest.kind(), op),
                // The first try needs no registration.
                None => match attempt(&mut op) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => shim_rt::sys::dup_cloexec(self.fd)
                        .map(IoSource::new)
                        .and_then(|src| src.io(interest, interest.kind(), op)),
                    r => r,
                },
            };
            if refused {
                // The `RWF_NOWAIT` attempt was refused after all (an old
                // kernel): reopen the file instead.
                self.no_direct();
                continue;
            }
            return match r {
                Ok(r) => r,
                // The pollers refuse it: std's call, off the worker.
                Err(_) => offload::run(|| bufs.plain(self.fd)),
            };
        }
    }
}

/// std treats a closed standard descriptor as a bottomless sink and an
/// empty source (`EBADF` is success).
#[track_caller]
fn handle_ebadf<T>(r: io::Result<T>, default: T) -> io::Result<T> {
    match r {
        Err(ref e) if e.raw_os_error() == Some(libc::EBADF) => Ok(default),
        r => r,
    }
}

/// Descriptor 0, 1 or 2 as a raw, unbuffered reader or writer.
struct Raw(usize);

impl Read for Raw {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_vectored(&mut [IoSliceMut::new(buf)])
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        handle_ebadf(STD_FDS[self.0].transfer(Bufs::Read(bufs)), 0)
    }
}

impl Write for Raw {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    #[track_caller]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total = bufs.iter().map(|b| b.len()).sum();
        handle_ebadf(STD_FDS[self.0].transfer(Bufs::Write(bufs)), total)
    }

    #[track_caller]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// A reentrant lock whose waits park the coroutine.
// ---------------------------------------------------------------------------

/// std's stdout and stderr locks are reentrant (a `println!` inside code
/// that holds `stdout().lock()` does not deadlock): so is this one, per
/// coroutine or thread.
struct ReentrantLock<T> {
    /// The owner's task id; 0 when free.
    owner: AtomicU64,
    /// How many times the owner holds it; touched only by the owner.
    count: UnsafeCell<u32>,
    held: Mutex<bool>,
    freed: Condvar,
    data: T,
}

// SAFETY: `count` is only touched by the owner, and `data` is only reached
// through a guard, which exists only in the owner (a `RefCell` inside sorts
// out its reentrant uses).
unsafe impl<T: Send> Sync for ReentrantLock<T> {}

struct ReentrantGuard<'a, T> {
    lock: &'a ReentrantLock<T>,
    /// Not `Send`, as std's guard.
    _not_send: std::marker::PhantomData<*const ()>,
}

fn me() -> u64 {
    shim_rt::task::current().id().get()
}

impl<T> ReentrantLock<T> {
    fn new(data: T) -> ReentrantLock<T> {
        ReentrantLock {
            owner: AtomicU64::new(0),
            count: UnsafeCell::new(0),
            held: Mutex::new(false),
            freed: Condvar::new(),
            data,
        }
    }

    #[track_caller]
    fn lock(&self) -> ReentrantGuard<'_, T> {
        let me = me();
        if self.owner.load(Ordering::Relaxed) != me {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            while *held {
                held = self
                    .freed
                    .wait(held)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            *held = true;
            drop(held);
            self.owner.store(me, Ordering::Relaxed);
        }
        self.enter()
    }

    #[track_caller]
    fn try_lock(&self) -> Option<ReentrantGuard<'_, T>> {
        let me = me();
        if self.owner.load(Ordering::Relaxed) != me {
            let mut held = self.held.try_lock().ok()?;
            if *held {
                return None;
            }
            *held = true;
            drop(held);
            self.owner.store(me, Ordering::Relaxed);
        }
        Some(self.enter())
    }

    fn enter(&self) -> ReentrantGuard<'_, T> {
        // SAFETY: the caller is the owner.
        unsafe { *self.count.get() += 1 };
        ReentrantGuard {
            lock: self,
            _not_send: std::marker::PhantomData,
        }
    }
}

impl<T> std::ops::Deref for ReentrantGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.lock.data
    }
}

impl<T> Drop for ReentrantGuard<'_, T> {
    fn drop(&mut self) {
        let lock = self.lock;
        // SAFETY: a guard exists only in the owner.
        let count = unsafe {
            let c = &mut *lock.count.get();
            *c -= 1;
            *c
        };
        if count == 0 {
            lock.owner.store(0, Ordering::Relaxed);
            *lock.held.lock().unwrap_or_else(PoisonError::into_inner) = false;
            lock.freed.notify_one();
        }
    }
}

// ---------------------------------------------------------------------------
// stdin
// ---------------------------------------------------------------------------

/// std's stdin buffer size.
const STDIN_BUF_SIZE: usize = 8 * 1024;

fn stdin_buffer() -> &'static Mutex<BufReader<Raw>> {
    static STDIN: OnceLock<Mutex<BufReader<Raw>>> = OnceLock::new();
    STDIN.get_or_init(|| Mutex::new(BufReader::with_capacity(STDIN_BUF_SIZE, Raw(0))))
}

/// A handle to the standard input stream of a process.
///
/// Each handle is a shared reference to a global buffer of input data to
/// this process. A handle can be `lock`'d to gain full access to
/// [`BufRead`] methods (e.g., `.lines()`). Reads to this handle are
/// otherwise locked with respect to other reads.
///
/// This handle implements the `Read` trait, but beware that concurrent
/// reads of `Stdin` must be executed with care.
///
/// Created by the [`stdin`] method. In a greenstd coroutine a read that has
/// to wait suspends the coroutine, not its worker; the buffer is greenstd's
/// own, shared by every coroutine and thread that reads through greenstd
/// (code that calls std's own `stdin()` has std's buffer).
///
/// # Examples
///
/// ```no_run
/// let mut buffer = String::new();
/// shim_io::stdin().read_line(&mut buffer)?;
/// # std::io::Result::Ok(())
/// ```
pub struct Stdin {
    _priv: (),
}

/// A locked reference to the [`Stdin`] handle.
///
/// This handle implements both the [`Read`] and [`BufRead`] traits, and is
/// constructed via the [`Stdin::lock`] method.
pub struct StdinLock<'a> {
    inner: MutexGuard<'a, BufReader<Raw>>,
}

/// Constructs a new handle to the standard input of the current process.
///
/// Each handle returned is a reference to a shared global buffer whose
/// access is synchronized via a mutex. If you need more explicit control
/// over locking, see the [`Stdin::lock`] method.
///
/// # Examples
///
/// ```no_run
/// use std::io::BufRead;
///
/// for line in shim_io::stdin().lock().lines() {
///     println!("{}", line?);
/// }
/// # std::io::Result::Ok(())
/// ```
#[track_caller]
pub fn stdin() -> Stdin {
    Stdin { _priv: () }
}

impl Stdin {
    /// Locks this handle to the standard input stream, returning a readable
    /// guard.
    ///
    /// The lock is released when the returned lock goes out of scope. The
    /// returned guard also implements the [`Read`] and [`BufRead`] traits
    /// for accessing the underlying data.
    #[track_caller]
    pub fn lock(&self) -> StdinLock<'static> {
        StdinLock {
            inner: stdin_buffer()
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Locks this handle and reads a line of input, appending it to the
    /// specified buffer.
    ///
    /// For detailed semantics of this method, see the documentation on
    /// [`BufRead::read_line`].
    ///
    /// # Errors
    ///
    /// As [`BufRead::read_line`]: the read error, or `InvalidData` when the
    /// line is not UTF-8.
    #[track_caller]
    pub fn read_line(&self, buf: &mut String) -> io::Result<usize> {
        self.lock().read_line(buf)
    }

    /// Consumes this handle and returns an iterator over input lines.
    ///
    /// For detailed semantics of this method, see the documentation on
    /// [`BufRead::lines`].
    #[track_caller]
    pub fn lines(self) -> Lines<StdinLock<'static>> {
        self.lock().lines()
    }
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stdin").finish_non_exhaustive()
    }
}

impl Read for Stdin {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.lock().read(buf)
    }
    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.lock().read_vectored(bufs)
    }
    #[track_caller]
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.lock().read_to_end(buf)
    }
    #[track_caller]
    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        self.lock().read_to_string(buf)
    }
    #[track_caller]
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.lock().read_exact(buf)
    }
}

impl Read for &Stdin {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.lock().read(buf)
    }
    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.lock().read_vectored(bufs)
    }
    #[track_caller]
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.lock().read_to_end(buf)
    }
    #[track_caller]
    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        self.lock().read_to_string(buf)
    }
    #[track_caller]
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.lock().read_exact(buf)
    }
}

impl Read for StdinLock<'_> {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.inner.read_vectored(bufs)
    }
    #[track_caller]
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.inner.read_to_end(buf)
    }
    #[track_caller]
    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        self.inner.read_to_string(buf)
    }
    #[track_caller]
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf)
    }
}

impl BufRead for StdinLock<'_> {
    #[track_caller]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    #[track_caller]
    fn consume(&mut self, n: usize) {
        self.inner.consume(n)
    }
    #[track_caller]
    fn read_until(&mut self, byte: u8, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.inner.read_until(byte, buf)
    }
    #[track_caller]
    fn read_line(&mut self, buf: &mut String) -> io::Result<usize> {
        self.inner.read_line(buf)
    }
}

impl fmt::Debug for StdinLock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdinLock").finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// stdout and stderr
// ---------------------------------------------------------------------------

type StdoutCell = ReentrantLock<RefCell<LineWriter<Raw>>>;
type StderrCell = ReentrantLock<RefCell<Raw>>;

/// greenstd's stdout buffer, used by coroutines (plain threads use std's).
fn green_stdout() -> &'static StdoutCell {
    static STDOUT: OnceLock<StdoutCell> = OnceLock::new();
    STDOUT.get_or_init(|| {
        // What std does for its own buffer when the program ends: flush it.
        extern "C" fn flush_at_exit() {
            if let Some(cell) = STDOUT.get() {
                if let Some(guard) = cell.try_lock() {
                    if let Ok(mut w) = guard.try_borrow_mut() {
                        let _ = w.flush();
                    }
                }
            }
        }
        // SAFETY: registers a plain function with no captured state.
        unsafe { libc::atexit(flush_at_exit) };
        ReentrantLock::new(RefCell::new(LineWriter::new(Raw(1))))
    })
}

fn green_stderr() -> &'static StderrCell {
    static STDERR: OnceLock<StderrCell> = OnceLock::new();
    STDERR.get_or_init(|| ReentrantLock::new(RefCell::new(Raw(2))))
}

/// A handle to the global standard output stream of the current process.
///
/// Each handle shares a global buffer of data to be written to the standard
/// output stream. Access is also synchronized via a lock and explicit
/// control over locking is available via the [`lock`] method.
///
/// Created by the [`stdout`] method.
///
/// In a greenstd coroutine, a write to a full pipe (or a slow terminal)
/// suspends the coroutine, not its worker; coroutines share greenstd's
/// line buffer, and plain OS threads use std's own `Stdout`, exactly. Whole
/// lines keep their order either way; a partial line (no newline yet,
/// not flushed) waits in the buffer of the side that wrote it.
///
/// [`lock`]: Stdout::lock
pub struct Stdout {
    _priv: (),
}

/// A locked reference to the [`Stdout`] handle.
///
/// This handle implements the [`Write`] trait, and is constructed via the
/// [`Stdout::lock`] method.
pub struct StdoutLock<'a> {
    inner: OutLock<'a, io::StdoutLock<'a>, RefCell<LineWriter<Raw>>>,
}

/// A handle to the standard error stream of a process.
///
/// Unbuffered, as std's. Created by the [`stderr`] method. In a greenstd
/// coroutine a write to a full pipe suspends the coroutine, not its worker.
pub struct Stderr {
    _priv: (),
}

/// A locked reference to the [`Stderr`] handle.
///
/// This handle implements the [`Write`] trait and is constructed via the
/// [`Stderr::lock`] method.
pub struct StderrLock<'a> {
    inner: OutLock<'a, io::StderrLock<'a>, RefCell<Raw>>,
}

enum OutLock<'a, S, G> {
    /// On a plain OS thread: std's own lock.
    Std(S),
    /// In a coroutine: greenstd's.
    Green(ReentrantGuard<'a, G>),
}

/// Constructs a new handle to the standard output of the current process.
///
/// Each handle returned is a reference to a shared global buffer whose
/// access is synchronized via a mutex. If you need more explicit control
/// over locking, see the [`Stdout::lock`] method.
///
/// # Examples
///
/// ```
/// use std::io::Write;
///
/// shim_io::stdout().write_all(b"hello world")?;
/// # std::io::Result::Ok(())
/// ```
#[track_caller]
pub fn stdout() -> Stdout {
    Stdout { _priv: () }
}

/// Constructs a new handle to the standard error of the current process.
///
/// This handle is not buffered.
///
/// # Examples
///
/// ```
/// use std::io::Write;
///
/// shim_io::stderr().write_all(b"hello world")?;
/// # std::io::Result::Ok(())
/// ```
#[track_caller]
pub fn stderr() -> Stderr {
    Stderr { _priv: () }
}

impl Stdout {
    /// Locks this handle to the standard output stream, returning a
    /// writable guard.
    ///
    /// The lock is released when the returned lock goes out of scope. The
    /// returned guard also implements the `Write` trait for writing data.
    #[track_caller]
    pub fn lock(&self) -> StdoutLock<'static> {
        StdoutLock {
            inner: if in_coroutine() {
                OutLock::Green(green_stdout().lock())
            } else {
                OutLock::Std(io::stdout().lock())
            },
        }
    }
}

impl Stderr {
    /// Locks this handle to the standard error stream, returning a writable
    /// guard.
    ///
    /// The lock is released when the returned lock goes out of scope. The
    /// returned guard also implements the [`Write`] trait for writing data.
    #[track_caller]
    pub fn lock(&self) -> StderrLock<'static> {
        StderrLock {
            inner: if in_coroutine() {
                OutLock::Green(green_stderr().lock())
            } else {
                OutLock::Std(io::stderr().lock())
            },
        }
    }
}

/// `Write` through an [`OutLock`]: std's lock, or greenstd's `RefCell`.
macro_rules! out_lock_write {
    ($lock:ty) => {
        impl Write for $lock {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                match &mut self.inner {
                    OutLock::Std(s) => s.write(buf),
                    OutLock::Green(g) => g.borrow_mut().write(buf),
                }
            }
            #[track_caller]
            fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                match &mut self.inner {
                    OutLock::Std(s) => s.write_vectored(bufs),
                    OutLock::Green(g) => g.borrow_mut().write_vectored(bufs),
                }
            }
            #[track_caller]
            fn flush(&mut self) -> io::Result<()> {
                match &mut self.inner {
                    OutLock::Std(s) => s.flush(),
                    OutLock::Green(g) => g.borrow_mut().flush(),
                }
            }
            #[track_caller]
            fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
                match &mut self.inner {
                    OutLock::Std(s) => s.write_all(buf),
                    OutLock::Green(g) => g.borrow_mut().write_all(buf),
                }
            }
            #[track_caller]
            fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> io::Result<()> {
                match &mut self.inner {
                    OutLock::Std(s) => s.write_fmt(args),
                    OutLock::Green(g) => g.borrow_mut().write_fmt(args),
                }
            }
        }
    };
}

out_lock_write!(StdoutLock<'_>);
out_lock_write!(StderrLock<'_>);

/// `Write` for a handle and a reference to it, through its lock.
macro_rules! handle_write {
    ($t:ty) => {
        impl Write for $t {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.lock().write(buf)
            }
            #[track_caller]
            fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                self.lock().write_vectored(bufs)
            }
            #[track_caller]
            fn flush(&mut self) -> io::Result<()> {
                self.lock().flush()
            }
            #[track_caller]
            fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
                self.lock().write_all(buf)
            }
            #[track_caller]
            fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> io::Result<()> {
                self.lock().write_fmt(args)
            }
        }
    };
}

handle_write!(Stdout);
handle_write!(&Stdout);
handle_write!(Stderr);
handle_write!(&Stderr);

/// `Debug` as std's (`Name { .. }`) and `AsFd`/`AsRawFd` on descriptor `$fd`.
macro_rules! stdio_common {
    ($t:ty, $name:literal, $fd:literal) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct($name).finish_non_exhaustive()
            }
        }

        impl AsRawFd for $t {
            fn as_raw_fd(&self) -> RawFd {
                $fd
            }
        }

        impl AsFd for $t {
            fn as_fd(&self) -> BorrowedFd<'_> {
                // SAFETY: the standard descriptors stay open for the life of
                // the process, as std assumes for its own handles.
                unsafe { BorrowedFd::borrow_raw($fd) }
            }
        }
    };
}

stdio_common!(Stdout, "Stdout", 1);
stdio_common!(StdoutLock<'_>, "StdoutLock", 1);
stdio_common!(Stderr, "Stderr", 2);
stdio_common!(StderrLock<'_>, "StderrLock", 2);

impl AsRawFd for Stdin {
    fn as_raw_fd(&self) -> RawFd {
        0
    }
}

impl AsFd for Stdin {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: as for stdout.
        unsafe { BorrowedFd::borrow_raw(0) }
    }
}

impl AsRawFd for StdinLock<'_> {
    fn as_raw_fd(&self) -> RawFd {
        0
    }
}

impl AsFd for StdinLock<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: as for stdout.
        unsafe { BorrowedFd::borrow_raw(0) }
    }
}

impl From<Stdout> for Stdio {
    /// The child's stdout is this process's standard output.
    fn from(_: Stdout) -> Stdio {
        Stdio::from(io::stdout())
    }
}

impl From<Stderr> for Stdio {
    /// The child's stdout or stderr is this process's standard error.
    fn from(_: Stderr) -> Stdio {
        Stdio::from(io::stderr())
    }
}

// ---------------------------------------------------------------------------
// The print! family.
// ---------------------------------------------------------------------------

/// Writes `args` to stdout, as std's `print!`: panics when stdout fails.
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    if in_coroutine() {
        if let Err(e) = green_stdout().lock().borrow_mut().write_fmt(args) {
            panic!("failed printing to stdout: {e}");
        }
    } else {
        std::print!("{args}");
    }
}

/// Writes `args` and a newline to stdout in one locked write, as std's
/// `println!`.
#[doc(hidden)]
pub fn _print_line(args: fmt::Arguments<'_>) {
    if in_coroutine() {
        if let Err(e) = green_stdout()
            .lock()
            .borrow_mut()
            .write_fmt(format_args!("{args}\n"))
        {
            panic!("failed printing to stdout: {e}");
        }
    } else {
        std::println!("{args}");
    }
}

/// Writes `args` to stderr, as std's `eprint!`: panics when stderr fails.
#[doc(hidden)]
pub fn _eprint(args: fmt::Arguments<'_>) {
    if in_coroutine() {
        if let Err(e) = green_stderr().lock().borrow_mut().write_fmt(args) {
            panic!("failed printing to stderr: {e}");
        }
    } else {
        std::eprint!("{args}");
    }
}

/// Writes `args` and a newline to stderr, as std's `eprintln!`.
#[doc(hidden)]
pub fn _eprint_line(args: fmt::Arguments<'_>) {
    if in_coroutine() {
        if let Err(e) = green_stderr()
            .lock()
            .borrow_mut()
            .write_fmt(format_args!("{args}\n"))
        {
            panic!("failed printing to stderr: {e}");
        }
    } else {
        std::eprintln!("{args}");
    }
}

/// Prints to the standard output, as std's `print!`; in a coroutine, a
/// full stdout pipe suspends the coroutine instead of its worker.
///
/// Equivalent to [`println!`] except that a newline is not printed at the
/// end of the message. Stdout is line-buffered: use
/// `io::stdout().flush()` to show a partial line at once.
///
/// # Panics
///
/// Panics if writing to stdout fails.
///
/// # Examples
///
/// ```
/// shim_io::print!("this ");
/// shim_io::print!("will ");
/// shim_io::print!("be ");
/// shim_io::print!("on ");
/// shim_io::print!("the ");
/// shim_io::print!("same ");
/// shim_io::print!("line ");
/// ```
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::_print($crate::__format_args!($($arg)*))
    };
}

/// Prints to the standard output, with a newline, as std's `println!`; in
/// a coroutine, a full stdout pipe suspends the coroutine instead of its
/// worker.
///
/// # Panics
///
/// Panics if writing to stdout fails.
///
/// # Examples
///
/// ```
/// shim_io::println!(); // prints just a newline
/// shim_io::println!("hello there!");
/// shim_io::println!("format {} arguments", "some");
/// let local_variable = "some";
/// shim_io::println!("format {local_variable} arguments");
/// ```
#[macro_export]
macro_rules! println {
    () => {
        $crate::_print($crate::__format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::_print_line($crate::__format_args!($($arg)*))
    };
}

/// Prints to the standard error, as std's `eprint!`; in a coroutine, a
/// full stderr pipe suspends the coroutine instead of its worker.
///
/// # Panics
///
/// Panics if writing to stderr fails.
///
/// # Examples
///
/// ```
/// shim_io::eprint!("Error: Could not complete task");
/// ```
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => {
        $crate::_eprint($crate::__format_args!($($arg)*))
    };
}

/// Prints to the standard error, with a newline, as std's `eprintln!`; in
/// a coroutine, a full stderr pipe suspends the coroutine instead of its
/// worker.
///
/// # Panics
///
/// Panics if writing to stderr fails.
///
/// # Examples
///
/// ```
/// shim_io::eprintln!("Error: Could not complete task");
/// ```
#[macro_export]
macro_rules! eprintln {
    () => {
        $crate::_eprint($crate::__format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::_eprint_line($crate::__format_args!($($arg)*))
    };
}
