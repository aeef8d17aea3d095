//! What greenstd replaces: the one table.
//!
//! `patch_all!` redirects the modules listed here, `cargo green`'s scanner
//! (`cargo-green/src/scan.rs`, which includes this file) decides from it
//! whether a crate names anything greenstd changes, and the root package's
//! test `tests/replaced.rs` checks the facade (`src/lib.rs`) and README's
//! table "std items covered" against it. This file has no dependencies so
//! that each of them can include it.

/// The modules of `std` that greenstd has a module of its own for, as
/// `::`-separated paths below `std`, each with the items in it that are
/// greenstd's (cooperative); every other item of the module is std's own,
/// re-exported. A module with no item of its own (`time`) is listed so
/// that the facade and README can say so; nothing is redirected for it.
pub(crate) const MODULES: &[(&str, &[&str])] = &[
    (
        "thread",
        &[
            "AccessError",
            "Builder",
            "JoinHandle",
            "LocalKey",
            "Scope",
            "ScopedJoinHandle",
            "Thread",
            "ThreadId",
            "current",
            "park",
            "park_timeout",
            "park_timeout_ms",
            "scope",
            "sleep",
            "sleep_ms",
            "sleep_until",
            "spawn",
            "yield_now",
        ],
    ),
    (
        "net",
        &[
            "Incoming",
            "TcpListener",
            "TcpStream",
            "ToSocketAddrs",
            "UdpSocket",
        ],
    ),
    (
        "os::unix::net",
        &["Incoming", "UnixDatagram", "UnixListener", "UnixStream"],
    ),
    (
        "os::unix::fs",
        &["chown", "chroot", "fchown", "lchown", "symlink"],
    ),
    ("os::unix::thread", &["JoinHandleExt"]),
    (
        "sync",
        &[
            "Barrier",
            "BarrierWaitResult",
            "Condvar",
            "LazyLock",
            "Mutex",
            "MutexGuard",
            "ONCE_INIT",
            "Once",
            "OnceLock",
            "OnceState",
            "RwLock",
            "RwLockReadGuard",
            "RwLockWriteGuard",
            "WaitTimeoutResult",
            "mpsc",
        ],
    ),
    ("time", &[]),
    (
        "process",
        &[
            "Child",
            "ChildStderr",
            "ChildStdin",
            "ChildStdout",
            "Command",
        ],
    ),
    (
        "io",
        &[
            "IsTerminal",
            "PipeReader",
            "PipeWriter",
            "Stderr",
            "StderrLock",
            "Stdin",
            "StdinLock",
            "Stdout",
            "StdoutLock",
            "pipe",
            "stderr",
            "stdin",
            "stdout",
        ],
    ),
    (
        "fs",
        &[
            "DirBuilder",
            "DirEntry",
            "File",
            "OpenOptions",
            "ReadDir",
            "canonicalize",
            "copy",
            "create_dir",
            "create_dir_all",
            "exists",
            "hard_link",
            "metadata",
            "read",
            "read_dir",
            "read_link",
            "read_to_string",
            "remove_dir",
            "remove_dir_all",
            "remove_file",
            "rename",
            "set_permissions",
            "soft_link",
            "symlink_metadata",
            "write",
        ],
    ),
    (
        "prelude",
        &["rust_2015", "rust_2018", "rust_2021", "rust_2024", "v1"],
    ),
];

/// The macros at the root of `std` that are greenstd's (`std::println!`,
/// and `println!` named bare inside `patch_all!`).
pub(crate) const MACROS: &[&str] = &["eprint", "eprintln", "print", "println", "thread_local"];

/// `true` when `path` (the segments below `std`) is a parent of a module
/// greenstd replaces: `std` itself (empty), `os`, `os::unix`. Importing or
/// globbing such a module must see greenstd's tree.
pub(crate) fn is_parent<S: AsRef<str>>(path: &[S]) -> bool {
    MODULES
        .iter()
        .filter(|(_, items)| !items.is_empty())
        .any(|(module, _)| {
            let m: Vec<&str> = module.split("::").collect();
            m.len() > path.len() && path.iter().zip(&m).all(|(a, b)| a.as_ref() == *b)
        })
}
