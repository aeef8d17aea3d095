//! Cargo's output while cargo green compiles: what concerns a patched copy
//! that fails (rustc's errors, cargo's `could not compile` line, a failed
//! build script's output) goes to a log file, so that a fallback shows as
//! one line of cargo green's; the rest reaches the terminal as cargo wrote
//! it.

use crate::plan::{How, Plan, Status};
use cargo_metadata::diagnostic::{Diagnostic, DiagnosticLevel};
use cargo_metadata::{Message, PackageId};
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// The patched copies of `plan`: (id, package name cargo prints, directory,
/// version).
fn copies(plan: &Plan) -> Vec<(PackageId, String, String, String)> {
    plan.status
        .iter()
        .filter(|(_, s)| crate::is_copy(s))
        .map(|(id, s)| {
            let n = &plan.graph.nodes[id];
            let name = match s {
                Status::Patched(How::Renamed(r)) => r.clone(),
                _ => n.name().to_string(),
            };
            let dir = plan.copy_dir(id).to_string_lossy().into_owned();
            (id.clone(), name, dir, n.pkg.version.to_string())
        })
        .collect()
}

/// Runs a compiling cargo command given `--message-format=json…`: the
/// diagnostics of the user's crates are printed as cargo would print them,
/// those of patched copies appended to `log`, and
/// cargo's stderr sorted by `StderrFilter`. Returns cargo's status and the
/// copies that failed, each with a one-line reason.
pub(crate) fn compile_through(
    plan: &Plan,
    mut c: Command,
    log: &Path,
) -> io::Result<(ExitStatus, Vec<(PackageId, String)>)> {
    let copies = copies(plan);
    let open_log = || File::options().append(true).create(true).open(log);
    let color = io::IsTerminal::is_terminal(&io::stderr());
    if color && std::env::var_os("CARGO_TERM_COLOR").is_none() {
        // Cargo's stderr is a pipe now: keep the colours it would show.
        c.env("CARGO_TERM_COLOR", "always");
    }
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let filter = StderrFilter {
        names: copies.iter().map(|c| c.1.clone()).collect(),
        dirs: copies.iter().map(|c| c.2.clone()).collect(),
        specs: copies.iter().map(|c| format!("{}@{}", c.1, c.3)).collect(),
    };
    let mut err_log = open_log()?;
    let errors = std::thread::spawn(move || {
        filter.run(io::BufReader::new(stderr), &mut io::stderr(), &mut err_log)
    });
    let mut log_file = open_log()?;
    let mut failed: Vec<(PackageId, String)> = Vec::new();
    let mut out = io::stdout().lock();
    for msg in Message::parse_stream(io::BufReader::new(stdout)) {
        match msg? {
            Message::CompilerMessage(m) => {
                let copy = copies
                    .iter()
                    .find(|(_, _, dir, _)| m.package_id.repr.contains(dir.as_str()));
                let rendered = m.message.rendered.clone().unwrap_or_default();
                match copy {
                    None => eprint!("{rendered}"),
                    Some((id, ..)) => {
                        writeln!(
                            log_file,
                            "{}:\n{}",
                            m.package_id.repr,
                            strip_ansi(&rendered)
                        )?;
                        if m.message.level == DiagnosticLevel::Error
                            && !failed.iter().any(|(f, _)| f == id)
                        {
                            failed.push((id.clone(), reason(&m.message)));
                        }
                    }
                }
            }
            Message::TextLine(line) => {
                writeln!(out, "{line}")?;
            }
            _ => {}
        }
    }
    let status = child.wait()?;
    let build_scripts = errors
        .join()
        .map_err(|_| io::Error::other("cargo's stderr reader panicked"))??;
    for dir in build_scripts {
        if let Some((id, ..)) = copies.iter().find(|c| c.2 == dir) {
            if !failed.iter().any(|(f, _)| f == id) {
                failed.push((id.clone(), "its build script failed".to_string()));
            }
        }
    }
    Ok((status, failed))
}

/// Sorts cargo's stderr into blocks: a block starts at a line of cargo's
/// own (`error…`, `warning…`, or a status line such as `   Compiling x`)
/// and holds the lines after it that are not (the causes and the output of
/// a failed build script). A block about a patched copy goes to the log.
struct StderrFilter {
    /// Package names of the copies (cargo's `could not compile `NAME``).
    names: Vec<String>,
    /// Directories of the copies (in `failed to run custom build command
    /// for `x v1 (DIR)``).
    dirs: Vec<String>,
    /// `name@version` of the copies: cargo warns about a path package's
    /// manifest (`warning: rustix@1.1.4: ignoring 'hints…'`) where it
    /// says nothing of a registry package's.
    specs: Vec<String>,
}

impl StderrFilter {
    /// Copies `from` to `term` or `log`, block by block; returns the
    /// directories of the copies whose build script failed.
    fn run(
        &self,
        from: impl BufRead,
        term: &mut impl Write,
        log: &mut impl Write,
    ) -> io::Result<Vec<String>> {
        let mut to_log = false;
        let mut build_scripts = Vec::new();
        for line in from.split(b'\n') {
            let mut line = line?;
            line.push(b'\n');
            let plain = strip_ansi(&String::from_utf8_lossy(&line));
            if let Some(head) = Self::head(&plain) {
                to_log = match head {
                    Head::Status => false,
                    Head::Message => {
                        let dir = self.dirs.iter().find(|d| plain.contains(d.as_str()));
                        if let (Some(d), true) = (dir, plain.contains("custom build command")) {
                            build_scripts.push(d.clone());
                        }
                        let manifest_warning = plain.strip_prefix("warning: ").is_some_and(|w| {
                            self.specs.iter().any(|s| w.starts_with(&format!("{s}: ")))
                        });
                        dir.is_some()
                            || manifest_warning
                            || plain.starts_with("warning: build failed, waiting for other jobs")
                            || self.names.iter().any(|n| {
                                plain.starts_with(&format!("error: could not compile `{n}`"))
                            })
                    }
                };
            }
            if to_log {
                log.write_all(plain.as_bytes())?;
            } else {
                term.write_all(&line)?;
            }
        }
        Ok(build_scripts)
    }

    /// Whether `line` (colours removed) starts a block, and how.
    fn head(line: &str) -> Option<Head> {
        if line.starts_with("error") || line.starts_with("warning") {
            return Some(Head::Message);
        }
        // `{verb:>12} …`: right-aligned, so indented by at most 11.
        let t = line.trim_start_matches(' ');
        let indent = line.len() - t.len();
        let verb = t.split(' ').next().unwrap_or_default();
        let is_verb = verb.len() > 1
            && verb.starts_with(|c: char| c.is_ascii_uppercase())
            && verb[1..].chars().all(|c| c.is_ascii_lowercase());
        (indent > 0 && indent + verb.len() == 12 && is_verb).then_some(Head::Status)
    }
}

/// A line that starts a block of cargo's output.
enum Head {
    /// `{verb:>12} …` (`   Compiling x v1`).
    Status,
    /// `error…` or `warning…`.
    Message,
}

/// One line on why a copy failed. For a std type where greenstd's is
/// expected (a std method that returns one, such as `Path::read_dir()`),
/// which method and which type; else rustc's first error with its place.
pub(crate) fn reason(d: &Diagnostic) -> String {
    let primary = d.spans.iter().find(|s| s.is_primary);
    if let Some(std_type) = primary
        .and_then(|s| s.label.as_deref())
        .and_then(|l| l.split("found `").nth(1))
        .and_then(|f| f.split('`').next())
        .filter(|f| f.starts_with("std::") || f.contains("<std::"))
    {
        // The highlighted code: `…method(…)` names what returned it.
        let code: String = primary
            .and_then(|s| s.text.first())
            .map(|t| {
                t.text
                    .chars()
                    .skip(t.highlight_start.saturating_sub(1))
                    .take(t.highlight_end.saturating_sub(t.highlight_start))
                    .collect()
            })
            .unwrap_or_default();
        let method = code
            .trim_end()
            .strip_suffix(')')
            .and_then(|c| c.rfind('(').map(|i| &c[..i]))
            .and_then(|c| c.rsplit(['.', ':']).next())
            .filter(|m| !m.is_empty() && m.chars().all(|c| c.is_alphanumeric() || c == '_'));
        return match method {
            Some(m) => format!("`{m}()` returns std's `{std_type}`, where greenstd's is expected"),
            None => format!("passes std's `{std_type}` where greenstd's is expected"),
        };
    }
    let mut r = match &d.code {
        Some(c) => format!("error[{}]: {}", c.code, d.message),
        None => format!("error: {}", d.message),
    };
    if let Some(span) = primary {
        let file = span
            .file_name
            .rsplit("/src/")
            .next()
            .unwrap_or(&span.file_name);
        r.push_str(&format!(" at {file}:{}", span.line_start));
        if let Some(label) = span.label.as_deref().filter(|l| !l.is_empty()) {
            r.push_str(&format!(" ({})", label.lines().next().unwrap_or_default()));
        }
    }
    r
}

pub(crate) fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sort(input: &str) -> (String, String, Vec<String>) {
        let filter = StderrFilter {
            names: vec!["normpath".into(), "log-green".into()],
            dirs: vec!["/t/green/crates/normpath-1.5.2".into()],
            specs: vec!["normpath@1.5.2".into(), "rustix@1.1.4".into()],
        };
        let (mut term, mut log) = (Vec::new(), Vec::new());
        let scripts = filter.run(input.as_bytes(), &mut term, &mut log).unwrap();
        (
            String::from_utf8(term).unwrap(),
            String::from_utf8(log).unwrap(),
            scripts,
        )
    }

    #[test]
    fn a_copy_s_failure_goes_to_the_log_the_rest_to_the_terminal() {
        let input = "warning: rustix@1.1.4: ignoring 'hints.mostly-unused'
   Compiling normpath v1.5.2 (/t/green/crates/normpath-1.5.2)
   Compiling app v0.1.0 (/t/green/projects/app-1/ws)
warning: build failed, waiting for other jobs to finish...
error: could not compile `normpath` (lib) due to 1 previous error
error: could not compile `app` (bin \"app\") due to 2 previous errors
error: failed to run custom build command for `normpath v1.5.2 (/t/green/crates/normpath-1.5.2)`

Caused by:
  process didn't exit successfully: `build-script-build` (exit status: 1)
--- stderr
boom
\x1b[1m\x1b[92m    Finished\x1b[0m `dev` profile
";
        let (term, log, scripts) = sort(input);
        assert_eq!(
            term,
            "   Compiling normpath v1.5.2 (/t/green/crates/normpath-1.5.2)\n   Compiling app v0.1.0 \
             (/t/green/projects/app-1/ws)\nerror: could not compile `app` (bin \"app\") due to 2 \
             previous errors\n\x1b[1m\x1b[92m    Finished\x1b[0m `dev` profile\n"
        );
        assert!(log.starts_with("warning: rustix@1.1.4: ignoring"), "{log}");
        assert!(log.contains("warning: build failed"), "{log}");
        assert!(log.contains("could not compile `normpath`"), "{log}");
        assert!(
            log.contains("Caused by:\n") && log.contains("boom\n"),
            "{log}"
        );
        assert_eq!(scripts, ["/t/green/crates/normpath-1.5.2"]);
    }

    #[test]
    fn a_std_typed_return_is_named_by_its_method() {
        let d: Diagnostic = serde_json::from_str(
            r#"{"message":"mismatched types","code":{"code":"E0308","explanation":null},
            "level":"error","spans":[{"file_name":"/x/src/base.rs","byte_start":0,"byte_end":1,
            "line_start":401,"line_end":401,"column_start":9,"column_end":34,"is_primary":true,
            "text":[{"text":"        self.as_path().read_dir()","highlight_start":9,"highlight_end":34}],
            "label":"expected `ReadDir`, found `std::fs::ReadDir`","suggested_replacement":null,
            "suggestion_applicability":null,"expansion":null}],"children":[],"rendered":null}"#,
        )
        .unwrap();
        assert_eq!(
            reason(&d),
            "`read_dir()` returns std's `std::fs::ReadDir`, where greenstd's is expected"
        );
    }
}
