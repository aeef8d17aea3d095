//! Edits of a Cargo.toml: the `std = { package = "greenstd", … }` entry,
//! dependencies pointed at renamed copies, paths made absolute.

use cargo_metadata::semver::{Version, VersionReq};
use std::io;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, InlineTable, Item, Table, Value};

/// Which greenstd the patched crates get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GreenstdSpec {
    /// A local checkout (a path dependency).
    Path(PathBuf),
    /// A registry version requirement (`=0.1.0`).
    Version(String),
    /// A git repository at a commit.
    Git { url: String, rev: String },
}

impl GreenstdSpec {
    /// The inline table `{ package = "greenstd", … }`.
    pub(crate) fn entry(&self) -> InlineTable {
        let mut t = InlineTable::new();
        t.insert("package", "greenstd".into());
        match self {
            GreenstdSpec::Path(p) => {
                t.insert("path", p.to_string_lossy().as_ref().into());
            }
            GreenstdSpec::Version(v) => {
                t.insert("version", v.as_str().into());
            }
            GreenstdSpec::Git { url, rev } => {
                t.insert("git", url.as_str().into());
                t.insert("rev", rev.as_str().into());
            }
        }
        t
    }

    /// One line for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            GreenstdSpec::Path(p) => format!("greenstd at {}", p.display()),
            GreenstdSpec::Version(v) => format!("greenstd {v} from crates.io"),
            GreenstdSpec::Git { url, rev } => format!("greenstd from {url} at {rev}"),
        }
    }
}

/// A dependency to point at a renamed copy: every entry that names package
/// `name` with a requirement `version` satisfies.
#[derive(Clone, Debug)]
pub(crate) struct Redirect {
    pub(crate) name: String,
    pub(crate) version: Version,
    pub(crate) new_name: String,
    pub(crate) path: PathBuf,
    /// The features the original had in the resolved graph (the copy is a
    /// package of its own: no longer unified with the original's users).
    pub(crate) features: Vec<String>,
}

/// A parsed manifest being edited.
pub(crate) struct Manifest {
    doc: DocumentMut,
    /// The directory the original manifest's relative paths are relative to.
    dir: PathBuf,
}

fn bad(path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {e}", path.display()),
    )
}

impl Manifest {
    pub(crate) fn read(path: &Path) -> io::Result<Manifest> {
        let text = std::fs::read_to_string(path)?;
        let doc = text.parse::<DocumentMut>().map_err(|e| bad(path, e))?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Ok(Manifest { doc, dir })
    }

    pub(crate) fn text(&self) -> String {
        self.doc.to_string()
    }

    /// Whether `[dependencies]` already has a `std` key (the Cargo form).
    pub(crate) fn has_std(&self) -> bool {
        self.doc
            .get("dependencies")
            .and_then(Item::as_table_like)
            .is_some_and(|t| t.contains_key("std"))
    }

    /// Adds `std = { package = "greenstd", … }` to `[dependencies]`.
    pub(crate) fn add_std(&mut self, spec: &GreenstdSpec) {
        if self.has_std() {
            return;
        }
        let deps = self
            .doc
            .entry("dependencies")
            .or_insert_with(|| Item::Table(Table::new()));
        if let Some(t) = deps.as_table_like_mut() {
            t.insert("std", Item::Value(Value::InlineTable(spec.entry())));
        }
    }

    /// Renames the package, keeping its library's name (`lib_name`).
    pub(crate) fn rename(&mut self, new_name: &str, lib_name: Option<&str>) {
        if let Some(p) = self
            .doc
            .get_mut("package")
            .and_then(Item::as_table_like_mut)
        {
            p.insert("name", toml_edit::value(new_name));
        }
        if let Some(lib_name) = lib_name {
            let lib = self
                .doc
                .entry("lib")
                .or_insert_with(|| Item::Table(Table::new()));
            if let Some(t) = lib.as_table_like_mut() {
                t.insert("name", toml_edit::value(lib_name));
            }
        }
    }

    /// Every dependency table of the manifest (normal, dev, build, per
    /// target, the workspace's).
    fn dep_tables(&mut self) -> Vec<&mut dyn toml_edit::TableLike> {
        const KINDS: [&str; 5] = [
            "dependencies",
            "dev-dependencies",
            "dev_dependencies",
            "build-dependencies",
            "build_dependencies",
        ];
        let mut out: Vec<&mut dyn toml_edit::TableLike> = Vec::new();
        for (key, item) in self.doc.iter_mut() {
            match key.get() {
                k if KINDS.contains(&k) => {
                    if let Some(t) = item.as_table_like_mut() {
                        out.push(t);
                    }
                }
                "target" => {
                    if let Some(targets) = item.as_table_like_mut() {
                        for (_, platform) in targets.iter_mut() {
                            if let Some(platform) = platform.as_table_like_mut() {
                                for (k, t) in platform.iter_mut() {
                                    if KINDS.contains(&k.get()) {
                                        if let Some(t) = t.as_table_like_mut() {
                                            out.push(t);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                "workspace" => {
                    if let Some(ws) = item.as_table_like_mut() {
                        if let Some(t) =
                            ws.get_mut("dependencies").and_then(Item::as_table_like_mut)
                        {
                            out.push(t);
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Points the entries that name a redirected package at its renamed
    /// copy (`package = new name`, `path = copy`), keeping their version,
    /// features and optionality. Returns how many entries changed.
    pub(crate) fn redirect(&mut self, redirects: &[Redirect]) -> usize {
        let mut changed = 0;
        for table in self.dep_tables() {
            for (key, item) in table.iter_mut() {
                let key = key.get().to_string();
                if key == "std" {
                    continue;
                }
                let (package, req) = match &*item {
                    Item::Value(Value::String(s)) => (key.clone(), Some(s.value().clone())),
                    other => {
                        let Some(t) = other.as_table_like() else {
                            continue;
                        };
                        if t.contains_key("workspace") || t.contains_key("git") {
                            continue;
                        }
                        let package = t
                            .get("package")
                            .and_then(Item::as_str)
                            .unwrap_or(&key)
                            .to_string();
                        let req = t.get("version").and_then(Item::as_str).map(str::to_string);
                        (package, req)
                    }
                };
                let Some(r) = redirects.iter().find(|r| {
                    r.name == package
                        && req
                            .as_deref()
                            .and_then(|q| VersionReq::parse(q).ok())
                            .is_none_or(|q| q.matches(&r.version))
                }) else {
                    continue;
                };
                let mut t = match &*item {
                    Item::Value(Value::String(s)) => {
                        let mut t = InlineTable::new();
                        t.insert("version", s.value().as_str().into());
                        t
                    }
                    Item::Value(Value::InlineTable(t)) => t.clone(),
                    Item::Table(t) => t.clone().into_inline_table(),
                    _ => continue,
                };
                let mut features: Vec<String> = t
                    .get("features")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                for f in &r.features {
                    if f != "default" && !features.contains(f) {
                        features.push(f.clone());
                    }
                }
                if !features.is_empty() {
                    t.insert("features", Value::Array(features.iter().collect()));
                }
                t.insert("package", r.new_name.as_str().into());
                t.insert("path", r.path.to_string_lossy().as_ref().into());
                t.remove("registry");
                *item = Item::Value(Value::InlineTable(t));
                changed += 1;
            }
        }
        changed
    }

    /// Makes every relative `path` of a dependency absolute, resolved
    /// against the original manifest's directory, unless `keep` says the
    /// target is mirrored next to the shadow manifest.
    pub(crate) fn absolute_paths(&mut self, keep: &dyn Fn(&Path) -> bool) {
        let dir = self.dir.clone();
        let fix = |v: &mut Item| {
            if let Some(p) = v.as_str() {
                let p = Path::new(p);
                if p.is_relative() {
                    let abs = normalize(&dir.join(p));
                    if !keep(&abs) {
                        *v = toml_edit::value(abs.to_string_lossy().as_ref());
                    }
                }
            }
        };
        for table in self.dep_tables() {
            for (_, item) in table.iter_mut() {
                if let Some(t) = item.as_table_like_mut() {
                    if let Some(p) = t.get_mut("path") {
                        fix(p);
                    }
                }
            }
        }
        // [patch.*] and [replace] of a workspace root.
        for section in ["patch", "replace"] {
            let Some(outer) = self.doc.get_mut(section).and_then(Item::as_table_like_mut) else {
                continue;
            };
            for (_, inner) in outer.iter_mut() {
                let Some(inner) = inner.as_table_like_mut() else {
                    continue;
                };
                if let Some(p) = inner.get_mut("path") {
                    fix(p);
                    continue;
                }
                for (_, dep) in inner.iter_mut() {
                    if let Some(p) = dep.as_table_like_mut().and_then(|t| t.get_mut("path")) {
                        fix(p);
                    }
                }
            }
        }
    }
}

/// `a/b/../c` → `a/c`, without touching the file system.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        Manifest {
            doc: text.parse().unwrap(),
            dir: PathBuf::from("/ws/member"),
        }
    }

    #[test]
    fn adds_std_once() {
        let mut m = manifest("[package]\nname = \"a\"\n");
        m.add_std(&GreenstdSpec::Version("=0.1.0".into()));
        m.add_std(&GreenstdSpec::Version("=0.1.0".into()));
        let text = m.text();
        assert_eq!(text.matches("greenstd").count(), 1, "{text}");
        assert!(text.contains("std = { package = \"greenstd\", version = \"=0.1.0\" }"));
    }

    #[test]
    fn redirects_matching_versions_only() {
        let mut m = manifest(
            "[dependencies]\ncrossbeam-utils = \"0.8\"\nold = { package = \"crossbeam-utils\", version = \"0.7\" }\n\
             [target.'cfg(unix)'.dev-dependencies.crossbeam-utils]\nversion = \"0.8.1\"\nfeatures = [\"std\"]\n",
        );
        let r = Redirect {
            name: "crossbeam-utils".into(),
            version: Version::parse("0.8.20").unwrap(),
            new_name: "crossbeam-utils-green".into(),
            path: PathBuf::from("/t/cu"),
            features: vec!["default".into(), "std".into()],
        };
        assert_eq!(m.redirect(&[r]), 2);
        let text = m.text();
        assert!(text.contains("crossbeam-utils = { version = \"0.8\", features = [\"std\"], package = \"crossbeam-utils-green\", path = \"/t/cu\" }"), "{text}");
        assert!(
            text.contains("features = [\"std\"], package = \"crossbeam-utils-green\""),
            "{text}"
        );
        assert!(
            text.contains("old = { package = \"crossbeam-utils\", version = \"0.7\" }"),
            "{text}"
        );
    }

    #[test]
    fn absolute_paths_unless_mirrored() {
        let mut m = manifest(
            "[dependencies]\na = { path = \"../a\" }\nb = { path = \"../../b\" }\n[patch.crates-io]\nc = { path = \"c\" }\n",
        );
        m.absolute_paths(&|p| p == Path::new("/ws/a"));
        let text = m.text();
        assert!(text.contains("a = { path = \"../a\" }"), "{text}");
        assert!(text.contains("b = { path = \"/b\" }"), "{text}");
        assert!(text.contains("c = { path = \"/ws/member/c\" }"), "{text}");
    }
}
