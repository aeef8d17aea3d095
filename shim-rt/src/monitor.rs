//! The monitor: one thread that watches the workers, as Go's sysmon does.
//!
//! A coroutine that calls a blocking function greenstd cannot see (a raw
//! system call, an unpatched crate, a crate's own `epoll_wait` poller, a
//! FIFO, FFI) or computes for long holds its worker's OS thread: nothing
//! else would run there until it switches. The monitor notices a worker
//! that has not switched coroutines for [`HANDOFF_AFTER`] and, when its
//! thread is blocked in the kernel (its state in
//! `/proc/self/task/TID/stat` is not "running"), **hands the worker off**:
//! another OS thread (an idle spare, or a new one) takes over the worker's
//! slot — its I/O poller, its place in the wake-up and steal lists — and
//! runs the other coroutines, while the blocked thread finishes its call.
//! When that coroutine switches, its thread gives the slot up and becomes a
//! spare; a spare not needed for 500 ms exits. So the number of threads
//! *running coroutines* stays at the worker count whatever blocks (Go's
//! hand-off of a P in a system call, Loom's compensation of a pinned
//! carrier).
//!
//! A worker whose thread is runnable is told apart by its scheduler
//! statistics (`/proc/self/task/TID/schedstat`): one that waits for a CPU
//! (the OS preempted it on a busy machine) is left alone, so busy machines
//! do not churn threads; one that computes (it ran at least as long as it
//! waited, and was not asleep half the time) is handed off after
//! [`COMPUTE_HANDOFF_AFTER`] (Go preempts such a goroutine after the same
//! 10 ms). A worker in its own poll to sleep is never held, also once a
//! wake-up was sent to it and before its thread is back (on a busy machine
//! that may take milliseconds): `may::monitor::worker_parked`.
//!
//! A worker that is not handed off (the thread bound is reached, or it
//! waits for a CPU) has its queued coroutines and ready I/O moved to the
//! other workers after [`RESCUE_AFTER`], as before the hand-off; one that
//! only waits for a CPU, only when another worker is idle to run them.
//!
//! The scheduler runs at most `GREENSTD_MAX_THREADS` OS threads (default
//! 10,000, as Go's `SetMaxThreads`), the workers and the threads held by
//! blocking calls together. When a worker should be handed off and the
//! bound is reached — or the hand-off cannot start a thread — the program
//! stalls as it would without the hand-off; it then says so once on stderr
//! (after [`STALL_REPORT_AFTER`]): which coroutines hold which threads, for
//! how long, and where, with the bound to raise.
//!
//! With `GREENSTD_MAX_BLOCKING_TIME` set (milliseconds), a coroutine that
//! holds its worker — or, handed off, its OS thread — longer is also
//! reported on stderr, once per incident: its name and id, the worker or
//! thread, how long so far, and a backtrace sampled on that thread
//! (gevent's monitor thread and `max_blocking_time`).
//!
//! Cost: while any worker is awake the monitor wakes every [`PERIOD`] and
//! reads two words per worker — every [`MIN_PERIOD`] for a while after a
//! hand-off (Go's sysmon backs off the same way). It reads a thread's
//! `/proc` state (one `pread` of a file it keeps open) for a worker that
//! has not switched since its last look, and, while the period is longer
//! than 4 × [`MIN_PERIOD`], for every awake worker at each look (a
//! blocking call shorter than the period would otherwise go unseen: one
//! found brings the next look forward). While every worker sleeps it
//! sleeps too, so an idle process makes no periodic wake-ups (once the
//! stacks parked coroutines offered are trimmed: every [`TRIM_PERIOD`]
//! while offers wait, it sweeps the stack arena, which returns the pages
//! below where each coroutine parked). A hand-off costs a wake-up of a
//! spare thread (or starting one, about 30 µs); a report costs one signal
//! to the stuck thread and symbolising its backtrace on the monitor thread.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use may::monitor::{HandOffError, Look};

use crate::config::Settings;

/// How often the monitor looks at the workers while any is awake and no
/// hand-off happened lately.
pub const PERIOD: Duration = Duration::from_millis(2);

/// How often the monitor looks right after a hand-off, or after it found a
/// worker's thread blocked in the kernel; the period doubles back to
/// [`PERIOD`] after 50 looks without either.
pub const MIN_PERIOD: Duration = Duration::from_micros(20);

/// How long a worker may stay in one coroutine, its thread blocked in the
/// kernel, before another thread takes over its slot.
pub const HANDOFF_AFTER: Duration = Duration::from_micros(20);

/// How long a worker may stay in one coroutine, its thread waiting on a
/// futex (a lock or a condition variable of another thread), before another
/// thread takes over its slot. Such a wait usually ends when a lock holder
/// the OS preempted runs again: on a busy machine that takes a time slice
/// or two, and handing off sooner only multiplied threads. A futex wait
/// that lasts (a runtime's `block_on`, a condition variable in FFI) is
/// still handed off, after this.
pub const LOCK_HANDOFF_AFTER: Duration = Duration::from_millis(2);

/// How long a worker may compute in one coroutine (its thread running on
/// a CPU) before another thread takes over its slot.
pub const COMPUTE_HANDOFF_AFTER: Duration = Duration::from_millis(10);

/// How long a worker may run one coroutine before its other work is moved
/// to the other workers, when it is not handed off (and, if its thread only
/// waits for a CPU, another worker is idle).
pub const RESCUE_AFTER: Duration = Duration::from_millis(2);

/// How long a worker that cannot be handed off must be held before the
/// stall report.
pub const STALL_REPORT_AFTER: Duration = Duration::from_secs(1);

/// How often parked coroutines' stacks are looked at for trimming: pages
/// below the depth a coroutine parked at go back to the kernel once it has
/// been parked for one to two periods (see `may::stack_arena`).
pub const TRIM_PERIOD: Duration = Duration::from_millis(500);

/// At most this many stacks are trimmed per period (one `madvise` each,
/// about a microsecond): the rest wait for the next period.
pub const TRIM_BUDGET: usize = 20_000;

/// Starts the monitor thread (once, when the runtime starts).
/// How the start-up starts the monitor.
pub(crate) const OBSERVER: crate::start::Observer = crate::start::Observer::after(|s, _| {
    start(s);
    Ok(())
});

fn start(settings: &Settings) {
    let limit = settings.max_blocking_time;
    install_sampler();
    let started = std::thread::Builder::new()
        .name("greenstd-monitor".into())
        .spawn(move || run(limit));
    if let Err(e) = started {
        // The runtime works without it, only without the hand-off.
        eprintln!("greenstd: cannot start the monitor thread ({e}); a blocked worker will hold its queued coroutines");
    }
}

struct Watch {
    look: Look,
    since: Instant,
    reported: bool,
    /// The thread's scheduler statistics (on-CPU and run-queue
    /// nanoseconds) at the first look that asked for them while the worker
    /// is held, and when.
    sched: Option<(u64, u64, Instant)>,
    /// Why the last hand-off was refused, if it was.
    refused: Option<HandOffError>,
}

/// A thread whose worker was handed off, while its coroutine holds it.
struct Held {
    since: Instant,
    reported: bool,
}

/// What a thread is doing, from `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThreadState {
    /// Blocked in the kernel (sleeping, waiting for the disk, stopped).
    Blocked,
    /// Blocked in a futex wait.
    LockWait,
    /// Runnable: on a CPU, or waiting for one.
    Runnable,
    /// Gone, or unreadable.
    Unknown,
}

/// The monitor's open `/proc/self/task/TID/{stat,syscall,schedstat}`
/// files, read again at offset 0 each look (the kernel makes them anew
/// for each read): one system call per look, where opening the file each
/// time took five (open, statx, two reads, close) and two allocations. A
/// busy echo server's monitor made 0.09 system calls per round trip that
/// way, more than the server's own `epoll_wait`s.
#[derive(Default)]
struct ProcFiles {
    threads: HashMap<libc::pid_t, [Option<std::fs::File>; 3]>,
}

/// The files of [`ProcFiles`], by index.
const PROC_NAMES: [&str; 3] = ["stat", "syscall", "schedstat"];
const STAT: usize = 0;
const SYSCALL: usize = 1;
const SCHEDSTAT: usize = 2;

impl ProcFiles {
    /// The start of `/proc/self/task/TID/NAME` (what the monitor parses
    /// lies in its first 128 bytes), or `None` when the thread is gone.
    fn read<'b>(
        &mut self,
        tid: libc::pid_t,
        file: usize,
        buf: &'b mut [u8; 128],
    ) -> Option<&'b [u8]> {
        use std::os::unix::fs::FileExt;
        let slot = &mut self.threads.entry(tid).or_default()[file];
        // A file kept from a thread that exited fails (ESRCH), even if a
        // new thread took its id: opened again once.
        for _ in 0..2 {
            let f = match slot {
                Some(f) => f,
                None => slot.insert(
                    std::fs::File::open(format!("/proc/self/task/{tid}/{}", PROC_NAMES[file]))
                        .ok()?,
                ),
            };
            match f.read_at(buf, 0) {
                Ok(n) if n > 0 => return Some(&buf[..n]),
                _ => *slot = None,
            }
        }
        None
    }

    /// Closes the files of threads `keep` does not name.
    fn retain(&mut self, keep: impl Fn(libc::pid_t) -> bool) {
        self.threads.retain(|tid, _| keep(*tid));
    }

    fn thread_state(&mut self, tid: libc::pid_t) -> ThreadState {
        let mut buf = [0; 128];
        let Some(stat) = self.read(tid, STAT, &mut buf) else {
            return ThreadState::Unknown;
        };
        // "tid (comm) S ...": the name may hold spaces and parentheses.
        let state = stat.iter().rposition(|&b| b == b')').and_then(|i| {
            stat[i + 1..]
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .copied()
        });
        match state {
            Some(b'R') => ThreadState::Runnable,
            Some(b'S' | b'D' | b'T' | b't' | b'I') => match self.system_call(tid) {
                Some(n) if FUTEX_CALLS.contains(&n) => ThreadState::LockWait,
                Some(_) => ThreadState::Blocked,
                // Blocked outside a system call: a page fault (waiting for the
                // address space's lock while another thread maps a stack, or for a
                // page from disk). It ends without anyone's help, as a preemption
                // does; Go's sysmon does not hand a P off for it either. Handing
                // such workers off on a busy machine only multiplied threads.
                None => ThreadState::Runnable,
            },
            _ => ThreadState::Unknown,
        }
    }

    /// The system call the thread is blocked in: `/proc/self/task/TID/syscall`
    /// starts with the call's number, or with `-1` when the thread is blocked
    /// outside one (proc(5)): `None` then. Unreadable counts as a call (as
    /// before this check existed), but not a futex wait.
    fn system_call(&mut self, tid: libc::pid_t) -> Option<libc::c_long> {
        let mut buf = [0; 128];
        match self.read(tid, SYSCALL, &mut buf) {
            Some(s) if s.starts_with(b"-1") => None,
            Some(s) => Some(first_number(s).unwrap_or(-2)),
            None => Some(-2),
        }
    }

    /// The thread's time on a CPU and waiting for one, in nanoseconds.
    fn sched_times(&mut self, tid: libc::pid_t) -> Option<(u64, u64)> {
        let mut buf = [0; 128];
        let s = self.read(tid, SCHEDSTAT, &mut buf)?;
        let mut f = s.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty());
        let mut next = || -> Option<u64> { std::str::from_utf8(f.next()?).ok()?.parse().ok() };
        Some((next()?, next()?))
    }
}

/// The decimal number `s` starts with.
fn first_number(s: &[u8]) -> Option<libc::c_long> {
    let end = s
        .iter()
        .position(u8::is_ascii_whitespace)
        .unwrap_or(s.len());
    std::str::from_utf8(&s[..end]).ok()?.parse().ok()
}

/// The system calls that wait on a futex.
#[cfg(target_os = "linux")]
const FUTEX_CALLS: &[libc::c_long] = &[libc::SYS_futex, libc::SYS_futex_waitv];
#[cfg(not(target_os = "linux"))]
const FUTEX_CALLS: &[libc::c_long] = &[];

fn run(limit: Option<Duration>) -> ! {
    crate::task::mark_internal_thread();
    // Sleeps of MIN_PERIOD, not the default 50 µs timer slack on top.
    crate::sys::set_timer_slack(1000);
    let workers = may::monitor::workers();
    let now = Instant::now();
    let fresh = |look: Look, now: Instant| Watch {
        look,
        since: now,
        reported: false,
        sched: None,
        refused: None,
    };
    let mut watch: Vec<Watch> = (0..workers)
        .map(|id| fresh(may::monitor::worker_look(id), now))
        .collect();
    let mut held: HashMap<libc::pid_t, Held> = HashMap::new();
    let mut proc = ProcFiles::default();
    let mut period = PERIOD;
    let mut quiet = 0u32;
    let mut stall_reported = false;
    let mut next_trim = now + TRIM_PERIOD;
    // The workers' looks when the deadlock detector was last told they all
    // sleep: a wait that ends (for a trim) with nothing run since does not
    // tell it again.
    let mut told_at: Option<Vec<Look>> = None;
    loop {
        // Every worker asleep: no coroutine can run. The moment a deadlock
        // of coroutines begins, if the tasks all wait for each other.
        if (0..workers).all(may::monitor::worker_sleeping) && held.is_empty() {
            let looks: Vec<Look> = (0..workers).map(may::monitor::worker_look).collect();
            if told_at.as_ref() != Some(&looks) {
                crate::observe::tell(crate::observe::Event::WorkersAsleep);
                told_at = Some(looks);
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
        std::thread::sleep(period);
        let now = Instant::now();
        let mut handed = false;
        let mut suspect = false;
        if now >= next_trim {
            trim();
            next_trim = now + TRIM_PERIOD;
            proc.retain(|tid| watch.iter().any(|w| w.look.tid() == tid));
        }
        for (id, w) in watch.iter_mut().enumerate() {
            let look = may::monitor::worker_look(id);
            // In its own poll (asleep, or woken and on its way back): it
            // runs no coroutine, nothing holds it.
            let parked = may::monitor::worker_parked(id);
            if look != w.look || parked {
                *w = fresh(look, now);
                // At the slow period a blocking call shorter than it would
                // never be seen twice: a worker found blocked in the
                // kernel brings the next look forward.
                if !parked
                    && period > MIN_PERIOD * 4
                    && matches!(
                        proc.thread_state(look.tid()),
                        ThreadState::Blocked | ThreadState::LockWait
                    )
                {
                    suspect = true;
                }
                continue;
            }
            let time = now.duration_since(w.since);
            // Held past HANDOFF_AFTER: what its thread is doing, read once
            // for the hand-off and the rescue below.
            let state =
                (time >= HANDOFF_AFTER && look.tid() != 0).then(|| proc.thread_state(look.tid()));
            if state.is_some_and(|s| should_hand_off(&mut proc, w, s, time, now)) {
                match may::monitor::hand_off(id, look) {
                    Ok(()) => {
                        handed = true;
                        held.insert(
                            look.tid(),
                            Held {
                                since: w.since,
                                reported: w.reported,
                            },
                        );
                        *w = fresh(may::monitor::worker_look(id), now);
                        continue;
                    }
                    Err(HandOffError::Moved) => {}
                    Err(e) => w.refused = Some(e),
                }
            }
            // A thread that only waits for a CPU (the OS preempted it on
            // a busy machine) runs its work again by itself: it moves only
            // when another worker is idle to run it. Moved to workers as
            // busy, it gained nothing and cost CPU (most of the monitor's,
            // up to 4% of an echo server's at 1,000 connections on 2
            // cores) and the coroutines' caches.
            let preempted = state == Some(ThreadState::Runnable);
            if time >= RESCUE_AFTER
                && (!preempted || (0..workers).any(|o| o != id && may::monitor::worker_sleeping(o)))
            {
                may::monitor::rescue(id);
            }
            if let Some(limit) = limit {
                if time >= limit && !w.reported {
                    w.reported = report_worker(id, look, time, limit);
                }
            }
            if let Some(why) = w.refused {
                if time >= STALL_REPORT_AFTER && !stall_reported {
                    stall_reported = true;
                    report_stall(why, &watch_snapshot(id, look, time), &held, now);
                }
            }
        }
        if !held.is_empty() {
            let detached = may::monitor::detached();
            held.retain(|tid, _| detached.iter().any(|l| l.tid() == *tid));
            may::monitor::rescue_detached();
            if let Some(limit) = limit {
                for l in &detached {
                    if let Some(h) = held.get_mut(&l.tid()) {
                        let time = now.duration_since(h.since);
                        if time >= limit && !h.reported {
                            h.reported = true;
                            report_held(*l, time, limit);
                        }
                    }
                }
            }
        }
        // Go's sysmon backs off the same way: fast right after a
        // hand-off, back to the slow period after 50 quiet looks.
        if handed || suspect {
            quiet = 0;
            period = MIN_PERIOD;
        } else {
            quiet += 1;
            if quiet > 50 {
                period = (period * 2).min(PERIOD);
            }
        }
    }
}

/// Whether the thread of a worker held for `time`, found in `state` at the
/// look made at `now`, is blocked in the kernel (hand it off), computing for
/// long (hand it off), or only waiting for a CPU (leave it).
fn should_hand_off(
    proc: &mut ProcFiles,
    w: &mut Watch,
    state: ThreadState,
    time: Duration,
    now: Instant,
) -> bool {
    let tid = w.look.tid();
    match state {
        ThreadState::Blocked => true,
        ThreadState::LockWait => time >= LOCK_HANDOFF_AFTER,
        ThreadState::Unknown => false,
        ThreadState::Runnable => {
            let Some((cpu1, wait1)) = proc.sched_times(tid) else {
                return false;
            };
            let Some((cpu0, wait0, then)) = w.sched else {
                w.sched = Some((cpu1, wait1, now));
                return false;
            };
            time >= COMPUTE_HANDOFF_AFTER
                && computes(
                    cpu1.saturating_sub(cpu0),
                    wait1.saturating_sub(wait0),
                    now.duration_since(then),
                )
        }
    }
}

/// Whether a runnable thread that spent `ran` ns on a CPU and `waited` ns
/// waiting for one over `wall` computes: it ran at least as long as it
/// waited (it is not merely preempted on a busy machine), and it was on a
/// CPU or waiting for one at least half the time (it did not sleep: a
/// thread woken a moment ago is runnable too, with nothing to show). The
/// kernel adds a running thread's CPU time at its clock tick (4 ms at 250
/// Hz), hence the loose half.
fn computes(ran: u64, waited: u64, wall: Duration) -> bool {
    ran >= waited && u128::from(ran + waited) * 2 >= wall.as_nanos()
}

/// One line per worker for the stall report: (worker, look, held for).
fn watch_snapshot(id: usize, look: Look, time: Duration) -> Vec<(usize, Look, Duration)> {
    let mut v = vec![(id, look, time)];
    for other in 0..may::monitor::workers() {
        if other != id && !may::monitor::worker_parked(other) {
            v.push((other, may::monitor::worker_look(other), Duration::ZERO));
        }
    }
    v
}

/// The kernel thread ids of the threads held by a coroutine after their
/// worker was handed off (for `dump`).
pub(crate) fn held_threads() -> Vec<libc::pid_t> {
    if crate::config::running().is_none() {
        return Vec::new();
    }
    may::monitor::detached().iter().map(Look::tid).collect()
}

/// The hand-offs made so far (for tests); 0 before the runtime starts.
pub fn handoffs() -> usize {
    // A look must not start may's scheduler with its own defaults, before
    // the settings (and so with another number of workers).
    if crate::config::running().is_none() {
        return 0;
    }
    may::monitor::handoffs()
}

/// The OS threads the scheduler runs now: the workers, spares, and the
/// threads held by coroutines blocked in calls greenstd cannot see; 0
/// before the runtime starts.
pub fn scheduler_threads() -> usize {
    if crate::config::running().is_none() {
        return 0;
    }
    may::monitor::threads()
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
    /// The thread was running a coroutine (not its worker's own loop).
    in_coroutine: AtomicBool,
    name: [AtomicU8; NAME_LEN],
    name_len: AtomicUsize,
}

static SAMPLE: Sample = Sample {
    state: AtomicU8::new(IDLE),
    frames: [const { AtomicUsize::new(0) }; MAX_FRAMES],
    len: AtomicUsize::new(0),
    task_id: AtomicU64::new(0),
    in_coroutine: AtomicBool::new(false),
    name: [const { AtomicU8::new(0) }; NAME_LEN],
    name_len: AtomicUsize::new(0),
};

/// Set once our handler is installed.
static INSTALLED: AtomicBool = AtomicBool::new(false);

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
    let current = may::monitor::peek_current(|id, name| {
        let bytes = name.unwrap_or("").as_bytes();
        let len = bytes.len().min(NAME_LEN);
        for (slot, b) in SAMPLE.name.iter().zip(&bytes[..len]) {
            slot.store(*b, Ordering::Relaxed);
        }
        (id, len)
    });
    SAMPLE
        .in_coroutine
        .store(current.is_some(), Ordering::Relaxed);
    let (id, name_len) = current.unwrap_or((0, 0));
    SAMPLE.task_id.store(id, Ordering::Relaxed);
    SAMPLE.name_len.store(name_len, Ordering::Relaxed);
    SAMPLE.state.store(DONE, Ordering::Release);
}

const DONE: u8 = 3;

/// What a sample found.
struct Taken {
    task_id: u64,
    in_coroutine: bool,
    name: String,
    frames: Vec<usize>,
}

fn sample(look: Look) -> Option<Taken> {
    if !INSTALLED.load(Ordering::Acquire) {
        return None;
    }
    let thread = look.thread()?;
    SAMPLE
        .state
        .compare_exchange(IDLE, REQUESTED, Ordering::AcqRel, Ordering::Acquire)
        .ok()?;
    // SAFETY: `thread` is a live scheduler thread: one that serves a worker
    // or is held by a coroutine does not exit.
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
        in_coroutine: SAMPLE.in_coroutine.load(Ordering::Relaxed),
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

/// Who a sample found, in words.
fn who(taken: &Taken) -> String {
    match (taken.task_id, taken.name.as_str()) {
        (0, _) => "a coroutine not started by greenstd".to_owned(),
        (id, "") => format!("coroutine <unnamed> (id {id})"),
        (id, name) => format!("coroutine '{name}' (id {id})"),
    }
}

/// Prints `what` (a sentence about "{who}", the sampled coroutine) and the
/// backtrace sampled on `look`'s thread. `false`, and nothing printed, when
/// the sample found the thread in its worker's own loop, running no
/// coroutine: nothing of the program's held it (the OS preempted it on a
/// busy machine), and the next look asks again.
fn report(look: Look, what: impl Fn(&str) -> String) -> bool {
    let mut out = String::new();
    match sample(look) {
        Some(taken) if !reportable(&taken) => return false,
        Some(taken) => {
            let _ = writeln!(out, "{} It is at:", what(&who(&taken)));
            // Who, at once; where, once symbolised (that can take a while).
            eprint!("{out}");
            out.clear();
            write_frames(&mut out, &taken.frames);
        }
        None => {
            let _ = writeln!(
                out,
                "{} Its backtrace could not be sampled.",
                what("a coroutine")
            );
        }
    }
    eprint!("{out}");
    REPORTS.fetch_add(1, Ordering::Release);
    true
}

/// Whether a sample shows the program holding the thread: a coroutine
/// runs there (greenstd's, or one started on may directly).
fn reportable(taken: &Taken) -> bool {
    taken.in_coroutine
}

/// The report of a worker held for `held`; `false` if none was printed
/// (see [`report`]).
fn report_worker(worker: usize, look: Look, held: Duration, limit: Duration) -> bool {
    report(look, |who| {
        format!(
            "greenstd: {who} has held worker {worker} (thread {}) for {} ms without switching \
             (GREENSTD_MAX_BLOCKING_TIME={} ms); its other coroutines were moved to the \
             other workers.",
            look.tid(),
            held.as_millis(),
            limit.as_millis()
        )
    })
}

fn report_held(look: Look, held: Duration, limit: Duration) {
    report(look, |who| {
        format!(
            "greenstd: {who} has held OS thread {} for {} ms without switching \
             (GREENSTD_MAX_BLOCKING_TIME={} ms); its worker was handed to another thread.",
            look.tid(),
            held.as_millis(),
            limit.as_millis()
        )
    });
}

/// The stall report (once per process, by default): a worker should be
/// handed off and cannot be.
fn report_stall(
    why: HandOffError,
    workers: &[(usize, Look, Duration)],
    held: &HashMap<libc::pid_t, Held>,
    now: Instant,
) {
    let reason = match why {
        HandOffError::Limit(max) => format!(
            "the scheduler runs its maximum of {max} OS threads (GREENSTD_MAX_THREADS; \
             {} of them held by blocking calls)",
            held.len()
        ),
        HandOffError::Spawn => "no new OS thread could be started".to_owned(),
        HandOffError::Moved => "it moved".to_owned(),
    };
    eprintln!(
        "greenstd: stalled: a worker is blocked and cannot be handed to another thread: \
         {reason}. The coroutines holding threads:"
    );
    for &(id, look, time) in workers {
        report(look, |who| {
            format!(
                "greenstd:   {who} holds worker {id} (thread {}){}.",
                look.tid(),
                if time.is_zero() {
                    String::new()
                } else {
                    format!(", for {} ms", time.as_millis())
                }
            )
        });
    }
    for look in may::monitor::detached() {
        let time = held
            .get(&look.tid())
            .map_or(Duration::ZERO, |h| now.duration_since(h.since));
        report(look, |who| {
            format!(
                "greenstd:   {who} holds thread {} in a blocking call, for {} ms.",
                look.tid(),
                time.as_millis()
            )
        });
    }
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn gettid() -> libc::pid_t {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    }

    /// A sample of a worker in its own loop (no coroutine runs there: the
    /// OS preempted it) is not a report; one of any coroutine is, greenstd's
    /// or one started on may directly. Reports of the loop said "a
    /// coroutine not started by greenstd has held worker 1 for 6 ms", with
    /// `EventLoop::run` and `wake_all` for its backtrace, on a busy machine.
    #[test]
    fn only_a_coroutine_is_reported() {
        let taken = |task_id, in_coroutine| Taken {
            task_id,
            in_coroutine,
            name: String::new(),
            frames: Vec::new(),
        };
        assert!(!reportable(&taken(0, false)));
        assert!(reportable(&taken(0, true)));
        assert_eq!(who(&taken(0, true)), "a coroutine not started by greenstd");
        assert!(reportable(&taken(7, true)));
    }

    /// A thread on a CPU most of the time computes; one mostly waiting for
    /// a CPU is preempted; one that slept, woken a moment ago and runnable
    /// now, does neither (it was taken for a computation once: a worker
    /// woken late from its poll on a busy machine was handed off).
    #[test]
    fn only_a_thread_that_ran_computes() {
        let ms = |n: u64| n * 1_000_000;
        let wall = Duration::from_millis(12);
        assert!(computes(ms(7), ms(5), wall));
        // The last tick's CPU time not added yet.
        assert!(computes(ms(4), ms(2), wall));
        assert!(!computes(ms(3), ms(9), wall), "preempted, not computing");
        assert!(!computes(0, 0, wall), "asleep, then woken");
        assert!(!computes(ms(1), 0, wall), "asleep most of the time");

        // And a real thread that slept, runnable again.
        let mut proc = ProcFiles::default();
        let (tx, rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(gettid()).unwrap();
            go_rx.recv().unwrap();
        });
        let tid = rx.recv().unwrap();
        let (cpu0, wait0) = proc.sched_times(tid).expect("schedstat");
        let then = Instant::now();
        std::thread::sleep(Duration::from_millis(30));
        let (cpu1, wait1) = proc.sched_times(tid).expect("schedstat");
        assert!(!computes(cpu1 - cpu0, wait1 - wait0, then.elapsed()));
        go_tx.send(()).unwrap();
        t.join().unwrap();
    }

    /// The kept files answer anew at each read, tell a sleeping thread from
    /// a running one, and fail once the thread is gone.
    #[test]
    fn proc_files_read_fresh_state_and_see_a_thread_go() {
        let mut proc = ProcFiles::default();
        let me = gettid();
        assert_eq!(proc.thread_state(me), ThreadState::Runnable);
        let (cpu0, _) = proc.sched_times(me).expect("schedstat");
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        let (cpu1, _) = proc.sched_times(me).expect("schedstat");
        assert!(
            cpu1 > cpu0,
            "the same open file read again: {cpu0} then {cpu1}"
        );

        let (tx, rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(gettid()).unwrap();
            let _ = stop_rx.recv();
        });
        let tid = rx.recv().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while proc.thread_state(tid) != ThreadState::LockWait {
            assert!(Instant::now() < deadline, "{:?}", proc.thread_state(tid));
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(stop_tx);
        t.join().unwrap();
        assert_eq!(proc.thread_state(tid), ThreadState::Unknown);
        assert_eq!(proc.sched_times(tid), None);
        proc.retain(|t| t == me);
        assert_eq!(proc.threads.len(), 1);
    }
}
