//! tests/green-fixture (200 coroutines on 2 workers calling minreq, a
//! blocking HTTP client from crates.io) against a local server that answers
//! each request after 100 ms: built with plain `cargo build` the workers
//! stall (the requests take turns, two at a time); built with
//! `cargo green build`, unchanged, they all wait together.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

const DELAY: Duration = Duration::from_millis(100);
const REQUESTS: usize = 200;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/green-fixture")
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("green-fixture")
}

/// A thread-per-connection HTTP server on std threads (this test is not
/// patched) that answers `ok` to any request after `DELAY`.
fn server() -> String {
    static ADDR: OnceLock<String> = OnceLock::new();
    ADDR.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // std's backlog is 128; 200 clients connect at once.
        // SAFETY: listen(2) on a descriptor the listener owns, which stays
        // open; it only raises the backlog of an already listening socket.
        unsafe { libc::listen(listener.as_raw_fd(), 1024) };
        let addr = listener.local_addr().unwrap().to_string();
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                thread::spawn(move || answer(conn));
            }
        });
        addr
    })
    .clone()
}

fn answer(mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    thread::sleep(DELAY);
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}

fn cargo() -> Command {
    cargo_in(&fixture())
}

/// cargo in the project `dir`, with the fixture's target directory (shared,
/// so that greenstd is compiled once for all the projects).
fn cargo_in(dir: &Path) -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    c
}

fn green() -> Command {
    green_in(&fixture())
}

fn green_in(dir: &Path) -> Command {
    let mut c = cargo_in(dir);
    c.env(
        "CARGO",
        std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
    );
    c.arg("green");
    c
}

fn run_ok(mut c: Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Runs the built fixture, returns (ok, elapsed, os threads).
/// Runs the fixture on 2 workers; `max_threads` bounds the OS threads
/// greenstd may use (`None`: its default), so that `Some(2)` leaves no
/// thread to hand a blocked worker to.
fn run_fixture(requests: usize, max_threads: Option<u32>) -> (usize, Duration, u64) {
    let bin = target_dir().join("debug/green-fixture");
    let mut cmd = Command::new(bin);
    if let Some(n) = max_threads {
        cmd.env("GREENSTD_MAX_THREADS", n.to_string());
    }
    let out = cmd
        .arg(server())
        .arg(requests.to_string())
        .env("GREENSTD_WORKERS", "2")
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "fixture failed: {line}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |k: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {line:?}"))
    };
    (
        field("ok") as usize,
        Duration::from_millis(field("elapsed_ms")),
        field("os_threads"),
    )
}

/// The Cargo binary of this workspace, found by `cargo green` as
/// `cargo-green` on PATH.
fn path_with_cargo_green() -> std::ffi::OsString {
    let bin = Path::new(env!("CARGO_BIN_EXE_cargo-green"));
    let mut paths = vec![bin.parent().unwrap().to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    static L: std::sync::Mutex<()> = std::sync::Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn plain_build_stalls_green_build_does_not() {
    let _l = lock();
    let manifest_before = std::fs::read(fixture().join("Cargo.toml")).unwrap();

    let mut plain = cargo();
    plain.arg("build");
    run_ok(plain);
    // With no thread to hand a blocked worker to, minreq's blocking
    // requests hold the two workers: 200 requests, two at a time, ≈ 10 s.
    // Anything above a quarter of that means the workers were held.
    let (ok, elapsed, _) = run_fixture(REQUESTS, Some(2));
    assert_eq!(ok, REQUESTS);
    let serial = DELAY * REQUESTS as u32 / 2;
    assert!(
        elapsed > serial / 4,
        "plain build: {elapsed:?}, expected a stall near {serial:?}"
    );

    let lock_before = std::fs::read(fixture().join("Cargo.lock")).ok();
    let mut g = green();
    g.env("PATH", path_with_cargo_green()).arg("build");
    let out = run_ok(g);
    assert!(
        out.contains("cargo green: patched"),
        "no summary line in:\n{out}"
    );
    let (ok, elapsed, threads) = run_fixture(REQUESTS, Some(2));
    assert_eq!(ok, REQUESTS);
    assert!(
        elapsed < DELAY * 20,
        "cargo green build: {elapsed:?} for {REQUESTS} requests"
    );
    assert!(threads <= 16, "{threads} OS threads");

    // Nothing of the project was written.
    assert_eq!(
        std::fs::read(fixture().join("Cargo.toml")).unwrap(),
        manifest_before
    );
    assert_eq!(
        std::fs::read(fixture().join("Cargo.lock")).ok(),
        lock_before
    );
}

#[test]
fn status_names_minreq_patched_and_the_runtime_not() {
    let _l = lock();
    let mut s = green();
    s.env("PATH", path_with_cargo_green()).arg("status");
    let out = run_ok(s);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
            .to_string()
    };
    assert!(line("minreq").ends_with("  patched"), "{out}");
    assert!(
        line("crossbeam-channel").contains("greenstd's runtime"),
        "{out}"
    );
    assert!(line("greenstd").contains("greenstd itself"), "{out}");
    assert!(line("green-fixture").contains("patched"), "{out}");
    assert!(
        line("mio").contains("its epoll selector waits through greenstd"),
        "{out}"
    );
    assert!(line("poll-client").contains("patched (your code"), "{out}");
    // minreq, mio and log (a renamed copy); path packages not counted.
    assert!(
        out.contains("cargo green: patched 3 crates, 0 left"),
        "{out}"
    );
}

#[test]
fn audit_names_the_blocking_calls_left_and_nothing_in_a_clean_binary() {
    let _l = lock();
    let mut a = green();
    // --locked: the project's lockfile is checked, the build's own copy
    // (which names greenstd) is not held to it.
    a.env("PATH", path_with_cargo_green())
        .args(["audit", "--locked"]);
    let out = run_ok(a);
    // One section per binary, each starting with its header line.
    let section = |bin: &str| -> String {
        let header = format!(
            "cargo green audit: {}",
            target_dir().join("debug").join(bin).display()
        );
        let start = out
            .find(&header)
            .unwrap_or_else(|| panic!("no {header} in:\n{out}"));
        let rest = &out[start + header.len()..];
        let end = rest.find("cargo green audit").unwrap_or(rest.len());
        rest[..end].to_string()
    };
    let clean = section("clean");
    assert!(
        clean.contains("nothing found that blocks a worker"),
        "{out}"
    );
    // minreq, rebuilt against greenstd, leaves nothing that blocks; nor
    // does greenstd's `fs::read_to_string`, inlined into the program's
    // `os_threads` (the fixture's code is optimized): a call of std's own
    // item from a crate whose `std` is greenstd is greenstd's.
    let fixture = section("green-fixture");
    assert!(
        fixture.contains("nothing found that blocks a worker"),
        "{out}"
    );
    // A sleep in the C library, which no patch reaches: named, with its
    // caller, the spawned closure (c_sleep inlined into it, it inlined into
    // greenstd's spawn: found by the closure's name).
    let blocking = section("blocking");
    assert!(
        blocking.contains("green-fixture:")
            && blocking.contains(
                "blocking::main::{closure#0}::{closure#0} (inlined into \
                 <generator::stack::StackBox>::call_once) -> nanosleep"
            ),
        "{out}"
    );
    // Ranked: the summary line names it first, as what blocks a worker.
    let summary = blocking.lines().next().unwrap_or_default();
    assert!(
        summary.contains("1 blocks a worker") && summary.contains("first: green-fixture:"),
        "{out}"
    );
    // Nothing of greenstd or its runtime is reported (call chains from the
    // program's code may pass through them).
    for internal in ["shim_", "greenstd::", "may::"] {
        assert!(
            !blocking
                .lines()
                .any(|l| l.contains(internal) && !l.contains("from your code:")),
            "{internal} reported:\n{out}"
        );
    }
    // A client that runs a poller of its own inside (as postgres runs
    // tokio): named first, as what blocks a worker, with the call chain
    // from the program's code.
    let poller = section("poller-inside");
    let summary = poller.lines().next().unwrap_or_default();
    assert!(
        summary.contains("1 blocks a worker")
            && summary
                .contains("first: poll-client: poll_client::Client::wait_readable -> epoll_wait"),
        "{out}"
    );
    assert!(
        poller.contains("from your code: poller_inside::main"),
        "{out}"
    );
    // The same through mio, whose copy waits through greenstd: nothing to
    // act on, mio's epoll_wait listed as benign.
    let mio = section("mio-inside");
    assert!(mio.contains("nothing found that blocks a worker"), "{out}");
    assert!(
        mio.contains("mio::sys::unix::selector::Selector::select -> epoll_wait"),
        "{out}"
    );
    assert!(out.contains("cargo green audit cannot see:"), "{out}");
}

/// tests/green-clap: crates that name std's sealed `IsTerminal`
/// (is_terminal_polyfill, anstream, clap_builder) build patched, the user's
/// `#![deny(warnings)]` crate naming it too; normpath (a `Path::read_dir()`
/// that returns std's `ReadDir`) falls back with one line, found by the
/// scan before the build: its copy is never compiled.
#[test]
fn sealed_is_terminal_users_build_patched_and_a_std_typed_return_falls_back_quietly() {
    let _l = lock();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/green-clap");
    // A fallback recorded by an earlier run would not be reported again.
    let _ = std::fs::remove_file(target_dir().join("green/failed"));
    let mut b = green_in(&dir);
    b.env("PATH", path_with_cargo_green()).arg("build");
    let out = run_ok(b);
    let fallback: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("built from the original"))
        .collect();
    assert_eq!(fallback.len(), 1, "{out}");
    // Decided by the scan before the build: one line, the copy never
    // compiled; only the original is.
    assert_eq!(
        fallback[0],
        "cargo green: normpath 1.5.2: `Path::read_dir` returns std's `ReadDir`; built from \
         the original (stays blocking)",
        "{out}"
    );
    assert!(
        !out.contains(&*target_dir().join("green/crates/normpath").to_string_lossy()),
        "{out}"
    );
    // Nothing of rustc's or cargo's about a copy on screen.
    assert!(
        !out.lines().any(|l| l.starts_with("error")
            || l.starts_with("warning")
            || l.trim_start().starts_with("-->")),
        "{out}"
    );
    assert!(out.contains(", 1 left: run cargo green status"), "{out}");
    let mut st = green_in(&dir);
    st.env("PATH", path_with_cargo_green()).arg("status");
    let status = run_ok(st);
    for name in ["is_terminal_polyfill", "anstream", "clap_builder"] {
        let line = status
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in:\n{status}"));
        assert!(line.ends_with("  patched"), "{status}");
    }
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("normpath ") && l.contains("NOT PATCHED")),
        "{status}"
    );
    let run = Command::new(target_dir().join("debug/green-clap"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("word=hello terminal=false polyfill=false normalized=true"),
        "{stdout}"
    );
}

/// tests/green-workspace: a virtual workspace, a path dependency with its
/// own `[lib] name`, minreq in two versions (one under another name).
#[test]
fn workspace_members_path_dependencies_and_two_versions() {
    let _l = lock();
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/green-workspace");
    let snapshot = |dir: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        for rel in [
            "Cargo.toml",
            "app/Cargo.toml",
            "util/Cargo.toml",
            "Cargo.lock",
        ] {
            out.push((
                PathBuf::from(rel),
                std::fs::read(dir.join(rel)).unwrap_or_default(),
            ));
        }
        out
    };
    let before = snapshot(&ws);
    let mut t = green();
    t.current_dir(&ws)
        .env("PATH", path_with_cargo_green())
        .args(["test", "-p", "green-ws-util"]);
    let out = run_ok(t);
    assert!(out.contains("built_against_greenstd ... ok"), "{out}");
    let mut c = green();
    c.current_dir(&ws)
        .env("PATH", path_with_cargo_green())
        .arg("check");
    run_ok(c);
    // The project's files under target/green/projects/green-workspace-<hash>/.
    let project = std::fs::read_dir(target_dir().join("green/projects"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("green-workspace-")
        })
        .expect("no project directory for tests/green-workspace");
    let patch = std::fs::read_to_string(project.join("patch.toml")).unwrap();
    assert!(patch.contains("green/crates/minreq-3.0.0"), "{patch}");
    assert!(patch.contains("green/crates/minreq-2."), "{patch}");
    assert!(patch.contains("package = \"minreq\""), "{patch}");
    let app = std::fs::read_to_string(project.join("ws/app/Cargo.toml")).unwrap();
    assert!(app.contains("std = { package = \"greenstd\""), "{app}");
    // The project is as it was: manifests unchanged, no lockfile written.
    assert_eq!(snapshot(&ws), before);
}

/// One keep-alive HTTP/1.1 connection of the JSON API test, on a blocking
/// socket: requests are written to a whole batch of connections first, then
/// the answers read one by one, so one thread keeps thousands of
/// connections busy at once.
struct Client(std::io::BufReader<TcpStream>);

impl Client {
    fn connect(addr: &str) -> Client {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Client(std::io::BufReader::with_capacity(512, s))
    }

    fn send(&mut self, method: &str, path: &str) {
        let req =
            format!("{method} {path} HTTP/1.1\r\nHost: json-api\r\nContent-Length: 0\r\n\r\n");
        self.0.get_mut().write_all(req.as_bytes()).unwrap();
    }

    /// (status, body) of the next response on this connection.
    fn response(&mut self) -> (u16, String) {
        use std::io::BufRead;
        let mut line = String::new();
        assert!(
            self.0.read_line(&mut line).unwrap() > 0,
            "connection closed"
        );
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut len = 0;
        loop {
            line.clear();
            assert!(
                self.0.read_line(&mut line).unwrap() > 0,
                "connection closed"
            );
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; len];
        self.0.read_exact(&mut body).unwrap();
        (status, String::from_utf8(body).unwrap())
    }
}

fn threads_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

/// Kills the server if the test fails before it stops.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// tests/green-json-api: a JSON API on tiny_http (a thread per connection),
/// built with `cargo green build`, serves 5,000 keep-alive clients at once
/// on at most 16 OS threads, and on SIGTERM finishes the request in flight
/// and exits 0.
#[test]
fn json_api_on_tiny_http_serves_5000_keep_alive_clients_and_stops_on_sigterm() {
    use std::io::BufRead;
    const CLIENTS: usize = 5_000;
    const BATCH: usize = 250;
    let _l = lock();
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/green-json-api");
    let mut g = green_in(&project);
    g.env("PATH", path_with_cargo_green()).arg("build");
    let out = run_ok(g);
    assert!(
        out.contains("cargo green: patched"),
        "no summary line in:\n{out}"
    );

    let start = std::time::Instant::now();
    let mut server = KillOnDrop(Some(
        Command::new(target_dir().join("debug/green-json-api"))
            .arg("127.0.0.1:0")
            .env("GREENSTD_WORKERS", "2")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let child = server.0.as_mut().unwrap();
    let pid = child.id();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut addr = String::new();
    stdout.read_line(&mut addr).unwrap();
    let addr = addr.trim().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "address line {addr:?}");

    // Every connection stays open. The first few connect one at a time:
    // tiny_http's task pool starts with 4 idle threads and counts a thread
    // it has notified as idle until that thread runs, so connections
    // accepted in one burst while those threads are idle are queued behind
    // keep-alive connections that never end, and wait forever (a race of
    // tiny_http 0.12 on std threads too; with coroutines the accept loop
    // takes a whole burst before the notified threads run). Once every
    // pool thread holds a connection, each new one gets a thread of its
    // own: the rest ramp up a batch at a time.
    let mut clients: Vec<Client> = Vec::with_capacity(CLIENTS);
    while clients.len() < 8 {
        let mut c = Client::connect(&addr);
        c.send("GET", "/counter");
        assert_eq!(c.response(), (200, "{\"count\":0}".to_string()));
        clients.push(c);
    }
    let mut max_threads = threads_of(pid);
    while clients.len() < CLIENTS {
        let first = clients.len();
        let n = BATCH.min(CLIENTS - first);
        clients.extend((0..n).map(|_| Client::connect(&addr)));
        for c in &mut clients[first..] {
            c.send("GET", "/counter");
        }
        for c in &mut clients[first..] {
            assert_eq!(c.response(), (200, "{\"count\":0}".to_string()));
        }
        max_threads = max_threads.max(threads_of(pid));
    }
    let ramp = start.elapsed();
    // A second request on each connection, all 5,000 open: one increment
    // each, every value seen once.
    let mut counts = Vec::with_capacity(CLIENTS);
    for batch in clients.chunks_mut(BATCH) {
        for c in batch.iter_mut() {
            c.send("POST", "/counter");
        }
        for c in batch.iter_mut() {
            let (status, body) = c.response();
            assert_eq!(status, 200, "{body}");
            let n: usize = body
                .strip_prefix("{\"count\":")
                .and_then(|b| b.strip_suffix('}'))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("body {body:?}"));
            counts.push(n);
        }
        max_threads = max_threads.max(threads_of(pid));
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=CLIENTS).collect::<Vec<_>>());
    clients[CLIENTS - 1].send("GET", "/counter");
    assert_eq!(
        clients[CLIENTS - 1].response(),
        (200, format!("{{\"count\":{CLIENTS}}}"))
    );
    clients[0].send("GET", "/nothing");
    assert_eq!(clients[0].response().0, 404);
    max_threads = max_threads.max(threads_of(pid));
    let served = start.elapsed();
    eprintln!(
        "green-json-api: {CLIENTS} keep-alive clients, 2 requests each: ramp {ramp:?}, \
         all served {served:?}, server OS threads at most {max_threads}"
    );
    assert!(
        max_threads <= 16,
        "{max_threads} OS threads for {CLIENTS} clients"
    );

    // SIGTERM while a request is in flight: it is answered, then the server
    // exits 0.
    clients[1].send("GET", "/slow?ms=1000");
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "slow: started");
    // SAFETY: a plain syscall, to our own child, which has not been waited for.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
    let term = std::time::Instant::now();
    assert_eq!(
        clients[1].response(),
        (200, "{\"slept_ms\":1000}".to_string())
    );
    let child = server.0.as_mut().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            term.elapsed() < Duration::from_secs(10),
            "no exit 10 s after SIGTERM"
        );
        thread::sleep(Duration::from_millis(20));
    };
    let stopped = term.elapsed();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    server.0 = None;
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("stopping"), "stderr:\n{stderr}");
    eprintln!("green-json-api: exit 0 {stopped:?} after SIGTERM");
    drop(clients);
}
