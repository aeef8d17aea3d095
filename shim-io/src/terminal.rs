//! `IsTerminal`: std's trait is sealed, so greenstd's stream and file
//! types cannot implement it. greenstd has its own trait of the same name
//! and shape, implemented for every type std implements it for (through
//! std's own impls) and for greenstd's `Stdin`, `Stdout`, `Stderr`, their
//! locks and `fs::File`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use crate::stdio::{Stderr, StderrLock, Stdin, StdinLock, Stdout, StdoutLock};

/// The seal: implemented by greenstd's crates only.
#[doc(hidden)]
pub mod sealed {
    /// Only the types `IsTerminal` is implemented for.
    pub trait Sealed {}
}

/// Trait to determine if a descriptor/handle refers to a terminal/tty.
///
/// As std's [`std::io::IsTerminal`] (which is sealed, so greenstd cannot
/// implement it for its own types): implemented for every type std
/// implements it for, and for greenstd's [`Stdin`], [`Stdout`],
/// [`Stderr`], their locks and `fs::File`. Code that names
/// `std::io::IsTerminal`, as a method or as a bound, compiles unchanged
/// against greenstd. Like std's, it is sealed.
///
/// # Examples
///
/// ```no_run
/// use std::io::{self, IsTerminal, Write};
///
/// fn main() -> io::Result<()> {
///     let stdin = io::stdin();
///
///     // Indicate that the user is prompted for input, if this is a terminal.
///     if stdin.is_terminal() {
///         print!("> ");
///         io::stdout().flush()?;
///     }
///
///     let mut name = String::new();
///     let _ = stdin.read_line(&mut name)?;
///
///     println!("Hello {}", name.trim_end());
///
///     Ok(())
/// }
/// ```
pub trait IsTerminal: sealed::Sealed {
    /// Returns `true` if the descriptor/handle refers to a terminal/tty.
    ///
    /// On platforms where Rust does not know how to detect a terminal yet,
    /// this will return `false`. This will also return `false` if an
    /// unexpected error occurred, such as from passing an invalid file
    /// descriptor.
    fn is_terminal(&self) -> bool;
}

impl<T: std::io::IsTerminal + ?Sized> sealed::Sealed for T {}

impl<T: std::io::IsTerminal + ?Sized> IsTerminal for T {
    fn is_terminal(&self) -> bool {
        std::io::IsTerminal::is_terminal(self)
    }
}

/// `isatty` on `fd`, as std's `IsTerminal` on Unix: for greenstd's types
/// (its other crates implement [`IsTerminal`] with it).
#[doc(hidden)]
pub fn fd_is_terminal(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: isatty only inspects the descriptor, which `fd` keeps open.
    unsafe { libc::isatty(fd.as_raw_fd()) != 0 }
}

macro_rules! is_terminal_by_fd {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl IsTerminal for $t {
            fn is_terminal(&self) -> bool {
                fd_is_terminal(self.as_fd())
            }
        }
    )*};
}

is_terminal_by_fd!(
    Stdin,
    StdinLock<'_>,
    Stdout,
    StdoutLock<'_>,
    Stderr,
    StderrLock<'_>
);
