//! Runs a test alone in its own process: for the tests that configure the
//! runtime (worker count, settings, the resolver) or measure the whole
//! process (OS threads), which other tests sharing their process would
//! disturb.
//!
//! cargo-nextest already runs every test in its own process: there the test
//! just runs. Plain `cargo test` runs a file's tests as threads of one
//! process: there the test re-executes this test binary filtered to itself,
//! with a marker in the environment, and passes when that child passes.
//!
//! ```ignore
//! #[test]
//! fn on_one_worker() {
//!     if !alone::here() {
//!         return; // it ran, and passed, in a child process
//!     }
//!     greenstd::green::Config::new().workers(1).apply().unwrap();
//!     // …
//! }
//! ```

#![allow(dead_code)]

use std::process::Command;

const MARK: &str = "GREENSTD_TEST_ALONE";

/// `true` when the calling test should run its body in this process (under
/// nextest, or in the child); `false` once the test has run in a child
/// process of its own and passed. A failure in the child panics here, with
/// the child's output. Call it first thing, on the test's own thread.
pub fn here() -> bool {
    let name = std::thread::current()
        .name()
        .expect("alone::here() is called on the test's own thread")
        .to_string();
    if std::env::var_os("NEXTEST").is_some() || std::env::var(MARK).as_deref() == Ok(&name) {
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &name, "--nocapture", "--test-threads=1"])
        .env(MARK, &name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name}, run alone in a child process, failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    false
}
