//! The listen backlog: greenstd's default (the kernel's `somaxconn`, not
//! std's 128), `green::bind_with_backlog` / `bind_unix_with_backlog`, and
//! the setting (`GREENSTD_LISTEN_BACKLOG`, `Config::listen_backlog`).
//!
//! The backlog is observed from the outside: a listener that never accepts
//! completes `backlog + 1` handshakes (Linux), and the next client's
//! handshake is dropped — its `connect_timeout` of a few hundred
//! milliseconds expires before the SYN is retransmitted after a second.
//! Settings that change the process's default run in child processes.

mod net_util;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use greenstd::green::{bind_unix_with_backlog, bind_with_backlog, listen_backlog};
use greenstd::net::TcpListener;
use net_util::{sock_path, Watchdog};
use socket2::{Domain, SockAddr, Socket, Type};

/// How many connections complete their handshake against a listener that
/// never accepts, trying up to `limit`; stops at the first refused one.
fn handshakes(addr: SocketAddr, limit: usize) -> (usize, Vec<TcpStream>) {
    let mut held = Vec::new();
    for _ in 0..limit {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(400)) {
            Ok(s) => held.push(s),
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
                break;
            }
        }
    }
    (held.len(), held)
}

fn somaxconn() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn default_backlog_is_somaxconn_not_128() {
    let _w = Watchdog::new(60);
    if std::env::var_os("GREENSTD_LISTEN_BACKLOG").is_some() {
        return; // a child of the tests below
    }
    assert_eq!(listen_backlog().unwrap(), somaxconn());
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    // Far more than std's 128 complete without a single accept.
    let want = 400.min(somaxconn() as usize);
    let (n, _held) = handshakes(l.local_addr().unwrap(), want);
    assert_eq!(n, want);
}

#[test]
fn bind_with_backlog_sets_the_queue_length() {
    let _w = Watchdog::new(60);
    for backlog in [0, 2, 5] {
        let l = bind_with_backlog("127.0.0.1:0", backlog).unwrap();
        let (n, _held) = handshakes(l.local_addr().unwrap(), 20);
        assert_eq!(n, backlog as usize + 1, "backlog {backlog}");
        // The queue drains through accept as usual.
        let (_s, _) = l.accept().unwrap();
    }
}

#[test]
fn bind_unix_with_backlog_sets_the_queue_length() {
    let _w = Watchdog::new(60);
    let path = sock_path("backlog");
    let _l = bind_unix_with_backlog(&path, 1).unwrap();
    let target = SockAddr::unix(&path).unwrap();
    let mut held = Vec::new();
    let refused = loop {
        let s = Socket::new(Domain::UNIX, Type::STREAM.nonblocking(), None).unwrap();
        match s.connect(&target) {
            Ok(()) => held.push(s),
            Err(e) => break e,
        }
        assert!(held.len() < 20, "the backlog was not applied");
    };
    assert_eq!(refused.raw_os_error(), Some(libc::EAGAIN), "{refused}");
    assert_eq!(held.len(), 2);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn bind_with_backlog_refuses_what_the_setting_refuses() {
    // One rule with Config::listen_backlog and GREENSTD_LISTEN_BACKLOG.
    let too_big = greenstd::green::MAX_LISTEN_BACKLOG + 1;
    for backlog in [too_big, u32::MAX] {
        let e = bind_with_backlog("127.0.0.1:0", backlog).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        let e = greenstd::green::Config::new()
            .listen_backlog(backlog)
            .apply()
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        let path = sock_path("too-big");
        let e = bind_unix_with_backlog(&path, backlog).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert!(!path.exists(), "no socket file is left behind");
    }
    let l = bind_with_backlog("127.0.0.1:0", greenstd::green::MAX_LISTEN_BACKLOG).unwrap();
    drop(l);
}

/// Runs `test` of this binary in a child with `env`.
fn child(test: &str, env: &[(&str, &str)]) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
#[ignore = "run as a child process by the_setting_applies_to_later_binds"]
fn child_setting() {
    let want: u32 = match std::env::var("BACKLOG_CHILD_EXPECT") {
        Ok(v) => v.parse().unwrap(),
        Err(_) => return,
    };
    assert_eq!(listen_backlog().unwrap(), want);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let (n, _held) = handshakes(l.local_addr().unwrap(), 20);
    assert_eq!(n, want as usize + 1);
    // Config wins over the environment, for the listeners bound after it,
    // also once the runtime runs.
    greenstd::thread::spawn(|| ()).join().unwrap();
    greenstd::green::Config::new()
        .listen_backlog(3)
        .apply()
        .unwrap();
    assert_eq!(listen_backlog().unwrap(), 3);
    let l2 = TcpListener::bind("127.0.0.1:0").unwrap();
    let (n, _held2) = handshakes(l2.local_addr().unwrap(), 20);
    assert_eq!(n, 4);
    // The listener bound before keeps its queue.
    let (more, _) = handshakes(l.local_addr().unwrap(), 5);
    assert_eq!(more, 0);
    // Out of range: an error, and the setting is unchanged.
    let e = greenstd::green::Config::new()
        .listen_backlog(u32::MAX)
        .apply()
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(listen_backlog().unwrap(), 3);
    println!("child ok");
}

#[test]
#[ignore = "run as a child process by a_bad_setting_is_invalid_input"]
fn child_bad_setting() {
    if std::env::var_os("BACKLOG_CHILD_BAD").is_none() {
        return;
    }
    let e = TcpListener::bind("127.0.0.1:0").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("GREENSTD_LISTEN_BACKLOG"), "{e}");
    let e = greenstd::os::unix::net::UnixListener::bind(sock_path("bad")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    println!("child ok");
}

#[test]
fn the_setting_applies_to_later_binds() {
    let _w = Watchdog::new(60);
    let out = child(
        "child_setting",
        &[
            ("GREENSTD_LISTEN_BACKLOG", "1"),
            ("BACKLOG_CHILD_EXPECT", "1"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_bad_setting_is_invalid_input() {
    let _w = Watchdog::new(60);
    for bad in ["many", "-1", "4294967295"] {
        let out = child(
            "child_bad_setting",
            &[("GREENSTD_LISTEN_BACKLOG", bad), ("BACKLOG_CHILD_BAD", "1")],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("child ok"),
            "{bad}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
