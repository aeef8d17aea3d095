//! Misuse of `patch_all!` is a compile error that names the fix.
//!
//! Builds a small crate full of misuses with cargo, offline, in its own
//! target directory (no lock contention with the running test suite). The
//! crate depends on the macro crate alone, under the name `greenstd`: the
//! errors come from the macro before any path is resolved, so the runtime is
//! not needed and the build takes about a second.

use std::path::{Path, PathBuf};
use std::process::Command;

const MISUSES: &str = r#"
greenstd::patch_all!();

mod braces {
    greenstd::patch_all! {}
}

mod options {
    greenstd::patch_all!(thread = false, socket = true);
}

mod shadow_use {
    greenstd::patch_all! { use greenstd as std; }
}

mod shadow_extern {
    greenstd::patch_all! { extern crate greenstd as std; }
}

mod whole_std {
    greenstd::patch_all! { use std; }
}

mod shadow_mod {
    greenstd::patch_all! { mod std {} }
}

pub fn in_a_function() {
    greenstd::patch_all!();
}
"#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn build_misuses() -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("patch-all-misuse");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"patch-all-misuse\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
         [workspace]\n\n[dependencies]\ngreenstd = {{ package = \"patch-macro\", path = {:?} }}\n",
        workspace().join("patch-macro")
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/lib.rs"), MISUSES).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .args(["build", "--offline", "--quiet", "--color", "never"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(!output.status.success(), "the misuses compiled");
    String::from_utf8(output.stderr).unwrap()
}

/// The error at `line` of the misuse crate: its message, up to its location.
fn error_at(stderr: &str, line: usize) -> String {
    let location = format!("--> src/lib.rs:{line}:");
    let end = stderr
        .find(&location)
        .unwrap_or_else(|| panic!("no error at line {line}:\n{stderr}"));
    let start = stderr[..end].rfind("error: ").unwrap();
    stderr[start..end].to_string()
}

fn assert_names_the_forms(error: &str) {
    assert!(error.contains("`extern crate greenstd as std;`"), "{error}");
    assert!(error.contains("std = { package = \"greenstd\""), "{error}");
    assert!(error.contains("greenstd::patch_all! {"), "{error}");
}

#[test]
fn misuses_are_errors_that_name_the_fix() {
    let stderr = build_misuses();
    let line_of = |needle: &str| MISUSES.lines().position(|l| l.contains(needle)).unwrap() + 1;

    // An empty invocation, at the crate root, in braces, or in a function.
    for line in [
        line_of("greenstd::patch_all!();"),
        line_of("patch_all! {}"),
        line_of("    greenstd::patch_all!();"),
    ] {
        let error = error_at(&stderr, line);
        assert!(
            error.contains("with nothing inside patches nothing"),
            "{error}"
        );
        assert!(error.contains("E0659"), "{error}");
        assert_names_the_forms(&error);
    }

    let error = error_at(&stderr, line_of("thread = false"));
    assert!(error.contains("found no `std` path"), "{error}");
    assert!(error.contains("takes no options"), "{error}");
    assert_names_the_forms(&error);

    let error = error_at(&stderr, line_of("use greenstd as std"));
    assert!(error.contains("nor shadow it"), "{error}");
    assert_names_the_forms(&error);

    let error = error_at(&stderr, line_of("extern crate greenstd as std"));
    assert!(error.contains("cannot go inside `patch_all!`"), "{error}");
    assert_names_the_forms(&error);

    let error = error_at(&stderr, line_of("use std; }"));
    assert!(error.contains("cannot import `std` itself"), "{error}");

    let error = error_at(&stderr, line_of("mod std {}"));
    assert!(error.contains("`mod std`"), "{error}");
}
