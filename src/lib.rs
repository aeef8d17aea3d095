//! # greenstd — gevent for Rust
//!
//! `std`, with the blocking parts re-implemented on stackful coroutines
//! (the `may` runtime). Existing blocking code — `std::net` sockets,
//! `std::thread::spawn`, `std::thread::sleep`, `std::sync` locks and
//! channels, `std::process`, `std::fs`, stdin and stdout — runs unchanged, and blocking a coroutine yields to the others
//! instead of blocking its worker thread.
//!
//! This crate is a `std`-shaped tree: every module of `std` is here, and the
//! cooperative ones replace std's:
//!
//! | module | what it is |
//! |---|---|
//! | [`thread`] | `spawn` runs a coroutine; `sleep`, `park`, `join`, `scope`, `thread_local!` are cooperative |
//! | [`net`], [`os::unix::net`] | sockets that switch instead of block; DNS off the workers |
//! | [`sync`] | `Mutex`, `RwLock`, `Condvar`, `Barrier`, `Once*`, `LazyLock`, `mpsc` park the coroutine |
//! | [`time`] | std's types (they never block) |
//! | [`process`] | `Command`, `Child` and the child's pipes: spawning, waiting for exit and pipe I/O suspend the coroutine |
//! | [`io`] | `stdin`, `stdout`, `stderr`, the `print!` family and `io::pipe` are cooperative; the traits and the rest are std's |
//! | [`fs`] | `File` and every free function run on the offload pool from a coroutine |
//! | [`green`] | gevent's own API that std has no name for, and the runtime's configuration |
//!
//! Everything else is `std`'s own, re-exported.
//!
//! ## Patching
//!
//! * Cargo.toml only: `std = { package = "greenstd", version = "…" }` — every
//!   `std::` path of the crate resolves here.
//! * One line at the crate root: `extern crate greenstd as std;`
//! * Around imports or items: `greenstd::patch_all! { use std::net::TcpListener; … }`

#![warn(missing_docs)]

#[doc(no_inline)]
pub use std::*;

pub use patch_macro::patch_all;

// Each module below is std's, globbed, with greenstd's own items named
// after it: a name imported by itself shadows the glob's. The names are
// exactly the table `patch-macro/src/replaced.rs` (checked by
// `tests/replaced.rs`), so an item std adds later is std's here too.

/// Threads, cooperative: `std::thread` on coroutines.
pub mod thread {
    pub use shim_thread::{
        current, park, park_timeout, scope, sleep, sleep_until, spawn, yield_now, AccessError,
        Builder, JoinHandle, LocalKey, Scope, ScopedJoinHandle, Thread, ThreadId,
    };
    #[allow(deprecated)]
    pub use shim_thread::{park_timeout_ms, sleep_ms};
    #[doc(no_inline)]
    pub use std::thread::*;
}

/// Temporal quantification: std's types, re-exported (they never block).
pub mod time {
    #[doc(no_inline)]
    pub use std::time::*;
}

/// Networking, cooperative: `std::net` whose blocking calls yield.
pub mod net {
    pub use shim_net::{Incoming, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
    #[doc(no_inline)]
    pub use std::net::*;
}

/// Synchronization, cooperative: `std::sync` whose waits park the coroutine.
pub mod sync {
    #[allow(deprecated)]
    pub use shim_sync::ONCE_INIT;
    pub use shim_sync::{
        mpsc, Barrier, BarrierWaitResult, Condvar, LazyLock, Mutex, MutexGuard, Once, OnceLock,
        OnceState, RwLock, RwLockReadGuard, RwLockWriteGuard, WaitTimeoutResult,
    };
    #[doc(no_inline)]
    pub use std::sync::*;
}

/// OS-specific functionality: std's, with `os::unix::net` and
/// `os::unix::fs` cooperative.
pub mod os {
    #[doc(no_inline)]
    pub use std::os::*;

    /// Unix-specific functionality: std's, with `net` and `fs` cooperative.
    pub mod unix {
        #[doc(no_inline)]
        pub use std::os::unix::*;

        /// Unix domain sockets, cooperative.
        pub mod net {
            pub use shim_net::unix::{Incoming, UnixDatagram, UnixListener, UnixStream};
            #[doc(no_inline)]
            pub use std::os::unix::net::*;
        }

        /// Unix-specific extensions to `thread`: std's `JoinHandleExt`, for
        /// greenstd's `JoinHandle` (see the difference it documents).
        pub mod thread {
            pub use shim_thread::unix::JoinHandleExt;
            #[doc(no_inline)]
            pub use std::os::unix::thread::*;
        }

        /// Unix-specific filesystem functions and extensions: the
        /// functions on the offload pool from a coroutine, the traits std's.
        pub mod fs {
            pub use shim_fs::unix::{chown, chroot, fchown, lchown, symlink};
            #[doc(no_inline)]
            pub use std::os::unix::fs::*;
        }
    }
}

pub use shim_thread::thread_local;

/// A module for working with processes, cooperative: `std::process` whose
/// waits suspend the coroutine.
pub mod process {
    pub use shim_process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
    #[doc(no_inline)]
    pub use std::process::*;
}

/// Traits, helpers, and type definitions for core I/O functionality:
/// std's, with the standard streams and `pipe` cooperative.
pub mod io {
    pub use shim_io::{
        pipe, stderr, stdin, stdout, IsTerminal, PipeReader, PipeWriter, Stderr, StderrLock, Stdin,
        StdinLock, Stdout, StdoutLock,
    };
    #[doc(no_inline)]
    pub use std::io::*;
}

/// Filesystem manipulation operations, cooperative: `std::fs` on the
/// offload pool from a coroutine.
pub mod fs {
    #[allow(deprecated)]
    pub use shim_fs::soft_link;
    pub use shim_fs::{
        canonicalize, copy, create_dir, create_dir_all, exists, hard_link, metadata, read,
        read_dir, read_link, read_to_string, remove_dir, remove_dir_all, remove_file, rename,
        set_permissions, symlink_metadata, write, DirBuilder, DirEntry, File, OpenOptions, ReadDir,
    };
    #[doc(no_inline)]
    pub use std::fs::*;
}

pub use shim_io::{eprint, eprintln, print, println};

pub mod green;
pub mod prelude;
