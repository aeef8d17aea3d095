//! A module for working with processes: `std::process`, whose blocking
//! calls suspend the calling coroutine instead of its worker thread.
//!
//! greenstd exposes this crate as `greenstd::process`.
//!
//! * [`Command`] (`spawn`, `output`, `status` and every builder method),
//!   [`Child`] (`wait`, `try_wait`, `kill`, `wait_with_output`, `id`) and
//!   the child's pipes [`ChildStdin`], [`ChildStdout`], [`ChildStderr`] are
//!   greenstd's own.
//! * The types that never block — [`Stdio`], [`ExitStatus`], [`ExitCode`],
//!   [`Output`], [`CommandArgs`], [`CommandEnvs`], [`Termination`] — and
//!   [`abort`], [`exit`], [`id`] are std's, re-exported.
//!
//! # How it blocks
//!
//! * **Spawning** (`fork`/`exec`, which std waits for) runs on greenstd's
//!   offload pool, so a slow `fork` of a big process holds a pool thread,
//!   not a worker.
//! * **Waiting for exit**: the child's `pidfd` (`pidfd_open(2)`, Linux 5.3)
//!   becomes readable when it exits; the coroutine waits for that on the
//!   pollers, then reaps the child with std's `wait`. Where the kernel (or a
//!   seccomp filter) refuses `pidfd_open`, the coroutine polls `try_wait`
//!   with cooperative sleeps of 1 ms growing to 20 ms: a blocking `waitpid`
//!   on the offload pool would hold one of its few threads per child, and
//!   a handful of long-running children would starve it.
//! * **Pipes** are read and written with per-call `RWF_NOWAIT` (the
//!   description stays blocking, as std's, and is handed to other processes
//!   as std would hand it); where the kernel refuses that, with
//!   `O_NONBLOCK` set while greenstd holds the pipe and cleared when it is
//!   given away (`Stdio`, `OwnedFd`, `into_raw_fd`).
//! * [`Child::wait_with_output`] and [`Command::output`] read stdout and
//!   stderr at once, as std does: in a coroutine the child's stderr is read
//!   by a helper coroutine.
//!
//! On a plain OS thread every call is std's own.
//!
//! # Differences from std
//!
//! * `CommandExt` is sealed in std, so its methods (`uid`, `gid`,
//!   `pre_exec`, `exec`, `arg0`, `process_group`) are inherent methods of
//!   greenstd's [`Command`]: `cmd.uid(0)` works with or without the trait
//!   imported, a generic `T: CommandExt` bound does not accept it.
//! * A read error on the child's pipes in `wait_with_output`/`output` is
//!   returned as an error (std panics on it).
//!
//! # Examples
//!
//! ```
//! use shim_process::Command;
//!
//! let output = Command::new("echo").arg("Hello world").output()?;
//! assert_eq!(b"Hello world\n", output.stdout.as_slice());
//! # std::io::Result::Ok(())
//! ```

#![warn(missing_docs)]

mod child;
mod command;
mod read2;

pub use std::process::{
    abort, exit, id, CommandArgs, CommandEnvs, ExitCode, ExitStatus, Output, Stdio, Termination,
};

pub use child::{Child, ChildStderr, ChildStdin, ChildStdout};
pub use command::Command;
