//! The dependency graph as `cargo metadata` resolves it, and what each
//! package of it is (member, path, registry, git; proc-macro; build-only).

use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, Package, PackageId, TargetKind};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

/// The arguments of the user's cargo command that change the resolved graph
/// (features, target platform, offline), forwarded to `cargo metadata`.
#[derive(Clone, Debug, Default)]
pub(crate) struct GraphArgs {
    pub(crate) manifest_path: Option<PathBuf>,
    pub(crate) features: Vec<String>,
    pub(crate) all_features: bool,
    pub(crate) no_default_features: bool,
    pub(crate) target: Option<String>,
    pub(crate) offline: bool,
    pub(crate) frozen: bool,
    pub(crate) locked: bool,
}

/// Where a package comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A local directory (a workspace member or a path dependency).
    Path,
    /// crates.io.
    CratesIo,
    /// Another registry, by its index URL (`registry+…` / `sparse+…`).
    Registry(String),
    /// A git repository, by URL (query and fragment removed).
    Git(String),
}

impl Origin {
    fn of(pkg: &Package) -> Origin {
        let Some(source) = &pkg.source else {
            return Origin::Path;
        };
        let repr = source.repr.as_str();
        if source.is_crates_io() || repr == "sparse+https://index.crates.io/" {
            Origin::CratesIo
        } else if let Some(rest) = repr.strip_prefix("git+") {
            let end = rest.find(['?', '#']).unwrap_or(rest.len());
            Origin::Git(rest[..end].to_string())
        } else if let Some(rest) = repr.strip_prefix("registry+") {
            Origin::Registry(rest.to_string())
        } else {
            Origin::Registry(repr.to_string())
        }
    }

    /// The key of the `[patch.<key>]` table that replaces this origin.
    pub(crate) fn patch_key(&self) -> Option<String> {
        match self {
            Origin::Path => None,
            Origin::CratesIo => Some("crates-io".to_string()),
            Origin::Registry(url) | Origin::Git(url) => Some(url.clone()),
        }
    }
}

/// One resolved package with the facts the plan needs.
pub(crate) struct Node {
    pub(crate) pkg: Package,
    pub(crate) origin: Origin,
    /// Enabled features, as resolved.
    pub(crate) features: Vec<String>,
    /// (dependency, kinds of the edge).
    pub(crate) deps: Vec<(PackageId, Vec<DependencyKind>)>,
}

impl Node {
    pub(crate) fn name(&self) -> &str {
        &self.pkg.name
    }

    pub(crate) fn dir(&self) -> PathBuf {
        self.pkg
            .manifest_path
            .parent()
            .map(|p| p.as_std_path().to_path_buf())
            .unwrap_or_default()
    }

    pub(crate) fn is_proc_macro(&self) -> bool {
        self.pkg
            .targets
            .iter()
            .any(|t| t.is_kind(TargetKind::ProcMacro))
    }

    /// The library target's source root, if the package has a library.
    pub(crate) fn lib_root(&self) -> Option<PathBuf> {
        self.pkg
            .targets
            .iter()
            .find(|t| {
                t.kind.iter().any(|k| {
                    matches!(
                        k,
                        TargetKind::Lib
                            | TargetKind::RLib
                            | TargetKind::DyLib
                            | TargetKind::CDyLib
                            | TargetKind::StaticLib
                    )
                })
            })
            .map(|t| t.src_path.as_std_path().to_path_buf())
    }

    /// The name of the library target (`[lib] name`), if any.
    pub(crate) fn lib_name(&self) -> Option<String> {
        self.pkg
            .targets
            .iter()
            .find(|t| t.is_kind(TargetKind::Lib) || t.is_kind(TargetKind::ProcMacro))
            .map(|t| t.name.replace('-', "_"))
    }
}

/// The resolved graph.
pub(crate) struct Graph {
    pub(crate) nodes: BTreeMap<PackageId, Node>,
    pub(crate) members: Vec<PackageId>,
    pub(crate) workspace_root: PathBuf,
    pub(crate) target_dir: PathBuf,
}

fn other_options(args: &GraphArgs) -> Vec<String> {
    let mut o = Vec::new();
    if let Some(t) = &args.target {
        o.push(format!("--filter-platform={t}"));
    } else if let Some(host) = host_triple() {
        o.push(format!("--filter-platform={host}"));
    }
    if args.offline {
        o.push("--offline".into());
    }
    if args.frozen {
        o.push("--frozen".into());
    }
    if args.locked {
        o.push("--locked".into());
    }
    o
}

/// The host's target triple, from `rustc -vV`.
pub(crate) fn host_triple() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc).arg("-vV").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
}

/// The Cargo.lock files that exist in `dir` and its ancestors.
fn lockfiles_above(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .map(|d| d.join("Cargo.lock"))
        .filter(|p| p.exists())
        .collect()
}

impl Graph {
    /// Runs `cargo metadata` on `manifest` (or the project around the
    /// current directory) with the user's feature and platform arguments.
    pub(crate) fn load(manifest: Option<&Path>, args: &GraphArgs) -> io::Result<Graph> {
        let mut cmd = MetadataCommand::new();
        if let Some(m) = manifest {
            cmd.manifest_path(m);
        }
        if args.all_features {
            cmd.features(cargo_metadata::CargoOpt::AllFeatures);
        }
        if args.no_default_features {
            cmd.features(cargo_metadata::CargoOpt::NoDefaultFeatures);
        }
        if !args.features.is_empty() {
            cmd.features(cargo_metadata::CargoOpt::SomeFeatures(
                args.features.clone(),
            ));
        }
        cmd.other_options(other_options(args));
        // `cargo metadata` writes a lockfile where there is none: the
        // project's must stay as it was, so one that appears is removed.
        let lock_before = manifest
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .or_else(|| std::env::current_dir().ok())
            .map(|d| lockfiles_above(&d))
            .unwrap_or_default();
        let meta = cmd
            .exec()
            .map_err(|e| io::Error::other(format!("cargo metadata failed: {e}")))?;
        let lock = meta.workspace_root.as_std_path().join("Cargo.lock");
        if !lock_before.contains(&lock) {
            let _ = std::fs::remove_file(&lock);
        }
        Ok(Graph::from_metadata(meta))
    }

    fn from_metadata(meta: Metadata) -> Graph {
        let mut pkgs: BTreeMap<PackageId, Package> = meta
            .packages
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let mut nodes = BTreeMap::new();
        if let Some(resolve) = meta.resolve {
            for n in resolve.nodes {
                let Some(pkg) = pkgs.remove(&n.id) else {
                    continue;
                };
                let deps = n
                    .deps
                    .into_iter()
                    .map(|d| (d.pkg, d.dep_kinds.into_iter().map(|k| k.kind).collect()))
                    .collect();
                nodes.insert(
                    n.id.clone(),
                    Node {
                        origin: Origin::of(&pkg),
                        pkg,
                        features: n.features,
                        deps,
                    },
                );
            }
        }
        Graph {
            nodes,
            members: meta.workspace_members,
            workspace_root: {
                let w = meta.workspace_root.into_std_path_buf();
                std::fs::canonicalize(&w).unwrap_or(w)
            },
            // Canonical: cargo names packages by their canonical paths, and
            // a relative CARGO_TARGET_DIR comes back joined, not resolved.
            target_dir: {
                let t = meta.target_directory.into_std_path_buf();
                std::fs::create_dir_all(&t)
                    .and_then(|()| std::fs::canonicalize(&t))
                    .unwrap_or_else(|_| crate::manifest::normalize(&t))
            },
        }
    }

    /// The first package named `name`, if any.
    pub(crate) fn find(&self, name: &str) -> Option<&Node> {
        self.nodes.values().find(|n| n.name() == name)
    }

    /// Every package reachable from `from` (itself included) by edges
    /// whose kinds pass `follow`.
    pub(crate) fn closure(
        &self,
        from: impl IntoIterator<Item = PackageId>,
        follow: impl Fn(&[DependencyKind]) -> bool,
    ) -> BTreeSet<PackageId> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<PackageId> = from.into_iter().collect();
        while let Some(id) = queue.pop_front() {
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(n) = self.nodes.get(&id) {
                for (dep, kinds) in &n.deps {
                    if follow(kinds) && !seen.contains(dep) {
                        queue.push_back(dep.clone());
                    }
                }
            }
        }
        seen
    }

    /// The packages compiled into the user's programs (reached from the
    /// members by normal and dev edges, never through a build script or a
    /// proc-macro), skipping the packages in `skip` and what only they use.
    pub(crate) fn runtime_reach(&self, skip: &BTreeSet<PackageId>) -> BTreeSet<PackageId> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<(PackageId, bool)> =
            self.members.iter().map(|m| (m.clone(), true)).collect();
        while let Some((id, member)) = queue.pop_front() {
            if skip.contains(&id) || !seen.insert(id.clone()) {
                continue;
            }
            let Some(n) = self.nodes.get(&id) else {
                continue;
            };
            if n.is_proc_macro() {
                continue;
            }
            for (dep, kinds) in &n.deps {
                let runtime = kinds.iter().any(|k| match k {
                    DependencyKind::Normal => true,
                    DependencyKind::Development => member,
                    _ => false,
                });
                if runtime {
                    queue.push_back((dep.clone(), false));
                }
            }
        }
        seen
    }
}
