//! The deadlock detector: when every coroutine and every thread of the
//! program waits for another one, and nothing from outside can wake any of
//! them, print who waits on what and end the process, as Go does ("all
//! goroutines are asleep - deadlock!").
//!
//! `GREENSTD_DEADLOCK=abort` (the default) prints the report and aborts;
//! `report` prints it once per deadlock and lets the process hang on;
//! `off` never looks.
//!
//! # When it looks
//!
//! Never on a timer, and never on a wait's fast path: a wait touches only
//! its own task and its queue. The detector's thread sleeps until kicked
//! by one of the moments a deadlock can begin:
//!
//! * every worker falls asleep (no coroutine is runnable): the monitor
//!   thread, which watches the workers anyway, sees it;
//! * a plain thread known to greenstd starts a wait that only another task
//!   can end while every worker sleeps (or a thread exits, or an offload
//!   job ends, then).
//!
//! It then lets a short grace pass (a wake-up issued a moment ago lands)
//! and reports only if two snapshots, a moment apart, agree that:
//!
//! * every worker sleeps;
//! * every registered task is parked in a wait only another task can end
//!   (no deadline; not I/O, sleep or offload), and no task's wait changed
//!   between the snapshots;
//! * no timer is pending on a worker and no offload job is queued or running;
//! * every OS thread of the process (`/proc/self/task`) is one of the
//!   runtime's own (the `may` workers, the
//!   monitor, the offload pools, the detector, the dump thread) or a
//!   registered thread parked as above. Any other thread — one the program
//!   started with `std::thread` directly, a library's — might still wake
//!   somebody, so its presence means "no deadlock".
//!
//! It cannot see coroutines spawned with raw `may` (not through greenstd),
//! nor a thread that exits without waking anyone after the last check (no
//! event marks it): in such cases it stays silent rather than guess.

use std::collections::HashSet;
use std::io;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::inspect::{self, Dump, TaskState};
use crate::task_core::registry;
use crate::{config, offload, record, task, timer};

const OFF: u8 = 0;
const ABORT: u8 = 1;
const REPORT: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(OFF);

/// Time for wake-ups in flight to land before the first snapshot.
const GRACE: Duration = Duration::from_millis(100);
/// Time between the two snapshots that must agree.
const CONFIRM: Duration = Duration::from_millis(100);
/// Pause after a look that found no deadlock.
const BACKOFF: Duration = Duration::from_millis(400);

struct Detector {
    kicked: Mutex<bool>,
    cv: Condvar,
}

static DETECTOR: Detector = Detector {
    kicked: Mutex::new(false),
    cv: Condvar::new(),
};

/// Thread ids of `may`'s threads (workers and timer), or `None` when they
/// could not be told apart from the program's.
static RUNTIME: OnceLock<Option<Vec<i32>>> = OnceLock::new();

use crate::sys::thread_ids;

/// How the start-up starts the detector.
pub(crate) const OBSERVER: crate::start::Observer =
    crate::start::Observer::after(|_, may_threads| init(may_threads.map(<[i32]>::to_vec)));

/// Reads `GREENSTD_DEADLOCK` and starts the detector's thread (which then
/// sleeps until kicked). `may_threads` are the threads that appeared while
/// the scheduler started (`None` when unknown).
fn init(may_threads: Option<Vec<i32>>) -> io::Result<()> {
    let mode = match std::env::var("GREENSTD_DEADLOCK") {
        Err(std::env::VarError::NotPresent) => ABORT,
        Ok(v) => match v.trim() {
            "" | "abort" => ABORT,
            "report" => REPORT,
            "off" => OFF,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("GREENSTD_DEADLOCK={other:?}: expected abort, report or off"),
                ))
            }
        },
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "GREENSTD_DEADLOCK is not valid unicode: expected abort, report or off",
            ))
        }
    };
    let _ = RUNTIME.set(may_threads);
    if mode == OFF {
        return Ok(());
    }
    crate::observe::register(observe);
    std::thread::Builder::new()
        .name("greenstd-deadlock".into())
        .spawn(run)?;
    MODE.store(mode, Ordering::SeqCst);
    Ok(())
}

/// Wakes the detector: every live task may be blocked on another.
pub(crate) fn kick() {
    if MODE.load(Ordering::Relaxed) == OFF {
        return;
    }
    let mut k = DETECTOR.kicked.lock();
    *k = true;
    DETECTOR.cv.notify_one();
}

/// `true` when the runtime runs and every worker sleeps: no coroutine can
/// run.
fn workers_asleep() -> bool {
    // Asking may before the runtime started would start it.
    config::running().is_some() && (0..may::monitor::workers()).all(may::monitor::worker_sleeping)
}

/// The core's events ([`crate::observe`]).
fn observe(event: crate::observe::Event) {
    match event {
        crate::observe::Event::ThreadBlocked => thread_blocked(),
        crate::observe::Event::SomethingEnded => kick_if_idle(),
        crate::observe::Event::WorkersAsleep => kick(),
    }
}

/// A registered plain thread starts a wait that only another task can end.
fn thread_blocked() {
    if MODE.load(Ordering::Relaxed) != OFF && workers_asleep() {
        kick();
    }
}

/// Something outside the tasks ended (a thread, an offload job): if every
/// worker sleeps, the tasks left may be stuck.
fn kick_if_idle() {
    if MODE.load(Ordering::Relaxed) != OFF && workers_asleep() {
        kick();
    }
}

fn run() {
    task::mark_internal_thread();
    let mut reported: Option<Vec<(u64, u32)>> = None;
    loop {
        {
            let mut k = DETECTOR.kicked.lock();
            while !*k {
                DETECTOR.cv.wait(&mut k);
            }
            *k = false;
        }
        std::thread::sleep(GRACE);
        let Some(first) = check() else {
            // Not (or not yet) a deadlock. Kicks that come meanwhile (a
            // program whose tasks all wait on a thread greenstd cannot see
            // kicks at every message) are looked at after a pause.
            std::thread::sleep(BACKOFF);
            continue;
        };
        std::thread::sleep(CONFIRM);
        let Some(second) = check() else {
            std::thread::sleep(BACKOFF);
            continue;
        };
        let key =
            |d: &Dump| -> Vec<(u64, u32)> { d.tasks().iter().map(|t| (t.id(), t.seq())).collect() };
        if key(&first) != key(&second) {
            // Something moved in between: look again.
            kick();
            continue;
        }
        if reported.as_ref() == Some(&key(&second)) {
            continue;
        }
        let mut text = String::from(
            "\ngreenstd: deadlock: every thread and coroutine is blocked, waiting for another, \
             and nothing can wake any of them\n",
        );
        text.push_str(&second.report_lines());
        text.push_str(&second.cycle_lines());
        eprint_all(&text);
        if MODE.load(Ordering::Relaxed) == ABORT {
            eprint_all("fatal error: all threads and coroutines are asleep - deadlock!\n");
            std::process::abort();
        }
        eprint_all("greenstd: GREENSTD_DEADLOCK=report: the process carries on\n");
        reported = Some(key(&second));
    }
}

fn eprint_all(s: &str) {
    use std::io::Write as _;
    let _ = io::stderr().lock().write_all(s.as_bytes());
}

/// Whether `t` is parked in a wait only another task can end.
fn blocked(t: &task::Task) -> bool {
    let r = t.record().read();
    r.state == record::PARKED && !r.timed && r.kind.is_some_and(|k| !k.is_external())
}

/// A snapshot that shows a deadlock, or `None`.
fn check() -> Option<Dump> {
    if !workers_asleep() || timer::pending() != 0 || offload::busy() != 0 {
        return None;
    }
    let runtime = RUNTIME.get()?.as_ref()?;
    // A first look without freezing the registry: freezing copies the list
    // with every spawn held up meanwhile (1,000,000 parked threads spawned
    // from `main`: the detector, kicked each time the workers caught up,
    // took 7.6% of the run, mostly copying). A task seen running here
    // means no deadlock now; one that begins later kicks again.
    if registry::any(|t| !blocked(t)) {
        return None;
    }
    registry::frozen(|tasks| {
        // Cheapest first: every task parked in a wait only another task
        // can end (a server's tasks in `accept` or `read` stop here).
        let all_blocked = !tasks.is_empty() && tasks.iter().all(|t| blocked(t));
        if !all_blocked {
            return None;
        }
        // No thread can register meanwhile (the registry is frozen).
        let threads = thread_ids().ok()?;
        let mut known: HashSet<i32> = runtime.iter().copied().collect();
        known.extend(registry::internal_threads());
        known.extend(tasks.iter().map(|t| t.tid()).filter(|&t| t != 0));
        if threads.iter().any(|t| !known.contains(t)) {
            return None;
        }
        let dump = inspect::collect(tasks);
        dump.tasks()
            .iter()
            .all(|t| t.state() == TaskState::Parked)
            .then_some(dump)
    })
}
