//! Pollers of other runtimes, made to wait cooperatively in their copies.
//!
//! mio's epoll selector (tokio's reactor, and with it tokio's `block_on`,
//! its current-thread runtimes and every blocking client that runs one
//! inside, such as `reqwest::blocking` and `postgres`) calls `epoll_wait`
//! itself: rebuilt against greenstd as it is, it would still block the
//! worker. In its copy, `Selector::select` first waits, from a coroutine,
//! for the epoll descriptor to become readable through greenstd (which
//! suspends the coroutine only), then collects the events with a zero
//! timeout. On a plain OS thread nothing changes.

use std::fs;
use std::io;
use std::path::Path;

/// The start of mio's `Selector::select` (0.7 to 1.x).
const MIO_SELECT: &str =
    "pub fn select(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {";

/// Inserted at the start of mio's `Selector::select`; `EP` is the epoll
/// descriptor as an `AsFd`.
const MIO_WAIT: &str = "
        // Written by cargo green: from a coroutine, wait for the epoll
        // descriptor through greenstd (the coroutine is suspended, not its
        // worker), then take the events without waiting.
        let timeout = if timeout != Some(Duration::ZERO) && ::std::green::in_coroutine() {
            match ::std::green::wait_readable(EP, timeout) {
                Ok(()) => Some(Duration::ZERO),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => Some(Duration::ZERO),
                Err(e) => return Err(e),
            }
        } else {
            timeout
        };
";

/// What `stamp` changes with: the copies are rewritten when it does.
pub(crate) fn stamp(name: &str) -> &'static str {
    match name {
        "mio" => MIO_WAIT,
        _ => "",
    }
}

/// Whether `name` is a poller whose copy is rewritten here.
pub(crate) fn is_poller(name: &str) -> bool {
    name == "mio"
}

/// Rewrites the copy of `name` in `dir`, when it is a known poller.
/// `Ok(false)` when its source is not the shape expected (the copy is then
/// left as it is: patched, but its poller blocks).
pub(crate) fn rewrite(name: &str, dir: &Path) -> io::Result<bool> {
    if name != "mio" {
        return Ok(false);
    }
    let file = dir.join("src/sys/unix/selector/epoll.rs");
    let Ok(text) = fs::read_to_string(&file) else {
        return Ok(false);
    };
    let Some(at) = text.find(MIO_SELECT) else {
        return Ok(false);
    };
    // mio 1.x holds the descriptor as an `OwnedFd`, 0.8 as a `RawFd`.
    let ep = if text.contains("ep: OwnedFd") {
        "&self.ep"
    } else if text.contains("ep: RawFd") {
        // SAFETY (in the copy): the selector owns `ep` while it selects.
        "unsafe { ::std::os::fd::BorrowedFd::borrow_raw(self.ep) }"
    } else {
        return Ok(false);
    };
    let end = at + MIO_SELECT.len();
    let mut out = String::with_capacity(text.len() + MIO_WAIT.len());
    out.push_str(&text[..end]);
    out.push_str(&MIO_WAIT.replace("EP", ep));
    out.push_str(&text[end..]);
    fs::write(&file, out)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_mio_s_select_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("cargo-green-pollers-{}", std::process::id()));
        let sel = dir.join("src/sys/unix/selector");
        fs::create_dir_all(&sel).unwrap();
        let src = format!(
            "pub struct Selector {{ ep: OwnedFd }}\nimpl Selector {{\n    {MIO_SELECT}\n        events.clear();\n        Ok(())\n    }}\n}}\n"
        );
        fs::write(sel.join("epoll.rs"), &src).unwrap();
        assert!(!rewrite("tokio", &dir).unwrap());
        assert!(rewrite("mio", &dir).unwrap());
        let out = fs::read_to_string(sel.join("epoll.rs")).unwrap();
        assert!(
            out.contains("::std::green::wait_readable(&self.ep, timeout)"),
            "{out}"
        );
        assert!(out.find("wait_readable").unwrap() < out.find("events.clear()").unwrap());
        // Not the shape expected: left alone.
        fs::write(sel.join("epoll.rs"), "fn select() {}").unwrap();
        assert!(!rewrite("mio", &dir).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }
}
