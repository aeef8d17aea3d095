//! The benchmark runner: builds every variant in release mode, runs each
//! server in its own process against the `loadgen` client process, and
//! writes a markdown report.
//!
//! ```text
//! cargo run --release -p bench -- --out BENCHMARKS.md
//! ```
//!
//! Options: `--passes N` (3), `--warmup-ms` (1000), `--duration-ms` (3000),
//! `--prims-ms` (1000), `--only echo,http,idle,prims,blocking`, `--variants
//! greenstd,may,tokio,std` (the default; `gevent` and `go` may be listed
//! too), `--with gevent,go` (added to the variants), `--python PATH`
//! (`python3`: the interpreter that makes gevent's venv), `--quick` (1
//! pass, short phases, small connection counts: for trying the harness),
//! `--no-build` (no `cargo build`, no `go build`, no `pip install`: the
//! binaries and venv of an earlier run are used).
//!
//! `gevent` and `go`, the system greenstd ports and Go, run the echo and
//! idle rows only, with `bench/gevent/echo.py` and `bench/go/echo.go`. The
//! harness installs gevent (pinned, [`GEVENT`]) with pip into a venv under
//! the target directory and builds the Go server with `go build` when
//! `go` is on PATH; a variant that cannot be set up is skipped, and the
//! report says why.
//!
//! Passes are interleaved: every pass runs every scenario for every variant,
//! the variant order rotating from pass to pass; the report gives the median
//! of the passes. Everything in the report comes from this run.
//!
//! A hand-written section after the line `<!-- analysis -->` in an existing
//! report is kept when the report is rewritten.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Every variant, in report order.
const VARIANTS: [&str; 6] = ["greenstd", "may", "tokio", "std", "gevent", "go"];
/// The variants run when `--variants` is not given.
const DEFAULT_VARIANTS: [&str; 4] = ["greenstd", "may", "tokio", "std"];
/// The variants outside the cargo workspace (the seeds' gevent, and Go):
/// set up by the harness, echo server only.
const OUTSIDE: [&str; 2] = ["gevent", "go"];
/// The gevent release the gevent variant installs.
const GEVENT: &str = "26.9.0";
const MARKER: &str = "<!-- analysis -->";

struct Opts {
    out: PathBuf,
    passes: usize,
    warmup_ms: u64,
    duration_ms: u64,
    prims_ms: u64,
    only: Vec<String>,
    variants: Vec<String>,
    quick: bool,
    build: bool,
    python: String,
}

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        out: PathBuf::from("BENCHMARKS.md"),
        passes: 3,
        warmup_ms: 1000,
        duration_ms: 3000,
        prims_ms: 1000,
        only: ["echo", "http", "idle", "prims", "blocking", "scale"]
            .map(String::from)
            .to_vec(),
        variants: DEFAULT_VARIANTS.map(String::from).to_vec(),
        quick: false,
        build: true,
        python: "python3".into(),
    };
    let mut with = vec![];
    let mut it = std::env::args().skip(1);
    let list = |v: String| v.split(',').map(str::to_string).collect::<Vec<_>>();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--out" => o.out = PathBuf::from(value()?),
            "--passes" => o.passes = num(value()?)?.max(1) as usize,
            "--warmup-ms" => o.warmup_ms = num(value()?)?,
            "--duration-ms" => o.duration_ms = num(value()?)?,
            "--prims-ms" => o.prims_ms = num(value()?)?,
            "--only" => o.only = list(value()?),
            "--variants" => o.variants = list(value()?),
            "--with" => with.extend(list(value()?)),
            "--python" => o.python = value()?,
            "--no-build" => o.build = false,
            "--quick" => {
                o.quick = true;
                o.passes = 1;
                o.warmup_ms = 300;
                o.duration_ms = 1000;
                o.prims_ms = 200;
            }
            "-h" | "--help" => {
                return Err("see the doc comment of bench/harness/src/main.rs".into())
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    for v in with {
        if !o.variants.contains(&v) {
            o.variants.push(v);
        }
    }
    if let Some(v) = o.variants.iter().find(|v| !VARIANTS.contains(&v.as_str())) {
        return Err(format!(
            "unknown variant {v} (known: {})",
            VARIANTS.join(", ")
        ));
    }
    Ok(o)
}

/// The workspace root (this crate is `bench/harness`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn build(opts: &Opts) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root())
        .args(["build", "--release", "-p", "bench"]);
    for v in opts
        .variants
        .iter()
        .filter(|v| !OUTSIDE.contains(&v.as_str()))
    {
        cmd.args(["-p", &format!("bench-{v}")]);
    }
    eprintln!("bench: {cmd:?}");
    let status = cmd.status().map_err(|e| format!("cargo: {e}"))?;
    status.success().then_some(()).ok_or("build failed".into())
}

/// Whether `variant` has a server (or program) for `kind`: tokio has no
/// primitives program, gevent only an echo server (echo and idle), Go an
/// echo server, the scale program and the blocking job `syscall_1ms`; the
/// scale program is greenstd's, tokio's and Go's (a million std threads or
/// raw may coroutines cannot be had on a stock machine); the blocking jobs
/// are the std programs' (std threads, greenstd) and Go's.
fn serves(variant: &str, kind: &str) -> bool {
    match (variant, kind) {
        (_, "scale") => matches!(variant, "greenstd" | "tokio" | "go"),
        (_, "blocking") => matches!(variant, "greenstd" | "std" | "go"),
        ("gevent", _) => kind == "echo" || kind == "idle",
        ("go", _) => kind == "echo" || kind == "idle",
        ("tokio", _) => kind != "prims",
        _ => true,
    }
}

/// The command that starts `variant`'s `kind` server (the caller appends
/// the address): `target/release/<variant>-<kind>`, or for gevent the
/// venv's Python on `bench/gevent/<kind>.py`.
fn server_command(variant: &str, kind: &str, outside: &Outside) -> Command {
    match (variant, &outside.python) {
        ("gevent", Some(python)) => {
            let mut cmd = Command::new(python);
            cmd.arg(root().join(format!("bench/gevent/{kind}.py")));
            cmd
        }
        _ => Command::new(bin_dir().join(format!("{variant}-{kind}"))),
    }
}

/// How the variants outside the workspace were set up.
#[derive(Default)]
struct Outside {
    /// The Python that has gevent, when the gevent variant runs.
    python: Option<PathBuf>,
    /// One line per requested outside variant for the report: what runs
    /// (versions), or why it was skipped.
    notes: Vec<(String, String)>,
}

/// Sets up the requested variants outside the workspace; one that cannot
/// be set up is taken out of `opts.variants`, with the reason in the notes.
fn setup_outside(opts: &mut Opts) -> Outside {
    let mut out = Outside::default();
    for v in OUTSIDE {
        if !opts.variants.iter().any(|o| o == v) {
            continue;
        }
        let result = match v {
            "gevent" => setup_gevent(opts).map(|(python, note)| {
                out.python = Some(python);
                note
            }),
            _ => setup_go(opts),
        };
        let note = match result {
            Ok(note) => note,
            Err(e) => {
                opts.variants.retain(|o| o != v);
                format!("**skipped**: {e}")
            }
        };
        eprintln!("bench: {}: {note}", label(v));
        out.notes.push((v.to_string(), note));
    }
    out
}

/// The harness's own files outside cargo's: `target/` (the parent of the
/// release directory, so `CARGO_TARGET_DIR` is followed).
fn target_dir() -> PathBuf {
    bin_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(bin_dir)
}

/// `cmd` as it would be typed.
fn shown(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to the end: its stdout, or why it failed (with the end of
/// its stderr).
fn run(mut cmd: Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{}`: {e}", shown(&cmd)))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    Err(format!(
        "`{}` failed ({}): {}",
        shown(&cmd),
        out.status,
        lines[lines.len().saturating_sub(3)..].join(" / ")
    ))
}

/// A venv under `target/` with gevent [`GEVENT`] from pip (made by
/// `--python`; kept between runs): its Python and a line for the report.
fn setup_gevent(opts: &Opts) -> Result<(PathBuf, String), String> {
    let venv = target_dir().join("bench-gevent-venv");
    let python = venv.join("bin/python");
    let installed = || {
        let mut cmd = Command::new(&python);
        cmd.args([
            "-c",
            "import gevent, greenlet, platform; \
             print(gevent.__version__, greenlet.__version__, platform.python_version())",
        ]);
        run(cmd)
    };
    let fresh = installed()
        .ok()
        .filter(|v| v.split_whitespace().next() == Some(GEVENT));
    let versions = match fresh {
        Some(v) => v,
        None if !opts.build => {
            return Err(format!(
                "no gevent {GEVENT} in {} and `--no-build` installs nothing",
                venv.display()
            ))
        }
        None => {
            if !python.exists() {
                let mut cmd = Command::new(&opts.python);
                cmd.args(["-m", "venv"]).arg(&venv);
                eprintln!("bench: {}", shown(&cmd));
                run(cmd)?;
            }
            let mut cmd = Command::new(&python);
            cmd.args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
                .arg(format!("gevent=={GEVENT}"));
            eprintln!("bench: {}", shown(&cmd));
            run(cmd)?;
            installed()?
        }
    };
    let v: Vec<&str> = versions.split_whitespace().collect();
    let [gevent, greenlet, py] = v[..] else {
        return Err(format!(
            "unexpected versions from {}: `{versions}`",
            python.display()
        ));
    };
    Ok((
        python.clone(),
        format!(
            "gevent {gevent} (greenlet {greenlet}) on CPython {py} (`{}`, a venv made with \
             `{} -m venv`)",
            python.display(),
            opts.python
        ),
    ))
}

/// `go build` of `bench/go/` into `target/release/go-echo` when `go` is on
/// PATH: a line for the report.
fn setup_go(opts: &Opts) -> Result<String, String> {
    let bin = bin_dir().join("go-echo");
    let version = match Command::new("go").arg("version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(o) => return Err(format!("`go version` failed ({})", o.status)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("`go` is not on PATH".into())
        }
        Err(e) => return Err(format!("`go version`: {e}")),
    };
    if opts.build {
        let mut cmd = Command::new("go");
        cmd.current_dir(root().join("bench/go"))
            // Pure Go (no C compiler needed), and never a toolchain download.
            .env("CGO_ENABLED", "0")
            .env("GOTOOLCHAIN", "local")
            .args(["build", "-trimpath", "-o"])
            .arg(&bin)
            .arg(".");
        eprintln!("bench: {}", shown(&cmd));
        run(cmd)?;
        let mut cmd = Command::new("go");
        cmd.current_dir(root().join("bench/go"))
            .env("CGO_ENABLED", "0")
            .env("GOTOOLCHAIN", "local")
            .args(["build", "-trimpath", "-o"])
            .arg(bin_dir().join("go-scale"))
            .arg("./scale");
        eprintln!("bench: {}", shown(&cmd));
        run(cmd)?;
        let mut cmd = Command::new("go");
        cmd.current_dir(root().join("bench/go"))
            .env("CGO_ENABLED", "0")
            .env("GOTOOLCHAIN", "local")
            .args(["build", "-trimpath", "-o"])
            .arg(bin_dir().join("go-blocking"))
            .arg("blocking.go");
        eprintln!("bench: {}", shown(&cmd));
        run(cmd)?;
    } else if !bin.exists() {
        return Err(format!(
            "no {} and `--no-build` builds nothing",
            bin.display()
        ));
    }
    Ok(format!(
        "{version} (`bench/go/echo.go` and `bench/go/scale/` built with `go build` into `{}` \
         and `go-scale`, CGO_ENABLED=0; GOMAXPROCS left at its default, the number of cores, \
         except for the scale rows: 2)",
        bin.display()
    ))
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .expect("current_exe")
        .parent()
        .expect("exe dir")
        .to_path_buf()
}

/// A free loopback port; each run gets a fresh one.
fn free_port(next: &mut u16) -> u16 {
    loop {
        let p = *next;
        *next = if *next >= 29_000 { 20_000 } else { *next + 1 };
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// A server process, killed on drop.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `variant`'s `kind` server on `addr` and waits until it listens.
    fn start(
        variant: &str,
        kind: &str,
        addr: SocketAddr,
        tag: &str,
        outside: &Outside,
    ) -> Result<Server, String> {
        let bin = format!("{variant}-{kind}");
        let logs = root().join("target/bench-logs");
        std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
        let log = logs.join(format!("{tag}.log"));
        let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let child = server_command(variant, kind, outside)
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(|e| format!("{bin}: {e}"))?;
        let mut server = Server { child, log };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = server.exited() {
                return Err(format!("{bin} exited at start: {st}"));
            }
            if TcpStream::connect(addr).is_ok() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!("{bin} not listening after 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(st.to_string()),
            _ => None,
        }
    }

    /// `(VmRSS in KiB, thread count)` from /proc.
    fn rss_threads(&self) -> Option<(u64, u64)> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| -> Option<u64> {
            let line = s.lines().find(|l| l.starts_with(name))?;
            line.split_whitespace().nth(1)?.parse().ok()
        };
        Some((field("VmRSS:")?, field("Threads:")?))
    }

    fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(3)..].join(" / ")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `key=value` pairs of a loadgen result line.
fn parse_kv(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn num(kv: &BTreeMap<String, String>, k: &str) -> Option<f64> {
    kv.get(k)?.parse().ok()
}

fn loadgen(args: &[String]) -> Command {
    let mut cmd = Command::new(bin_dir().join("loadgen"));
    cmd.args(args);
    cmd
}

/// One measurement: named numbers, or the reason there are none.
type Sample = Result<BTreeMap<String, f64>, String>;

/// Results: scenario -> variant -> one sample per pass.
#[derive(Default)]
struct Results {
    map: BTreeMap<String, BTreeMap<String, Vec<Sample>>>,
}

impl Results {
    fn push(&mut self, scenario: &str, variant: &str, s: Sample) {
        match &s {
            Ok(m) => eprintln!("  {scenario:<14} {variant:<9} {m:?}"),
            Err(e) => eprintln!("  {scenario:<14} {variant:<9} FAILED: {e}"),
        }
        let v = self.map.entry(scenario.to_string()).or_default();
        v.entry(variant.to_string()).or_default().push(s);
    }

    /// Median over the passes that produced `key`.
    fn median(&self, scenario: &str, variant: &str, key: &str) -> Option<f64> {
        let samples = self.map.get(scenario)?.get(variant)?;
        let mut v: Vec<f64> = samples
            .iter()
            .filter_map(|s| s.as_ref().ok()?.get(key).copied())
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        })
    }

    fn all(&self, scenario: &str, variant: &str, key: &str) -> Vec<f64> {
        let Some(samples) = self.map.get(scenario).and_then(|m| m.get(variant)) else {
            return vec![];
        };
        samples
            .iter()
            .filter_map(|s| s.as_ref().ok()?.get(key).copied())
            .collect()
    }

    fn failures(&self) -> Vec<String> {
        let mut out = vec![];
        for (sc, m) in &self.map {
            for (var, samples) in m {
                for (pass, s) in samples.iter().enumerate() {
                    if let Err(e) = s {
                        out.push(format!("{sc} / {var} / pass {}: {e}", pass + 1));
                    }
                }
            }
        }
        out
    }
}

/// Echo or HTTP load against a fresh server.
fn run_load(
    kind: &str,
    variant: &str,
    conns: usize,
    opts: &Opts,
    outside: &Outside,
    port: &mut u16,
) -> Sample {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port(port)).into();
    let tag = format!("{variant}-{kind}-{conns}");
    let mut server = Server::start(variant, kind, addr, &tag, outside)?;
    let args: Vec<String> = vec![
        kind.into(),
        addr.to_string(),
        "--conns".into(),
        conns.to_string(),
        "--warmup-ms".into(),
        opts.warmup_ms.to_string(),
        "--duration-ms".into(),
        opts.duration_ms.to_string(),
    ];
    // loadgen gives up by itself (connect 120 s, tasks 10 s after the end).
    let limit = Duration::from_millis(opts.warmup_ms + opts.duration_ms) + Duration::from_secs(150);
    let (status, out) = output_within(loadgen(&args), limit)?;
    let line = out.trim().to_string();
    let kv = parse_kv(&line);
    let died = server.exited();
    let errors = num(&kv, "errors").unwrap_or(f64::NAN);
    let stuck = num(&kv, "stuck").unwrap_or(0.0);
    if status.is_err() || errors != 0.0 || stuck != 0.0 || died.is_some() {
        return Err(format!(
            "`loadgen {}`: `{line}` ({}); server: {}; server stderr: `{}`",
            args.join(" "),
            status.err().unwrap_or_else(|| "exit 0".into()),
            died.unwrap_or_else(|| "alive".into()),
            server.log_tail()
        ));
    }
    let mut m = BTreeMap::new();
    for k in ["rps", "p50_us", "p99_us", "connect_ms"] {
        if let Some(v) = num(&kv, k) {
            m.insert(k.to_string(), v);
        }
    }
    Ok(m)
}

/// Idle connections: RSS per connection and the time to accept them all.
fn run_idle(variant: &str, conns: usize, outside: &Outside, port: &mut u16) -> Sample {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port(port)).into();
    let tag = format!("{variant}-idle-{conns}");
    let mut server = Server::start(variant, "echo", addr, &tag, outside)?;
    // One served connection first, so lazily started runtimes count in
    // the baseline.
    {
        let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        s.write_all(&[b'x'; 64]).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        std::io::Read::read_exact(&mut s, &mut buf).map_err(|e| e.to_string())?;
    }
    std::thread::sleep(Duration::from_millis(300));
    let (base, _) = server.rss_threads().ok_or("no /proc status")?;
    let args: Vec<String> = vec![
        "idle".into(),
        addr.to_string(),
        "--conns".into(),
        conns.to_string(),
    ];
    let mut client = loadgen(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("loadgen: {e}"))?;
    let mut line = String::new();
    let stdout = client.stdout.take().expect("piped");
    let _ = BufReader::new(stdout).read_line(&mut line);
    let kv = parse_kv(line.trim());
    std::thread::sleep(Duration::from_millis(1000));
    let measured = server.rss_threads();
    let died = server.exited();
    drop(client.stdin.take());
    let _ = client.wait();
    let ok = num(&kv, "ok").unwrap_or(0.0);
    let (rss, threads) = match (measured, &died) {
        (Some(m), None) if ok as usize == conns => m,
        _ => {
            return Err(format!(
                "loadgen `{}`; server: {}; server stderr: `{}`",
                line.trim(),
                died.unwrap_or_else(|| "alive".into()),
                server.log_tail()
            ))
        }
    };
    let mut m = BTreeMap::new();
    m.insert("rss_mib".into(), rss as f64 / 1024.0);
    m.insert(
        "kib_per_conn".into(),
        (rss as f64 - base as f64) / conns as f64,
    );
    m.insert("threads".into(), threads as f64);
    m.insert(
        "accept_s".into(),
        num(&kv, "connect_ms").unwrap_or(f64::NAN) / 1e3,
    );
    Ok(m)
}

/// Runs `cmd` to completion with stdout captured, killing it after
/// `limit`: `(exit status or "killed after …", stdout)`.
fn output_within(
    mut cmd: Command,
    limit: Duration,
) -> Result<(Result<(), String>, String), String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => break Ok(()),
            Ok(Some(st)) => break Err(st.to_string()),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("hung: killed after {} s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(e.to_string()),
        }
    };
    Ok((status, reader.join().unwrap_or_default()))
}

/// One job of `bench/plain/blocking.rs` (or `bench/go/blocking.go`): its
/// wall time in milliseconds.
fn run_blocking(variant: &str, job: &str) -> Sample {
    let mut cmd = Command::new(bin_dir().join(format!("{variant}-blocking")));
    cmd.arg(job);
    let (status, text) = output_within(cmd, Duration::from_secs(120))?;
    status.map_err(|e| format!("`{variant}-blocking {job}`: {e}"))?;
    let ms = text
        .lines()
        .find_map(|l| l.strip_prefix(job)?.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("`{variant}-blocking`: no result for {job}"))?;
    Ok(BTreeMap::from([(job.to_string(), ms)]))
}

fn run_prims(variant: &str, prim: &str, opts: &Opts) -> Sample {
    let mut cmd = Command::new(bin_dir().join(format!("{variant}-prims")));
    cmd.args([opts.prims_ms.to_string(), prim.to_string()]);
    let limit = Duration::from_millis(opts.prims_ms * 4 + 10_000);
    let (status, text) = output_within(cmd, limit)?;
    status.map_err(|e| format!("`{variant}-prims {} {prim}`: {e}", opts.prims_ms))?;
    let m: BTreeMap<String, f64> = text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect();
    if m.contains_key(prim) {
        Ok(m)
    } else {
        Err(format!("`{variant}-prims`: no result for {prim}"))
    }
}

/// The scale rows: `<variant>-scale mode n` on 2 workers (greenstd's
/// `GREENSTD_WORKERS`, Go's `GOMAXPROCS`, tokio's program has 2).
fn run_scale(variant: &str, mode: &str, n: usize) -> Sample {
    let mut cmd = Command::new(bin_dir().join(format!("{variant}-scale")));
    cmd.args([mode.to_string(), n.to_string()])
        .env("GREENSTD_WORKERS", "2")
        .env("GOMAXPROCS", "2");
    let (status, text) = output_within(cmd, Duration::from_secs(600))?;
    status.map_err(|e| format!("`{variant}-scale {mode} {n}`: {e}: {}", text.trim()))?;
    let kv = parse_kv(text.lines().last().unwrap_or(""));
    let m: BTreeMap<String, f64> = kv
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.parse().ok()?)))
        .collect();
    if m.contains_key("join_s") {
        Ok(m)
    } else {
        Err(format!(
            "`{variant}-scale {mode} {n}`: no result in `{}`",
            text.trim()
        ))
    }
}

/// Soft open-file limit of this process (inherited by the children).
fn nofile_limit() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/limits").ok()?;
    let l = s.lines().find(|l| l.starts_with("Max open files"))?;
    l.split_whitespace().nth(3)?.parse().ok()
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

struct Plan {
    echo_conns: Vec<usize>,
    http_conns: Vec<usize>,
    idle_conns: Vec<usize>,
    /// Threads parked on one `Condvar` in the scale rows.
    scale_parked: usize,
    /// Threads that went 64 KiB deep before parking.
    scale_deep: usize,
}

fn plan(opts: &Opts) -> Plan {
    let fd_limit = nofile_limit().unwrap_or(1024);
    // The server holds every connection plus a few descriptors of its own.
    let at_limit = fd_limit.saturating_sub(1000);
    if opts.quick {
        Plan {
            echo_conns: vec![100, 1000],
            http_conns: vec![100],
            idle_conns: vec![1000],
            scale_parked: 100_000,
            scale_deep: 10_000,
        }
    } else {
        let mut idle = vec![10_000];
        if at_limit > 10_000 {
            idle.push(at_limit);
        }
        Plan {
            echo_conns: vec![100, 1_000, 10_000],
            http_conns: vec![100, 1_000],
            idle_conns: idle,
            scale_parked: 1_000_000,
            scale_deep: 10_000,
        }
    }
}

fn main() -> ExitCode {
    let mut opts = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    // What is being measured: the tree as it is now, before the build.
    let source = source_state();
    if opts.build {
        if let Err(e) = build(&opts) {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    }
    let outside = setup_outside(&mut opts);
    if opts.variants.is_empty() {
        eprintln!("bench: no variant left to run");
        return ExitCode::FAILURE;
    }
    let plan = plan(&opts);
    let load_before = loadavg();
    let started = Instant::now();
    let mut results = Results::default();
    let mut port = 20_000u16;
    let on = |s: &str| opts.only.iter().any(|o| o == s);
    for pass in 0..opts.passes {
        eprintln!("bench: pass {}/{}", pass + 1, opts.passes);
        // Rotate the order of the variants from pass to pass.
        let mut order = opts.variants.clone();
        let k = pass % order.len();
        order.rotate_left(k);
        for kind in ["echo", "http"] {
            if !on(kind) {
                continue;
            }
            let conns = if kind == "echo" {
                &plan.echo_conns
            } else {
                &plan.http_conns
            };
            for &c in conns {
                for v in order.iter().filter(|v| serves(v, kind)) {
                    let s = run_load(kind, v, c, &opts, &outside, &mut port);
                    results.push(&format!("{kind}-{c}"), v, s);
                }
            }
        }
        if on("idle") {
            for &c in &plan.idle_conns {
                for v in order.iter().filter(|v| serves(v, "idle")) {
                    let s = run_idle(v, c, &outside, &mut port);
                    results.push(&format!("idle-{c}"), v, s);
                }
            }
        }
        // Once, in the first pass: a million threads take most of the
        // machine's memory and a minute.
        if on("scale") && pass == 0 {
            for (mode, n) in [("condvar", plan.scale_parked), ("deep", plan.scale_deep)] {
                for v in order.iter().filter(|v| serves(v, "scale")) {
                    let s = run_scale(v, mode, n);
                    results.push(&format!("scale-{mode}"), v, s);
                }
            }
        }
        if on("prims") {
            for p in PRIMS {
                for v in order.iter().filter(|v| serves(v, "prims")) {
                    let s = run_prims(v, p, &opts);
                    results.push(&format!("prims-{p}"), v, s);
                }
            }
        }
        if on("blocking") {
            for job in BLOCKING {
                for v in order.iter().filter(|v| serves(v, "blocking")) {
                    if *v == "go" && job != "syscall_1ms" {
                        continue;
                    }
                    let s = run_blocking(v, job);
                    results.push(&format!("blocking-{job}"), v, s);
                }
            }
        }
    }
    let load = (load_before, loadavg());
    let report = render(
        &opts,
        &plan,
        &results,
        &outside,
        started.elapsed(),
        load,
        &source,
    );
    let kept = std::fs::read_to_string(&opts.out)
        .ok()
        .and_then(|old| old.find(MARKER).map(|i| old[i..].to_string()))
        .unwrap_or_else(|| format!("{MARKER}\n"));
    if let Err(e) = std::fs::write(&opts.out, format!("{report}\n{kept}")) {
        eprintln!("bench: writing {}: {e}", opts.out.display());
        return ExitCode::FAILURE;
    }
    eprintln!(
        "bench: wrote {} in {:.0} s",
        opts.out.display(),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

fn fmt_num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => {
            if digits == 0 {
                // Thousands separators for counts.
                let s = format!("{:.0}", v);
                let mut out = String::new();
                for (i, c) in s.chars().enumerate() {
                    if i > 0 && (s.len() - i) % 3 == 0 && c != '-' {
                        out.push(',');
                    }
                    out.push(c);
                }
                out
            } else {
                format!("{v:.digits$}")
            }
        }
        _ => "—".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "—".into())
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "no data",
    }
}

fn label(v: &str) -> &'static str {
    match v {
        "greenstd" => "greenstd",
        "may" => "raw may",
        "tokio" => "tokio",
        "gevent" => "gevent",
        "go" => "Go",
        _ => "std threads",
    }
}

/// The first three fields of /proc/loadavg.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The commit of the checkout and how many tracked files differ from it.
fn source_state() -> String {
    format!(
        "commit {} (files with uncommitted changes: {})",
        sh("git rev-parse --short HEAD"),
        match sh("git status --porcelain --untracked-files=no | wc -l").as_str() {
            "" | "0" => "none".to_string(),
            n => n.to_string(),
        }
    )
}

fn render(
    opts: &Opts,
    plan: &Plan,
    r: &Results,
    outside: &Outside,
    took: Duration,
    load: (String, String),
    source: &str,
) -> String {
    let mut s = String::new();
    let cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2");
    let _ = writeln!(s, "# Benchmarks: greenstd side by side\n");
    let _ = writeln!(
        s,
        "Generated by the benchmark harness in `bench/` (see `bench/README.md`); every number \
         below comes from the run described here. Re-run to regenerate; the analysis after \
         the marker at the end is hand-written and kept.\n"
    );
    let _ = writeln!(s, "## Machine and command\n");
    let _ = writeln!(s, "* `nproc`: {}", sh("nproc"));
    let _ = writeln!(s, "* CPU: {}", cpu.trim());
    let _ = writeln!(s, "* kernel: {}", sh("uname -sr"));
    let _ = writeln!(
        s,
        "* open-file limit: {} (soft), {} (hard); `somaxconn` {}",
        sh("ulimit -Sn"),
        sh("ulimit -Hn"),
        sh("cat /proc/sys/net/core/somaxconn")
    );
    let _ = writeln!(s, "* rustc: {}", sh("rustc --version"));
    for (v, note) in &outside.notes {
        let _ = writeln!(s, "* {}: {note}", label(v));
    }
    let _ = writeln!(s, "* source, before the build: {source}");
    let _ = writeln!(s, "* date: {}", sh("date -u '+%Y-%m-%d %H:%M UTC'"));
    let _ = writeln!(
        s,
        "* load average (1, 5, 15 min) before the run: {}; after: {} (other work on the \
         machine shows up here and in the spread of the passes)",
        load.0, load.1
    );
    let args: Vec<String> = std::env::args().skip(1).collect();
    let _ = writeln!(
        s,
        "* command: `cargo run --release -p bench -- {}` (took {:.0} s after the build)",
        args.join(" "),
        took.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "* {} passes, interleaved (each pass runs every variant of a scenario back to back, \
         the order rotating per pass); medians of the passes. Load: warm-up {} ms, then {} ms \
         measured. Primitives: {} ms each. Client: `loadgen` (tokio, 2 worker threads), its own \
         process; server: one process per run. Nothing is pinned; client and server share the \
         2 cores, so a round trip costs both sides' CPU.\n",
        opts.passes, opts.warmup_ms, opts.duration_ms, opts.prims_ms
    );
    let _ = write!(
        s,
        "Variants: **greenstd** = `bench/plain/*.rs`, ordinary blocking std code, built with \
         `std = {{ package = \"greenstd\" }}` in Cargo.toml; **std threads** = the same files \
         unpatched; **raw may** = the same loops on `may::net` + `go!` (worker pinning off, as \
         in greenstd); **tokio** = the same loops as tasks on tokio's default multi-threaded \
         runtime."
    );
    for (v, _) in &outside.notes {
        let _ = write!(
            s,
            " {}",
            match v.as_str() {
                "gevent" => {
                    "**gevent** = `bench/gevent/echo.py`, the system greenstd ports, \
                     written as gevent's docs write a server: `monkey.patch_all()`, then blocking socket code with \
                     a greenlet per connection (`gevent.spawn`); one OS thread (CPython's \
                     GIL), echo and idle rows only."
                }
                _ => {
                    "**Go** = `bench/go/echo.go`, the same loop with a goroutine per \
                     connection; echo and idle rows only."
                }
            }
        );
    }
    let _ = writeln!(s, "\n");
    let vs: Vec<&str> = VARIANTS
        .iter()
        .copied()
        .filter(|v| opts.variants.iter().any(|o| o == v))
        .collect();

    // Summary with the targets.
    let _ = writeln!(s, "## Summary and targets\n");
    let _ = writeln!(
        s,
        "Targets: greenstd ≥ 0.95× raw may on every row; ≥ tokio (1.00×) on echo and HTTP at \
         1,000 and 10,000 connections; ≤ 8 KiB RSS per idle connection. For RSS and accept \
         time lower is better, so their ratios are inverted (may / greenstd): above 1 means \
         greenstd is better.\n"
    );
    let _ = writeln!(
        s,
        "| row | greenstd | raw may | tokio | std threads | greenstd vs may | greenstd vs tokio | target |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    let mut row =
        |name: String, sc: &str, key: &str, unit: &str, higher: bool, tokio_target: bool| {
            let g = r.median(sc, "greenstd", key);
            let m = r.median(sc, "may", key);
            let t = r.median(sc, "tokio", key);
            let st = r.median(sc, "std", key);
            let rel = |o: Option<f64>| if higher { ratio(g, o) } else { ratio(o, g) };
            let (rm, rt) = (rel(m), rel(t));
            let mut checks = vec![];
            if let Some(x) = rm {
                checks.push(x >= 0.95);
            }
            if tokio_target {
                if let Some(x) = rt {
                    checks.push(x >= 1.0);
                }
            }
            if key == "kib_per_conn" {
                if let Some(x) = g {
                    checks.push(x <= 8.0);
                }
            }
            let ok = if g.is_none() || checks.is_empty() {
                None
            } else {
                Some(checks.iter().all(|&c| c))
            };
            let d = if unit == "rt/s" || unit == "req/s" || unit == "ops/s" {
                0
            } else {
                2
            };
            let cell = |v: Option<f64>| {
                if v.is_some() {
                    format!("{} {unit}", fmt_num(v, d))
                } else {
                    "—".into()
                }
            };
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                cell(g),
                cell(m),
                cell(t),
                cell(st),
                fmt_ratio(rm),
                fmt_ratio(rt),
                verdict(ok)
            );
        };
    for &c in &plan.echo_conns {
        row(
            format!("echo 64 B, {c} conns"),
            &format!("echo-{c}"),
            "rps",
            "rt/s",
            true,
            c >= 1000,
        );
    }
    for &c in &plan.http_conns {
        row(
            format!("HTTP hello, {c} conns"),
            &format!("http-{c}"),
            "rps",
            "req/s",
            true,
            c >= 1000,
        );
    }
    for &c in &plan.idle_conns {
        row(
            format!("RSS per idle conn, {c} conns"),
            &format!("idle-{c}"),
            "kib_per_conn",
            "KiB",
            false,
            false,
        );
    }
    if let Some(&c) = plan.idle_conns.first() {
        row(
            format!("time to accept {c} conns"),
            &format!("idle-{c}"),
            "accept_s",
            "s",
            false,
            false,
        );
    }
    for p in PRIMS {
        row(
            p.to_string(),
            &format!("prims-{p}"),
            p,
            "ops/s",
            true,
            false,
        );
    }
    let _ = writeln!(s);
    render_outside(&mut s, plan, r, outside, opts);

    for (kind, title, unit) in [
        ("echo", "TCP echo, 64-byte ping-pong", "round trips/s"),
        ("http", "HTTP/1.1 hello, keep-alive", "requests/s"),
    ] {
        let conns = if kind == "echo" {
            &plan.echo_conns
        } else {
            &plan.http_conns
        };
        let _ = writeln!(s, "## {title}\n");
        let _ = writeln!(
            s,
            "Latency is per round trip, measured by the client (write to full reply). \
             `passes` lists every pass's throughput.\n"
        );
        let _ = writeln!(
            s,
            "| conns | variant | {unit} (median) | passes | p50 | p99 | vs raw may | vs tokio |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for &c in conns {
            let sc = format!("{kind}-{c}");
            for v in vs.iter().filter(|v| serves(v, kind)) {
                let rps = r.median(&sc, v, "rps");
                let passes: Vec<String> = r
                    .all(&sc, v, "rps")
                    .iter()
                    .map(|x| fmt_num(Some(*x), 0))
                    .collect();
                let us = |k: &str| match r.median(&sc, v, k) {
                    Some(x) if x >= 1000.0 => format!("{:.2} ms", x / 1000.0),
                    Some(x) => format!("{x:.0} µs"),
                    None => "—".into(),
                };
                let _ = writeln!(
                    s,
                    "| {c} | {} | {} | {} | {} | {} | {} | {} |",
                    label(v),
                    fmt_num(rps, 0),
                    passes.join(" / "),
                    us("p50_us"),
                    us("p99_us"),
                    fmt_ratio(ratio(rps, r.median(&sc, "may", "rps"))),
                    fmt_ratio(ratio(rps, r.median(&sc, "tokio", "rps"))),
                );
            }
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(s, "## Idle connections\n");
    let _ = writeln!(
        s,
        "The echo server of each variant; the client opens the connections (at most 100 \
         at once between connect and first reply, so no listen backlog overflows) and makes one \
         64-byte round trip on each, so every connection has \
         been accepted and is being served (its thread/coroutine/task is blocked in `read`). \
         *Accept time* runs from the first connect to the last reply. RSS per connection = \
         (server VmRSS 1 s after that − VmRSS after serving one connection) / connections. \
         The largest count is the open-file limit minus 1,000 (the server holds one descriptor \
         per connection; the client is a separate process).\n"
    );
    let _ = writeln!(
        s,
        "| conns | variant | KiB per conn | server RSS | server threads | accept time |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for &c in &plan.idle_conns {
        let sc = format!("idle-{c}");
        for v in vs.iter().filter(|v| serves(v, "idle")) {
            let _ = writeln!(
                s,
                "| {c} | {} | {} | {} MiB | {} | {} s |",
                label(v),
                fmt_num(r.median(&sc, v, "kib_per_conn"), 2),
                fmt_num(r.median(&sc, v, "rss_mib"), 1),
                fmt_num(r.median(&sc, v, "threads"), 0),
                fmt_num(r.median(&sc, v, "accept_s"), 3),
            );
        }
    }
    let _ = writeln!(s);

    let _ = writeln!(s, "## Primitives\n");
    let _ = writeln!(
        s,
        "`bench/plain/prims.rs` (std threads, and greenstd by patching) against \
         `bench/may/src/bin/prims.rs` (raw may), operations per second, each inside a spawned \
         thread/coroutine: `spawn_join` = spawn an empty thread and join it; `yield_now` = 4 \
         threads calling `yield_now` (total calls); `park_round_trip` = two threads handing a \
         turn back and forth with `park`/`unpark`; `mutex_contended` = 4 threads incrementing \
         one `Mutex<u64>` (total increments); `channel_ping_pong` = round trips over two \
         `mpsc` channels.\n"
    );
    let pv: Vec<&str> = vs.iter().copied().filter(|v| serves(v, "prims")).collect();
    let _ = write!(s, "| primitive |");
    for v in &pv {
        let _ = write!(s, " {} |", label(v));
    }
    let _ = writeln!(s, " greenstd vs may | greenstd vs std |");
    let _ = writeln!(s, "|---|{}---|---|", "---|".repeat(pv.len()));
    for p in PRIMS {
        let _ = write!(s, "| {p} |");
        for v in &pv {
            let _ = write!(
                s,
                " {} |",
                fmt_num(r.median(&format!("prims-{p}"), v, p), 0)
            );
        }
        let sc = format!("prims-{p}");
        let g = r.median(&sc, "greenstd", p);
        let _ = writeln!(
            s,
            " {} | {} |",
            fmt_ratio(ratio(g, r.median(&sc, "may", p))),
            fmt_ratio(ratio(g, r.median(&sc, "std", p)))
        );
    }
    let _ = writeln!(s);

    let bv: Vec<&str> = vs
        .iter()
        .copied()
        .filter(|v| serves(v, "blocking"))
        .collect();
    if !bv.is_empty()
        && BLOCKING
            .iter()
            .any(|j| r.median(&format!("blocking-{j}"), bv[0], j).is_some())
    {
        let _ = writeln!(s, "## Blocking work: the hand-off and the file system\n");
        let _ = writeln!(
            s,
            "`bench/plain/blocking.rs` (std threads, and greenstd by patching; Go: \
             `bench/go/blocking.go`), wall time of the whole job in ms, lower is better: \
             `syscall_1ms` = 1,000 threads each making one raw 1 ms `nanosleep` (a call \
             greenstd cannot see: the monitor hands the blocked worker off); `fs_read` = 100 \
             threads each reading one 1 MiB file 20 times (`std::fs::read`, page cache); \
             `fs_meta` = 100 threads each opening, stat-ing and closing 200 files.\n"
        );
        let _ = write!(s, "| job |");
        for v in &bv {
            let _ = write!(s, " {} |", label(v));
        }
        let _ = writeln!(s, " greenstd vs std |");
        let _ = writeln!(s, "|---|{}---|", "---|".repeat(bv.len()));
        for j in BLOCKING {
            let sc = format!("blocking-{j}");
            let _ = write!(s, "| {j} |");
            for v in &bv {
                let _ = write!(s, " {} |", fmt_num(r.median(&sc, v, j), 1));
            }
            let _ = writeln!(
                s,
                " {} |",
                fmt_ratio(ratio(r.median(&sc, "greenstd", j), r.median(&sc, "std", j)))
            );
        }
        let _ = writeln!(s);
    }
    if opts.only.iter().any(|o| o == "scale") {
        render_scale(&mut s, plan, r, &vs);
    }

    let failures = r.failures();
    let _ = writeln!(s, "## Failed runs\n");
    if failures.is_empty() {
        let _ = writeln!(s, "None.\n");
    } else {
        let _ = writeln!(
            s,
            "A failed run counts in no median. Server stderr is in `target/bench-logs/`.\n"
        );
        for f in failures {
            let _ = writeln!(s, "* {}", f.replace('|', "\\|"));
        }
        let _ = writeln!(s);
    }
    s
}

/// greenstd against the requested variants outside the workspace (gevent,
/// Go) on the echo and idle rows; nothing when none was requested.
fn render_outside(s: &mut String, plan: &Plan, r: &Results, outside: &Outside, opts: &Opts) {
    if outside.notes.is_empty() {
        return;
    }
    let others: Vec<&str> = outside.notes.iter().map(|(v, _)| v.as_str()).collect();
    let names: Vec<&str> = others.iter().map(|v| label(v)).collect();
    let _ = writeln!(s, "## greenstd against {}\n", names.join(" and "));
    let whom: Vec<&str> = others
        .iter()
        .map(|v| match *v {
            "gevent" => "gevent, the system it ports,",
            _ => "Go,",
        })
        .collect();
    let _ = writeln!(
        s,
        "The echo and idle rows of the tables below: greenstd against {} measured in the same \
         passes. Ratios are greenstd / other for throughput and other / greenstd for RSS and \
         accept time: above 1 means greenstd is better.\n",
        whom.join(" and ")
    );
    for (v, note) in &outside.notes {
        if let Some(why) = note.strip_prefix("**skipped**: ") {
            let _ = writeln!(s, "{} did not run: {why}.\n", label(v));
        }
    }
    let _ = write!(s, "| row | greenstd |");
    for n in &names {
        let _ = write!(s, " {n} |");
    }
    for n in &names {
        let _ = write!(s, " greenstd vs {n} |");
    }
    let _ = writeln!(s, "\n|---|---|{}", "---|---|".repeat(names.len()));
    let on = |k: &str| opts.only.iter().any(|o| o == k);
    let mut rows: Vec<(String, String, &str, &str, bool)> = vec![];
    if on("echo") {
        for &c in &plan.echo_conns {
            let name = format!("echo 64 B, {c} conns");
            rows.push((name, format!("echo-{c}"), "rps", "rt/s", true));
        }
    }
    if on("idle") {
        for &c in &plan.idle_conns {
            let name = format!("RSS per idle conn, {c} conns");
            rows.push((name, format!("idle-{c}"), "kib_per_conn", "KiB", false));
        }
        if let Some(&c) = plan.idle_conns.first() {
            let name = format!("time to accept {c} conns");
            rows.push((name, format!("idle-{c}"), "accept_s", "s", false));
        }
    }
    for (name, sc, key, unit, higher) in rows {
        let digits = if higher { 0 } else { 2 };
        let cell = |v: Option<f64>| match v {
            Some(_) => format!("{} {unit}", fmt_num(v, digits)),
            None => "—".into(),
        };
        let g = r.median(&sc, "greenstd", key);
        let _ = write!(s, "| {name} | {} |", cell(g));
        for v in &others {
            let _ = write!(s, " {} |", cell(r.median(&sc, v, key)));
        }
        for v in &others {
            let o = r.median(&sc, v, key);
            let rel = if higher { ratio(g, o) } else { ratio(o, g) };
            let _ = write!(s, " {} |", fmt_ratio(rel));
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s);
}

/// The jobs of `bench/plain/blocking.rs`.
const BLOCKING: [&str; 3] = ["syscall_1ms", "fs_read", "fs_meta"];

/// The scale rows: many parked threads, and stacks that give back pages.
fn render_scale(s: &mut String, plan: &Plan, r: &Results, vs: &[&str]) {
    let _ = writeln!(s, "## Scale\n");
    let _ = writeln!(
        s,
        "`bench/plain/scale.rs` (greenstd by patching), `bench/tokio/src/bin/scale.rs` (tokio \
         tasks) and `bench/go/scale/scale.go` (goroutines), each on 2 worker threads, run once \
         (first pass). *Parked*: {} threads spawned by a loop, each waiting on one `Condvar` \
         (tokio: a `watch` channel; Go: a `sync.Cond`) until a flag is set; \
         RSS = (VmRSS once all wait − VmRSS before) / threads, join = set the flag, notify all, \
         join all; spawn = the loop until every thread waits (a spawn may return before its \
         coroutine is made). *Deep*: {} threads each call a function that uses 64 KiB of stack (tokio: of \
         the worker's stack), then wait; RSS per thread once all wait and 0.5, 1 and 2 s later.\n",
        plan.scale_parked, plan.scale_deep
    );
    let sv: Vec<&str> = vs.iter().copied().filter(|v| serves(v, "scale")).collect();
    let _ = write!(s, "| row |");
    for v in &sv {
        let _ = write!(s, " {} |", label(v));
    }
    let _ = writeln!(s, "\n|---|{}", "---|".repeat(sv.len()));
    let n = plan.scale_parked;
    let rows: [(String, &str, &str, usize); 8] = [
        (
            format!("{n} parked: spawn all (until all wait), s"),
            "scale-condvar",
            "all_waiting_s",
            2,
        ),
        (
            format!("{n} parked: RSS per thread, KiB"),
            "scale-condvar",
            "rss_kib_per",
            2,
        ),
        (
            format!("{n} parked: page tables per thread (VmPTE, not in RSS), KiB"),
            "scale-condvar",
            "pte_kib_per",
            2,
        ),
        (
            format!("{n} parked: join all, s"),
            "scale-condvar",
            "join_s",
            2,
        ),
        (
            "64 KiB deep, parked: RSS per thread, KiB".into(),
            "scale-deep",
            "rss_kib_per",
            2,
        ),
        (
            "… 0.5 s later".into(),
            "scale-deep",
            "rss_kib_per_after_0.5s",
            2,
        ),
        (
            "… 1 s later".into(),
            "scale-deep",
            "rss_kib_per_after_1s",
            2,
        ),
        (
            "… 2 s later".into(),
            "scale-deep",
            "rss_kib_per_after_2s",
            2,
        ),
    ];
    for (name, sc, key, digits) in rows {
        let _ = write!(s, "| {name} |");
        for v in &sv {
            let _ = write!(s, " {} |", fmt_num(r.median(sc, v, key), digits));
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s);
}

const PRIMS: [&str; 5] = [
    "spawn_join",
    "yield_now",
    "park_round_trip",
    "mutex_contended",
    "channel_ping_pong",
];
