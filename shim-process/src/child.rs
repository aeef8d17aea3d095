//! `Child` and its pipes.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::process::{ExitStatus, Output};
use std::time::{Duration, Instant};

use shim_io::sys::GreenFd;
use shim_rt::in_coroutine;
use shim_rt::io::{Interest, IoSource};
use shim_rt::wait::{pause, WaitKind, WaitOn};

use crate::read2::read2;

/// Representation of a running or exited child process.
///
/// This structure is used to represent and manage child processes. A child
/// process is created via the [`Command`](crate::Command) struct, which
/// configures the spawning process and can itself be constructed using a
/// builder-style interface.
///
/// There is no implementation of [`Drop`] for child processes, so if you do
/// not ensure the `Child` has exited then it will continue to run, even
/// after the `Child` handle to the child process has gone out of scope.
///
/// Calling [`wait`](Child::wait) (or other functions that wrap around it)
/// will make the parent process wait until the child has actually exited
/// before continuing; in a greenstd coroutine only the coroutine waits.
///
/// # Examples
///
/// ```
/// use shim_process::Command;
///
/// let mut child = Command::new("/bin/cat")
///     .arg("/dev/null")
///     .spawn()
///     .expect("failed to execute child");
///
/// let ecode = child.wait().expect("failed to wait on child");
///
/// assert!(ecode.success());
/// ```
pub struct Child {
    handle: std::process::Child,
    /// The child's exit readiness: `None` until first needed, then the
    /// pidfd, or `Err` if the kernel refused one (poll `try_wait` instead).
    exit: Option<Result<PidFd, ()>>,

    /// The handle for writing to the child's standard input (stdin), if it
    /// has been captured. You might find it helpful to do
    ///
    /// ```ignore (incomplete)
    /// let stdin = child.stdin.take().expect("handle present");
    /// ```
    ///
    /// to avoid partially moving the `child` and thus blocking yourself
    /// from calling functions on `child` while using `stdin`.
    pub stdin: Option<ChildStdin>,

    /// The handle for reading from the child's standard output (stdout), if
    /// it has been captured. You might find it helpful to do
    ///
    /// ```ignore (incomplete)
    /// let stdout = child.stdout.take().expect("handle present");
    /// ```
    ///
    /// to avoid partially moving the `child` and thus blocking yourself
    /// from calling functions on `child` while using `stdout`.
    pub stdout: Option<ChildStdout>,

    /// The handle for reading from the child's standard error (stderr), if
    /// it has been captured. You might find it helpful to do
    ///
    /// ```ignore (incomplete)
    /// let stderr = child.stderr.take().expect("handle present");
    /// ```
    ///
    /// to avoid partially moving the `child` and thus blocking yourself
    /// from calling functions on `child` while using `stderr`.
    pub stderr: Option<ChildStderr>,
}

/// A descriptor that becomes readable when the process exits: a pidfd
/// on Linux, a kqueue watching `EVFILT_PROC` on macOS and FreeBSD (see
/// [`shim_rt::sys::process_exit_fd`]), in the source that waits on it.
struct PidFd(IoSource);

impl PidFd {
    fn open(pid: u32) -> io::Result<PidFd> {
        Ok(PidFd(IoSource::new(shim_rt::sys::process_exit_fd(pid)?)))
    }
}

/// The bounds of the `try_wait` polling used where there is no pidfd.
const POLL_FIRST: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(20);

impl Child {
    #[track_caller]
    pub(crate) fn from_std(mut handle: std::process::Child) -> Child {
        let stdin = handle.stdin.take().map(ChildStdin::from);
        let stdout = handle.stdout.take().map(ChildStdout::from);
        let stderr = handle.stderr.take().map(ChildStderr::from);
        Child {
            handle,
            exit: None,
            stdin,
            stdout,
            stderr,
        }
    }

    /// Forces the child process to exit. If the child has already exited,
    /// `Ok(())` is returned.
    ///
    /// The mapping to `ErrorKind`s is not part of the compatibility
    /// contract of the function. This is equivalent to sending a SIGKILL on
    /// Unix platforms.
    ///
    /// # Errors
    ///
    /// The OS error of `kill(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_process::Command;
    ///
    /// let mut child = Command::new("sleep").arg("10").spawn()?;
    /// child.kill()?;
    /// assert!(!child.wait()?.success());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn kill(&mut self) -> io::Result<()> {
        self.handle.kill()
    }

    /// Returns the OS-assigned process identifier associated with this
    /// child.
    pub fn id(&self) -> u32 {
        self.handle.id()
    }

    /// Waits for the child to exit completely, returning the status that it
    /// exited with. This function will continue to have the same return
    /// value after it has been called at least once.
    ///
    /// The stdin handle to the child process, if any, will be closed before
    /// waiting. This helps avoid deadlock: it ensures that the child does
    /// not block waiting for input from the parent, while the parent waits
    /// for the child to exit.
    ///
    /// In a greenstd coroutine only the coroutine waits (see the crate
    /// documentation).
    ///
    /// # Errors
    ///
    /// The OS error of `waitpid(2)` (e.g. `ECHILD` when someone else reaped
    /// the child).
    #[track_caller]
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        if !in_coroutine() {
            return self.handle.wait();
        }
        self.wait_green(true)
    }

    /// Waits cooperatively: on the pidfd if `use_pidfd` and the kernel gives
    /// one, else by polling `try_wait`.
    #[track_caller]
    pub(crate) fn wait_green(&mut self, use_pidfd: bool) -> io::Result<ExitStatus> {
        let mut step = POLL_FIRST;
        loop {
            if let Some(status) = self.handle.try_wait()? {
                return Ok(status);
            }
            if use_pidfd && self.exit.is_none() {
                self.exit = Some(PidFd::open(self.handle.id()).map_err(|_| ()));
            }
            if use_pidfd {
                if let Some(Ok(pidfd)) = &self.exit {
                    if pidfd.0.wait(Interest::Read, WaitKind::Child, None).is_ok() {
                        continue;
                    }
                    // The pollers refuse it: poll instead, for good.
                    self.exit = Some(Err(()));
                }
            }
            let on = WaitOn::new(WaitKind::Child, self.handle.id() as usize);
            pause(Some(Instant::now() + step), on);
            step = (step * 2).min(POLL_MAX);
        }
    }

    /// Attempts to collect the exit status of the child if it has already
    /// exited.
    ///
    /// This function will not block the calling thread and will only check
    /// to see if the child process has exited or not. If the child has
    /// exited then on Unix the process ID is reaped. This function is
    /// guaranteed to repeatedly return a successful exit status so long as
    /// the child has already exited.
    ///
    /// If the child has exited, then `Ok(Some(status))` is returned. If the
    /// exit status is not available at this time then `Ok(None)` is
    /// returned. If an error occurs, then that error is returned.
    ///
    /// # Errors
    ///
    /// The OS error of `waitpid(2)`.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.handle.try_wait()
    }

    /// Simultaneously waits for the child to exit and collect all remaining
    /// output on the stdout/stderr handles, returning an `Output` instance.
    ///
    /// The stdin handle to the child process, if any, will be closed before
    /// waiting. This helps avoid deadlock: it ensures that the child does
    /// not block waiting for input from the parent, while the parent waits
    /// for the child to exit.
    ///
    /// By default, stdin, stdout and stderr are inherited from the parent.
    /// In order to capture the output into this `Result<Output>` it is
    /// necessary to create new pipes between parent and child. Use
    /// `stdout(Stdio::piped())` or `stderr(Stdio::piped())`, respectively.
    ///
    /// # Errors
    ///
    /// The errors of reading the pipes (std panics on those) and of
    /// [`wait`](Child::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_process::{Command, Stdio};
    ///
    /// let child = Command::new("/bin/cat")
    ///     .arg("Cargo.toml")
    ///     .stdout(Stdio::piped())
    ///     .spawn()
    ///     .expect("failed to execute child");
    ///
    /// let output = child.wait_with_output().expect("failed to wait on child");
    ///
    /// assert!(output.status.success());
    /// ```
    #[track_caller]
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        match (self.stdout.take(), self.stderr.take()) {
            (None, None) => {}
            (Some(mut out), None) => {
                out.read_to_end(&mut stdout)?;
            }
            (None, Some(mut err)) => {
                err.read_to_end(&mut stderr)?;
            }
            (Some(out), Some(err)) => read2(out.inner, &mut stdout, err.inner, &mut stderr)?,
        }
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish_non_exhaustive()
    }
}

/// A handle to a child process's standard input (stdin).
///
/// This struct is used in the [`stdin`] field on [`Child`].
///
/// When an instance of `ChildStdin` is [dropped], the `ChildStdin`'s
/// underlying file handle will be closed. If the child process was blocked
/// on input prior to being dropped, it will become unblocked after
/// dropping.
///
/// In a greenstd coroutine, a write to the full pipe suspends the
/// coroutine, not its worker.
///
/// [`stdin`]: Child::stdin
/// [dropped]: Drop
pub struct ChildStdin {
    inner: GreenFd,
}

/// A handle to a child process's standard output (stdout).
///
/// This struct is used in the [`stdout`] field on [`Child`].
///
/// When an instance of `ChildStdout` is [dropped], the `ChildStdout`'s
/// underlying file handle will be closed.
///
/// In a greenstd coroutine, a read of the empty pipe suspends the
/// coroutine, not its worker.
///
/// [`stdout`]: Child::stdout
/// [dropped]: Drop
pub struct ChildStdout {
    inner: GreenFd,
}

/// A handle to a child process's stderr.
///
/// This struct is used in the [`stderr`] field on [`Child`].
///
/// When an instance of `ChildStderr` is [dropped], the `ChildStderr`'s
/// underlying file handle will be closed.
///
/// In a greenstd coroutine, a read of the empty pipe suspends the
/// coroutine, not its worker.
///
/// [`stderr`]: Child::stderr
/// [dropped]: Drop
pub struct ChildStderr {
    inner: GreenFd,
}

impl Write for ChildStdin {
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

impl Write for &ChildStdin {
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

impl Read for ChildStdout {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.inner.read_vectored(bufs)
    }
}

impl Read for ChildStderr {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.inner.read_vectored(bufs)
    }
}

/// The descriptor traits and conversions std has for the child pipes
/// (shared with shim-io's pipe ends), and std's `Debug` for them.
macro_rules! child_pipe {
    ($t:ident, $std:ty, $name:literal) => {
        shim_io::__green_fd_traits!($t, $std);

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct($name).finish_non_exhaustive()
            }
        }
    };
}

child_pipe!(ChildStdin, std::process::ChildStdin, "ChildStdin");
child_pipe!(ChildStdout, std::process::ChildStdout, "ChildStdout");
child_pipe!(ChildStderr, std::process::ChildStderr, "ChildStderr");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Command;

    fn in_coroutine_on<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        shim_thread::spawn(f).join().unwrap()
    }

    #[test]
    fn the_polling_fallback_reaps_the_child_cooperatively() {
        let (status, waited) = in_coroutine_on(|| {
            assert!(in_coroutine());
            let mut child = Command::new("sh")
                .args(["-c", "sleep 0.1; exit 7"])
                .spawn()
                .unwrap();
            let start = Instant::now();
            let status = child.wait_green(false).unwrap();
            (status, start.elapsed())
        });
        assert_eq!(status.code(), Some(7));
        assert!(waited >= Duration::from_millis(90), "{waited:?}");
    }

    #[test]
    fn the_polling_fallback_lets_other_coroutines_run() {
        // 8 children of 0.3 s waited for at once: waits that blocked their
        // workers would stall a 10 ms ticker for 0.3 s or more.
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                shim_thread::spawn(|| {
                    let mut child = Command::new("sleep").arg("0.3").spawn().unwrap();
                    child.wait_green(false).unwrap()
                })
            })
            .collect();
        let ticker = shim_thread::spawn(|| {
            let mut worst = Duration::ZERO;
            for _ in 0..20 {
                let before = Instant::now();
                shim_thread::sleep(Duration::from_millis(10));
                worst = worst.max(before.elapsed());
            }
            worst
        });
        let worst = ticker.join().unwrap();
        for w in waiters {
            assert!(w.join().unwrap().success());
        }
        assert!(worst < Duration::from_millis(200), "worst tick {worst:?}");
    }

    #[test]
    fn the_polling_fallback_is_recorded_at_the_callers_line_and_cancellable() {
        use shim_rt::inspect::{dump, TaskState};
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        let line = line!() + 1;
        let body = move || child.wait_green(false).map(drop);
        let h = shim_thread::Builder::new()
            .name("polled-child".into())
            .spawn(body)
            .unwrap();
        let start = Instant::now();
        let parked = || {
            dump().tasks().iter().any(|t| {
                t.name() == Some("polled-child")
                    && t.state() == TaskState::Parked
                    && t.wait().is_some_and(|w| {
                        w.kind() == shim_rt::wait::WaitKind::Child
                            && w.object() == pid as usize
                            && w.location().file() == file!()
                            && w.location().line() == line
                    })
            })
        };
        while !parked() {
            let waited = start.elapsed();
            assert!(
                waited < Duration::from_secs(60),
                "not parked at {line}:\n{}",
                dump()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        shim_rt::cancel::cancel(shim_thread::__green::task(h.thread()));
        let r = h.join();
        assert!(r
            .err()
            .is_some_and(|p| p.is::<shim_rt::cancel::Cancelled>()));
        // SAFETY: `pid` is our own child, not yet reaped.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }

    #[test]
    fn the_pidfd_is_used_where_the_kernel_has_it() {
        let had_pidfd = in_coroutine_on(|| {
            let mut child = Command::new("sleep").arg("0.1").spawn().unwrap();
            assert!(child.wait().unwrap().success());
            matches!(child.exit, Some(Ok(_)))
        });
        // This kernel (Linux >= 5.3) has pidfd_open.
        assert!(had_pidfd);
    }
}
