//! greenstd::process against std's behaviour: exit codes, signals, kill,
//! try_wait, inherited/piped/null stdio, large outputs on both pipes, EOF,
//! spawn errors, conversions — each on a plain thread and in a coroutine.

mod stdio_util;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use greenstd::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use stdio_util::{both, in_co, is_nonblocking, rt, Watchdog};

#[test]
fn exit_codes() {
    let _w = Watchdog::new(60);
    both(|| {
        let status = Command::new("sh").args(["-c", "exit 3"]).status().unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(!status.success());
        assert!(Command::new("true").status().unwrap().success());
        let out = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 42"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(42));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    });
}

#[test]
fn signals_and_kill() {
    let _w = Watchdog::new(60);
    both(|| {
        let mut child = Command::new("sleep").arg("10").spawn().unwrap();
        assert!(child.id() > 0);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert_eq!(status.code(), None);
        // Killing a reaped child is Ok, as in std; wait repeats its status.
        child.kill().unwrap();
        assert_eq!(child.wait().unwrap(), status);

        let status = Command::new("sh")
            .args(["-c", "kill -TERM $$"])
            .status()
            .unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    });
}

#[test]
fn try_wait_before_and_after_exit() {
    let _w = Watchdog::new(60);
    both(|| {
        let mut child = Command::new("sleep").arg("0.3").spawn().unwrap();
        assert_eq!(child.try_wait().unwrap(), None);
        let status = child.wait().unwrap();
        assert!(status.success());
        assert_eq!(child.try_wait().unwrap(), Some(status));

        let mut child = Command::new("true").spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline);
            greenstd::thread::sleep(Duration::from_millis(5));
        };
        assert!(status.success());
    });
}

#[test]
fn null_piped_and_inherited_stdio() {
    let _w = Watchdog::new(60);
    both(|| {
        // output(): stdin is null, so cat sees EOF at once.
        let out = Command::new("cat").output().unwrap();
        assert!(out.status.success());
        assert!(out.stdout.is_empty());

        // A piped stdin, echoed back on a piped stdout.
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(child.stderr.is_none());
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"round trip")
            .unwrap();
        let mut text = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "round trip");
        assert!(child.wait().unwrap().success());

        // Explicit settings beat output()'s defaults.
        let out = Command::new("sh")
            .args(["-c", "echo to-null; echo err >&2"])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(out.stdout.is_empty());
        assert_eq!(out.stderr, b"err\n");

        // spawn() inherits by default: no pipes.
        let mut child = Command::new("true").spawn().unwrap();
        assert!(child.stdin.is_none() && child.stdout.is_none() && child.stderr.is_none());
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn a_command_is_reusable_with_each_kind_s_defaults() {
    let _w = Watchdog::new(60);
    both(|| {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo hi"]);
        assert_eq!(cmd.output().unwrap().stdout, b"hi\n");
        // After output(), spawn() still inherits stdout (no pipe).
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        assert!(child.stdout.is_none());
        assert!(child.stderr.is_some());
        assert!(child.wait().unwrap().success());
        // And output() still captures stdout; stderr stays as set.
        let out = cmd.output().unwrap();
        assert_eq!(out.stdout, b"hi\n");
    });
}

#[test]
fn large_outputs_on_both_pipes_do_not_deadlock() {
    let _w = Watchdog::new(60);
    both(|| {
        for script in [
            "head -c 1000000 /dev/zero; head -c 700000 /dev/zero >&2",
            "head -c 700000 /dev/zero >&2; head -c 1000000 /dev/zero",
        ] {
            let out = Command::new("sh").args(["-c", script]).output().unwrap();
            assert!(out.status.success());
            assert_eq!(out.stdout.len(), 1_000_000);
            assert_eq!(out.stderr.len(), 700_000);
            assert!(out.stdout.iter().all(|&b| b == 0));
        }
        // wait_with_output with a large stdin written first: cat echoes 1 MB.
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let writer = greenstd::thread::spawn(move || {
            let mut stdin = stdin;
            stdin.write_all(&vec![7u8; 1 << 20]).unwrap();
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert_eq!(out.stdout.len(), 1 << 20);
        assert!(out.stderr.is_empty());
    });
}

#[test]
fn eof_and_wait_closes_stdin() {
    let _w = Watchdog::new(60);
    both(|| {
        // The child exits: its stdout ends.
        let mut child = Command::new("true").stdout(Stdio::piped()).spawn().unwrap();
        let mut rest = Vec::new();
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_to_end(&mut rest)
            .unwrap();
        assert!(rest.is_empty());
        assert!(child.wait().unwrap().success());

        // wait() closes stdin first, so cat sees EOF and exits.
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        assert!(child.wait().unwrap().success());
        assert!(child.stdin.is_none());
    });
}

#[test]
fn spawn_errors_are_std_s() {
    both(|| {
        let e = Command::new("/nonexistent/greenstd-no-such-program")
            .spawn()
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        let e = Command::new("true")
            .current_dir("/nonexistent/greenstd-no-such-dir")
            .status()
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        let e = Command::new("/dev/null").output().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        let e = Command::new("a\0b").spawn().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    });
}

#[test]
fn builder_methods() {
    both(|| {
        let dir = std::env::temp_dir();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo \"$FOO/$BAR/$HOME\"; pwd; echo $0"])
            .env("FOO", "foo")
            .envs([("BAR", "bar")])
            .env_remove("HOME")
            .current_dir(&dir)
            .arg0("renamed");
        assert_eq!(cmd.get_program(), "sh");
        assert_eq!(cmd.get_args().count(), 2);
        assert_eq!(cmd.get_envs().count(), 3);
        assert_eq!(cmd.get_current_dir(), Some(dir.as_path()));
        assert!(format!("{cmd:?}").contains("\"sh\""));
        let out = cmd.output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], "foo/bar/");
        assert_eq!(
            std::fs::canonicalize(lines[1]).unwrap(),
            std::fs::canonicalize(&dir).unwrap()
        );
        assert_eq!(lines[2], "renamed");

        let out = Command::new("/usr/bin/env")
            .env_clear()
            .env("ONLY", "1")
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"ONLY=1\n");

        let out = Command::new("sh")
            .args(["-c", "ps -o pgid= -p $$ | tr -d ' '; echo $$"])
            .process_group(0)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut l = text.lines();
        assert_eq!(l.next(), l.next(), "{text}");

        // pre_exec runs in the child before exec.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exit 0"]);
        // SAFETY: the closure only returns an error value (no allocation,
        // no locks): async-signal-safe.
        unsafe {
            cmd.pre_exec(|| Err(std::io::Error::from_raw_os_error(libc::EPERM)));
        }
        let e = cmd.status().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
    });
}

#[test]
fn pipes_convert_to_stdio_and_fds_in_blocking_mode() {
    let _w = Watchdog::new(60);
    both(|| {
        // echo | tr, through a ChildStdout turned into the next Stdio.
        let mut first = Command::new("echo")
            .arg("hello")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let upstream: ChildStdout = first.stdout.take().unwrap();
        let out = Command::new("tr")
            .args(["a-z", "A-Z"])
            .stdin(upstream)
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"HELLO\n");
        assert!(first.wait().unwrap().success());

        // into OwnedFd: the descriptor std would hand over (blocking).
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin_fd = OwnedFd::from(child.stdin.take().unwrap());
        assert!(!is_nonblocking(stdin_fd.as_raw_fd()));
        let stdout_fd = OwnedFd::from(child.stdout.take().unwrap());
        assert!(!is_nonblocking(stdout_fd.as_raw_fd()));
        // And back: From<OwnedFd>.
        let mut stdin = ChildStdin::from(stdin_fd);
        let mut stdout = ChildStdout::from(stdout_fd);
        stdin.write_all(b"back").unwrap();
        drop(stdin);
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        assert_eq!(text, "back");
        assert!(child.wait().unwrap().success());
        assert!(format!("{child:?}").starts_with("Child {"));
        assert_eq!(format!("{stdout:?}"), "ChildStdout { .. }");
    });
}

#[test]
fn a_child_spawned_in_a_coroutine_can_be_waited_on_a_thread() {
    rt();
    let child: Child = in_co(|| {
        Command::new("sh")
            .args(["-c", "sleep 0.1; exit 5"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    });
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let mut child = Command::new("sleep").arg("0.1").spawn().unwrap();
    let status = in_co(move || child.wait().unwrap());
    assert!(status.success());
}

/// A coroutine waiting for its child is reported at the caller's line.
#[test]
fn a_wait_for_a_child_reports_the_callers_line() {
    rt();
    let _w = Watchdog::new(60);
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id();
    let line = line!() + 3;
    let waiter = greenstd::thread::Builder::new()
        .name("child-waiter".into())
        .spawn(move || child.wait().unwrap())
        .unwrap();
    assert_eq!(
        stdio_util::wait_site("child-waiter"),
        (file!().to_string(), line)
    );
    // SAFETY: a signal to our own child, which has not been reaped.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert_eq!(waiter.join().unwrap().signal(), Some(libc::SIGKILL));
}
