//! Runs an example of this package as a child process, with its stdout and
//! stderr collected as they come, its stdin piped, and a kill on drop.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The path of the built example `name`, (re)built first: a no-op when
/// `cargo test`/`cargo nextest run` already built it, but a filtered run
/// does not build examples and would run stale ones.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test>-<hash> → target/<profile>/examples/<name>
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => "dev",
        other => other,
    };
    example_in(name, profile)
}

/// The path of the example `name` built with `profile` (`"dev"`,
/// `"release"`, …) into this test's target directory, (re)built first.
pub fn example_in(name: &str, profile: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test>-<hash> → target/<other profile>/examples
    let target = exe.parent().unwrap().parent().unwrap().parent().unwrap();
    let dir = match profile {
        "dev" => "debug",
        other => other,
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args([
            "build",
            "--offline",
            "--quiet",
            "--profile",
            profile,
            "--example",
            name,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cargo build --profile {profile} --example {name}"
    );
    target.join(dir).join("examples").join(name)
}

/// The number of the first line of `examples/<file>` that contains `marker`.
pub fn line_of(file: &str, marker: &str) -> u32 {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let i = text
        .lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("{marker:?} not in {}", path.display()));
    i as u32 + 1
}

pub struct Child {
    child: std::process::Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
    pub started: Instant,
}

fn drain(mut r: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => into
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    });
}

impl Child {
    /// Starts the example `name` (built beforehand, so the clock starts
    /// with the process).
    pub fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Child {
        let path = example(name);
        let mut child = Command::new(path)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let started = Instant::now();
        let out = Arc::new(Mutex::new(String::new()));
        let err = Arc::new(Mutex::new(String::new()));
        drain(child.stdout.take().unwrap(), out.clone());
        drain(child.stderr.take().unwrap(), err.clone());
        let stdin = child.stdin.take();
        Child {
            child,
            stdin,
            out,
            err,
            started,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    /// Waits until stdout (or stderr) contains `needle`, at most `limit`.
    pub fn wait_for(&self, stderr: bool, needle: &str, limit: Duration) -> bool {
        let t = Instant::now();
        loop {
            let text = if stderr { self.stderr() } else { self.stdout() };
            if text.contains(needle) {
                return true;
            }
            if t.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn write_stdin(&mut self, s: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(s.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// `true` while the process runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the exit, at most `limit` (panics after): the status, the
    /// time since the start, stdout and stderr.
    pub fn finish(mut self, limit: Duration) -> (ExitStatus, Duration, String, String) {
        self.stdin = None;
        let t = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let elapsed = self.started.elapsed();
                // Let the drain threads read what is left.
                std::thread::sleep(Duration::from_millis(50));
                return (status, elapsed, self.stdout(), self.stderr());
            }
            assert!(
                t.elapsed() < limit,
                "the child did not exit within {limit:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
