//! Carrying out a plan on disk, under `<target>/green/`: the patched
//! copies, the shadow workspace, the Cargo config with the `[patch]` table.
//! Nothing outside the target directory is written.

use crate::manifest::{normalize, Manifest, Redirect};
use crate::plan::{short_hash, write_if_changed, How, Plan, Status};
use cargo_metadata::PackageId;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The parker written over parking_lot_core's own.
const PARKER: &str = include_str!("../assets/thread_parker.rs");

/// What the cargo command needs: the config file and the manifest to build.
pub(crate) struct Applied {
    pub(crate) config: PathBuf,
    /// Maps a user manifest path to its shadow.
    pub(crate) shadow_of: BTreeMap<PathBuf, PathBuf>,
    /// The shadow of the workspace root manifest.
    pub(crate) root_manifest: PathBuf,
}

impl Plan {
    /// Where the copy of `id` lives.
    pub(crate) fn copy_dir(&self, id: &PackageId) -> PathBuf {
        let n = &self.graph.nodes[id];
        let mut name = format!("{}-{}", n.name(), n.pkg.version);
        if n.origin != crate::graph::Origin::CratesIo {
            name.push('-');
            name.push_str(&short_hash(&id.repr));
        }
        self.green_dir.join("crates").join(name)
    }

    /// The redirects a package's manifest needs: its dependencies that are
    /// renamed copies.
    fn redirects(&self, id: &PackageId) -> Vec<Redirect> {
        let n = &self.graph.nodes[id];
        n.deps
            .iter()
            .filter_map(|(d, _)| match &self.status[d] {
                Status::Patched(How::Renamed(new_name)) => {
                    let dn = &self.graph.nodes[d];
                    Some(Redirect {
                        name: dn.name().to_string(),
                        version: dn.pkg.version.clone(),
                        new_name: new_name.clone(),
                        path: self.copy_dir(d),
                        features: dn.features.clone(),
                    })
                }
                _ => None,
            })
            .collect()
    }

    pub(crate) fn apply(&self) -> io::Result<Applied> {
        fs::create_dir_all(&self.project_dir)?;
        let mut patches: BTreeMap<String, Vec<(String, String, PathBuf)>> = BTreeMap::new();
        for (id, st) in &self.status {
            let Status::Patched(how) = st else { continue };
            if matches!(how, How::Member | How::OwnForm) {
                continue;
            }
            let n = &self.graph.nodes[id];
            let dir = self.copy_dir(id);
            self.write_copy(id, how, &dir)?;
            if matches!(how, How::Copy | How::Parker) {
                if let Some(key) = n.origin.patch_key() {
                    patches.entry(key).or_default().push((
                        n.name().to_string(),
                        n.pkg.version.to_string(),
                        dir,
                    ));
                }
            }
        }
        let (shadow_of, root_manifest) = self.write_shadow()?;

        // The config file: one [patch.<source>] table per source.
        let mut doc = toml_edit::DocumentMut::new();
        doc.decor_mut().set_prefix(
            "# Written by cargo green: the patched copies of this project's dependencies.\n",
        );
        let mut patch = toml_edit::Table::new();
        patch.set_implicit(true);
        for (source, entries) in &patches {
            let mut t = toml_edit::Table::new();
            let mut used = BTreeSet::new();
            for (name, version, dir) in entries {
                let mut e = toml_edit::InlineTable::new();
                e.insert("path", dir.to_string_lossy().as_ref().into());
                // Several versions of one crate: distinct keys, `package`
                // names the real one.
                let key = if used.insert(name.clone()) {
                    name.clone()
                } else {
                    e.insert("package", name.as_str().into());
                    format!("{name}-green-{}", version.replace(['.', '+'], "_"))
                };
                t.insert(&key, toml_edit::value(e));
            }
            patch.insert(source, toml_edit::Item::Table(t));
        }
        doc.insert("patch", toml_edit::Item::Table(patch));
        let config = self.project_dir.join("patch.toml");
        write_if_changed(&config, doc.to_string().as_bytes())?;
        Ok(Applied {
            config,
            shadow_of,
            root_manifest,
        })
    }

    /// Writes the copy of a registry or git package, unless an identical
    /// one is there (then nothing is touched and cargo reuses its build).
    fn write_copy(&self, id: &PackageId, how: &How, dir: &Path) -> io::Result<()> {
        let n = &self.graph.nodes[id];
        let mut m = Manifest::read(n.pkg.manifest_path.as_std_path())?;
        m.add_std(&self.spec);
        m.redirect(&self.redirects(id));
        if let How::Renamed(new_name) = how {
            m.rename(new_name, n.lib_name().as_deref());
        }
        let parker = n.name() == "parking_lot_core";
        let manifest = m.text();
        let stamp = format!(
            "{}\n{}\n{}{}\n{manifest}",
            env!("CARGO_PKG_VERSION"),
            id.repr,
            if parker { PARKER } else { "" },
            crate::pollers::stamp(n.name())
        );
        let stamp_file = dir.join(".cargo-green-stamp");
        if fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str()) {
            return Ok(());
        }
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
        copy_tree(&n.dir(), dir)?;
        fs::write(dir.join("Cargo.toml"), &manifest)?;
        if parker {
            let target = dir.join("src/thread_parker/linux.rs");
            if target.exists() {
                fs::write(&target, PARKER)?;
                let unix = dir.join("src/thread_parker/unix.rs");
                if unix.exists() {
                    fs::write(unix, PARKER)?;
                }
            }
        }
        crate::pollers::rewrite(n.name(), dir)?;
        fs::write(stamp_file, stamp)?;
        Ok(())
    }

    /// The shadow workspace: a mirror of the user's tree under
    /// `<target>/green/projects/<name>-<hash>/ws/` where every directory holding a shadowed
    /// package (or leading to one) is a real directory, every other entry
    /// a symbolic link to the original, and each shadowed package's
    /// Cargo.toml the user's plus the `std` entry. The lockfile is a copy,
    /// refreshed when the user's changes.
    fn write_shadow(&self) -> io::Result<(BTreeMap<PathBuf, PathBuf>, PathBuf)> {
        let ws_root = self.graph.workspace_root.clone();
        let mut dirs: Vec<PathBuf> = self
            .shadowed
            .iter()
            .map(|id| self.graph.nodes[id].dir())
            .collect();
        dirs.push(ws_root.clone());
        // The common ancestor of everything mirrored.
        let mut base = ws_root.clone();
        while !dirs.iter().all(|d| d.starts_with(&base)) {
            if !base.pop() {
                break;
            }
        }
        let shadow = self.project_dir.join("ws");
        let to_shadow = |p: &Path| shadow.join(p.strip_prefix(&base).unwrap_or(p));

        // Real directories: the package directories and their ancestors.
        let mut real: BTreeSet<PathBuf> = BTreeSet::new();
        for d in &dirs {
            let mut d = d.clone();
            while d.starts_with(&base) {
                real.insert(d.clone());
                if !d.pop() {
                    break;
                }
            }
        }
        let shadow_dirs: BTreeSet<PathBuf> = dirs.iter().cloned().collect();
        let mut manifests: BTreeMap<PathBuf, String> = BTreeMap::new();
        let mut shadow_of = BTreeMap::new();
        for id in &self.shadowed {
            let n = &self.graph.nodes[id];
            let path = n.pkg.manifest_path.as_std_path().to_path_buf();
            let mut m = Manifest::read(&path)?;
            if self.status[id] == Status::Patched(How::Member) {
                m.add_std(&self.spec);
            }
            m.redirect(&self.redirects(id));
            m.absolute_paths(&|p| shadow_dirs.contains(p));
            manifests.insert(path.clone(), m.text());
            shadow_of.insert(path.clone(), to_shadow(&path));
        }
        let root_manifest = ws_root.join("Cargo.toml");
        if !manifests.contains_key(&root_manifest) {
            // A virtual manifest: its [workspace.dependencies] may need redirects.
            let mut m = Manifest::read(&root_manifest)?;
            let all: Vec<Redirect> = self
                .shadowed
                .iter()
                .flat_map(|id| self.redirects(id))
                .collect();
            m.redirect(&all);
            m.absolute_paths(&|p| shadow_dirs.contains(p));
            manifests.insert(root_manifest.clone(), m.text());
            shadow_of.insert(root_manifest.clone(), to_shadow(&root_manifest));
        }
        let skip: Vec<PathBuf> = vec![self.graph.target_dir.clone(), self.green_dir.clone()];
        mirror(&base, &shadow, &real, &manifests, &skip)?;

        // The lockfile: the user's, copied when it changes; cargo then
        // adds greenstd and the patches to the copy only.
        let user_lock = ws_root.join("Cargo.lock");
        let shadow_lock = to_shadow(&user_lock);
        let seen = self.project_dir.join("user-lock");
        match fs::read(&user_lock) {
            Ok(bytes) => {
                if fs::read(&seen).ok() != Some(bytes.clone()) || !shadow_lock.exists() {
                    fs::write(&shadow_lock, &bytes)?;
                    fs::write(&seen, &bytes)?;
                }
            }
            Err(_) => {
                let _ = fs::remove_file(&seen);
            }
        }
        Ok((shadow_of, to_shadow(&root_manifest)))
    }
}

/// Mirrors `from` into `to` (see `write_shadow`).
fn mirror(
    from: &Path,
    to: &Path,
    real: &BTreeSet<PathBuf>,
    manifests: &BTreeMap<PathBuf, String>,
    skip: &[PathBuf],
) -> io::Result<()> {
    fs::create_dir_all(to)?;
    let mut wanted = BTreeSet::new(); // entries of `from` mirrored in `to`
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let src = entry.path();
        if name == ".git" || name == "Cargo.lock" || skip.contains(&src) {
            continue;
        }
        let dst = to.join(&name);
        wanted.insert(name.clone());
        if let Some(text) = manifests.get(&src) {
            remove_link(&dst)?;
            write_if_changed(&dst, text.as_bytes())?;
        } else if real.contains(&src) {
            remove_link(&dst)?;
            mirror(&src, &dst, real, manifests, skip)?;
        } else if fs::read_link(&dst).ok().as_deref() != Some(&*src) {
            if dst.is_dir() && !dst.is_symlink() {
                fs::remove_dir_all(&dst)?;
            } else {
                let _ = fs::remove_file(&dst);
            }
            std::os::unix::fs::symlink(&src, &dst)?;
        }
    }
    // Entries the user removed.
    for entry in fs::read_dir(to)? {
        let entry = entry?;
        // The lockfile cargo writes for a project that has none is kept.
        if !wanted.contains(&entry.file_name()) && entry.file_name() != "Cargo.lock" {
            let p = entry.path();
            if p.is_dir() && !p.is_symlink() {
                fs::remove_dir_all(&p)?;
            } else {
                fs::remove_file(&p)?;
            }
        }
    }
    Ok(())
}

fn remove_link(p: &Path) -> io::Result<()> {
    if p.is_symlink() {
        fs::remove_file(p)?;
    }
    Ok(())
}

/// Copies a package's source tree (without `target/` and `.git`).
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == ".git" || name == "target" {
            continue;
        }
        let src = entry.path();
        let dst = to.join(&name);
        let ty = entry.file_type()?;
        if ty.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ty.is_symlink() {
            let target = fs::read_link(&src)?;
            let abs = normalize(&from.join(&target));
            if abs.is_dir() {
                copy_tree(&abs, &dst)?;
            } else {
                fs::copy(&abs, &dst)?;
            }
        } else {
            fs::copy(&src, &dst)?;
            // Registry sources are read-only; the copy must be writable.
            let mut perm = fs::metadata(&dst)?.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            fs::set_permissions(&dst, perm)?;
        }
    }
    Ok(())
}
