//! The layers of `shim-rt` (ARCHITECTURE.md): every module may name only
//! modules of its own layer or below, and the modules name each other in
//! no cycle. Read from the sources (`crate::x` paths and `use crate::{x,
//! …}` groups, comments and `#[cfg(test)] mod tests` left out), so a new
//! upward edge fails here, not in review.
//!
//! `lib.rs`, the crate root, is left out: it is the composition root, the
//! one place that names every layer. It binds the start-up (`start.rs`)
//! and the observers into the `START` hook that `config::start` calls, as
//! the observers register themselves with `observe` for the core's events.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom up. A module not listed here fails the test: place it.
const LAYERS: &[(&str, &[&str])] = &[
    ("OS", &["sys", "atomic"]),
    ("settings", &["config"]),
    ("timers and hooks", &["timer", "observe"]),
    ("task core", &["record", "sleeper", "task_core"]),
    ("suspend", &["park"]),
    ("wait", &["wait", "latch", "coop"]),
    ("tasks", &["task", "cancel"]),
    ("I/O", &["io", "source", "poller", "offload"]),
    ("start-up", &["start"]),
    (
        "observers",
        &["inspect", "deadlock", "monitor", "overflow", "panic_hook"],
    ),
];

/// Edges that still go up or close a cycle, each a debt to pay off (the
/// list only shrinks; it is empty now). `(from, to)`.
const KNOWN: &[(&str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

/// The code of a source file: line comments, and a trailing
/// `#[cfg(test)] mod tests { … }`, removed.
fn code(text: &str) -> String {
    let cut = text.find("#[cfg(test)]\nmod tests {").unwrap_or(text.len());
    text[..cut]
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules of this crate that `code` names.
fn names(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::c, d::{e, f}}`: the first segment of each
            // top-level item.
            let mut depth = 0;
            let mut item = String::new();
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(ch);
                }
            }
            out.insert(first_segment(&item));
        } else {
            out.insert(first_segment(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
    out
}

fn first_segment(s: &str) -> String {
    s.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The crate's `src/`.
fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/`.
fn rs_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![src()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().and_then(|e| e.to_str()) == Some("rs") {
                files.push(path);
            }
        }
    }
    files
}

/// module → the modules it names, for every file of `src/` (a module's
/// sub-files count as the module; `lib.rs` and the test-only files are
/// left out).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = src();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in rs_files() {
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs").to_string();
        let file = path.file_name().unwrap().to_string_lossy();
        if module == "lib" || module == "test_util" || module == "loom_models" || file == "tests.rs"
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut named = names(&code(&text));
        named.remove(&module);
        named.remove("test_util");
        g.entry(module).or_default().extend(named);
    }
    g
}

#[test]
fn every_module_has_a_layer_and_names_none_above_it() {
    let g = graph();
    let mut bad = Vec::new();
    for (from, tos) in &g {
        let Some(lf) = layer_of(from) else {
            bad.push(format!("{from}: in no layer (add it to LAYERS)"));
            continue;
        };
        for to in tos {
            let lt = layer_of(to).unwrap_or(usize::MAX);
            if lt > lf && !KNOWN.contains(&(from.as_str(), to.as_str())) {
                bad.push(format!(
                    "{from} ({}) names {to} ({}), a layer above",
                    LAYERS[lf].0,
                    LAYERS.get(lt).map_or("no layer", |l| l.0)
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_modules_name_each_other_in_no_cycle_but_the_known_debts() {
    let g = graph();
    // Without the known edges the graph must be acyclic.
    let edges = |m: &str| -> Vec<String> {
        g.get(m)
            .map(|tos| {
                tos.iter()
                    .filter(|t| !KNOWN.contains(&(m, t.as_str())))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    // Depth-first search with colours: 1 on the path, 2 done.
    let mut colour: BTreeMap<String, u8> = BTreeMap::new();
    fn visit(
        m: &str,
        edges: &dyn Fn(&str) -> Vec<String>,
        colour: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match colour.get(m) {
            Some(2) => return None,
            Some(1) => {
                let at = path.iter().position(|p| p == m).unwrap();
                let mut cycle = path[at..].to_vec();
                cycle.push(m.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        colour.insert(m.to_string(), 1);
        path.push(m.to_string());
        for to in edges(m) {
            if let Some(c) = visit(&to, edges, colour, path) {
                return Some(c);
            }
        }
        path.pop();
        colour.insert(m.to_string(), 2);
        None
    }
    for m in g.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(m, &edges, &mut colour, &mut path) {
            panic!("an import cycle in shim-rt: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_known_debts_are_still_owed() {
    // A debt paid off leaves the list: it only shrinks.
    let g = graph();
    let paid: Vec<_> = KNOWN
        .iter()
        .filter(|(f, t)| !g.get(*f).is_some_and(|tos| tos.contains(*t)))
        .collect();
    assert!(paid.is_empty(), "no longer needed in KNOWN: {paid:?}");
}

#[test]
fn only_config_calls_the_start_hook_of_the_crate_root() {
    // `crate::START` (lib.rs binds the start-up and the observers to it) is
    // the one way up that the graph above does not see: the layers below
    // start the runtime through `config::start` alone.
    let src = src();
    let callers: Vec<String> = rs_files()
        .into_iter()
        .filter(|path| code(&std::fs::read_to_string(path).unwrap()).contains("crate::START"))
        .map(|path| path.strip_prefix(&src).unwrap().display().to_string())
        .collect();
    assert_eq!(callers, ["config.rs"]);
}

#[test]
fn the_parser_reads_paths_and_groups() {
    let n = names(&code(
        "use crate::{park::{self, Token}, task, wait::WaitOn};\nlet x = crate::io::y(); // crate::nope",
    ));
    let code_only = names(&code(
        "use crate::a;\n// crate::b\n#[cfg(test)]\nmod tests {\n use crate::c;\n}",
    ));
    assert_eq!(
        n.into_iter().collect::<Vec<_>>(),
        ["io", "park", "task", "wait"]
    );
    assert_eq!(code_only.into_iter().collect::<Vec<_>>(), ["a"]);
}
