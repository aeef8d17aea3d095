//! `Command`: std's builder, with `spawn`, `output` and `status` that do not
//! block the worker.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{CommandArgs, CommandEnvs, ExitStatus, Output, Stdio};

use shim_rt::{in_coroutine, offload};

use crate::child::Child;

/// The default of one standard stream for a kind of spawn, when the user
/// did not set it.
type Default = fn() -> Stdio;

/// `spawn` and `status`: the child inherits all three.
const INHERIT: [Default; 3] = [Stdio::inherit, Stdio::inherit, Stdio::inherit];
/// `output`: no stdin, stdout and stderr captured.
const OUTPUT: [Default; 3] = [Stdio::null, Stdio::piped, Stdio::piped];

/// A process builder, providing fine-grained control over how a new process
/// should be spawned.
///
/// A default configuration can be generated using `Command::new(program)`,
/// where `program` gives a path to the program to be executed. Additional
/// builder methods allow the configuration to be changed (for example, by
/// adding arguments) prior to spawning:
///
/// ```
/// use shim_process::Command;
///
/// let output = Command::new("sh").arg("-c").arg("echo hello").output()?;
/// assert_eq!(output.stdout, b"hello\n");
/// # std::io::Result::Ok(())
/// ```
///
/// `Command` can be reused to spawn multiple processes. The builder methods
/// change the command without needing to immediately spawn the process.
///
/// In a greenstd coroutine, `spawn`, `output` and `status` suspend the
/// coroutine, not its worker (see the crate documentation).
pub struct Command {
    inner: std::process::Command,
    /// Which of stdin, stdout and stderr the user set: the others get the
    /// default of each kind of spawn, set explicitly before it (std's
    /// `Command` cannot be asked what was set).
    set: [bool; 3],
}

impl Command {
    /// Constructs a new `Command` for launching the program at path
    /// `program`, with the following default configuration:
    ///
    /// * No arguments to the program
    /// * Inherit the current process's environment
    /// * Inherit the current process's working directory
    /// * Inherit stdin/stdout/stderr for [`spawn`] or [`status`], but create
    ///   pipes for [`output`]
    ///
    /// If `program` is not an absolute path, the `PATH` will be searched in
    /// an OS-defined way.
    ///
    /// [`spawn`]: Self::spawn
    /// [`status`]: Self::status
    /// [`output`]: Self::output
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command {
            inner: std::process::Command::new(program),
            set: [false; 3],
        }
    }

    /// Adds an argument to pass to the program.
    ///
    /// Only one argument can be passed per use. To pass multiple arguments
    /// see [`args`](Self::args).
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds multiple arguments to pass to the program.
    ///
    /// To pass a single argument see [`arg`](Self::arg).
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Inserts or updates an explicit environment variable mapping.
    ///
    /// This method allows you to add an environment variable mapping to the
    /// spawned process or overwrite a previously set value. You can use
    /// [`Command::envs`] to set multiple environment variables
    /// simultaneously.
    pub fn env<K, V>(&mut self, key: K, val: V) -> &mut Command
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.env(key, val);
        self
    }

    /// Inserts or updates multiple explicit environment variable mappings.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an explicitly set environment variable and prevents
    /// inheriting it from a parent process.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Clears all explicitly set environment variables and prevents
    /// inheriting any parent process environment variables.
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the working directory for the child process.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Configuration for the child process's standard input (stdin) handle.
    ///
    /// Defaults to [`inherit`](Stdio::inherit) when used with [`spawn`] or
    /// [`status`], and defaults to [`null`](Stdio::null) when used with
    /// [`output`].
    ///
    /// [`spawn`]: Self::spawn
    /// [`status`]: Self::status
    /// [`output`]: Self::output
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stdin(cfg);
        self.set[0] = true;
        self
    }

    /// Configuration for the child process's standard output (stdout)
    /// handle.
    ///
    /// Defaults to [`inherit`](Stdio::inherit) when used with [`spawn`] or
    /// [`status`], and defaults to [`piped`](Stdio::piped) when used with
    /// [`output`].
    ///
    /// [`spawn`]: Self::spawn
    /// [`status`]: Self::status
    /// [`output`]: Self::output
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stdout(cfg);
        self.set[1] = true;
        self
    }

    /// Configuration for the child process's standard error (stderr)
    /// handle.
    ///
    /// Defaults to [`inherit`](Stdio::inherit) when used with [`spawn`] or
    /// [`status`], and defaults to [`piped`](Stdio::piped) when used with
    /// [`output`].
    ///
    /// [`spawn`]: Self::spawn
    /// [`status`]: Self::status
    /// [`output`]: Self::output
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stderr(cfg);
        self.set[2] = true;
        self
    }

    /// Sets the unset streams to `defaults`.
    fn apply_defaults(&mut self, defaults: [Default; 3]) {
        if !self.set[0] {
            self.inner.stdin(defaults[0]());
        }
        if !self.set[1] {
            self.inner.stdout(defaults[1]());
        }
        if !self.set[2] {
            self.inner.stderr(defaults[2]());
        }
    }

    /// std's spawn, off the worker in a coroutine.
    #[track_caller]
    fn spawn_with(&mut self, defaults: [Default; 3]) -> io::Result<Child> {
        self.apply_defaults(defaults);
        let inner = &mut self.inner;
        offload::run(|| inner.spawn()).map(Child::from_std)
    }

    /// Executes the command as a child process, returning a handle to it.
    ///
    /// By default, stdin, stdout and stderr are inherited from the parent.
    ///
    /// # Errors
    ///
    /// As std's: the program cannot be found or executed, the working
    /// directory does not exist, a pipe or the process cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_process::Command;
    ///
    /// let mut child = Command::new("true").spawn()?;
    /// assert!(child.wait()?.success());
    /// # std::io::Result::Ok(())
    /// ```
    #[track_caller]
    pub fn spawn(&mut self) -> io::Result<Child> {
        self.spawn_with(INHERIT)
    }

    /// Executes the command as a child process, waiting for it to finish and
    /// collecting all of its output.
    ///
    /// By default, stdout and stderr are captured (and used to provide the
    /// resulting output). Stdin is not inherited from the parent and any
    /// attempt by the child process to read from the stdin stream will
    /// result in the stream immediately closing.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), and the errors of waiting for the child
    /// and of reading its pipes.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_process::Command;
    ///
    /// let output = Command::new("sh").arg("-c").arg("echo out; echo err >&2").output()?;
    /// assert!(output.status.success());
    /// assert_eq!(output.stdout, b"out\n");
    /// assert_eq!(output.stderr, b"err\n");
    /// # std::io::Result::Ok(())
    /// ```
    #[track_caller]
    pub fn output(&mut self) -> io::Result<Output> {
        if !in_coroutine() {
            self.apply_defaults(OUTPUT);
            return self.inner.output();
        }
        self.spawn_with(OUTPUT)?.wait_with_output()
    }

    /// Executes a command as a child process, waiting for it to finish and
    /// collecting its status.
    ///
    /// By default, stdin, stdout and stderr are inherited from the parent.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), and the error of waiting for the child.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_process::Command;
    ///
    /// let status = Command::new("sh").arg("-c").arg("exit 3").status()?;
    /// assert_eq!(status.code(), Some(3));
    /// # std::io::Result::Ok(())
    /// ```
    #[track_caller]
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        if !in_coroutine() {
            self.apply_defaults(INHERIT);
            return self.inner.status();
        }
        self.spawn_with(INHERIT)?.wait()
    }

    /// Returns the path to the program that was given to [`Command::new`].
    pub fn get_program(&self) -> &OsStr {
        self.inner.get_program()
    }

    /// Returns an iterator of the arguments that will be passed to the
    /// program.
    ///
    /// This does not include the path to the program as the first argument;
    /// it only includes the arguments specified with [`Command::arg`] and
    /// [`Command::args`].
    pub fn get_args(&self) -> CommandArgs<'_> {
        self.inner.get_args()
    }

    /// Returns an iterator of the environment variables explicitly set for
    /// the child process.
    ///
    /// Each element is a tuple key/value pair `(&OsStr, Option<&OsStr>)`. A
    /// `None` value means its key was explicitly removed via
    /// [`Command::env_remove`].
    pub fn get_envs(&self) -> CommandEnvs<'_> {
        self.inner.get_envs()
    }

    /// Returns the working directory for the child process.
    ///
    /// This returns `None` if the working directory will not be changed.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.inner.get_current_dir()
    }

    // The methods of std's `CommandExt` (Unix), which is sealed.

    /// Sets the child process's user ID. This translates to a `setuid` call
    /// in the child process. Failure in the `setuid` call will cause the
    /// spawn to fail. (std's `CommandExt::uid`.)
    pub fn uid(&mut self, id: u32) -> &mut Command {
        self.inner.uid(id);
        self
    }

    /// Similar to `uid`, but sets the group ID of the child process. This
    /// has the same semantics as the `uid` field. (std's `CommandExt::gid`.)
    pub fn gid(&mut self, id: u32) -> &mut Command {
        self.inner.gid(id);
        self
    }

    /// Schedules a closure to be run just before the `exec` function is
    /// invoked (std's `CommandExt::pre_exec`).
    ///
    /// # Safety
    ///
    /// As std's: the closure runs in the child after `fork`, where only
    /// async-signal-safe work is sound (no allocation, no locks).
    #[track_caller]
    pub unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        // SAFETY: the caller upholds `pre_exec`'s contract.
        unsafe { self.inner.pre_exec(f) };
        self
    }

    /// Schedules a closure to be run just before the `exec` function is
    /// invoked (std's deprecated `CommandExt::before_exec`).
    ///
    /// # Safety
    ///
    /// As [`pre_exec`](Self::pre_exec).
    #[deprecated(since = "1.37.0", note = "should be unsafe, use `pre_exec` instead")]
    #[track_caller]
    pub unsafe fn before_exec<F>(&mut self, f: F) -> &mut Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        // SAFETY: the caller upholds `pre_exec`'s contract.
        unsafe { self.inner.pre_exec(f) };
        self
    }

    /// Performs all the required setup by this `Command`, followed by
    /// calling the `execvp` syscall (std's `CommandExt::exec`).
    ///
    /// On success this function will not return, and otherwise it will
    /// return an error indicating why the exec (or another part of the
    /// setup of the `Command`) failed. Unset standard streams are inherited,
    /// as for [`spawn`](Self::spawn).
    #[track_caller]
    pub fn exec(&mut self) -> io::Error {
        self.apply_defaults(INHERIT);
        self.inner.exec()
    }

    /// Sets executable argument: the first process argument, `argv[0]`, to
    /// something other than the default executable path (std's
    /// `CommandExt::arg0`).
    pub fn arg0<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.inner.arg0(arg);
        self
    }

    /// Sets the process group ID (PGID) of the child process (std's
    /// `CommandExt::process_group`): 0 puts it in a new group of its own.
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        self.inner.process_group(pgroup);
        self
    }
}

impl fmt::Debug for Command {
    /// Formats the program and arguments of a Command for display, as std's.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
