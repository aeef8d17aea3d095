//! greenstd::io::stdin in a coroutine, for each kind of descriptor 0: the
//! read waits cooperatively (a 10 ms ticker keeps ticking on the child's
//! single worker), returns std's data and errors, and leaves the shared
//! file description blocking. Each case runs this binary again as a child
//! whose stdin is the descriptor under test.

mod stdio_util;

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::Duration;

use stdio_util::{
    child_command, in_co, is_child, is_nonblocking, nonblock_flag, pty, report, TempDir, Ticker,
    Watchdog,
};

/// How long the parent waits before it writes the line.
const FEED_DELAY: Duration = Duration::from_millis(400);
/// The bound on the child's worst tick delay: a read blocking its only
/// worker would hold it for the whole FEED_DELAY.
const BOUND_MS: u128 = 250;

/// The child: reads one line from stdin in a coroutine while a ticker runs
/// on the same (single) worker; reports on stderr.
#[test]
fn child_reads_stdin() {
    if !is_child() {
        return;
    }
    if std::env::var_os("SET_NONBLOCK").is_some() {
        // SAFETY: F_SETFL on descriptor 0, which this process holds.
        unsafe { libc::fcntl(0, libc::F_SETFL, libc::O_NONBLOCK) };
    }
    let ticker = Ticker::start();
    let result = in_co(|| {
        let mut line = String::new();
        match greenstd::io::stdin().read_line(&mut line) {
            Ok(n) => format!("ok:{n}:{}", line.escape_default()),
            Err(e) => format!("err:{:?}", e.kind()),
        }
    });
    let (worst, ticks) = ticker.stop();
    eprintln!(
        "REPORT result={result} worst_ms={} ticks={ticks} nonblock={}",
        worst.as_millis(),
        nonblock_flag(0)
    );
}

/// Starts the child on one worker with `stdin`.
fn start(stdin: Stdio, env: &[(&str, &str)]) -> Child {
    child_command("child_reads_stdin")
        .env("GREENSTD_WORKERS", "1")
        .envs(env.iter().copied())
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the child; its report.
fn finish(child: Child) -> std::collections::HashMap<String, String> {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{text}");
    report(&text)
}

/// Writes `hello\n` into `w` after FEED_DELAY, from an OS thread.
fn feed_later(mut w: impl Write + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(FEED_DELAY);
        w.write_all(b"hello\n").unwrap();
    })
}

fn assert_cooperative_hello(r: &std::collections::HashMap<String, String>) {
    assert_eq!(r["result"], "ok:6:hello\\n", "{r:?}");
    let worst: u128 = r["worst_ms"].parse().unwrap();
    assert!(worst < BOUND_MS, "worst tick delay {worst} ms: {r:?}");
    assert_eq!(r["nonblock"], "0", "{r:?}");
}

#[test]
fn stdin_pipe() {
    let _w = Watchdog::new(60);
    let mut child = start(Stdio::piped(), &[]);
    let feeder = feed_later(child.stdin.take().unwrap());
    let r = finish(child);
    feeder.join().unwrap();
    assert_cooperative_hello(&r);
}

#[test]
fn stdin_socket() {
    let _w = Watchdog::new(60);
    let (ours, theirs) = UnixStream::pair().unwrap();
    let shared = theirs.try_clone().unwrap();
    let child = start(Stdio::from(OwnedFd::from(theirs)), &[]);
    let feeder = feed_later(ours);
    let r = finish(child);
    feeder.join().unwrap();
    assert_cooperative_hello(&r);
    // The description the child shared with us is still blocking.
    assert!(!is_nonblocking(shared.as_raw_fd()));
}

#[test]
fn stdin_terminal() {
    let _w = Watchdog::new(60);
    let (master, slave) = pty();
    let child = start(Stdio::from(slave.try_clone().unwrap()), &[]);
    let feeder = feed_later(master.try_clone().unwrap());
    let r = finish(child);
    feeder.join().unwrap();
    assert_cooperative_hello(&r);
    assert!(!is_nonblocking(slave.as_raw_fd()));
}

#[test]
fn stdin_named_fifo() {
    let _w = Watchdog::new(60);
    let dir = TempDir::new("stdin-fifo");
    let path = dir.join("fifo");
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Read-write: opening does not wait for the other side.
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let child = start(Stdio::from(fifo.try_clone().unwrap()), &[]);
    let feeder = feed_later(fifo.try_clone().unwrap());
    let r = finish(child);
    feeder.join().unwrap();
    assert_cooperative_hello(&r);
    assert!(!is_nonblocking(fifo.as_raw_fd()));
}

#[test]
fn stdin_regular_file() {
    let dir = TempDir::new("stdin-file");
    std::fs::write(dir.join("input"), "a\nb\n").unwrap();
    let file = std::fs::File::open(dir.join("input")).unwrap();
    let r = finish(start(Stdio::from(file), &[]));
    assert_eq!(r["result"], "ok:2:a\\n", "{r:?}");
}

#[test]
fn stdin_null_and_closed_read_as_empty() {
    let r = finish(start(Stdio::null(), &[]));
    assert_eq!(r["result"], "ok:0:", "{r:?}");
    // A closed descriptor 0 is an empty stream, as std treats EBADF.
    let mut cmd = child_command("child_reads_stdin");
    cmd.env("GREENSTD_WORKERS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: close(2) is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(0);
            Ok(())
        });
    }
    let r = finish(cmd.spawn().unwrap());
    assert_eq!(r["result"], "ok:0:", "{r:?}");
}

#[test]
fn stdin_made_non_blocking_by_the_user_reports_would_block() {
    let _w = Watchdog::new(60);
    let mut child = start(Stdio::piped(), &[("SET_NONBLOCK", "1")]);
    let stdin = child.stdin.take().unwrap();
    let r = finish(child);
    drop(stdin);
    assert_eq!(r["result"], "err:WouldBlock", "{r:?}");
}
