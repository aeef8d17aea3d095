//! Which package of the graph is rebuilt against greenstd, how, and why
//! the others are not.

use crate::graph::{Graph, GraphArgs, Node, Origin};
use crate::manifest::GreenstdSpec;
use crate::scan;
use cargo_metadata::semver::Version;
use cargo_metadata::{DependencyKind, PackageId};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// How a package is patched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum How {
    /// A workspace member or a path dependency of the user: the shadow
    /// manifest gets the `std` entry.
    Member,
    /// The user's own manifest already says `std = { package = "greenstd" }`.
    OwnForm,
    /// A copy of a registry or git package, `[patch]`ed in.
    Copy,
    /// parking_lot_core: a copy whose thread parker parks through greenstd.
    Parker,
    /// A crate of greenstd's own dependency closure that user code uses:
    /// a copy under another package name, its dependents pointed at it.
    Renamed(String),
}

/// Why a package is not patched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    /// greenstd itself, or one of its crates.
    Greenstd,
    /// Used only by greenstd's runtime (may and what only it uses).
    Runtime,
    /// In greenstd's closure and used by user code too, but renaming is
    /// impossible (it links a native library) or a proc-macro.
    RuntimeShared(&'static str),
    /// A procedural macro: runs in the compiler.
    ProcMacro,
    /// Only a build script or a proc-macro uses it: runs in the compiler.
    BuildOnly,
    /// Its source never names what greenstd replaces.
    NothingToPatch,
    /// `#![no_std]`.
    NoStd,
    /// It failed to build when patched: the original is used.
    BuildFailed,
    /// Its sources take a std-typed return where they name greenstd's
    /// type (`scan::std_typed_return`: it would not compile patched): the
    /// original is used, decided before anything is compiled.
    StdTypedReturn(&'static str),
    /// A crate it shares types with (the first string) is built from the
    /// original and uses the original of a renamed copy (the second) this
    /// one would use: the original keeps the graph's types whole.
    WithFallback(String, String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Patched(How),
    Left(Why),
}

impl Status {
    pub(crate) fn describe(&self) -> String {
        match self {
            Status::Patched(How::Member) => "patched (your code: `std` entry added in a shadow manifest)".into(),
            Status::Patched(How::OwnForm) => "patched (its Cargo.toml already names greenstd as `std`)".into(),
            Status::Patched(How::Copy) => "patched".into(),
            Status::Patched(How::Parker) => "patched (thread parker replaced: parking_lot locks park the coroutine)".into(),
            Status::Patched(How::Renamed(n)) => format!("patched as a renamed copy `{n}` (greenstd's runtime uses the original)"),
            Status::Left(Why::Greenstd) => "not patched: greenstd itself".into(),
            Status::Left(Why::Runtime) => "not patched: greenstd's runtime (a copy would depend on greenstd: a cycle)".into(),
            Status::Left(Why::RuntimeShared(why)) => format!("not patched: used by greenstd's runtime and {why}"),
            Status::Left(Why::ProcMacro) => "not patched: proc-macro (runs in the compiler)".into(),
            Status::Left(Why::BuildOnly) => "not patched: build-time only (build scripts, proc-macros)".into(),
            Status::Left(Why::NothingToPatch) => "not patched: nothing to patch (never names what greenstd replaces: thread, net, sync, process, fs, stdio, thread_local!)".into(),
            Status::Left(Why::NoStd) => "not patched: no_std".into(),
            Status::Left(Why::BuildFailed) => "NOT PATCHED: failed to build against greenstd; the original is used (delete <target>/green/failed to try again)".into(),
            Status::Left(Why::StdTypedReturn(what)) => format!("NOT PATCHED: {what} where greenstd's is expected (found in its sources: it would not compile patched); the original is used"),
            Status::Left(Why::WithFallback(user, shared)) => format!("NOT PATCHED: {user} is built from the original and passes it `{shared}`'s types; the original is used so that both name the same `{shared}`"),
        }
    }

    pub(crate) fn patched(&self) -> bool {
        matches!(self, Status::Patched(_))
    }

    /// A package the user may expect to be cooperative and is not: it runs
    /// in the program and can block (counted in the one-line summary).
    pub(crate) fn counts_as_left(&self) -> bool {
        matches!(
            self,
            Status::Left(Why::BuildFailed)
                | Status::Left(Why::StdTypedReturn(_))
                | Status::Left(Why::RuntimeShared(_))
                | Status::Left(Why::WithFallback(..))
        )
    }
}

/// The plan for one cargo invocation.
pub(crate) struct Plan {
    pub(crate) graph: Graph,
    pub(crate) spec: GreenstdSpec,
    pub(crate) status: BTreeMap<PackageId, Status>,
    /// `<target>/green`: the patched copies (shared by the projects that
    /// use this target directory) and the record of failed ones.
    pub(crate) green_dir: PathBuf,
    /// `<target>/green/projects/<name>-<hash>`: this project's shadow
    /// workspace, lockfile copy and patch table (a target directory can be
    /// shared by several projects).
    pub(crate) project_dir: PathBuf,
    /// Path packages of the user (members and path dependencies).
    pub(crate) shadowed: BTreeSet<PackageId>,
    /// Library names of greenstd and everything it depends on (whether or
    /// not the user's graph has them): what `audit` leaves out.
    pub(crate) greenstd_libs: BTreeSet<String>,
}

/// A short, stable hash for directory names.
pub(crate) fn short_hash(s: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    format!("{:08x}", h.finish() as u32)
}

/// A package's name and its semver-compatibility class.
type Compat = (String, (u64, u64, u64));

/// Packages are the same crate for Cargo's unification when their names
/// match and their versions are semver-compatible.
fn compat(v: &Version) -> (u64, u64, u64) {
    if v.major > 0 {
        (v.major, 0, 0)
    } else if v.minor > 0 {
        (0, v.minor, 0)
    } else {
        (0, 0, v.patch)
    }
}

/// The greenstd `cargo green` belongs to: the checkout it was built from
/// when that is still there (a `cargo install --path` of this workspace),
/// else the same version from crates.io.
pub(crate) fn own_greenstd() -> GreenstdSpec {
    if let Ok(p) = std::env::var("CARGO_GREEN_GREENSTD_PATH") {
        return GreenstdSpec::Path(PathBuf::from(p));
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(root) = here.parent() {
        let manifest = root.join("Cargo.toml");
        if let Ok(text) = fs::read_to_string(&manifest) {
            if text.contains("name = \"greenstd\"") {
                return GreenstdSpec::Path(root.to_path_buf());
            }
        }
    }
    GreenstdSpec::Version(format!("={}", env!("CARGO_PKG_VERSION")))
}

fn spec_of(node: &Node) -> GreenstdSpec {
    match &node.origin {
        Origin::Path => GreenstdSpec::Path(node.dir()),
        Origin::Git(url) => {
            let repr = &node
                .pkg
                .source
                .as_ref()
                .map(|s| s.repr.clone())
                .unwrap_or_default();
            let rev = repr.rsplit('#').next().unwrap_or_default().to_string();
            GreenstdSpec::Git {
                url: url.clone(),
                rev,
            }
        }
        _ => GreenstdSpec::Version(format!("={}", node.pkg.version)),
    }
}

/// Name and version of every package greenstd depends on (itself
/// included), resolved in a scratch project that depends on `spec` only,
/// with the user's lockfile so that versions match the user's graph.
fn probe_closure(
    spec: &GreenstdSpec,
    green_dir: &Path,
    user_lock: Option<&Path>,
    args: &GraphArgs,
) -> io::Result<(BTreeSet<Compat>, BTreeSet<String>)> {
    let dir = green_dir.join("probe");
    fs::create_dir_all(dir.join("src"))?;
    let mut doc = toml_edit::DocumentMut::new();
    doc["package"]["name"] = toml_edit::value("cargo-green-probe");
    doc["package"]["version"] = toml_edit::value("0.0.0");
    doc["package"]["edition"] = toml_edit::value("2021");
    doc["package"]["publish"] = toml_edit::value(false);
    doc["workspace"] = toml_edit::table();
    doc["dependencies"] = toml_edit::table();
    doc["dependencies"]["greenstd"] =
        toml_edit::Item::Value(toml_edit::Value::InlineTable(spec.entry()));
    if let Some(t) = doc["dependencies"]["greenstd"].as_inline_table_mut() {
        t.remove("package");
    }
    write_if_changed(&dir.join("Cargo.toml"), doc.to_string().as_bytes())?;
    write_if_changed(&dir.join("src/lib.rs"), b"")?;
    if let Some(lock) = user_lock {
        if !dir.join("Cargo.lock").exists() {
            let _ = fs::copy(lock, dir.join("Cargo.lock"));
        }
    }
    let probe_args = GraphArgs {
        offline: args.offline,
        frozen: false,
        locked: false,
        target: args.target.clone(),
        ..GraphArgs::default()
    };
    let g = Graph::load(Some(&dir.join("Cargo.toml")), &probe_args)?;
    let Some(green) = g.find("greenstd") else {
        return Err(io::Error::other(
            "cargo green: the greenstd probe has no greenstd",
        ));
    };
    let closure = g.closure([green.pkg.id.clone()], |k| {
        k.iter().any(|k| *k != DependencyKind::Development)
    });
    let nodes: Vec<&Node> = closure.iter().filter_map(|id| g.nodes.get(id)).collect();
    Ok((
        nodes
            .iter()
            .map(|n| (n.name().to_string(), compat(&n.pkg.version)))
            .collect(),
        nodes.iter().filter_map(|n| n.lib_name()).collect(),
    ))
}

pub(crate) fn write_if_changed(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    if fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, bytes)?;
    Ok(true)
}

/// The record of packages that failed to build when patched.
pub(crate) fn failed_file(green_dir: &Path) -> PathBuf {
    green_dir.join("failed")
}

fn failed_set(green_dir: &Path, spec: &GreenstdSpec) -> BTreeSet<String> {
    let text = fs::read_to_string(failed_file(green_dir)).unwrap_or_default();
    let spec = spec.describe();
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, s)| *s == spec)
        .map(|(id, _)| id.to_string())
        .collect()
}

fn cycles_file(green_dir: &Path) -> PathBuf {
    green_dir.join("cycles")
}

/// Records `name@version` as part of greenstd's own graph (found when a
/// patched copy of it made a cycle).
pub(crate) fn record_cycle(green_dir: &Path, name: &str, version: &str) -> io::Result<()> {
    let mut text = fs::read_to_string(cycles_file(green_dir)).unwrap_or_default();
    text.push_str(&format!("{name}@{version}\n"));
    fs::create_dir_all(green_dir)?;
    fs::write(cycles_file(green_dir), text)
}

/// Records `ids` as failing to build against `spec`.
pub(crate) fn record_failed(
    green_dir: &Path,
    spec: &GreenstdSpec,
    ids: &[PackageId],
) -> io::Result<()> {
    let mut text = fs::read_to_string(failed_file(green_dir)).unwrap_or_default();
    for id in ids {
        text.push_str(&format!("{}\t{}\n", id.repr, spec.describe()));
    }
    fs::create_dir_all(green_dir)?;
    fs::write(failed_file(green_dir), text)
}

impl Plan {
    pub(crate) fn make(args: &GraphArgs) -> io::Result<Plan> {
        let graph = Graph::load(args.manifest_path.as_deref(), args)?;
        let green_dir = graph.target_dir.join("green");
        let project_dir = green_dir.join("projects").join(format!(
            "{}-{}",
            graph
                .workspace_root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            short_hash(&graph.workspace_root.to_string_lossy())
        ));
        let green = graph.find("greenstd");
        let spec = green.map(spec_of).unwrap_or_else(own_greenstd);

        // greenstd and what it depends on, as (name, compatible version).
        let (closure, greenstd_libs): (BTreeSet<Compat>, BTreeSet<String>) = match green {
            Some(g) => {
                let ids = graph.closure([g.pkg.id.clone()], |k| {
                    k.iter().any(|k| *k != DependencyKind::Development)
                });
                let nodes: Vec<&Node> = ids.iter().filter_map(|id| graph.nodes.get(id)).collect();
                (
                    nodes
                        .iter()
                        .map(|n| (n.name().to_string(), compat(&n.pkg.version)))
                        .collect(),
                    nodes.iter().filter_map(|n| n.lib_name()).collect(),
                )
            }
            None => {
                let lock = graph.workspace_root.join("Cargo.lock");
                probe_closure(&spec, &project_dir, lock.exists().then_some(&*lock), args)?
            }
        };
        // A path package is in greenstd's closure only as itself (greenstd's
        // own crates); a registry or git package also when it unifies with
        // one (same name, compatible version).
        let closure_ids: BTreeSet<PackageId> = match green {
            Some(g) => graph.closure([g.pkg.id.clone()], |k| {
                k.iter().any(|k| *k != DependencyKind::Development)
            }),
            None => BTreeSet::new(),
        };
        let cycles: BTreeSet<String> = fs::read_to_string(cycles_file(&green_dir))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        let in_closure = |n: &Node| {
            closure_ids.contains(&n.pkg.id)
                || (n.origin != Origin::Path
                    && cycles.contains(&format!("{}@{}", n.name(), n.pkg.version)))
                || (n.origin != Origin::Path
                    && closure.contains(&(n.name().to_string(), compat(&n.pkg.version))))
        };
        let greenstd_ids: BTreeSet<PackageId> = graph
            .nodes
            .values()
            .filter(|n| n.name() == "greenstd")
            .map(|n| n.pkg.id.clone())
            .collect();
        // What runs in the user's programs, not counting what only greenstd uses.
        let reach = graph.runtime_reach(&greenstd_ids);
        let failed = failed_set(&green_dir, &spec);

        let mut status = BTreeMap::new();
        let mut shadowed = BTreeSet::new();
        let mut wants_patch = BTreeSet::new();
        for (id, n) in &graph.nodes {
            let st = if greenstd_ids.contains(id) {
                Status::Left(Why::Greenstd)
            } else if n.origin == Origin::Path && !in_closure(n) {
                shadowed.insert(id.clone());
                let own = crate::manifest::Manifest::read(n.pkg.manifest_path.as_std_path())
                    .map(|m| m.has_std())
                    .unwrap_or(false);
                Status::Patched(if own { How::OwnForm } else { How::Member })
            } else if in_closure(n) && n.origin == Origin::Path {
                Status::Left(Why::Greenstd)
            } else if n.is_proc_macro() {
                Status::Left(Why::ProcMacro)
            } else if !reach.contains(id) {
                if in_closure(n) {
                    Status::Left(Why::Runtime)
                } else {
                    Status::Left(Why::BuildOnly)
                }
            } else if failed.contains(&id.repr) {
                Status::Left(Why::BuildFailed)
            } else {
                let s = scan::scan(&n.dir(), n.lib_root().as_deref()).unwrap_or(scan::Scan {
                    names_patched_std: true,
                    no_std: false,
                });
                if s.no_std {
                    Status::Left(Why::NoStd)
                } else if let Some(what) = s
                    .names_patched_std
                    .then(|| scan::std_typed_return(&n.dir(), n.lib_root().as_deref()))
                    .flatten()
                {
                    Status::Left(Why::StdTypedReturn(what))
                } else if n.name() == "parking_lot_core" || s.names_patched_std {
                    wants_patch.insert(id.clone());
                    Status::Left(Why::NothingToPatch) // settled below
                } else {
                    Status::Left(Why::NothingToPatch)
                }
            };
            status.insert(id.clone(), st);
        }

        // Settle the packages that want a patch, then those that must be
        // copied because they depend on a renamed copy: to a fixed point.
        let rename_of = |n: &Node| format!("{}-green", n.name());
        let mut changed = true;
        let mut first = true;
        while changed {
            changed = false;
            let renamed: BTreeSet<PackageId> = status
                .iter()
                .filter(|(_, s)| matches!(s, Status::Patched(How::Renamed(_))))
                .map(|(id, _)| id.clone())
                .collect();
            for (id, n) in &graph.nodes {
                let current = status[id].clone();
                if current != Status::Left(Why::NothingToPatch)
                    && !(first && wants_patch.contains(id))
                {
                    continue;
                }
                let wants = (first && wants_patch.contains(id))
                    || n.deps.iter().any(|(d, _)| renamed.contains(d));
                if !wants {
                    continue;
                }
                let new = if in_closure(n) {
                    if n.pkg.links.is_some() {
                        Status::Left(Why::RuntimeShared(
                            "links a native library (a renamed copy cannot link it twice)",
                        ))
                    } else {
                        Status::Patched(How::Renamed(rename_of(n)))
                    }
                } else if n.name() == "parking_lot_core" {
                    Status::Patched(How::Parker)
                } else {
                    Status::Patched(How::Copy)
                };
                if new != current {
                    status.insert(id.clone(), new);
                    changed = true;
                }
            }
            first = false;
        }
        keep_types_whole(&graph, &mut status);
        Ok(Plan {
            graph,
            spec,
            status,
            green_dir,
            project_dir,
            shadowed,
            greenstd_libs,
        })
    }

    /// Packages patched / left, counting only what runs in the programs.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let patched = self
            .status
            .iter()
            .filter(|(id, s)| s.patched() && !self.shadowed.contains(*id))
            .count();
        let left = self.status.values().filter(|s| s.counts_as_left()).count();
        (patched, left)
    }
}

/// A crate built from its original (it failed against greenstd) names the
/// original of every renamed copy (`log`), while a patched copy it depends
/// on names the renamed one (`log-green`): types of the two meet in the
/// original and do not match (`env_logger` falling back while `env_filter`
/// is patched). Such a dependency falls back too, to a fixed point.
fn keep_types_whole(graph: &Graph, status: &mut BTreeMap<PackageId, Status>) {
    let deps: BTreeMap<PackageId, (&str, Vec<PackageId>)> = graph
        .nodes
        .iter()
        .map(|(id, n)| {
            let d = n.deps.iter().map(|(d, _)| d.clone()).collect();
            (id.clone(), (n.name(), d))
        })
        .collect();
    keep_whole(&deps, status);
}

/// `keep_types_whole` on the graph as (name, dependencies) per package.
fn keep_whole(
    graph: &BTreeMap<PackageId, (&str, Vec<PackageId>)>,
    status: &mut BTreeMap<PackageId, Status>,
) {
    loop {
        let mut fallback: Option<(PackageId, Why)> = None;
        'find: for (id, (name, deps)) in graph {
            if !matches!(
                status[id],
                Status::Left(Why::BuildFailed | Why::StdTypedReturn(_) | Why::WithFallback(..))
            ) {
                continue;
            }
            for d in deps {
                if !matches!(
                    status.get(d),
                    Some(Status::Patched(How::Copy | How::Parker))
                ) {
                    continue;
                }
                let shared = graph[d].1.iter().find(|r| {
                    matches!(status.get(*r), Some(Status::Patched(How::Renamed(_))))
                        && deps.contains(r)
                });
                if let Some(r) = shared {
                    fallback = Some((
                        d.clone(),
                        Why::WithFallback(name.to_string(), graph[r].0.to_string()),
                    ));
                    break 'find;
                }
            }
        }
        match fallback {
            Some((id, why)) => {
                status.insert(id, Status::Left(why));
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> PackageId {
        PackageId {
            repr: format!("registry+https://github.com/rust-lang/crates.io-index#{name}@1.0.0"),
        }
    }

    /// tungstenite's test graph in small: env_logger falls back, its
    /// patched dependency env_filter would pass it `log-green`'s types
    /// where it names the original `log`, so env_filter falls back too;
    /// a patched crate that shares nothing renamed with it (regex) and one
    /// that is not its dependency (app's other copy) stay patched.
    #[test]
    fn keep_types_whole_falls_back_what_shares_a_renamed_crate_with_a_fallback() {
        let graph: BTreeMap<PackageId, (&str, Vec<PackageId>)> = [
            ("app", vec!["env_logger", "minreq", "log"]),
            ("env_logger", vec!["env_filter", "log", "regex"]),
            ("env_filter", vec!["log", "regex", "memchr"]),
            ("regex", vec!["memchr"]),
            ("minreq", vec!["log"]),
            ("log", vec![]),
            ("memchr", vec![]),
        ]
        .into_iter()
        .map(|(n, d)| (id(n), (n, d.into_iter().map(id).collect())))
        .collect();
        let start: BTreeMap<PackageId, Status> = [
            ("app", Status::Patched(How::Member)),
            ("env_logger", Status::Left(Why::BuildFailed)),
            ("env_filter", Status::Patched(How::Copy)),
            ("regex", Status::Patched(How::Copy)),
            ("minreq", Status::Patched(How::Copy)),
            ("log", Status::Patched(How::Renamed("log-green".into()))),
            ("memchr", Status::Left(Why::NothingToPatch)),
        ]
        .into_iter()
        .map(|(n, s)| (id(n), s))
        .collect();

        let mut status = start.clone();
        keep_whole(&graph, &mut status);
        assert_eq!(
            status[&id("env_filter")],
            Status::Left(Why::WithFallback("env_logger".into(), "log".into()))
        );
        // Only env_filter changed.
        for n in ["app", "env_logger", "regex", "minreq", "log", "memchr"] {
            assert_eq!(status[&id(n)], start[&id(n)], "{n}");
        }
        assert!(status[&id("env_filter")].counts_as_left());

        // To a fixed point: a patched dependency of the new fallback that
        // shares `log` with it falls back in turn.
        let mut deeper = graph.clone();
        deeper
            .get_mut(&id("env_filter"))
            .unwrap()
            .1
            .push(id("minreq"));
        let mut status = start.clone();
        keep_whole(&deeper, &mut status);
        assert_eq!(
            status[&id("minreq")],
            Status::Left(Why::WithFallback("env_filter".into(), "log".into()))
        );

        // Nothing renamed in common: nothing else falls back.
        let mut status = start.clone();
        status.insert(id("log"), Status::Left(Why::NothingToPatch));
        keep_whole(&graph, &mut status);
        assert_eq!(status, {
            let mut s = start.clone();
            s.insert(id("log"), Status::Left(Why::NothingToPatch));
            s
        });
    }
}
