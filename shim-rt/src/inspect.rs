//! What every task is doing: the snapshot behind `green::dump()`, the
//! deadlock report and the blocked-worker monitor.
//!
//! Each wait of the one wait mechanism ([`crate::wait`]) writes into its
//! task's record what it waits on, since when and from which line; this
//! module reads the records of every registered task (see `registry`)
//! without stopping anybody. [`dump`] takes a snapshot, and
//! `GREENSTD_DUMP_SIGNAL=SIGQUIT` (or `SIGUSR1`) prints one to stderr
//! whenever the process receives that signal.

use std::fmt;
use std::io;
use std::os::fd::IntoRawFd;
use std::panic::Location;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::record::{self, coarse_now, RecordView};
use crate::task::{self, Task};
use crate::task_core::registry;
use crate::wait::{Holder, WaitKind};

/// What a task is doing at the moment of a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Running, or ready to run: not in a wait.
    Running,
    /// Its wait has ended (it was notified) but it has not run since.
    Runnable,
    /// Waiting.
    Parked,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            TaskState::Running => "running",
            TaskState::Runnable => "runnable",
            TaskState::Parked => "parked",
        })
    }
}

/// What a parked (or just woken) task waits on.
#[derive(Clone, Debug)]
pub struct WaitInfo {
    kind: WaitKind,
    object: usize,
    holder: Holder,
    holder_task: Option<u64>,
    location: &'static Location<'static>,
    waited: Duration,
    timed: bool,
}

impl WaitInfo {
    /// The operation: `Mutex::lock`, `recv`, `join`, `read`, …
    pub fn kind(&self) -> WaitKind {
        self.kind
    }

    /// The object: an address for locks, condition variables and channels,
    /// a descriptor for I/O, a thread id for `join` and `park`.
    pub fn object(&self) -> usize {
        self.object
    }

    /// The id of the task holding the object (a lock's owner, the joined
    /// thread), when known.
    pub fn holder(&self) -> Option<u64> {
        self.holder_task
    }

    /// `true` when the object is held by code greenstd does not know (a
    /// lock taken by a thread that never used greenstd otherwise).
    pub fn held_by_unknown(&self) -> bool {
        matches!(self.holder, Holder::Stack(_)) && self.holder_task.is_none()
    }

    /// The user's line that started the wait.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// How long the task had been waiting when the snapshot was taken
    /// (to a few milliseconds).
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// `true` when the wait has a deadline.
    pub fn is_timed(&self) -> bool {
        self.timed
    }

    /// The object, as a user reads it: `Mutex 0x55d0c8a1b2c0`, `fd 7`,
    /// `thread 3`.
    fn describe(&self, f: &mut String) {
        use std::fmt::Write as _;
        let _ = match self.kind {
            WaitKind::Mutex => write!(f, "Mutex::lock on {:#x}", self.object),
            WaitKind::RwLockRead => write!(f, "RwLock::read on {:#x}", self.object),
            WaitKind::RwLockWrite => write!(f, "RwLock::write on {:#x}", self.object),
            WaitKind::Condvar => write!(f, "Condvar::wait on {:#x}", self.object),
            WaitKind::Barrier => write!(f, "Barrier::wait on {:#x}", self.object),
            WaitKind::Once => write!(f, "Once on {:#x}", self.object),
            WaitKind::Recv => write!(f, "recv on channel {:#x}", self.object),
            WaitKind::Send => write!(f, "send on channel {:#x}", self.object),
            WaitKind::Event => write!(f, "event {:#x}", self.object),
            WaitKind::Join => write!(f, "join thread {}", self.object),
            WaitKind::Park => write!(f, "park"),
            WaitKind::Sleep => write!(f, "sleep"),
            WaitKind::Scope => write!(f, "scope (its threads)"),
            WaitKind::Offload => write!(f, "offload"),
            WaitKind::Child => write!(f, "Child::wait on process {}", self.object),
            WaitKind::Poll => write!(f, "poll on fd {}, the first of its set", self.object),
            WaitKind::Read | WaitKind::Write | WaitKind::Accept | WaitKind::Connect => {
                write!(f, "{} on fd {}", self.kind.name(), self.object)
            }
        };
        if self.timed && self.kind != WaitKind::Sleep {
            f.push_str(" (timed)");
        }
    }
}

/// One live task — a greenstd coroutine or a thread known to greenstd — as
/// seen in a [`Dump`].
#[derive(Clone, Debug)]
pub struct TaskInfo {
    id: u64,
    name: Option<String>,
    coroutine: bool,
    state: TaskState,
    wait: Option<WaitInfo>,
    parent: Option<u64>,
    /// Record generation (changes with every wait).
    seq: u32,
    /// The OS thread it holds in a call greenstd cannot see, its worker
    /// handed off to another thread.
    held_thread: Option<i32>,
}

impl TaskInfo {
    /// The task's id: the number of its `thread::ThreadId`.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Its name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// `true` for a coroutine, `false` for an OS thread.
    pub fn is_coroutine(&self) -> bool {
        self.coroutine
    }

    /// Running, runnable or parked.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// What it waits on (parked), or waited on until just now (runnable).
    pub fn wait(&self) -> Option<&WaitInfo> {
        self.wait.as_ref()
    }

    /// The id of the task that spawned it (coroutines).
    pub fn parent(&self) -> Option<u64> {
        self.parent
    }

    /// The kernel thread id of the OS thread this coroutine holds in a
    /// blocking call greenstd cannot see (a raw system call, FFI, a
    /// crate's own poller), after its worker was handed to another thread.
    pub fn blocking_thread(&self) -> Option<i32> {
        self.held_thread
    }

    /// `coroutine 5 "worker"` / `thread 1 "main"`.
    pub(crate) fn who(&self) -> String {
        let kind = if self.coroutine {
            "coroutine"
        } else {
            "thread"
        };
        match &self.name {
            Some(n) => format!("{kind} {} {n:?}", self.id),
            None => format!("{kind} {}", self.id),
        }
    }

    pub(crate) fn seq(&self) -> u32 {
        self.seq
    }
}

/// A snapshot of every live coroutine, and of every OS thread that has used
/// greenstd, returned by `green::dump()`.
///
/// `Display` prints it as a table, one task a line: id, kind, name, state,
/// what it waits on (with a lock's holder), for how long, the call site,
/// the parent.
#[derive(Clone, Debug, Default)]
pub struct Dump {
    tasks: Vec<TaskInfo>,
}

impl Dump {
    /// The tasks, by id.
    pub fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }

    /// The task with this id.
    pub fn get(&self, id: u64) -> Option<&TaskInfo> {
        self.tasks
            .binary_search_by_key(&id, |t| t.id)
            .ok()
            .map(|i| &self.tasks[i])
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// `true` when no task is known.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The wait-for cycles: tasks each waiting on something held by the
    /// next (lock owners, joined threads), the last by the first. Each
    /// cycle starts at its smallest id.
    pub fn cycles(&self) -> Vec<Vec<u64>> {
        let edge = |id: u64| {
            self.get(id)
                .filter(|t| t.state == TaskState::Parked)
                .and_then(|t| t.wait.as_ref())
                .and_then(|w| w.holder_task)
        };
        let mut cycles: Vec<Vec<u64>> = Vec::new();
        for t in &self.tasks {
            // Follow the edges from `t`; a cycle through `t` comes back to it.
            let mut path = vec![t.id];
            let mut at = t.id;
            while let Some(next) = edge(at) {
                if next == t.id {
                    if path.iter().min() == Some(&t.id) {
                        cycles.push(path);
                    }
                    break;
                }
                if path.contains(&next) || path.len() > self.tasks.len() {
                    break;
                }
                path.push(next);
                at = next;
            }
        }
        cycles
    }

    fn who(&self, id: u64) -> String {
        match self.get(id) {
            Some(t) => t.who(),
            None => format!("task {id}"),
        }
    }

    /// The "waiting on" text of `t`, with the holder named.
    fn waiting_on(&self, w: &WaitInfo) -> String {
        let mut s = String::new();
        if let (WaitKind::Join, Some(h)) = (w.kind, w.holder_task) {
            s.push_str(&format!("join {}", self.who(h)));
            return s;
        }
        w.describe(&mut s);
        {
            if let Some(h) = w.holder_task {
                s.push_str(&format!(", held by {}", self.who(h)));
            } else if w.held_by_unknown() {
                s.push_str(", held by a thread greenstd does not know");
            }
        }
        s
    }

    /// One line per task for the deadlock report.
    pub(crate) fn report_lines(&self) -> String {
        let mut out = String::new();
        for t in &self.tasks {
            out.push_str("  ");
            out.push_str(&t.who());
            match &t.wait {
                Some(w) => out.push_str(&format!(
                    " waits in {}, for {}, at {}\n",
                    self.waiting_on(w),
                    Secs(w.waited),
                    w.location
                )),
                None => out.push_str(&format!(" is {}\n", t.state)),
            }
        }
        out
    }

    /// The cycles, one line each.
    pub(crate) fn cycle_lines(&self) -> String {
        let mut out = String::new();
        for c in self.cycles() {
            out.push_str("wait-for cycle: ");
            for id in &c {
                out.push_str(&self.who(*id));
                out.push_str(" -> ");
            }
            out.push_str(&self.who(c[0]));
            out.push('\n');
        }
        out
    }
}

/// A duration as seconds with 2 decimals.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!("{:.2}s", self.0.as_secs_f64()))
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let coroutines = self.tasks.iter().filter(|t| t.coroutine).count();
        writeln!(
            f,
            "greenstd: {} coroutine{}, {} thread{}",
            coroutines,
            if coroutines == 1 { "" } else { "s" },
            self.tasks.len() - coroutines,
            if self.tasks.len() - coroutines == 1 {
                ""
            } else {
                "s"
            },
        )?;
        let header = [
            "ID",
            "KIND",
            "NAME",
            "STATE",
            "WAITING ON",
            "FOR",
            "CALL SITE",
            "PARENT",
        ];
        let rows: Vec<[String; 8]> = self
            .tasks
            .iter()
            .map(|t| {
                let (on, waited, site) = match &t.wait {
                    Some(w) => (
                        self.waiting_on(w),
                        Secs(w.waited).to_string(),
                        w.location.to_string(),
                    ),
                    None => ("-".into(), "-".into(), "-".into()),
                };
                [
                    t.id.to_string(),
                    if t.coroutine { "coroutine" } else { "thread" }.into(),
                    t.name.clone().unwrap_or_else(|| "-".into()),
                    match t.held_thread {
                        Some(tid) => format!("{} (holds thread {tid} in a blocking call)", t.state),
                        None => t.state.to_string(),
                    },
                    on,
                    waited,
                    site,
                    t.parent.map_or_else(|| "-".into(), |p| p.to_string()),
                ]
            })
            .collect();
        let mut width = header.map(str::len);
        for r in &rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    writeln!(f, "{c}")?;
                } else {
                    write!(f, "{c:<w$}  ", w = width[i])?;
                }
            }
            Ok(())
        };
        line(f, &header)?;
        for r in &rows {
            let cells: Vec<&str> = r.iter().map(String::as_str).collect();
            line(f, &cells)?;
        }
        Ok(())
    }
}

/// Stack ranges of the tasks, sorted, to find who holds a lock from the
/// stack address it left there.
struct Stacks(Vec<(usize, usize, u64)>);

impl Stacks {
    fn of(tasks: &[Arc<Task>]) -> Stacks {
        let mut v: Vec<(usize, usize, u64)> = tasks
            .iter()
            .filter_map(|t| t.stack_range().map(|(lo, hi)| (lo, hi, t.id().get())))
            .collect();
        v.sort_unstable();
        Stacks(v)
    }

    fn owner(&self, addr: usize) -> Option<u64> {
        let i = self.0.partition_point(|&(lo, _, _)| lo <= addr);
        let &(lo, hi, id) = self.0.get(i.checked_sub(1)?)?;
        (lo <= addr && addr < hi).then_some(id)
    }
}

fn state_of(view: &RecordView) -> TaskState {
    match view.state {
        record::PARKED => TaskState::Parked,
        record::RUNNABLE => TaskState::Runnable,
        _ => TaskState::Running,
    }
}

/// The stack pointer of thread `tid` while it is in a system call.
fn syscall_stack_pointer(tid: i32) -> Option<usize> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    // "NR ARG1 … ARG6 SP PC" while in a system call ("running" otherwise).
    let fields: Vec<&str> = s.split_ascii_whitespace().collect();
    if fields.len() != 9 {
        return None;
    }
    usize::from_str_radix(fields[7].trim_start_matches("0x"), 16).ok()
}

/// Reads the records of `tasks` (registered: alive, threads not exited).
pub(crate) fn collect(tasks: &[Arc<Task>]) -> Dump {
    let stacks = Stacks::of(tasks);
    let now = coarse_now();
    let mut infos: Vec<TaskInfo> = tasks
        .iter()
        .map(|t| {
            let view = t.record().read();
            let state = state_of(&view);
            let wait = match (state, view.kind, view.location) {
                (TaskState::Parked | TaskState::Runnable, Some(kind), Some(location)) => {
                    let holder_task = match view.holder {
                        Holder::None => None,
                        Holder::Task(id) => Some(id.get()),
                        Holder::Stack(a) => stacks.owner(a),
                    };
                    Some(WaitInfo {
                        kind,
                        object: view.object,
                        holder: view.holder,
                        holder_task,
                        location,
                        waited: Duration::from_nanos(now.saturating_sub(view.since)),
                        timed: view.timed,
                    })
                }
                _ => None,
            };
            TaskInfo {
                id: t.id().get(),
                name: t.name().map(str::to_owned),
                coroutine: t.is_coroutine(),
                state,
                wait,
                parent: t.parent().map(|p| p.get()),
                seq: view.seq,
                held_thread: None,
            }
        })
        .collect();
    // A thread held by a blocking call is in the kernel: its stack pointer
    // (`/proc/self/task/TID/syscall`) is on the stack of the coroutine
    // that made the call.
    for tid in crate::monitor::held_threads() {
        let Some(sp) = syscall_stack_pointer(tid) else {
            continue;
        };
        if let Some(id) = stacks.owner(sp) {
            if let Some(t) = infos.iter_mut().find(|t| t.id == id) {
                t.held_thread = Some(tid);
            }
        }
    }
    infos.sort_unstable_by_key(|t| t.id);
    Dump { tasks: infos }
}

/// A snapshot of every live coroutine and every thread known to greenstd:
/// id, name, state, what it waits on, since when, from which line, and its
/// parent. Nobody is stopped while it is taken; each task's line is
/// consistent in itself.
pub fn dump() -> Dump {
    // Tasks may register or leave meanwhile; each stays alive while cloned.
    registry::frozen(collect)
}

/// The write end of the dump signal's pipe (-1: none).
static DUMP_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_dump_signal(_sig: libc::c_int) {
    let fd = DUMP_PIPE.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    // SAFETY: errno is saved and restored around write(2), which is
    // async-signal-safe; the byte lives across the call.
    unsafe {
        let errno = *crate::sys::errno_location();
        let b = 1u8;
        libc::write(fd, (&b as *const u8).cast(), 1);
        *crate::sys::errno_location() = errno;
    }
}

use crate::sys::cvt;

/// How the start-up sets up the dump signal.
pub(crate) const OBSERVER: crate::start::Observer =
    crate::start::Observer::after(|_, _| init_dump_signal());

/// Sets up `GREENSTD_DUMP_SIGNAL`: a handler that only writes a byte to a
/// pipe, and a thread of greenstd's own that waits on the pipe and prints
/// a [`dump`] to stderr for each byte (a signal handler may not take
/// locks or allocate).
fn init_dump_signal() -> io::Result<()> {
    let sig = match std::env::var("GREENSTD_DUMP_SIGNAL") {
        Err(std::env::VarError::NotPresent) => return Ok(()),
        Ok(v) => match v.trim() {
            "" => return Ok(()),
            "SIGQUIT" | "QUIT" => libc::SIGQUIT,
            "SIGUSR1" | "USR1" => libc::SIGUSR1,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("GREENSTD_DUMP_SIGNAL={other:?}: expected SIGQUIT or SIGUSR1"),
                ))
            }
        },
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "GREENSTD_DUMP_SIGNAL is not valid unicode: expected SIGQUIT or SIGUSR1",
            ))
        }
    };
    let (rd, wr) = crate::sys::pipe_cloexec()?;
    let (rd, wr) = (rd.into_raw_fd(), wr.into_raw_fd());
    // The handler must never block: a full pipe drops the byte (a dump is
    // already pending).
    // SAFETY: plain fcntl on a descriptor we own.
    cvt(unsafe { libc::fcntl(wr, libc::F_SETFL, libc::O_NONBLOCK) })?;
    DUMP_PIPE.store(wr, Ordering::Relaxed);
    std::thread::Builder::new()
        .name("greenstd-dump".into())
        .spawn(move || {
            task::mark_internal_thread();
            let mut buf = [0u8; 64];
            loop {
                // SAFETY: `buf` is valid for its length.
                let n = unsafe { libc::read(rd, buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                if n <= 0 {
                    return;
                }
                let text = dump().to_string();
                use std::io::Write as _;
                let _ = io::stderr().lock().write_all(text.as_bytes());
            }
        })?;
    // SAFETY: a zeroed sigaction is valid; handler, flags and an empty mask
    // are filled before it is installed. The handler is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_dump_signal as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        cvt(libc::sigaction(sig, &action, std::ptr::null_mut()))?;
    }
    Ok(())
}
