//! `cargo green audit`: after a patched build, the code in the final
//! binaries that can still block a worker.
//!
//! How: each binary is linked once more with `-Wl,--emit-relocs` (only the
//! final link step changes; `cargo rustc` passes the flag to that crate
//! alone), so the executable keeps the relocations of every call site. A
//! relocation inside function F that targets a blocking item of std (its
//! real sockets, sleep, park, join, lock waits, channels, processes,
//! files, stdin) or a blocking libc function (accept, recv, poll,
//! nanosleep, epoll_wait, …) is a finding when F belongs to a crate
//! outside std and greenstd. Findings are grouped by crate, with F and the
//! item it calls.

use crate::graph::GraphArgs;
use crate::plan::{Status, Why};
use object::{
    Object, ObjectSection, ObjectSymbol, RelocationKind, RelocationTarget, SectionKind, SymbolKind,
};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

/// Crates of the Rust toolchain (std and its private dependencies).
const TOOLCHAIN: &[&str] = &[
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "panic_unwind",
    "panic_abort",
    "std_detect",
    "hashbrown",
    "rustc_demangle",
    "addr2line",
    "gimli",
    "object",
    "miniz_oxide",
    "adler2",
    "unwind",
    "compiler_builtins",
    "memchr",
    "getopts",
    "__rustc",
];

/// libc functions that block the calling thread.
const LIBC_BLOCKING: &[&str] = &[
    "accept",
    "accept4",
    "connect",
    "recv",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
    "send",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "read",
    "readv",
    "write",
    "writev",
    "poll",
    "ppoll",
    "select",
    "pselect",
    "epoll_wait",
    "epoll_pwait",
    "nanosleep",
    "clock_nanosleep",
    "usleep",
    "sleep",
    "pause",
    "pthread_join",
    "pthread_cond_wait",
    "pthread_cond_timedwait",
    "pthread_mutex_lock",
    "pthread_rwlock_rdlock",
    "pthread_rwlock_wrlock",
    "sem_wait",
    "sem_timedwait",
    "waitpid",
    "wait",
    "wait4",
    "waitid",
    "getaddrinfo",
    "gethostbyname",
    "flock",
    "sigwait",
    "sigwaitinfo",
    "sigtimedwait",
];

/// How much a finding matters, most first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    /// A wait with no greenstd path: the worker blocks whenever it runs.
    Blocks,
    /// Blocks only sometimes: I/O on a descriptor that may be non-blocking,
    /// a lock that may be free, a file read from the page cache.
    MayBlock,
    /// Does no waiting: a getter of a value already read, or a wait
    /// cargo green made cooperative.
    Benign,
}

impl Rank {
    fn title(self) -> &'static str {
        match self {
            Rank::Blocks => "blocks a worker",
            Rank::MayBlock => "may block a worker",
            Rank::Benign => "benign",
        }
    }
}

/// libc calls that wait (for time, a peer, a child, a lock) whatever the
/// descriptor: the others of `LIBC_BLOCKING` wait only on a blocking one.
const LIBC_WAITS: &[&str] = &[
    "accept",
    "accept4",
    "poll",
    "ppoll",
    "select",
    "pselect",
    "epoll_wait",
    "epoll_pwait",
    "nanosleep",
    "clock_nanosleep",
    "usleep",
    "sleep",
    "pause",
    "pthread_join",
    "pthread_cond_wait",
    "pthread_cond_timedwait",
    "sem_wait",
    "sem_timedwait",
    "waitpid",
    "wait",
    "wait4",
    "waitid",
    "getaddrinfo",
    "gethostbyname",
    "flock",
    "sigwait",
    "sigwaitinfo",
    "sigtimedwait",
];

/// The rank of a call of `callee` (of `kind`) made in crate `krate`;
/// `cooperative` names the crates whose waits cargo green rewrote (mio's
/// selector calls `epoll_wait` only once greenstd saw it ready; its other
/// calls are on non-blocking descriptors).
fn rank_of(kind: &str, callee: &str, krate: &str, cooperative: &BTreeSet<String>) -> Rank {
    if kind == FS_VALUE {
        return Rank::Benign;
    }
    if kind == LIBC_KIND {
        // mio's sockets are non-blocking by construction, and its selector
        // waits through greenstd in the copy.
        if cooperative.contains(krate) {
            return Rank::Benign;
        }
        return if LIBC_WAITS.contains(&callee) {
            Rank::Blocks
        } else {
            Rank::MayBlock
        };
    }
    if kind.starts_with("std::sync") || kind.starts_with("std::fs") {
        Rank::MayBlock
    } else {
        Rank::Blocks
    }
}

const LIBC_KIND: &str = "blocking libc call";
const FS_VALUE: &str = "std::fs value getter (no I/O)";

/// The kind of blocking item a demangled symbol is, if it is one.
pub(crate) fn blocking_kind(callee: &str) -> Option<&'static str> {
    let path = callee.trim_start_matches(['<', '&']);
    let last = method(callee);
    let one_of = |names: &[&str]| names.contains(&last);
    if path.starts_with("std::net::tcp::")
        || path.starts_with("std::net::udp::")
        || path.starts_with("std::os::unix::net::")
    {
        const NET: &[&str] = &[
            "connect",
            "connect_timeout",
            "bind",
            "accept",
            "incoming",
            "next",
            "read",
            "read_vectored",
            "read_exact",
            "read_to_end",
            "read_to_string",
            "write",
            "write_vectored",
            "write_all",
            "peek",
            "recv",
            "recv_from",
            "peek_from",
            "send",
            "send_to",
            "pair",
        ];
        return one_of(NET).then_some("std::net (a real, blocking socket)");
    }
    if callee.contains(" as std::net::socket_addr::ToSocketAddrs>::to_socket_addrs")
        && callee.contains("str")
    {
        return Some("std::net name resolution (getaddrinfo on the worker)");
    }
    if path.starts_with("std::thread::") || path.starts_with("std::sys::thread") {
        const THREAD: &[&str] = &[
            "sleep",
            "sleep_ms",
            "sleep_until",
            "park",
            "park_timeout",
            "park_timeout_ms",
            "join",
        ];
        return one_of(THREAD).then_some("std::thread (blocks the OS thread)");
    }
    if path.starts_with("std::sync::") || path.starts_with("std::sys::sync::") {
        const SYNC: &[&str] = &[
            "lock",
            "read",
            "write",
            "wait",
            "wait_timeout",
            "wait_while",
            "wait_timeout_while",
            "wait_timeout_ms",
            "wait_optional_timeout",
            "recv",
            "recv_timeout",
            "recv_deadline",
            "call_once",
            "call_once_force",
            "call",
            "get_or_init",
            "get_or_try_init",
            "force",
            "lock_contended",
            "read_contended",
            "write_contended",
        ];
        return one_of(SYNC).then_some("std::sync wait (parks the OS thread)");
    }
    if path.starts_with("std::process::") {
        const PROCESS: &[&str] = &["output", "status", "spawn", "wait", "wait_with_output"];
        return one_of(PROCESS).then_some("std::process (blocks the worker)");
    }
    if path.starts_with("std::fs::") && !matches!(last, "fmt" | "drop" | "clone") {
        // What a Metadata, FileType or Permissions holds was read already;
        // a DirEntry's path and name too.
        let value = ["Metadata", "FileType", "Permissions", "FileTimes"]
            .iter()
            .any(|t| path.starts_with(&format!("std::fs::{t}::")))
            || (path.starts_with("std::fs::DirEntry::") && one_of(&["path", "file_name"]));
        return Some(if value {
            FS_VALUE
        } else {
            "std::fs (blocks the worker)"
        });
    }
    if path.starts_with("std::io::stdio::Stdin")
        && one_of(&[
            "read_line",
            "lines",
            "read",
            "read_to_end",
            "read_to_string",
            "lock",
        ])
    {
        return Some("stdin (blocks the worker)");
    }
    None
}

/// The last path segment (the function's name) of a demangled symbol.
fn method(d: &str) -> &str {
    let d = d.trim_end_matches("::{{closure}}");
    let d = match d.rfind("::") {
        Some(i) => &d[i + 2..],
        None => d,
    };
    d.split(['<', '('].as_ref()).next().unwrap_or(d)
}

/// The crates a demangled symbol belongs to: the self type's crate, then
/// (for `<T as Trait>::f`) the trait's.
fn crates_of(d: &str) -> Vec<String> {
    fn ident_at(s: &str) -> Option<String> {
        let s = s
            .trim_start_matches(['<', '&', '*', '('])
            .trim_start_matches("mut ")
            .trim_start_matches("const ")
            .trim_start_matches("dyn ");
        let id: String = s
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        (!id.is_empty() && s[id.len()..].starts_with("::")).then_some(id)
    }
    let mut out = Vec::new();
    if let Some(c) = ident_at(d) {
        out.push(c);
    }
    if d.starts_with('<') {
        if let Some(i) = d.find(" as ") {
            if let Some(c) = ident_at(&d[i + 4..]) {
                out.push(c);
            }
        }
    }
    out
}

fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

fn is_rust(name: &str) -> bool {
    name.starts_with("_ZN") || name.starts_with("_R")
}

/// One finding: in crate `krate`, `caller` calls `callee`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Finding {
    pub(crate) krate: String,
    pub(crate) caller: String,
    pub(crate) callee: String,
    pub(crate) kind: &'static str,
    /// A chain of calls from a function of the user's crates to `caller`
    /// (demangled, the user's first), when one is found.
    pub(crate) chain: Vec<String>,
}

/// A shortest chain of calls from a function of a crate in `user` to
/// `to`, through `callers` (callee -> its callers), at most `depth` calls
/// long: the user's function first, `to` excluded.
fn chain_from_user(
    to: &str,
    callers: &BTreeMap<String, BTreeSet<String>>,
    user: &BTreeSet<String>,
    depth: usize,
) -> Vec<String> {
    // A function of the user's, or one the user's closure was inlined into.
    let is_user = |raw: &str| {
        is_rust(raw) && {
            let d = demangle(raw);
            crates_of(&d).first().is_some_and(|c| user.contains(c))
                || inlined_item(&d, |c| user.contains(c)).is_some()
        }
    };
    if is_user(to) {
        return Vec::new();
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let mut frontier: Vec<&str> = vec![to];
    for _ in 0..depth {
        let mut next = Vec::new();
        for f in frontier {
            for c in callers.get(f).into_iter().flatten() {
                if c == to || seen.contains_key(c.as_str()) {
                    continue;
                }
                seen.insert(c, f);
                if is_user(c) {
                    let d = demangle(c);
                    let first = match inlined_item(&d, |c| user.contains(c)) {
                        Some((_, item))
                            if !crates_of(&d).first().is_some_and(|c| user.contains(c)) =>
                        {
                            format!("{item} (inlined into {})", short(&d))
                        }
                        _ => d,
                    };
                    let mut chain = vec![first];
                    let mut at = f;
                    while at != to {
                        chain.push(demangle(at));
                        at = seen[at];
                    }
                    return chain;
                }
                next.push(c.as_str());
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    Vec::new()
}

/// A demangled symbol without generic arguments (`Vec<T>` → `Vec`,
/// `spawn::<F>` → `spawn`), which v0 symbols spell out in full; a
/// qualified path's `<T as Trait>` stays.
fn short(d: &str) -> String {
    let mut out = String::with_capacity(d.len());
    let mut skip = 0usize;
    let mut prev = ' ';
    for c in d.chars() {
        match c {
            '<' if skip > 0 => skip += 1,
            '<' if prev.is_alphanumeric() || prev == '_' || prev == ':' => {
                if prev == ':' {
                    out.truncate(out.trim_end_matches(':').len());
                }
                skip = 1;
            }
            '>' if prev != '-' && skip > 0 => skip -= 1,
            _ if skip > 0 => {}
            _ => out.push(c),
        }
        prev = c;
    }
    out
}

/// In a demangled symbol (v0 mangling: generic arguments included), the
/// innermost path of a crate `audited` accepts: (its crate, the path), e.g. `blocking::main::{closure#0}`
/// in `<generator::stack::StackBox<…<blocking::main::{closure#0}, ()>…>>::call_once`.
fn inlined_item(d: &str, audited: impl Fn(&str) -> bool) -> Option<(String, String)> {
    let b = d.as_bytes();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut found = None;
    let mut i = 0;
    while let Some(p) = d[i..].find("::") {
        let end = i + p;
        i = end + 2;
        let start = d[..end]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |s| s + 1);
        // The first segment of a path: not after `::`.
        if start == end || (start >= 2 && &d[start - 2..start] == "::") || !is_ident(b[start]) {
            continue;
        }
        let krate = &d[start..end];
        if !audited(krate) {
            continue;
        }
        // The path runs to a `,`, `>`, `)` or space outside braces.
        let mut depth = 0usize;
        let len = d[start..]
            .find(|c: char| {
                match c {
                    '{' => depth += 1,
                    '}' => depth = depth.saturating_sub(1),
                    ',' | '>' | ')' | ' ' | '<' if depth == 0 => return true,
                    _ => {}
                }
                false
            })
            .unwrap_or(d.len() - start);
        found = Some((krate.to_string(), d[start..start + len].to_string()));
    }
    found
}

/// The findings in one executable linked with `--emit-relocs`; `skip` are
/// the crates (library names) not audited.
/// `user`: the user's own crates (library and binary names), where call
/// chains start.
/// `patched`: the crates built against greenstd (their `std` is greenstd).
pub(crate) fn audit_file(
    path: &Path,
    skip: &BTreeSet<String>,
    user: &BTreeSet<String>,
    patched: &BTreeSet<String>,
) -> io::Result<Vec<Finding>> {
    let data = std::fs::read(path)?;
    let file = object::File::parse(&*data)
        .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
    // Functions by address.
    let mut funcs: Vec<(u64, u64, String)> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0 && s.is_definition())
        .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
        .collect();
    funcs.sort();
    let containing = |addr: u64| -> Option<&str> {
        let i = funcs.partition_point(|f| f.0 <= addr);
        let f = funcs.get(i.checked_sub(1)?)?;
        (addr < f.0 + f.1).then_some(f.2.as_str())
    };
    let mut relocs = 0usize;
    let mut found = BTreeSet::new();
    // Every call (and address taken) between functions: callee -> callers.
    let mut callers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Code only: the relocations of debug info and unwind tables point at
    // functions too, from offsets that are not call sites.
    for section in file.sections().filter(|s| s.kind() == SectionKind::Text) {
        let base = section.address();
        for (offset, reloc) in section.relocations() {
            relocs += 1;
            let RelocationTarget::Symbol(idx) = reloc.target() else {
                continue;
            };
            let Ok(sym) = file.symbol_by_index(idx) else {
                continue;
            };
            let callee_raw = if sym.kind() == SymbolKind::Section {
                // A local call through the section: the target is at
                // section + addend (+4: the addend counts from the end of
                // the 4-byte displacement).
                let Some(sec) = sym
                    .section_index()
                    .and_then(|i| file.section_by_index(i).ok())
                else {
                    continue;
                };
                let pc_relative = matches!(
                    reloc.kind(),
                    RelocationKind::Relative | RelocationKind::PltRelative
                );
                let target = sec
                    .address()
                    .wrapping_add(reloc.addend() as u64)
                    .wrapping_add(if pc_relative { 4 } else { 0 });
                match containing(target) {
                    Some(n) => n.to_string(),
                    None => continue,
                }
            } else {
                match sym.name() {
                    Ok(n) if !n.is_empty() => n.to_string(),
                    _ => continue,
                }
            };
            let site = if offset >= base {
                offset
            } else {
                base + offset
            };
            let Some(caller_raw) = containing(site) else {
                continue;
            };
            if caller_raw != callee_raw {
                callers
                    .entry(callee_raw.clone())
                    .or_default()
                    .insert(caller_raw.to_string());
            }
            let kind = if is_rust(&callee_raw) {
                match blocking_kind(&demangle(&callee_raw)) {
                    Some(k) => k,
                    None => continue,
                }
            } else {
                let plain = callee_raw.split('@').next().unwrap_or(&callee_raw);
                if sym.is_definition() || !LIBC_BLOCKING.contains(&plain) {
                    continue;
                }
                LIBC_KIND
            };
            let (krate, caller) = if is_rust(caller_raw) {
                let d = demangle(caller_raw);
                let (krate, caller) = match crates_of(&d)
                    .into_iter()
                    .find(|c| !skip.contains(c) && !TOOLCHAIN.contains(&c.as_str()))
                {
                    Some(krate) => (krate, d),
                    // greenstd's (or std's) generic code instantiated with
                    // an audited crate's closure and the closure inlined
                    // into it (`thread::spawn(|| …)` in a release build):
                    // the call is the closure's.
                    None => {
                        match inlined_item(&d, |c| !skip.contains(c) && !TOOLCHAIN.contains(&c)) {
                            Some((krate, item)) => {
                                (krate, format!("{item} (inlined into {})", short(&d)))
                            }
                            None => continue,
                        }
                    }
                };
                // A patched crate's `std` is greenstd: a call of std's own
                // item in one of its functions is greenstd's code inlined
                // into it (greenstd's files run on the worker by design).
                if kind != LIBC_KIND && patched.contains(&krate) {
                    continue;
                }
                (krate, short(&caller))
            } else if caller_raw == "main" {
                // The entry point rustc generates: std's start-up code
                // (the standard descriptors checked with poll, …) inlined
                // into it, run once before the program and its runtime.
                continue;
            } else {
                (
                    "(not Rust: C code linked in)".to_string(),
                    caller_raw.to_string(),
                )
            };
            let callee = if is_rust(&callee_raw) {
                demangle(&callee_raw)
            } else {
                callee_raw
                    .split('@')
                    .next()
                    .unwrap_or(&callee_raw)
                    .to_string()
            };
            found.insert((
                Finding {
                    krate,
                    caller,
                    callee,
                    kind,
                    chain: Vec::new(),
                },
                caller_raw.to_string(),
            ));
        }
    }
    if relocs == 0 {
        return Err(io::Error::other(format!(
            "{}: no relocations kept (was it linked with -Wl,--emit-relocs?)",
            path.display()
        )));
    }
    Ok(found
        .into_iter()
        .map(|(mut f, raw)| {
            f.chain = chain_from_user(&raw, &callers, user, 12)
                .iter()
                .map(|c| short(c))
                .collect();
            f
        })
        .collect())
}

/// `cargo green audit [cargo build's arguments]`.
pub(crate) fn run(graph_args: &GraphArgs, rest: &[OsString]) -> io::Result<ExitCode> {
    let args = crate::Args {
        graph: graph_args.clone(),
        rest: Vec::new(),
        target_dir: None,
    };
    let (plan, applied) = crate::settle(&args)?;
    eprintln!("{}", crate::summary(&plan));

    // Not audited: greenstd and what only its runtime uses (by library
    // name; a renamed copy keeps its original's library name, so a crate
    // user code shares with the runtime is audited).
    let mut skip = BTreeSet::new();
    let mut audited = BTreeSet::new();
    for (id, st) in &plan.status {
        let n = &plan.graph.nodes[id];
        let Some(lib) = n.lib_name() else { continue };
        match st {
            Status::Left(Why::Greenstd | Why::Runtime) => {
                skip.insert(lib);
            }
            _ => {
                audited.insert(lib);
            }
        }
    }
    // greenstd's own crates and their dependencies, also when the
    // project's graph does not have them (cargo green added greenstd).
    skip.extend(plan.greenstd_libs.iter().cloned());
    skip.retain(|l| !audited.contains(l));
    // Crates whose waits cargo green rewrote to go through greenstd.
    let cooperative: BTreeSet<String> = plan
        .status
        .iter()
        .filter(|(id, st)| st.patched() && crate::pollers::is_poller(plan.graph.nodes[*id].name()))
        .filter_map(|(id, _)| plan.graph.nodes[id].lib_name())
        .collect();
    // The build is audit's own: the shadow's lockfile is a copy that names
    // greenstd, so `--locked` would refuse it (the project's own lockfile
    // is checked by `settle` above); `--frozen` keeps its offline half.
    let rest: Vec<OsString> = rest
        .iter()
        .filter(|a| *a != "--locked")
        .map(|a| {
            if a == "--frozen" {
                "--offline".into()
            } else {
                a.clone()
            }
        })
        .collect();
    let rest = &rest[..];
    let mut lib_to_pkg: BTreeMap<String, String> = plan
        .graph
        .nodes
        .values()
        .filter_map(|n| Some((n.lib_name()?, n.name().to_string())))
        .collect();
    for m in &plan.graph.members {
        let n = &plan.graph.nodes[m];
        for t in &n.pkg.targets {
            lib_to_pkg
                .entry(t.name.replace('-', "_"))
                .or_insert_with(|| n.name().to_string());
        }
    }

    // The user's own crates: where call chains start.
    let user: BTreeSet<String> = plan
        .graph
        .members
        .iter()
        .flat_map(|m| plan.graph.nodes[m].pkg.targets.iter())
        .map(|t| t.name.replace('-', "_"))
        .collect();

    // Crates built against greenstd (the user's own included).
    let patched: BTreeSet<String> = plan
        .status
        .iter()
        .filter(|(_, st)| st.patched())
        .filter_map(|(id, _)| plan.graph.nodes[id].lib_name())
        .chain(user.iter().cloned())
        .collect();
    // Which binaries: the ones the arguments name, else every binary of
    // the workspace members.
    let selects = rest.iter().any(|a| {
        let a = a.to_string_lossy();
        ["--bin", "--example", "--test", "--bench"]
            .iter()
            .any(|f| a == *f || a.starts_with(&format!("{f}=")))
    });
    let mut jobs: Vec<Vec<OsString>> = Vec::new();
    if selects {
        jobs.push(rest.to_vec());
    } else {
        for m in &plan.graph.members {
            let n = &plan.graph.nodes[m];
            for t in &n.pkg.targets {
                if t.is_kind(cargo_metadata::TargetKind::Bin) {
                    let mut a: Vec<OsString> = vec![
                        "-p".into(),
                        n.name().into(),
                        "--bin".into(),
                        t.name.clone().into(),
                    ];
                    a.extend(rest.iter().cloned());
                    jobs.push(a);
                }
            }
        }
    }
    if jobs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no binary to audit (name one with --bin, --example or --test)",
        ));
    }
    let mut exes: Vec<PathBuf> = Vec::new();
    for job in jobs {
        let out = crate::green_command("rustc", &plan, &applied, &args, &job)?
            .arg("--message-format=json-render-diagnostics")
            // Relocations kept; a profile's `strip` (which the linker
            // refuses with --emit-relocs) overridden: rustc takes the last.
            // v0 symbols name the generic arguments of what the program
            // instantiates: a closure inlined into greenstd's spawn is
            // found by its name.
            .args([
                "--",
                "-C",
                "strip=none",
                "-C",
                "link-arg=-Wl,--emit-relocs",
                "-C",
                "symbol-mangling-version=v0",
            ])
            .stderr(Stdio::inherit())
            .output()?;
        if !out.status.success() {
            return Ok(ExitCode::from(101));
        }
        for msg in cargo_metadata::Message::parse_stream(&*out.stdout) {
            if let Ok(cargo_metadata::Message::CompilerArtifact(a)) = msg {
                if let Some(exe) = a.executable {
                    exes.push(exe.into_std_path_buf());
                }
            }
        }
    }
    for exe in &exes {
        let mut findings: Vec<(Rank, Finding)> = audit_file(exe, &skip, &user, &patched)?
            .into_iter()
            .map(|f| (rank_of(f.kind, &f.callee, &f.krate, &cooperative), f))
            .collect();
        findings.sort();
        let pkg_of = |krate: &str| -> String {
            lib_to_pkg
                .get(krate)
                .cloned()
                .unwrap_or_else(|| krate.to_string())
        };
        // The first line names what to act on first.
        let count = |r: Rank| findings.iter().filter(|(k, _)| *k == r).count();
        match findings.first() {
            Some((r, f)) if *r != Rank::Benign => println!(
                "cargo green audit: {}: {} {}, {} {}, {} benign; first: {}: {} -> {}",
                exe.display(),
                count(Rank::Blocks),
                Rank::Blocks.title(),
                count(Rank::MayBlock),
                Rank::MayBlock.title(),
                count(Rank::Benign),
                pkg_of(&f.krate),
                f.caller,
                f.callee
            ),
            _ => println!(
                "cargo green audit: {}: nothing found that blocks a worker ({} benign)",
                exe.display(),
                count(Rank::Benign)
            ),
        }
        for rank in [Rank::Blocks, Rank::MayBlock, Rank::Benign] {
            let of_rank: Vec<&Finding> = findings
                .iter()
                .filter(|(r, _)| *r == rank)
                .map(|(_, f)| f)
                .collect();
            if of_rank.is_empty() {
                continue;
            }
            println!("  {}:", rank.title());
            let mut by_crate: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
            for f in of_rank {
                by_crate.entry(&f.krate).or_default().push(f);
            }
            for (krate, fs) in by_crate {
                let pkg = pkg_of(krate);
                let st = plan
                    .graph
                    .nodes
                    .iter()
                    .find(|(_, n)| n.name() == pkg)
                    .map(|(id, _)| plan.status[id].describe())
                    .unwrap_or_default();
                if st.is_empty() {
                    println!("    {pkg}:");
                } else {
                    println!("    {pkg}: {st}");
                }
                for f in fs {
                    println!("      {} -> {} [{}]", f.caller, f.callee, f.kind);
                    if !f.chain.is_empty() {
                        println!(
                            "        from your code: {} -> {}",
                            f.chain.join(" -> "),
                            f.caller
                        );
                    }
                }
            }
        }
    }
    println!(
        "cargo green audit cannot see: calls through function pointers and trait objects \
         resolved at run time; code inlined into std's own functions; raw \
         syscalls (libc::syscall, asm); libraries loaded at run time; crates shared with \
         greenstd's runtime (may, crossbeam, parking_lot…) where user code does not use them."
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert!(blocking_kind("std::thread::functions::sleep").is_some());
        assert!(blocking_kind("std::thread::park").is_some());
        assert!(blocking_kind("std::net::tcp::TcpStream::connect").is_some());
        assert!(blocking_kind("<std::net::tcp::TcpStream as std::io::Read>::read").is_some());
        assert!(blocking_kind("<&std::net::tcp::TcpStream as std::io::Write>::write").is_some());
        assert!(blocking_kind("std::net::tcp::TcpStream::set_nodelay").is_none());
        assert!(blocking_kind(
            "<(&str, u16) as std::net::socket_addr::ToSocketAddrs>::to_socket_addrs"
        )
        .is_some());
        assert!(blocking_kind(
            "<std::net::socket_addr::SocketAddr as std::net::socket_addr::ToSocketAddrs>::to_socket_addrs"
        )
        .is_none());
        assert!(
            blocking_kind("<(&str,u16) as shim_net::addr::ToSocketAddrs>::to_socket_addrs")
                .is_none()
        );
        assert!(blocking_kind("std::sys::sync::mutex::futex::Mutex::lock_contended").is_some());
        assert!(blocking_kind("std::sync::poison::mutex::Mutex<T>::lock").is_some());
        assert!(blocking_kind("std::sync::poison::condvar::Condvar::notify_one").is_none());
        assert!(blocking_kind("std::process::Command::output").is_some());
        assert!(blocking_kind("std::fs::read_to_string::inner").is_some());
        assert!(blocking_kind("core::fmt::write").is_none());
    }

    #[test]
    fn ranks_waits_first_and_getters_last() {
        let none = BTreeSet::new();
        let mio: BTreeSet<String> = ["mio".to_string()].into();
        let rank = |callee: &str, krate: &str, coop: &BTreeSet<String>| {
            let kind = if callee.contains("::") {
                blocking_kind(callee).unwrap()
            } else {
                LIBC_KIND
            };
            rank_of(kind, callee, krate, coop)
        };
        assert_eq!(rank("epoll_wait", "mio", &none), Rank::Blocks);
        // mio's selector waits through greenstd first in its copy.
        assert_eq!(rank("epoll_wait", "mio", &mio), Rank::Benign);
        assert_eq!(rank("epoll_wait", "polling", &mio), Rank::Blocks);
        assert_eq!(rank("connect", "mio", &mio), Rank::Benign);
        assert_eq!(rank("accept4", "x", &none), Rank::Blocks);
        assert_eq!(rank("nanosleep", "x", &none), Rank::Blocks);
        assert_eq!(rank("read", "x", &none), Rank::MayBlock);
        assert_eq!(rank("connect", "x", &none), Rank::MayBlock);
        assert_eq!(
            rank("std::thread::functions::sleep", "x", &none),
            Rank::Blocks
        );
        assert_eq!(
            rank("std::net::tcp::TcpStream::connect", "x", &none),
            Rank::Blocks
        );
        assert_eq!(
            rank("std::sync::poison::mutex::Mutex<T>::lock", "x", &none),
            Rank::MayBlock
        );
        assert_eq!(
            rank("std::fs::read_to_string::inner", "x", &none),
            Rank::MayBlock
        );
        assert_eq!(rank("std::fs::Metadata::len", "x", &none), Rank::Benign);
        assert_eq!(
            rank("std::fs::Metadata::modified", "x", &none),
            Rank::Benign
        );
        assert_eq!(rank("std::fs::DirEntry::path", "x", &none), Rank::Benign);
        assert_eq!(
            rank("std::fs::DirEntry::metadata", "x", &none),
            Rank::MayBlock
        );
        assert!(Rank::Blocks < Rank::MayBlock && Rank::MayBlock < Rank::Benign);
    }

    #[test]
    fn a_closure_inlined_into_greenstd_s_spawn_is_found_by_its_name() {
        let d = "<generator::stack::StackBox<<generator::gen_impl::GeneratorImpl<std::io::error::Error, \
                 may::coroutine_impl::EventSubscriber>>::init_code<<shim_thread::builder::Builder>::prepare<\
                 blocking::main::{closure#0}::{closure#0}, ()>::{closure#0}>>>::call_once";
        let skip: BTreeSet<String> = ["generator", "may", "shim_thread"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            inlined_item(d, |c| !skip.contains(c) && !TOOLCHAIN.contains(&c)),
            Some((
                "blocking".to_string(),
                "blocking::main::{closure#0}::{closure#0}".to_string()
            ))
        );
        assert_eq!(short(d), "<generator::stack::StackBox>::call_once");
        assert_eq!(
            short("<alloc::vec::Vec<u8> as x::Y<T>>::f::<core::ops::Fn() -> u8>"),
            "<alloc::vec::Vec as x::Y>::f"
        );
        assert_eq!(
            inlined_item("<generator::stack::StackBox<std::io::Error>>::f", |c| {
                !skip.contains(c) && !TOOLCHAIN.contains(&c)
            }),
            None
        );
    }

    #[test]
    fn crates() {
        assert_eq!(
            crates_of("minreq::connection::Connection::send"),
            ["minreq"]
        );
        assert_eq!(
            crates_of("<minreq::Error as core::fmt::Debug>::fmt"),
            ["minreq", "core"]
        );
        assert_eq!(crates_of("<[u8] as foo::Bar>::baz"), ["foo"]);
    }
}
