//! The one table of what greenstd replaces (`patch-macro/src/replaced.rs`)
//! against the two places written by hand: the facade's modules
//! (`src/lib.rs`) and README's table "std items covered". `patch_all!` and
//! `cargo green`'s scanner are made from the table itself; `api_parity.rs`
//! checks by `TypeId` and address that each item is greenstd's own.

use std::collections::BTreeSet;

#[path = "../patch-macro/src/replaced.rs"]
#[allow(dead_code)]
mod replaced;

const FACADE: &str = include_str!("../src/lib.rs");
const README: &str = include_str!("../README.md");

/// The body of `pub mod <name> { … }` at the top level of `text` (not in
/// a nested module; braces balanced).
fn module_body<'a>(text: &'a str, name: &str) -> &'a str {
    let open = format!("pub mod {name} {{");
    let top = text
        .match_indices(&open)
        .map(|(i, _)| i)
        .find(|&i| text[..i].matches('{').count() == text[..i].matches('}').count());
    let start = top.unwrap_or_else(|| panic!("no top-level `{open}`")) + open.len();
    let mut depth = 1;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[start..start + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced `{open}`")
}

/// The identifiers a module body imports from greenstd's crates (every
/// `pub use` whose path does not start with `std::`), and whether it
/// globs std's module first.
fn own_names(body: &str, std_path: &str) -> (BTreeSet<String>, bool) {
    let mut names = BTreeSet::new();
    let mut globs_std = false;
    // Statements of this level only: nested modules come after their own
    // `pub mod`, and are cut off here.
    let body = body.split("pub mod ").next().unwrap_or(body);
    for stmt in body.split(';') {
        let Some(path) = stmt.split("pub use ").nth(1) else {
            continue;
        };
        let path: String = path.split_whitespace().collect();
        if path == format!("std::{std_path}::*") {
            globs_std = true;
            continue;
        }
        assert!(
            !path.starts_with("std::"),
            "`pub use {path}` in the facade's {std_path}: std's items come from the glob"
        );
        let list = match path.split_once('{') {
            Some((_, list)) => list.trim_end_matches('}').to_owned(),
            None => path.rsplit("::").next().unwrap_or_default().to_owned(),
        };
        names.extend(list.split(',').filter(|n| !n.is_empty()).map(str::to_owned));
    }
    (names, globs_std)
}

#[test]
fn the_facade_replaces_exactly_the_tables_items() {
    for (module, items) in replaced::MODULES {
        if *module == "prelude" {
            // src/prelude.rs: a module of its own per edition (below).
            continue;
        }
        let mut body = FACADE;
        for segment in module.split("::") {
            body = module_body(body, segment);
        }
        let (names, globs_std) = own_names(body, module);
        assert!(
            globs_std,
            "the facade's {module} does not glob std::{module}::*"
        );
        let want: BTreeSet<String> = items.iter().map(|s| s.to_string()).collect();
        assert_eq!(names, want, "the facade's {module} against the table");
    }
}

#[test]
fn the_facade_has_a_prelude_per_edition_with_the_macros() {
    let prelude = include_str!("../src/prelude.rs");
    let editions = replaced::MODULES
        .iter()
        .find(|(m, _)| *m == "prelude")
        .map(|(_, items)| *items)
        .unwrap();
    for edition in editions {
        let body = module_body(prelude, edition);
        for mac in replaced::MACROS {
            assert!(body.contains(mac), "prelude::{edition} lacks {mac}!");
        }
    }
}

/// README's rows of "std items covered": `std::<module>` → the backticked
/// names of its "greenstd's own" column, outside parentheses, macros
/// (`name!`) apart.
fn readme_rows() -> Vec<(String, BTreeSet<String>, BTreeSet<String>)> {
    let section = README
        .split("## std items covered")
        .nth(1)
        .expect("README has a section \"std items covered\"");
    let mut rows = Vec::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(module) = cols
            .get(1)
            .and_then(|c| c.strip_prefix("`std::"))
            .and_then(|c| c.strip_suffix('`'))
        else {
            continue;
        };
        let (mut names, mut macros) = (BTreeSet::new(), BTreeSet::new());
        let mut depth = 0;
        for (i, part) in cols[2].split('`').enumerate() {
            if i % 2 == 0 {
                depth += part.matches('(').count();
                depth -= part.matches(')').count();
            } else if depth == 0 {
                match part.strip_suffix('!') {
                    Some(m) => macros.insert(m.to_owned()),
                    None => names.insert(part.to_owned()),
                };
            }
        }
        rows.push((module.to_owned(), names, macros));
    }
    rows
}

#[test]
fn readmes_table_is_the_table() {
    let rows = readme_rows();
    let modules: BTreeSet<&str> = rows.iter().map(|(m, _, _)| m.as_str()).collect();
    let want: BTreeSet<&str> = replaced::MODULES.iter().map(|(m, _)| *m).collect();
    assert_eq!(modules, want, "README's rows against the table's modules");
    let mut macros = BTreeSet::new();
    for (module, names, row_macros) in &rows {
        let items = replaced::MODULES
            .iter()
            .find(|(m, _)| m == module)
            .map(|(_, items)| *items)
            .unwrap();
        let want: BTreeSet<String> = items.iter().map(|s| s.to_string()).collect();
        assert_eq!(names, &want, "README's row std::{module} against the table");
        macros.extend(row_macros.iter().cloned());
    }
    let want: BTreeSet<String> = replaced::MACROS.iter().map(|s| s.to_string()).collect();
    assert_eq!(macros, want, "README's macros against the table");
}
