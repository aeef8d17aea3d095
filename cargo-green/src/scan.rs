//! What a package's source names of `std`: does rebuilding it against
//! greenstd change anything, and is it `no_std`?
//!
//! The scan is textual and errs on the side of patching: a path to an item
//! greenstd replaces (the table in `patch-macro/src/replaced.rs`, which
//! `patch_all!` uses too), a replaced module named as a whole, a grouped or
//! glob import from `std` or from a replaced module, a bare
//! `thread_local!` or an `extern crate std` counts.

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

/// Calls of std methods that return a std blocking type where code built
/// against greenstd expects greenstd's (the method is std's own, on a type
/// greenstd does not replace): such a crate does not compile patched when
/// it also names the type (a signature or a field that holds the result;
/// a result only iterated is inferred and compiles). The call as written,
/// the type's name, and what to say about it.
const STD_TYPED_RETURNS: &[(&str, &str, &str)] = &[(
    ".read_dir()",
    "ReadDir",
    "`Path::read_dir` returns std's `ReadDir`",
)];

/// The first known std-typed return (`STD_TYPED_RETURNS`) the library's
/// sources make, if any: a file that makes the call and names the type
/// outside comments. Such a crate is built from its original, decided
/// before anything is compiled (a method of the same name on a type of
/// its own would be a false alarm: of the 689 crates of a local registry
/// cache, normpath and camino match, and both take std's `ReadDir`).
pub(crate) fn std_typed_return(dir: &Path, lib_root: Option<&Path>) -> Option<&'static str> {
    let root = lib_root?;
    let src = root.parent().unwrap_or(dir);
    let mut found = None;
    walk(src, src == dir, &mut |text| {
        found = STD_TYPED_RETURNS
            .iter()
            .find(|(call, ty, _)| text.contains(call) && names_type(text, ty))
            .map(|(_, _, what)| *what);
        found.is_some()
    })
    .ok()?;
    found
}

/// Whether `ty` appears as a whole identifier in `text`, comment lines
/// left out.
fn names_type(text: &str, ty: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .any(|l| {
            l.match_indices(ty)
                .any(|(i, _)| !l[..i].ends_with(ident) && !l[i + ty.len()..].starts_with(ident))
        })
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

/// What greenstd replaces: the table `patch_all!` is made from.
#[path = "../../patch-macro/src/replaced.rs"]
mod replaced;

/// Whether `text` names something greenstd replaces.
pub(crate) fn names_patched_std(text: &str) -> bool {
    if text.contains("thread_local!") || text.contains("extern crate std") {
        return true;
    }
    // Every `std` not inside another identifier, and the path after it.
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(pos) = text[from..].find("std") {
        let start = from + pos;
        from = start + 3;
        let before_ok = start == 0 || {
            let b = bytes[start - 1];
            !(b.is_ascii_alphanumeric() || b == b'_')
        };
        let after_ok = bytes
            .get(start + 3)
            .is_none_or(|&b| !(b.is_ascii_alphanumeric() || b == b'_'));
        if before_ok && after_ok && path_is_replaced(&text[start + 3..]) {
            return true;
        }
    }
    false
}

/// Whether the path that follows a `std` (`::net::TcpStream…`, `::{io,
/// sync}`) reaches something of [`replaced`]: an item greenstd replaces, a
/// replaced module as a whole, or a group or glob under one of them or
/// under a parent of one (`std::os::{…}`).
fn path_is_replaced(mut rest: &str) -> bool {
    let mut path: Vec<&str> = Vec::new();
    loop {
        let Some(r) = rest.trim_start().strip_prefix("::") else {
            return false;
        };
        let r = r.trim_start();
        if r.starts_with('{') || r.starts_with('*') {
            return replaced::is_parent(&path);
        }
        let ident = leading_ident(r);
        if ident.is_empty() {
            return false;
        }
        path.push(ident);
        rest = &r[ident.len()..];
        if path.len() == 1 && replaced::MACROS.contains(&ident) {
            return true;
        }
        let name = path.join("::");
        if let Some((_, items)) = replaced::MODULES.iter().find(|(m, _)| *m == name) {
            // The module itself (`use std::sync;`), a group or glob in it,
            // or one item of it.
            let Some(r) = rest.trim_start().strip_prefix("::") else {
                return !items.is_empty();
            };
            let r = r.trim_start();
            if r.starts_with('{') || r.starts_with('*') {
                return !items.is_empty();
            }
            return items.contains(&leading_ident(r));
        }
        if !replaced::is_parent(&path) {
            return false;
        }
    }
}

/// The identifier at the start of `s` (empty when there is none).
fn leading_ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
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
        assert!(names_patched_std(
            "use std::os::unix::thread::JoinHandleExt;"
        ));
        assert!(names_patched_std(
            "use std::os::{unix::net::UnixStream, raw};"
        ));
        assert!(names_patched_std("std::println!(\"x\")"));
        assert!(names_patched_std("use std::sync::mpsc::channel;"));
        assert!(!names_patched_std("use std::net::SocketAddr;"));
        assert!(!names_patched_std("use std::time::Instant;"));
        assert!(!names_patched_std(
            "use std::os::unix::process::CommandExt;"
        ));
        assert!(!names_patched_std(
            "use stdx::net::TcpStream; let std_thread = 1;"
        ));
    }

    #[test]
    fn finds_a_std_typed_return() {
        let dir = std::env::temp_dir().join(format!("cargo-green-scan-{}", std::process::id()));
        fs::create_dir_all(dir.join("src/sub")).unwrap();
        fs::write(dir.join("src/lib.rs"), "mod sub;").unwrap();
        fs::write(
            dir.join("src/sub/mod.rs"),
            "fn f(p: &Path) { p.metadata(); }",
        )
        .unwrap();
        let lib = dir.join("src/lib.rs");
        assert_eq!(std_typed_return(&dir, Some(&lib)), None);
        // Only iterated (ignore's walk, jiff's zoneinfo): inferred, compiles.
        fs::write(
            dir.join("src/sub/mod.rs"),
            "/// `fs::ReadDir`\nstruct ReadDirResult;\nfn f(p: &Path) { for e in p.read_dir() {} }",
        )
        .unwrap();
        assert_eq!(std_typed_return(&dir, Some(&lib)), None);
        // normpath: returned where its signature names `ReadDir`.
        fs::write(
            dir.join("src/sub/mod.rs"),
            "fn f(p: &Path) -> io::Result<ReadDir> { p.read_dir() }",
        )
        .unwrap();
        assert_eq!(
            std_typed_return(&dir, Some(&lib)),
            Some("`Path::read_dir` returns std's `ReadDir`")
        );
        // A build script is not the library.
        fs::write(dir.join("src/sub/mod.rs"), "").unwrap();
        fs::write(dir.join("build.rs"), "fn f() -> ReadDir { p.read_dir() }").unwrap();
        assert_eq!(std_typed_return(&dir, Some(&lib)), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_std_only_when_unconditional() {
        assert!(is_no_std("//! doc\n#![no_std]\n"));
        assert!(!is_no_std("#![cfg_attr(not(feature = \"std\"), no_std)]\n"));
    }
}
