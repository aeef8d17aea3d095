//! greenstd's stdout, stderr and print! family in coroutines: a full pipe
//! parks the writer (a ticker keeps ticking on the child's single worker),
//! lines stay whole, the buffer is flushed at exit, a closed descriptor is
//! a sink as in std, and terminals and files work. Each case runs this
//! binary again as a child whose stdout/stderr is the descriptor under test.

mod stdio_util;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use greenstd::io::Write as _;
use stdio_util::{
    child_command, in_co, is_child, is_nonblocking, nonblock_flag, pty, report, TempDir, Ticker,
    Watchdog,
};

/// The payload line: 1023 characters and a newline (long lines: the
/// burst of writes once the parent drains the pipe is few syscalls, so
/// the ticker measures blocking, not the writer's CPU time).
const LINE: &str = LINE_1023;
const LINE_1023: &str = concat!(
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
);
/// 1 MiB of lines: 16 times a pipe's 64 KiB.
const LINES: usize = 1024;
const _: () = assert!(LINE.len() == 1023);
/// How long the parent leaves the pipe full before it reads.
const DRAIN_DELAY: Duration = Duration::from_millis(500);
/// A write blocking the child's only worker would stall its ticker for the
/// whole DRAIN_DELAY.
const BOUND_MS: u128 = 250;

/// The child: prints in coroutines according to `CHILD_MODE`.
#[test]
fn child_prints() {
    if !is_child() {
        return;
    }
    let mode = std::env::var("CHILD_MODE").unwrap();
    let ticker = Ticker::start();
    let m = mode.clone();
    in_co(move || match m.as_str() {
        "stdout" => {
            for _ in 0..LINES {
                greenstd::println!("{LINE}");
            }
        }
        "stderr" => {
            for _ in 0..LINES {
                greenstd::eprintln!("{LINE}");
            }
        }
        "handles" => {
            let mut out = greenstd::io::stdout().lock();
            for _ in 0..LINES / 2 {
                writeln!(out, "{LINE}").unwrap();
            }
            // Reentrant: print! while holding the lock.
            greenstd::print!("{LINE}\n");
            drop(out);
            let mut handle = greenstd::io::stdout();
            for _ in 0..LINES / 2 - 1 {
                handle.write_all(LINE.as_bytes()).unwrap();
                handle.write_all(b"\n").unwrap();
            }
            handle.flush().unwrap();
        }
        "many" => {
            let hs: Vec<_> = (0..100)
                .map(|i| {
                    greenstd::thread::spawn(move || {
                        for j in 0..50 {
                            greenstd::println!("coroutine {i} line {j} {LINE}");
                            if j % 10 == 0 {
                                greenstd::thread::yield_now();
                            }
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        }
        "partial" => greenstd::print!("partial line at exit"),
        "closed" => {
            greenstd::println!("into a closed stdout");
            greenstd::eprintln!("into a closed stderr");
            greenstd::io::stdout().flush().unwrap();
        }
        other => panic!("unknown mode {other}"),
    });
    let (worst, ticks) = ticker.stop();
    let line = format!(
        "REPORT worst_ms={} ticks={ticks} nonblock1={} nonblock2={}",
        worst.as_millis(),
        nonblock_flag(1),
        nonblock_flag(2)
    );
    // The report goes to the stream that does not carry the payload.
    if mode == "stderr" {
        let _ = greenstd::io::stdout().write_all(format!("{line}\n").as_bytes());
    } else {
        let _ = greenstd::io::stderr().write_all(format!("{line}\n").as_bytes());
    }
}

fn child(mode: &str) -> Command {
    let mut cmd = child_command("child_prints");
    cmd.env("GREENSTD_WORKERS", "1").env("CHILD_MODE", mode);
    cmd
}

/// Reads all of `r` after DRAIN_DELAY.
fn drain_later(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        std::thread::sleep(DRAIN_DELAY);
        let mut text = String::new();
        r.read_to_string(&mut text).unwrap();
        text
    })
}

/// The payload lines in `text` (the first may follow the harness's
/// `test child_prints ... `).
fn payload_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| l.trim_end_matches('\r').ends_with(LINE))
        .count()
}

fn finish_with_report(child: Child, report_on_stderr: bool) -> (String, String) {
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stderr}");
    let r = report(if report_on_stderr { &stderr } else { &stdout });
    let worst: u128 = r["worst_ms"].parse().unwrap();
    assert!(worst < BOUND_MS, "worst tick delay {worst} ms: {r:?}");
    assert_eq!(r["nonblock1"], "0", "{r:?}");
    assert_eq!(r["nonblock2"], "0", "{r:?}");
    (stdout, stderr)
}

#[test]
fn a_full_stdout_pipe_parks_println() {
    let _w = Watchdog::new(60);
    for mode in ["stdout", "handles"] {
        let mut c = child(mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let reader = drain_later(c.stdout.take().unwrap());
        let (_, stderr) = finish_with_report(c, true);
        let text = reader.join().unwrap();
        assert_eq!(payload_lines(&text), LINES, "{mode}: {stderr}");
    }
}

#[test]
fn a_full_stderr_pipe_parks_eprintln() {
    let _w = Watchdog::new(60);
    let mut c = child("stderr")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = drain_later(c.stderr.take().unwrap());
    let _ = finish_with_report(c, false);
    let text = reader.join().unwrap();
    assert_eq!(payload_lines(&text), LINES);
}

#[test]
fn lines_from_many_coroutines_stay_whole() {
    let _w = Watchdog::new(60);
    let c = child("many")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stdout, _) = finish_with_report(c, true);
    let mut seen = std::collections::HashSet::new();
    for line in stdout
        .lines()
        .filter_map(|l| l.find("coroutine ").map(|at| &l[at..]))
    {
        let words: Vec<_> = line.split(' ').collect();
        assert_eq!(words.len(), 5, "torn line {line:?}");
        assert_eq!(words[4], LINE, "torn line {line:?}");
        assert!(seen.insert((words[1].to_string(), words[3].to_string())));
    }
    assert_eq!(seen.len(), 100 * 50);
}

#[test]
fn a_partial_line_is_flushed_at_exit() {
    let out = child("partial").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("partial line at exit"), "{text}");
}

#[test]
fn a_closed_stdout_and_stderr_are_sinks_as_in_std() {
    let mut cmd = child("closed");
    // SAFETY: close(2) is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            libc::close(2);
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn stdout_to_a_terminal_a_file_and_dev_null() {
    let _w = Watchdog::new(60);
    // A terminal: read by a thread as the child writes.
    let (master, slave) = pty();
    let c = child("stdout")
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut m = master.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        // Counts payload lines as they come (the terminal turns "\n" into
        // "\r\n"; the harness's own lines are mixed in).
        let (mut count, mut pending, mut buf) = (0, Vec::new(), [0u8; 65536]);
        while count < LINES {
            let n = m.read(&mut buf).unwrap();
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8(line).unwrap();
                count += payload_lines(&line);
            }
        }
        count
    });
    let _ = finish_with_report(c, true);
    assert_eq!(reader.join().unwrap(), LINES);
    assert!(!is_nonblocking(slave.as_raw_fd()));
    drop(master);

    // A regular file (through the offload pool).
    let dir = TempDir::new("stdout-file");
    let file = std::fs::File::create(dir.join("out")).unwrap();
    let c = child("stdout")
        .stdout(Stdio::from(file))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = finish_with_report(c, true);
    let text = std::fs::read_to_string(dir.join("out")).unwrap();
    assert_eq!(payload_lines(&text), LINES);

    // /dev/null.
    let c = child("stdout")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = finish_with_report(c, true);
}
