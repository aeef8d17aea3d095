//! The monitor: one thread that watches the workers, as Go's sysmon does.
//!
//! A coroutine that computes, or calls a blocking function greenstd cannot
//! see (an unpatched crate, a FIFO, FFI), holds its worker: nothing else
//! runs there until it switches. The monitor notices a worker that has not
//! switched coroutines for [`RESCUE_AFTER`] and moves that worker's queued
//! coroutines and its ready I/O events to the queue every other worker
//! takes from (may's scheduler, as patched by greenstd, exposes both), so
//! the stuck coroutine delays only itself.
//!
//! With `GREENSTD_MAX_BLOCKING_TIME` set (milliseconds), a coroutine that
//! holds its worker longer is also reported on stderr, once per incident:
//! its name and id, the worker, how long so far, and a backtrace sampled on
//! that worker thread (gevent's monitor thread and `max_blocking_time`).
//!
//! Cost: while any worker is awake the monitor wakes every [`PERIOD`] and
//! reads two words per worker; while every worker sleeps it sleeps too, so
//! an idle process makes no periodic wake-ups (once the stacks parked
//! coroutines offered are trimmed: every [`TRIM_PERIOD`] while offers wait,
//! it sweeps the stack arena, which returns the pages below where each
//! coroutine parked). A report costs one signal to
//! the stuck worker and symbolising its backtrace on the monitor thread.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::Settings;

/// How often the monitor looks at the workers while any is awake.
pub const PERIOD: Duration = Duration::from_millis(2);

/// How long a worker may run one coroutine before its other work is moved
/// to the other workers.
pub const RESCUE_AFTER: Duration = Duration::from_millis(2);

/// How often parked coroutines' stacks are looked at for trimming: pages
/// below the depth a coroutine parked at go back to the kernel once it has
/// been parked for one to two periods (see `may::stack_arena`).
pub const TRIM_PERIOD: Duration = Duration::from_millis(500);

/// At most this many stacks are trimmed per period (one `madvise` each,
/// about a microsecond): the rest wait for the next period.
pub const TRIM_BUDGET: usize = 20_000;

/// Starts the monitor thread (once, when the runtime starts).
pub(crate) fn start(settings: &Settings) {
    let limit = settings.max_blocking_time;
    if limit.is_some() {
        install_sampler();
    }
    let started = std::thread::Builder::new()
        .name("greenstd-monitor".into())
        .spawn(move || run(limit));
    if let Err(e) = started {
        // The runtime works without it, only without the isolation.
        eprintln!("greenstd: cannot start the monitor thread ({e}); a stuck worker will hold its queued coroutines");
    }
}

struct Watch {
    ticks: u64,
    since: Instant,
    reported: bool,
}

fn run(limit: Option<Duration>) -> ! {
    crate::task::mark_internal_thread();
    let workers = may::monitor::workers();
    let now = Instant::now();
    let mut watch: Vec<Watch> = (0..workers)
        .map(|id| Watch {
            ticks: may::monitor::worker_ticks(id),
            since: now,
            reported: false,
        })
        .collect();
    let mut next_trim = now + TRIM_PERIOD;
    // The workers' tick total when the deadlock detector was last told
    // they all sleep: a wait that ends (for a trim) with nothing run since
    // does not tell it again.
    let mut told_at: Option<u64> = None;
    loop {
        // Every worker asleep: no coroutine can run. The moment a deadlock
        // of coroutines begins, if the tasks all wait for each other.
        if (0..workers).all(may::monitor::worker_sleeping) {
            let ticks: u64 = (0..workers).map(may::monitor::worker_ticks).sum();
            if told_at != Some(ticks) {
                crate::deadlock::workers_fell_asleep();
                told_at = Some(ticks);
            }
            // Sleeps while every worker sleeps: idle means idle. Only
            // after the detector was told: had the last worker fallen
            // asleep between a look that saw it awake and this wait, the
            // monitor would sleep through the start of a deadlock and
            // nobody would report it (seen once, under load). Stacks
            // offered for trimming bound the sleep.
            let timeout =
                trim_pending().then(|| next_trim.saturating_duration_since(Instant::now()));
            may::monitor::wait_for_activity(timeout);
        }
        std::thread::sleep(PERIOD);
        let now = Instant::now();
        if now >= next_trim {
            trim();
            next_trim = now + TRIM_PERIOD;
        }
        for (id, w) in watch.iter_mut().enumerate() {
            let ticks = may::monitor::worker_ticks(id);
            if ticks != w.ticks || may::monitor::worker_sleeping(id) {
                *w = Watch {
                    ticks,
                    since: now,
                    reported: false,
                };
                continue;
            }
            let held = now.duration_since(w.since);
            if held >= RESCUE_AFTER {
                may::monitor::rescue(id);
            }
            if let Some(limit) = limit {
                if held >= limit && !w.reported {
                    w.reported = true;
                    report(id, held, limit);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Sampling a stuck worker: a signal handler on that thread records its
// backtrace and the coroutine it runs; the monitor symbolises and prints.
// ---------------------------------------------------------------------------

/// The signal sent to a stuck worker to sample it. Go uses SIGURG for its
/// preemption for the same reasons: ignored by default, and practically
/// unused (it only reports out-of-band socket data to an `F_SETOWN` owner).
const SAMPLE_SIGNAL: libc::c_int = libc::SIGURG;

const MAX_FRAMES: usize = 64;
const NAME_LEN: usize = 64;

const IDLE: u8 = 0;
const REQUESTED: u8 = 1;
const TAKEN: u8 = 2;

/// The one sample in flight: written by the handler, read by the monitor.
struct Sample {
    state: AtomicU8,
    frames: [AtomicUsize; MAX_FRAMES],
    len: AtomicUsize,
    task_id: AtomicU64,
    name: [AtomicU8; NAME_LEN],
    name_len: AtomicUsize,
}

static SAMPLE: Sample = Sample {
    state: AtomicU8::new(IDLE),
    frames: [const { AtomicUsize::new(0) }; MAX_FRAMES],
    len: AtomicUsize::new(0),
    task_id: AtomicU64::new(0),
    name: [const { AtomicU8::new(0) }; NAME_LEN],
    name_len: AtomicUsize::new(0),
};

/// Set once our handler is installed.
static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Installs the sampler, unless the program handles the signal itself
/// (then reports come without a backtrace).
#[cfg(target_os = "linux")]
fn trim_pending() -> bool {
    may::stack_arena::pending()
}

#[cfg(not(target_os = "linux"))]
fn trim_pending() -> bool {
    false
}

#[cfg(target_os = "linux")]
fn trim() {
    may::stack_arena::sweep(TRIM_BUDGET);
}

#[cfg(not(target_os = "linux"))]
fn trim() {}

fn install_sampler() {
    // SAFETY: zeroed sigactions are valid "no handler, no flags, empty
    // mask" values; the handler is an `extern "C"` function of the right
    // signature that only does async-signal-safe work (see `on_sample`).
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(SAMPLE_SIGNAL, std::ptr::null(), &mut old) != 0
            || (old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN)
        {
            return;
        }
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sample as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(SAMPLE_SIGNAL, &sa, std::ptr::null_mut()) == 0 {
            INSTALLED.store(true, Ordering::Release);
        }
    }
}

extern "C" fn on_sample(_sig: libc::c_int) {
    if SAMPLE
        .state
        .compare_exchange(REQUESTED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // Not a sample we asked for (a stray SIGURG): ignored, as by default.
        return;
    }
    let mut n = 0;
    // SAFETY: unsynchronised tracing is what a signal handler can do; the
    // unwinder reads this thread's own stack. The rare case of the signal
    // landing inside the unwinder's own locks is the documented cost.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            SAMPLE.frames[n].store(frame.ip() as usize, Ordering::Relaxed);
            n += 1;
            n < MAX_FRAMES
        });
    }
    SAMPLE.len.store(n, Ordering::Relaxed);
    let (id, name_len) = may::monitor::peek_current(|id, name| {
        let bytes = name.unwrap_or("").as_bytes();
        let len = bytes.len().min(NAME_LEN);
        for (slot, b) in SAMPLE.name.iter().zip(&bytes[..len]) {
            slot.store(*b, Ordering::Relaxed);
        }
        (id, len)
    })
    .unwrap_or((0, 0));
    SAMPLE.task_id.store(id, Ordering::Relaxed);
    SAMPLE.name_len.store(name_len, Ordering::Relaxed);
    SAMPLE.state.store(DONE, Ordering::Release);
}

const DONE: u8 = 3;

/// What a sample found.
struct Taken {
    task_id: u64,
    name: String,
    frames: Vec<usize>,
}

fn sample(worker: usize) -> Option<Taken> {
    if !INSTALLED.load(Ordering::Acquire) {
        return None;
    }
    let thread = may::monitor::worker_thread(worker)?;
    SAMPLE
        .state
        .compare_exchange(IDLE, REQUESTED, Ordering::AcqRel, Ordering::Acquire)
        .ok()?;
    // SAFETY: `thread` is a live worker thread (workers never exit).
    if unsafe { libc::pthread_kill(thread, SAMPLE_SIGNAL) } != 0 {
        SAMPLE.state.store(IDLE, Ordering::Release);
        return None;
    }
    let deadline = Instant::now() + Duration::from_millis(200);
    while SAMPLE.state.load(Ordering::Acquire) != DONE {
        if Instant::now() > deadline {
            // Not delivered in time (the worker blocks the signal, or
            // unwinding stalls): give up on it. A late handler finds the
            // state no longer REQUESTED and does nothing.
            if SAMPLE
                .state
                .compare_exchange(REQUESTED, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return None;
            }
            // TAKEN: the handler runs; wait for it to finish.
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let len = SAMPLE.len.load(Ordering::Relaxed);
    let frames = SAMPLE.frames[..len]
        .iter()
        .map(|f| f.load(Ordering::Relaxed))
        .collect();
    let name_len = SAMPLE.name_len.load(Ordering::Relaxed);
    let name: Vec<u8> = SAMPLE.name[..name_len]
        .iter()
        .map(|b| b.load(Ordering::Relaxed))
        .collect();
    let taken = Taken {
        task_id: SAMPLE.task_id.load(Ordering::Relaxed),
        name: String::from_utf8_lossy(&name).into_owned(),
        frames,
    };
    SAMPLE.state.store(IDLE, Ordering::Release);
    Some(taken)
}

/// Reports printed so far, in full.
static REPORTS: AtomicUsize = AtomicUsize::new(0);

/// How many blocked-worker reports have been printed in full so far (for
/// tests that must wait for one).
#[doc(hidden)]
pub fn reports_printed() -> usize {
    REPORTS.load(Ordering::Acquire)
}

fn report(worker: usize, held: Duration, limit: Duration) {
    let mut out = String::new();
    match sample(worker) {
        Some(taken) => {
            let who = match (taken.task_id, taken.name.as_str()) {
                (0, _) => "a coroutine not started by greenstd".to_owned(),
                (id, "") => format!("coroutine <unnamed> (id {id})"),
                (id, name) => format!("coroutine '{name}' (id {id})"),
            };
            let _ = writeln!(
                out,
                "greenstd: {who} has held worker {worker} for {} ms without switching \
                 (GREENSTD_MAX_BLOCKING_TIME={} ms); its other coroutines were moved to the \
                 other workers. It is at:",
                held.as_millis(),
                limit.as_millis()
            );
            // Who, at once; where, once symbolised (that can take a while).
            eprint!("{out}");
            out.clear();
            write_frames(&mut out, &taken.frames);
        }
        None => {
            let _ = writeln!(
                out,
                "greenstd: a coroutine has held worker {worker} for {} ms without switching \
                 (GREENSTD_MAX_BLOCKING_TIME={} ms); its backtrace could not be sampled",
                held.as_millis(),
                limit.as_millis()
            );
        }
    }
    eprint!("{out}");
    REPORTS.fetch_add(1, Ordering::Release);
}

/// Symbolises `frames`, leaving out the sampler's own frames at the top.
fn write_frames(out: &mut String, frames: &[usize]) {
    let mut lines = Vec::new();
    for &ip in frames {
        let mut names = Vec::new();
        backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
            let name = sym
                .name()
                .map(|n| format!("{n:#}"))
                .unwrap_or_else(|| format!("{ip:#x}"));
            let place = match (sym.filename(), sym.lineno()) {
                (Some(f), Some(l)) => format!("{}:{l}", f.display()),
                _ => String::new(),
            };
            names.push((name, place));
        });
        if names.is_empty() {
            names.push((format!("{ip:#x}"), String::new()));
        }
        lines.extend(names);
    }
    // Everything up to the signal trampoline belongs to the sampler.
    let start = lines
        .iter()
        .position(|(n, _)| n.contains("on_sample"))
        .map_or(0, |i| i + 1);
    let mut start = start;
    while lines.get(start).is_some_and(|(n, _)| {
        n.starts_with("0x") || n.contains("restore_rt") || n.contains("sigreturn")
    }) {
        start += 1;
    }
    // Below the coroutine's entry point there is only the runtime. When
    // the entry point is the first frame, the thread's closure was inlined
    // into it (a release build without debug info has no inline frames to
    // tell): that frame is the user's code, so it stays, said so.
    let entry = lines[start..]
        .iter()
        .position(|(n, _)| n.starts_with("shim_thread::builder::") || n.starts_with("generator::"))
        .map(|i| start + i);
    let end = match entry {
        Some(e) if e == start => (e + 1).min(lines.len()),
        Some(e) => e,
        None => lines.len(),
    };
    for (i, (name, place)) in lines[start..end].iter().enumerate() {
        let _ = writeln!(out, "  {i:>3}: {name}");
        if !place.is_empty() {
            let _ = writeln!(out, "             at {place}");
        }
        if entry == Some(start + i) {
            let _ = writeln!(
                out,
                "             (the thread's closure, inlined into greenstd's entry point; \
                 build with debug info to see its lines)"
            );
        }
    }
}
