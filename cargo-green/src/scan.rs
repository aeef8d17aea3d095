//! What a package's source names of `std`: does rebuilding it against
//! greenstd change anything, and is it `no_std`?
//!
//! The scan is textual and errs on the side of patching: any mention of a
//! module greenstd replaces (`std::thread`, `std::net`, `std::sync`,
//! `std::process`, `std::fs`, the standard streams of `std::io`,
//! `std::os::unix::{net, fs, thread, process}`), a grouped or glob import
//! from `std`, a bare `thread_local!` or an `extern crate std` counts.

use std::fs;
use std::io;
use std::path::Path;

/// What the scan found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Some source names a module that greenstd replaces.
    pub(crate) names_patched_std: bool,
    /// The library root says `#![no_std]` unconditionally and no source
    /// brings std back with `extern crate std`.
    pub(crate) no_std: bool,
}

/// Scans the library's sources: every `.rs` file under the directory of
/// its root `lib_root` (skipping `target/`, hidden directories, and when
/// that is the package's directory, the build script, tests, examples and
/// benches, which a dependency's users never build).
pub(crate) fn scan(dir: &Path, lib_root: Option<&Path>) -> io::Result<Scan> {
    let mut out = Scan::default();
    let Some(root) = lib_root else {
        return Ok(out);
    };
    if let Ok(text) = fs::read_to_string(root) {
        out.no_std = is_no_std(&text);
    }
    let src = root.parent().unwrap_or(dir);
    let mut extern_std = false;
    walk(src, src == dir, &mut |text| {
        if names_patched_std(text) {
            out.names_patched_std = true;
        }
        extern_std |= text.contains("extern crate std");
        out.names_patched_std && extern_std
    })?;
    // `#![no_std]` with `extern crate std;` (under a feature, usually) is a
    // crate that uses std when asked to: the `std` it names is greenstd.
    out.no_std &= !extern_std;
    Ok(out)
}

/// Visits every `.rs` file; stops when `f` returns true.
fn walk(dir: &Path, top: bool, f: &mut dyn FnMut(&str) -> bool) -> io::Result<bool> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            if name.starts_with('.')
                || name == "target"
                || (top && matches!(&*name, "tests" | "examples" | "benches"))
            {
                continue;
            }
            if walk(&entry.path(), false, f)? {
                return Ok(true);
            }
        } else if name.ends_with(".rs") && !(top && name == "build.rs") {
            let text = fs::read_to_string(entry.path()).unwrap_or_default();
            if f(&text) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// `#![no_std]` as an inner attribute of its own (not under `cfg_attr`).
fn is_no_std(text: &str) -> bool {
    text.lines().any(|l| {
        let l: String = l.chars().filter(|c| !c.is_whitespace()).collect();
        l.starts_with("#![no_std]")
    })
}

/// Whether `text` names something greenstd replaces.
pub(crate) fn names_patched_std(text: &str) -> bool {
    if text.contains("thread_local!") || text.contains("extern crate std") {
        return true;
    }
    // Every `std` followed by `::` (spaces allowed), and what comes after.
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(pos) = text[from..].find("std") {
        let start = from + pos;
        from = start + 3;
        let before_ok = start == 0 || {
            let b = bytes[start - 1];
            !(b.is_ascii_alphanumeric() || b == b'_')
        };
        if !before_ok {
            continue;
        }
        let rest = text[start + 3..].trim_start();
        let Some(rest) = rest.strip_prefix("::") else {
            continue;
        };
        let rest = rest.trim_start();
        if rest.starts_with('{') || rest.starts_with('*') {
            return true;
        }
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        match ident.as_str() {
            "net" | "prelude" | "process" | "fs" => return true,
            "io" => {
                // The standard streams and pipes are greenstd's; the traits
                // and buffers std's.
                let next = rest[2..].trim_start();
                let Some(next) = next.strip_prefix("::") else {
                    return true;
                };
                let next = next.trim_start();
                if next.starts_with('{') {
                    return true;
                }
                let seg: String = next
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if matches!(
                    seg.as_str(),
                    "stdin"
                        | "stdout"
                        | "stderr"
                        | "pipe"
                        | "Stdin"
                        | "Stdout"
                        | "Stderr"
                        | "StdinLock"
                        | "StdoutLock"
                        | "StderrLock"
                        | "PipeReader"
                        | "PipeWriter"
                ) {
                    return true;
                }
            }
            "thread" => {
                // std's own under greenstd: nothing changes when rebuilt.
                let next = rest[6..].trim_start();
                let seg: String = next
                    .strip_prefix("::")
                    .unwrap_or("")
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !matches!(
                    seg.as_str(),
                    "panicking" | "available_parallelism" | "Result"
                ) {
                    return true;
                }
            }
            "sync" => {
                // Atomics, Arc and the error types are std's own in greenstd.
                let next = rest[4..].trim_start();
                let Some(next) = next.strip_prefix("::") else {
                    return true;
                };
                let seg: String = next
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !matches!(
                    seg.as_str(),
                    "atomic" | "Arc" | "Weak" | "PoisonError" | "TryLockError" | "LockResult"
                ) {
                    return true;
                }
            }
            "os" => {
                // std::os::unix::net, or a grouped import under std::os.
                let tail: String = rest
                    .chars()
                    .take(60)
                    .filter(|c| !c.is_whitespace())
                    .collect();
                if [
                    "os::unix::net",
                    "os::unix::fs",
                    "os::unix::thread",
                    "os::unix::process",
                ]
                .iter()
                .any(|m| tail.starts_with(m))
                    || tail.contains('{')
                {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_patched_modules() {
        assert!(names_patched_std("use std::net::TcpStream;"));
        assert!(names_patched_std("let t = ::std::thread::spawn(f);"));
        assert!(names_patched_std("use std::{io, sync::Arc};"));
        assert!(names_patched_std("use std :: sync;"));
        assert!(names_patched_std("use std::os::unix::net::UnixStream;"));
        assert!(names_patched_std("thread_local!(static X: u8 = 0);"));
        assert!(!names_patched_std("use std::fmt; use std::io::Read;"));
        assert!(names_patched_std("let s = std::io::stdin();"));
        assert!(names_patched_std("std::fs::read(p)"));
        assert!(names_patched_std("use std::process::Command;"));
        assert!(!names_patched_std(
            "use core::sync::atomic; // nostd::thread"
        ));
        assert!(!names_patched_std("use std::os::raw::c_int;"));
        assert!(!names_patched_std(
            "use std::sync::atomic::AtomicUsize; std::sync::Arc::new(1);"
        ));
        assert!(names_patched_std("use std::sync::Mutex;"));
        assert!(!names_patched_std("if std::thread::panicking() {}"));
        assert!(names_patched_std("std::thread::sleep(d)"));
        assert!(names_patched_std("use std::sync;"));
    }

    #[test]
    fn no_std_only_when_unconditional() {
        assert!(is_no_std("//! doc\n#![no_std]\n"));
        assert!(!is_no_std("#![cfg_attr(not(feature = \"std\"), no_std)]\n"));
    }
}
