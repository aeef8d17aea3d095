//! Runs the examples (examples/*.rs) as their users would, on loopback
//! ports, each bounded in time; children are killed if a check fails.
//!
//! Each example is built (offline) before it runs; after `cargo test` or
//! `cargo nextest run --workspace` that is a quick no-op.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// The path of the built example `name`, (re)built first: a no-op when
/// `cargo test`/`cargo nextest run` already built it, but a filtered run
/// (`--test examples`) does not build examples and would run stale ones.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/examples-<hash> → target/<profile>/examples/<name>
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => "dev",
        other => other,
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args([
            "build",
            "--offline",
            "--quiet",
            "--profile",
            profile,
            "--example",
            name,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "cargo build --example {name}");
    profile_dir.join("examples").join(name)
}

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
