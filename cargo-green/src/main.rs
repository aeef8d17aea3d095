//! `cargo green`: runs cargo on a project with every eligible crate of its
//! dependency graph rebuilt against greenstd, without changing the
//! project's Cargo.toml, lockfile or sources.
//!
//! ```text
//! cargo green build|run|test|check|bench|doc|clippy [cargo's arguments]
//! cargo green status [--manifest-path PATH] [feature arguments]
//! cargo green audit [cargo build's arguments]
//! ```
//!
//! How: `cargo metadata` gives the resolved graph; each registry or git
//! package that names what greenstd replaces is copied to
//! `target/green/crates/<name>-<version>/` with
//! `std = { package = "greenstd", … }` added to its `[dependencies]`, and
//! handed to cargo as a `[patch]` table in a generated config file
//! (`--config target/green/projects/<name>-<hash>/patch.toml`). The
//! project's own packages are built from a shadow workspace beside it,
//! `target/green/projects/<name>-<hash>/ws/`: the same tree through
//! symbolic links, with each Cargo.toml given the `std` entry, and a copy
//! of the lockfile.

mod apply;
mod audit;
mod graph;
mod manifest;
mod plan;
mod pollers;
mod quiet;
mod scan;

use graph::GraphArgs;
use plan::{How, Plan, Status};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
cargo green: build with the whole dependency graph patched onto greenstd

USAGE:
    cargo green <build|run|test|check|bench|doc|clippy> [cargo's own arguments]
    cargo green status [--manifest-path PATH] [--features ...] [--target TRIPLE]
    cargo green audit  [cargo build's arguments: --bin NAME, --release, ...]

Nothing of the project is changed: the patched copies, the shadow workspace
and the lockfile copy live in <target>/green/.

The greenstd used is the project's own dependency on greenstd if it has one,
else the checkout cargo-green was built from (or the same version from
crates.io); CARGO_GREEN_GREENSTD_PATH=DIR names another checkout.

  status   every package of the graph: `patched`, or why it is not
  audit    builds, then lists the code in the binaries that can still block a
           worker (calls into std's real blocking items or blocking libc calls)
";

/// The user's arguments, split into what cargo green reads and what goes
/// to cargo unchanged.
#[derive(Debug, Default)]
pub(crate) struct Args {
    pub(crate) graph: GraphArgs,
    /// Everything else (and everything after `--`), in order.
    pub(crate) rest: Vec<OsString>,
    pub(crate) target_dir: Option<PathBuf>,
}

fn parse(args: &[OsString]) -> Args {
    let mut out = Args::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].to_string_lossy().into_owned();
        if a == "--" {
            out.rest.extend(args[i..].iter().cloned());
            break;
        }
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let takes_value = matches!(
            flag.as_str(),
            "--manifest-path" | "--features" | "-F" | "--target" | "--target-dir"
        );
        let value = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    args.get(i).map(|v| v.to_string_lossy().into_owned())
                }
            }
        } else {
            None
        };
        match (flag.as_str(), value) {
            ("--manifest-path", Some(v)) => out.graph.manifest_path = Some(PathBuf::from(v)),
            ("--target-dir", Some(v)) => {
                out.target_dir = Some(PathBuf::from(&v));
                out.rest.push("--target-dir".into());
                out.rest.push(v.into());
            }
            ("--features" | "-F", Some(v)) => {
                out.graph.features.extend(
                    v.split([',', ' '])
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
                out.rest.push("--features".into());
                out.rest.push(v.into());
            }
            ("--target", Some(v)) => {
                out.graph.target = Some(v.clone());
                out.rest.push("--target".into());
                out.rest.push(v.into());
            }
            (f, _) => {
                match f {
                    "--all-features" => out.graph.all_features = true,
                    "--no-default-features" => out.graph.no_default_features = true,
                    "--offline" => out.graph.offline = true,
                    "--frozen" => out.graph.frozen = true,
                    "--locked" => out.graph.locked = true,
                    _ => {}
                }
                out.rest.push(args[i].clone());
            }
        }
        i += 1;
    }
    if let Some(dir) = &out.target_dir {
        // `cargo metadata` reports the target directory; make it agree.
        std::env::set_var("CARGO_TARGET_DIR", dir);
    }
    out
}

/// Set (to the copies' directory) when cargo runs cargo-green as its
/// `RUSTC_WRAPPER`.
const WRAP_ENV: &str = "CARGO_GREEN_COPIES";
/// The user's own `RUSTC_WRAPPER`, called in turn.
const NEXT_WRAPPER_ENV: &str = "CARGO_GREEN_NEXT_WRAPPER";

/// As `RUSTC_WRAPPER`: runs rustc (through the user's own wrapper, if
/// any), adding `--cap-lints allow` for the patched copies. Cargo caps the
/// lints of registry and git packages; the copies are path packages to
/// cargo, and a lint that is deny-by-default in a newer rustc would fail
/// them where the original builds.
fn wrap(copies: &OsString, argv: &[OsString]) -> ExitCode {
    let mut args = argv.to_vec();
    let in_copy = std::env::var_os("CARGO_MANIFEST_DIR")
        .is_some_and(|d| Path::new(&d).starts_with(Path::new(copies)));
    if in_copy && !args.iter().any(|a| a == "--cap-lints") {
        args.push("--cap-lints".into());
        args.push("allow".into());
    }
    let mut cmd = match std::env::var_os(NEXT_WRAPPER_ENV).filter(|w| !w.is_empty()) {
        Some(w) => {
            let mut c = Command::new(w);
            c.args(&args);
            c
        }
        None => {
            let mut c = Command::new(&args[0]);
            c.args(&args[1..]);
            c
        }
    };
    match cmd.status() {
        Ok(s) => ExitCode::from(s.code().map_or(101, |c| u8::try_from(c).unwrap_or(101))),
        Err(e) => {
            eprintln!("cargo green: cannot run {:?}: {e}", args.first());
            ExitCode::from(101)
        }
    }
}

fn main() -> ExitCode {
    let mut argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    if let Some(copies) = std::env::var_os(WRAP_ENV) {
        if !argv.is_empty() && argv[0] != "green" {
            return wrap(&copies, &argv);
        }
    }
    // As a cargo subcommand: `cargo-green green <command> …`.
    if argv.first().is_some_and(|a| a == "green") {
        argv.remove(0);
    }
    let Some(cmd) = argv.first().map(|c| c.to_string_lossy().into_owned()) else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let args = parse(&argv[1..]);
    let result = match cmd.as_str() {
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "-V" | "--version" => {
            println!("cargo-green {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        "status" => status(&args),
        "audit" => audit::run(&args.graph, &args.rest),
        "build" | "b" | "run" | "r" | "test" | "t" | "check" | "c" | "bench" | "doc" | "d"
        | "clippy" | "rustc" => run_cargo(&cmd, &args),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown command `{other}`\n\n{USAGE}"),
        )),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cargo green: error: {e}");
            ExitCode::from(101)
        }
    }
}

/// The one line a build prints: `cargo green: patched N crates, M left`,
/// then where to look.
pub(crate) fn summary(plan: &Plan) -> String {
    let (patched, left) = plan.counts();
    let crates = if patched == 1 { "crate" } else { "crates" };
    if left == 0 {
        format!(
            "cargo green: patched {patched} {crates}, 0 left (onto {}; details: cargo green status)",
            plan.spec.describe()
        )
    } else {
        format!("cargo green: patched {patched} {crates}, {left} left: run cargo green status")
    }
}

fn status(args: &Args) -> io::Result<ExitCode> {
    let (plan, _) = settle(args)?;
    println!("cargo green status: patching onto {}", plan.spec.describe());
    let mut rows: Vec<(&str, String, String)> = plan
        .status
        .iter()
        .map(|(id, st)| {
            let n = &plan.graph.nodes[id];
            let mut d = st.describe();
            if n.name() == "parking_lot_core" && st.patched() {
                d.push_str(", its thread parker replaced: parking_lot locks park the coroutine");
            }
            if pollers::is_poller(n.name()) && st.patched() {
                d.push_str(
                    ", its epoll selector waits through greenstd: tokio's reactor parks the coroutine",
                );
            }
            (n.name(), n.pkg.version.to_string(), d)
        })
        .collect();
    rows.sort();
    let w = rows
        .iter()
        .map(|r| r.0.len() + r.1.len() + 1)
        .max()
        .unwrap_or(0);
    for (name, version, st) in &rows {
        println!("{:w$}  {st}", format!("{name} {version}"));
    }
    println!("{}", summary(&plan));
    println!(
        "not patched by any rebuild: C libraries and FFI calls (cargo green audit lists them \
         in your binaries); code run at build time by build scripts and proc-macros"
    );
    Ok(ExitCode::SUCCESS)
}

/// Which manifest of the shadow workspace stands for the one cargo would
/// pick: `--manifest-path`, else the nearest Cargo.toml above the current
/// directory, else the workspace root.
fn shadow_manifest(applied: &apply::Applied, plan: &Plan, args: &Args) -> io::Result<PathBuf> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let lookup = |p: &Path| {
        let p = canon(p);
        applied
            .shadow_of
            .iter()
            .find(|(k, _)| canon(k) == p)
            .map(|(_, v)| v.clone())
    };
    if let Some(m) = &args.graph.manifest_path {
        return lookup(m).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "--manifest-path {}: not a package of the workspace at {}",
                    m.display(),
                    plan.graph.workspace_root.display()
                ),
            )
        });
    }
    let mut dir = std::env::current_dir()?;
    loop {
        let m = dir.join("Cargo.toml");
        if m.exists() {
            if let Some(s) = lookup(&m) {
                return Ok(s);
            }
        }
        if !dir.pop() {
            break;
        }
    }
    Ok(applied.root_manifest.clone())
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `cargo <cmd>` on the shadow workspace with the patch table.
pub(crate) fn green_command(
    cmd: &str,
    plan: &Plan,
    applied: &apply::Applied,
    args: &Args,
    rest: &[OsString],
) -> io::Result<Command> {
    let mut c = Command::new(cargo());
    c.arg("--config").arg(&applied.config);
    // cargo-green as the rustc wrapper: the copies' lints capped as cargo
    // caps registry packages'.
    if let Ok(me) = std::env::current_exe() {
        let user_wrapper = std::env::var_os("RUSTC_WRAPPER").unwrap_or_default();
        c.env("RUSTC_WRAPPER", me)
            .env(NEXT_WRAPPER_ENV, user_wrapper)
            .env(WRAP_ENV, plan.green_dir.join("crates"));
    }
    c.arg(cmd);
    c.arg("--manifest-path")
        .arg(shadow_manifest(applied, plan, args)?);
    if args.target_dir.is_none() {
        c.arg("--target-dir").arg(&plan.graph.target_dir);
    }
    c.args(rest);
    Ok(c)
}

/// Patched copies that failed to compile in a `--message-format=json` run.
fn failed_copies(plan: &Plan, stdout: &[u8], stderr: &[u8]) -> Vec<cargo_metadata::PackageId> {
    let copies: Vec<(cargo_metadata::PackageId, PathBuf, String)> = plan
        .status
        .iter()
        .filter(|(_, s)| is_copy(s))
        .map(|(id, _)| {
            let n = &plan.graph.nodes[id];
            (
                id.clone(),
                plan.copy_dir(id),
                format!("`{} v{} (", n.name(), n.pkg.version),
            )
        })
        .collect();
    let mut out = Vec::new();
    for msg in cargo_metadata::Message::parse_stream(stdout) {
        let Ok(cargo_metadata::Message::CompilerMessage(m)) = msg else {
            continue;
        };
        if m.message.level != cargo_metadata::diagnostic::DiagnosticLevel::Error {
            continue;
        }
        for (id, dir, _) in &copies {
            if m.package_id.repr.contains(&*dir.to_string_lossy()) && !out.contains(id) {
                out.push(id.clone());
            }
        }
    }
    let stderr = String::from_utf8_lossy(stderr);
    for line in stderr.lines() {
        if !line.contains("failed to run custom build command for") {
            continue;
        }
        for (id, dir, tag) in &copies {
            if line.contains(tag) && line.contains(&*dir.to_string_lossy()) && !out.contains(id) {
                out.push(id.clone());
            }
        }
    }
    out
}

/// Resolves the shadow workspace once before the real command. The copied
/// lockfile can pin a version that greenstd's dependencies do not accept
/// (`failed to select a version for X`): then that package alone is
/// updated in the copy (`cargo update -p X@locked`), as many times as it
/// takes; as a last resort the copy is resolved afresh. The user's own
/// lockfile is never touched.
/// A patched copy that closes a dependency cycle through greenstd (it is
/// in greenstd's own graph once features are unified: e.g. a build
/// dependency of greenstd's runtime turned on by the project).
pub(crate) struct Cycle {
    name: String,
    version: String,
}

/// Plans, writes the copies and the shadow, and resolves it, until no
/// patched copy closes a cycle through greenstd (each one found is recorded
/// as part of greenstd's closure, and so becomes a renamed copy).
pub(crate) fn settle(args: &Args) -> io::Result<(Plan, apply::Applied)> {
    for _ in 0..32 {
        let plan = Plan::make(&args.graph)?;
        let applied = plan.apply()?;
        match resolve_shadow(&plan, &applied, args)? {
            None => return Ok((plan, applied)),
            Some(c) => {
                eprintln!(
                    "cargo green: {} {} is also in greenstd's own dependency graph (a patched copy \
                     would depend on itself through greenstd): using a renamed copy",
                    c.name, c.version
                );
                plan::record_cycle(&plan.green_dir, &c.name, &c.version)?;
            }
        }
    }
    Err(io::Error::other("the dependency graph did not settle"))
}

fn resolve_shadow(plan: &Plan, applied: &apply::Applied, args: &Args) -> io::Result<Option<Cycle>> {
    let mut graph_flags: Vec<OsString> = Vec::new();
    if args.graph.offline || args.graph.frozen {
        graph_flags.push("--offline".into());
    }
    for _ in 0..16 {
        let out = Command::new(cargo())
            .arg("--config")
            .arg(&applied.config)
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(&applied.root_manifest)
            .args(&graph_flags)
            .stdout(std::process::Stdio::null())
            .output()?;
        if out.status.success() {
            return Ok(None);
        }
        let err = String::from_utf8_lossy(&out.stderr);
        // "cyclic package dependency: … path dependency `std` of package
        // `getrandom v0.4.3 (…/green/crates/getrandom-0.4.3)`"
        if err.contains("cyclic package dependency") {
            let copy = err.lines().find_map(|l| {
                let rest = l.split("path dependency `std` of package `").nth(1)?;
                let spec = rest.split('`').next()?;
                let (name, rest) = spec.split_once(" v")?;
                let version = rest.split(' ').next()?;
                Some(Cycle {
                    name: name.to_string(),
                    version: version.to_string(),
                })
            });
            if let Some(c) = copy {
                return Ok(Some(c));
            }
        }
        // "previously selected package `libc v0.2.171`"
        let locked = err.lines().find_map(|l| {
            let rest = l.split("previously selected package `").nth(1)?;
            let spec = rest.split('`').next()?;
            let (name, version) = spec.split_once(" v")?;
            Some(format!("{name}@{version}"))
        });
        let lock = applied.root_manifest.with_file_name("Cargo.lock");
        let updated = match &locked {
            Some(spec) => Command::new(cargo())
                .arg("--config")
                .arg(&applied.config)
                .args(["update", "--quiet", "-p", spec, "--manifest-path"])
                .arg(&applied.root_manifest)
                .args(&graph_flags)
                .status()?
                .success(),
            None => false,
        };
        if updated {
            eprintln!(
                "cargo green: {} updated in the build's copy of the lockfile (greenstd needs a newer one)",
                locked.unwrap_or_default()
            );
            continue;
        }
        if lock.exists() {
            eprintln!(
                "cargo green: the lockfile does not resolve with greenstd added; resolving the build's copy afresh:\n{err}"
            );
            std::fs::remove_file(&lock)?;
            continue;
        }
        return Err(io::Error::other(format!(
            "the project does not resolve with greenstd added ({}):\n{err}",
            plan.spec.describe()
        )));
    }
    Err(io::Error::other("the lockfile copy did not settle"))
}

fn run_cargo(cmd: &str, args: &Args) -> io::Result<ExitCode> {
    let cmd = match cmd {
        "b" => "build",
        "r" => "run",
        "t" => "test",
        "c" => "check",
        "d" => "doc",
        other => other,
    };
    let before_dashes = || args.rest.iter().take_while(|a| *a != "--");
    // A user who asked for cargo's JSON reads it themselves: their command
    // runs as it is, and a failure is diagnosed afterwards.
    let user_format = before_dashes().any(|a| a.to_string_lossy().starts_with("--message-format"));
    for attempt in 0..8 {
        let (plan, applied) = settle(args)?;
        // The rustc errors of copies that fall back, emptied per command.
        let log = plan.green_dir.join("fallback.log");
        if attempt == 0 {
            std::fs::create_dir_all(&plan.green_dir)?;
            std::fs::write(&log, "")?;
        }
        if attempt == 0 {
            // Decided by the scan, before anything is compiled: the crate
            // is not compiled patched to find out.
            for (id, st) in &plan.status {
                if let Status::Left(plan::Why::StdTypedReturn(what)) = st {
                    let n = &plan.graph.nodes[id];
                    eprintln!(
                        "cargo green: {} {}: {what}; built from the original (stays blocking)",
                        n.name(),
                        n.pkg.version
                    );
                }
            }
        }
        eprintln!("{}", summary(&plan));
        let mut failed: Vec<(cargo_metadata::PackageId, String)> = Vec::new();
        let status = if user_format {
            green_command(cmd, &plan, &applied, args, &args.rest)?.status()?
        } else {
            // Compile first with rustc's diagnostics through cargo green:
            // a patched copy's errors go to the log, the user's are shown.
            let (compile, only) = match cmd {
                "test" | "bench" => (cmd, false),
                "run" => ("build", false),
                other => (other, true),
            };
            let compile_args = if only {
                args.rest.clone()
            } else {
                diagnostic_args(&args.rest)
            };
            let mut c = green_command(compile, &plan, &applied, args, &compile_args)?;
            if matches!(cmd, "test" | "bench") {
                c.arg("--no-run");
            }
            // Every copy that fails is found in one pass.
            match compile {
                "test" | "bench" => {
                    c.arg("--no-fail-fast");
                }
                "rustc" => {}
                _ if !before_dashes().any(|a| a == "--keep-going") => {
                    c.arg("--keep-going");
                }
                _ => {}
            }
            c.arg(json_format());
            let (status, found) = quiet::compile_through(&plan, c, &log)?;
            failed = found;
            if status.success() && !only {
                // Built: now run it (nothing is left to compile); what the
                // run returns is the answer.
                let run = green_command(cmd, &plan, &applied, args, &args.rest)?.status()?;
                return Ok(exit_code(run));
            }
            status
        };
        if status.success() {
            return Ok(ExitCode::SUCCESS);
        }
        if failed.is_empty() && !plan.status.values().any(is_copy) {
            return Ok(exit_code(status));
        }
        if failed.is_empty() {
            // Not seen in the compiler's messages (a build script of a copy
            // that failed, say): ask cargo once more, everything captured.
            let ids = diagnose(cmd, &plan, &applied, args)?;
            if ids.is_empty() {
                return Ok(exit_code(status));
            }
            failed = ids
                .into_iter()
                .map(|id| (id, "its build failed".to_string()))
                .collect();
        }
        fall_back(&plan, failed, &log)?;
    }
    Err(io::Error::other("gave up after 8 attempts"))
}

/// Says, one line per copy, that it falls back and why, and records it.
fn fall_back(
    plan: &Plan,
    failed: Vec<(cargo_metadata::PackageId, String)>,
    log: &Path,
) -> io::Result<()> {
    for (id, why) in &failed {
        let n = &plan.graph.nodes[id];
        eprintln!(
            "cargo green: {} {}: {why}; built from the original (stays blocking; rustc's errors: {})",
            n.name(),
            n.pkg.version,
            log.display()
        );
    }
    let ids: Vec<_> = failed.into_iter().map(|(id, _)| id).collect();
    plan::record_failed(&plan.green_dir, &plan.spec, &ids)
}

/// cargo's JSON messages, with rustc's rendering in colour on a terminal.
fn json_format() -> &'static str {
    if io::IsTerminal::is_terminal(&io::stderr()) {
        "--message-format=json-diagnostic-rendered-ansi"
    } else {
        "--message-format=json"
    }
}

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    ExitCode::from(
        status
            .code()
            .map_or(101, |c| u8::try_from(c).unwrap_or(101)),
    )
}

fn is_copy(s: &Status) -> bool {
    matches!(
        s,
        Status::Patched(How::Copy | How::Parker | How::Renamed(_))
    )
}

/// Cargo once more, everything captured, to find the patched copies that
/// failed where the compiler's messages do not say (a build script).
fn diagnose(
    cmd: &str,
    plan: &Plan,
    applied: &apply::Applied,
    args: &Args,
) -> io::Result<Vec<cargo_metadata::PackageId>> {
    let (diag, extra): (&str, &[&str]) = match cmd {
        "test" | "bench" => (cmd, &["--no-run"]),
        "check" | "clippy" | "doc" => ("check", &[]),
        _ => ("build", &[]),
    };
    let out = green_command(diag, plan, applied, args, &diagnostic_args(&args.rest))?
        .args(extra)
        .arg("--message-format=json")
        .output()?;
    Ok(failed_copies(plan, &out.stdout, &out.stderr))
}

/// The user's cargo arguments for cargo green's own diagnostic pass
/// (`--message-format=json`, `--no-run` added): everything before `--`
/// except what that pass sets itself or what its command does not take,
/// so that cargo never sees a flag twice.
fn diagnostic_args(rest: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut it = rest.iter().take_while(|a| *a != "--");
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        match &*s {
            // Set by the diagnostic pass.
            "--no-run" | "--no-fail-fast" | "--doc" => {}
            "--message-format" => {
                it.next();
            }
            _ if s.starts_with("--message-format=") => {}
            _ => out.push(a.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_args_never_repeat_what_the_pass_sets() {
        let v = |xs: &[&str]| xs.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            diagnostic_args(&v(&[
                "--release",
                "--no-run",
                "--message-format",
                "short",
                "--message-format=json",
                "-p",
                "x",
                "--no-fail-fast",
                "--",
                "--no-run",
            ])),
            v(&["--release", "-p", "x"])
        );
    }
}
