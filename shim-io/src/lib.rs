//! Traits, helpers, and type definitions for core I/O functionality:
//! `std::io`, with the parts that block on a descriptor made cooperative.
//!
//! greenstd exposes this crate as `greenstd::io`.
//!
//! * [`stdin`], [`Stdin`], [`StdinLock`]: a read that has to wait suspends
//!   the coroutine when descriptor 0 is a pipe, terminal or socket, and runs
//!   on the offload pool when it is a regular file.
//! * [`stdout`], [`stderr`] and the `print!` family: a write to a full pipe
//!   (or a slow terminal) suspends the coroutine instead of its worker.
//! * [`pipe`], [`PipeReader`], [`PipeWriter`]: anonymous pipes read and
//!   written cooperatively.
//! * Everything else — [`Read`], [`Write`], [`BufRead`], [`Seek`],
//!   [`Error`], [`ErrorKind`], [`BufReader`], [`Cursor`], [`copy`], … — is
//!   std's own, re-exported: the traits stay std's so that user code and
//!   libraries interoperate.
//!
//! On a plain OS thread every call does what std's does: `stdout`/`stderr`
//! use std's own handles there, stdin and pipes make std's blocking calls.
//!
//! # How the standard streams avoid blocking
//!
//! Descriptors 0, 1 and 2 are usually shared with other processes, so their
//! file descriptions are never made non-blocking (that would change them
//! for the parent shell too). Anonymous pipes are read and written with
//! per-call `RWF_NOWAIT`, sockets with `MSG_DONTWAIT`, and terminals, named
//! FIFOs and character devices through a private non-blocking description
//! of the same file (`/proc/self/fd/N` opened again). See `Stdin` for the
//! details.
//!
//! # Differences from std
//!
//! * `IsTerminal` is sealed in std, so greenstd's [`IsTerminal`] is a trait
//!   of its own with the same name, method and seal, implemented for std's
//!   types (through std's trait) and for greenstd's: `x.is_terminal()` and
//!   `T: IsTerminal` bounds work as with std. A crate not rebuilt on
//!   greenstd that bounds on std's trait does not accept greenstd's types.
//! * stdin's buffer is greenstd's own: code that reads through std's
//!   `std::io::stdin()` (a crate not rebuilt on greenstd) has a separate
//!   buffer, so mixing the two on one input can split it.
//! * stdout: coroutines share greenstd's line buffer, plain threads std's;
//!   a partial line (no newline yet) stays in the buffer of the side that
//!   wrote it until a newline or a flush.
//! * std's `Stdio` conversions and `io::copy`'s kernel-side shortcuts for
//!   std's own types (`splice`, `sendfile`) do not apply to greenstd's
//!   types: `io::copy` between them uses its read/write loop.

#![warn(missing_docs)]

mod fd;
mod pipe;
mod stdio;
mod terminal;

pub use std::io::{
    copy, empty, read_to_string, repeat, sink, BufRead, BufReader, BufWriter, Bytes, Chain, Cursor,
    Empty, Error, ErrorKind, IntoInnerError, IoSlice, IoSliceMut, LineWriter, Lines, Read, Repeat,
    Result, Seek, SeekFrom, Sink, Split, Take, Write, WriterPanicked,
};

/// The I/O prelude: std's (the traits).
pub mod prelude {
    pub use std::io::prelude::*;
}

/// greenstd's own building blocks, for its other crates.
pub mod sys {
    pub use crate::fd::GreenFd;
    pub use crate::terminal::{fd_is_terminal, sealed::Sealed};
}
pub use pipe::{pipe, PipeReader, PipeWriter};
#[doc(hidden)]
pub use stdio::{_eprint, _eprint_line, _print, _print_line};
pub use stdio::{stderr, stdin, stdout, Stderr, StderrLock, Stdin, StdinLock, Stdout, StdoutLock};
pub use terminal::IsTerminal;

#[doc(hidden)]
pub use std::format_args as __format_args;
