//! Runs the examples (examples/*.rs) as their users would, on loopback
//! ports, each bounded in time; children are killed if a check fails.
//!
//! Each example is built (offline) before it runs; after `cargo test` or
//! `cargo nextest run --workspace` that is a quick no-op.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

mod child_util;
use child_util::example;

const LIMIT: Duration = Duration::from_secs(60);

/// A child process killed on drop, unless it was waited for.
struct Running {
    child: Child,
    name: String,
}

impl Running {
    fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
        let child = Command::new(example(name))
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Running {
            child,
            name: name.to_string(),
        }
    }

    /// Reads the `listening on ADDR` line a server prints first.
    fn address(&mut self) -> (String, BufReader<ChildStdout>) {
        let mut out = BufReader::new(self.child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{}: {line:?}", self.name));
        (addr.to_string(), out)
    }

    /// Waits for the exit, at most `LIMIT`; returns the rest of stdout.
    fn finish(mut self, mut stdout: impl Read) -> (bool, String) {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut rest = String::new();
                stdout.read_to_string(&mut rest).unwrap();
                return (status.success(), rest);
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {LIMIT:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs example `name` to completion (bounded): success and stdout.
fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut running = Running::start(name, args, env);
    let stdout = running.child.stdout.take().unwrap();
    running.finish(stdout)
}

#[test]
fn echo_server_serves_500_echo_clients() {
    let mut server = Running::start(
        "echo_server",
        &["127.0.0.1:0", "500"],
        &[("ECHO_QUIET", "1")],
    );
    let (addr, server_out) = server.address();
    let (success, report) = run("echo_clients", &[&addr, "500", "3"], &[]);
    assert!(success, "{report}");
    assert!(
        report.contains("500 clients, 1500 replies verified, 0 failed"),
        "{report}"
    );
    let (success, rest) = server.finish(server_out);
    assert!(success);
    assert!(rest.contains("served 500 connections, 0 failed"), "{rest}");
}

#[test]
fn echo_server_verbose_and_upper_cases() {
    let mut server = Running::start(
        "echo_server",
        &[],
        &[("ECHO_ADDR", "127.0.0.1:0"), ("ECHO_MAX_CONNECTIONS", "1")],
    );
    let (addr, server_out) = server.address();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.write_all(b"hello gevent").unwrap();
    let mut reply = [0u8; 12];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"HELLO GEVENT");
    drop(stream);
    let (success, rest) = server.finish(server_out);
    assert!(success);
    assert!(rest.contains("New client from 127.0.0.1:"), "{rest}");
    assert!(rest.contains("disconnected."), "{rest}");
}

#[test]
fn switch_interleaves_like_gevent() {
    let (success, one_worker) = run("switch", &[], &[("GREENSTD_WORKERS", "1")]);
    assert!(success);
    assert_eq!(
        one_worker,
        "Running in foo\nExplicit context to bar\nExplicit context switch to foo again\nImplicit context switch back to bar\n"
    );
    // With the default workers, each task's lines stay in order.
    let (success, out) = run("switch", &[], &[]);
    assert!(success);
    let at = |line: &str| {
        out.find(line)
            .unwrap_or_else(|| panic!("{line:?} missing from {out:?}"))
    };
    assert!(at("Running in foo") < at("Explicit context switch to foo again"));
    assert!(at("Explicit context to bar") < at("Implicit context switch back to bar"));
}

#[test]
fn http_get_fetches_from_its_own_server() {
    let (success, out) = run("http_get", &[], &[]);
    assert!(success, "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.ends_with(": HTTP/1.1 200 OK, 54 bytes"))
            .count(),
        10,
        "{out}"
    );
}

/// Reads one response; returns its head and body.
fn response(reader: &mut BufReader<TcpStream>) -> (String, String) {
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

#[test]
fn http_hello_keeps_connections_alive() {
    let mut server = Running::start("http_hello", &["127.0.0.1:0", "3"], &[]);
    let (addr, server_out) = server.address();

    // Three requests on one HTTP/1.1 connection.
    let stream = TcpStream::connect(&addr).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    for i in 0..3 {
        write!(writer, "GET /{i} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let (head, body) = response(&mut reader);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("Connection: keep-alive"), "{head}");
        assert_eq!(body, "Hello, World!");
    }
    drop((writer, reader));

    // HTTP/1.0 without keep-alive: one answer, then the server closes.
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut all = String::new();
    stream.read_to_string(&mut all).unwrap();
    assert!(
        all.contains("Connection: close") && all.ends_with("Hello, World!"),
        "{all}"
    );

    // The http_get example against it.
    let url = format!("http://{addr}/");
    let (success, got) = run("http_get", &[&url], &[]);
    assert!(success, "{got}");
    assert_eq!(got.trim(), format!("{url}: HTTP/1.1 200 OK, 13 bytes"));

    let (success, rest) = server.finish(server_out);
    assert!(success);
    assert!(rest.contains("served 5 requests"), "{rest}");
}

#[test]
fn crawler_fetches_200_pages_with_a_pool_of_20_as_they_finish() {
    let (success, out) = run("crawler", &[], &[]);
    assert!(success, "{out}");
    let pages: Vec<u64> = out
        .lines()
        .filter(|l| l.contains(": HTTP/1.1 200 OK, "))
        .filter_map(|l| l.split("/page/").nth(1)?.split(':').next()?.parse().ok())
        .collect();
    assert_eq!(pages.len(), 200, "{out}");
    let mut sorted = pages.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..200).collect::<Vec<_>>(), "each page once");
    // Pages take 0-49 ms each, by number: they arrive as they finish, not
    // in the order asked.
    assert_ne!(pages, sorted, "results came in input order");
    let summary = out.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("fetched 200 pages, 0 failed"),
        "{summary}"
    );
    let most: usize = summary
        .split("at most ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(
        (2..=20).contains(&most),
        "{most} requests at once: {summary}"
    );
}

#[test]
fn tls_echo_runs_concurrent_sessions_on_few_threads() {
    let (success, out) = run("tls_echo", &["300"], &[("GREENSTD_WORKERS", "2")]);
    assert!(success, "{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(last.starts_with("300 sessions ok in "), "{out}");
    let threads: usize = last
        .rsplit("at most ")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{last:?}"));
    assert!(threads <= 16, "{last}");
}

#[test]
fn processes_runs_a_hundred_commands_at_once() {
    let (success, out) = run("processes", &["100", "0.2"], &[("GREENSTD_WORKERS", "2")]);
    assert!(success, "{out}");
    for i in 0..100 {
        assert!(
            out.contains(&format!("job {i}: Linux (note {i})\n")),
            "job {i} missing from {out}"
        );
    }
    let summary = out
        .lines()
        .find(|l| l.starts_with("100 jobs of 0.2 s in "))
        .unwrap_or_else(|| panic!("no summary in {out}"));
    let seconds: f64 = summary["100 jobs of 0.2 s in ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(summary.contains(" 0 failed"), "{summary}");
    // Waits that blocked the two workers would take 100 x 0.2 s / 2 = 10 s.
    assert!(seconds < 5.0, "{summary}");
}

#[test]
fn jobs_time_out_the_stuck_ones_and_cancel_the_idle_workers() {
    // 100 jobs, 8 workers, 1 s per job: every tenth job talks to a server
    // that never answers and is cut by its deadline.
    let (success, out) = run("jobs", &["100", "8", "1000"], &[]);
    assert!(success, "{out}");
    let mut timed_out: Vec<u32> = out
        .lines()
        .filter_map(|l| {
            l.strip_prefix("job ")?
                .strip_suffix(" timed out after 1s")?
                .parse()
                .ok()
        })
        .collect();
    timed_out.sort_unstable();
    assert_eq!(
        timed_out,
        (0..10).map(|i| i * 10 + 9).collect::<Vec<_>>(),
        "{out}"
    );
    assert!(
        out.contains("100 jobs: 90 done, 10 timed out, 0 failed"),
        "{out}"
    );
    assert!(
        out.contains("8 idle workers cancelled, 8 stopped with Cancelled"),
        "{out}"
    );
}
