//! The blocking-offload pools: work that cannot be made cooperative runs
//! on a bounded set of helper threads while the calling coroutine waits
//! without blocking its worker.
//!
//! Two pools, so that one kind of slow work never queues behind the other:
//! the general pool for spawning processes, FFI and [`run`]'s callers
//! (`GREENSTD_OFFLOAD_THREADS`, default 4), and the resolver pool for host
//! name lookups ([`resolve`], `GREENSTD_RESOLVER_THREADS`, default 10, as
//! gevent's resolver pool) — a DNS server that does not answer holds
//! resolver threads only. Threads start on demand up to each pool's maximum
//! and exit after 10 s idle. On a plain OS thread both simply call the
//! function: blocking there is what std does.

use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::config;
use crate::latch::Latch;
use crate::park::in_coroutine;
use crate::wait::{WaitKind, WaitOn};

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    state: Mutex<State>,
    work: Condvar,
    /// The name of its threads.
    name: &'static str,
    /// Its size, from the running settings.
    size: fn(&config::Settings) -> usize,
}

struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

static OFFLOAD: Pool = Pool {
    state: Mutex::new(State {
        queue: VecDeque::new(),
        threads: 0,
        idle: 0,
    }),
    work: Condvar::new(),
    name: "greenstd-offload",
    size: |s| s.offload_threads,
};

static RESOLVER: Pool = Pool {
    state: Mutex::new(State {
        queue: VecDeque::new(),
        threads: 0,
        idle: 0,
    }),
    work: Condvar::new(),
    name: "greenstd-resolver",
    size: |s| s.resolver_threads,
};

const IDLE_EXIT: Duration = Duration::from_secs(10);

/// Jobs submitted and not finished yet, in both pools.
static BUSY: AtomicUsize = AtomicUsize::new(0);

/// Jobs queued or running (the deadlock detector: a job may still wake
/// somebody).
pub(crate) fn busy() -> usize {
    BUSY.load(Ordering::SeqCst)
}

fn submit(pool: &'static Pool, job: Job) {
    let max = config::running().map_or(1, |s| (pool.size)(&s));
    BUSY.fetch_add(1, Ordering::SeqCst);
    let job: Job = Box::new(move || {
        job();
        BUSY.fetch_sub(1, Ordering::SeqCst);
        crate::observe::tell(crate::observe::Event::SomethingEnded);
    });
    let mut st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
    st.queue.push_back(job);
    if st.idle > 0 {
        pool.work.notify_one();
        return;
    }
    if st.threads < max {
        st.threads += 1;
        drop(st);
        let started = std::thread::Builder::new()
            .name(pool.name.into())
            .spawn(move || worker(pool));
        if started.is_err() {
            // No new thread: the queued job waits for a running one. With
            // none running at all it runs nowhere, so undo the count; the
            // next submit tries again.
            let mut st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
            st.threads -= 1;
            if st.threads == 0 {
                let stranded: Vec<Job> = st.queue.drain(..).collect();
                drop(st);
                for job in stranded {
                    job();
                }
            }
        }
    }
}

fn worker(pool: &'static Pool) {
    crate::task::mark_internal_thread();
    let mut st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            job();
            st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        st.idle += 1;
        let (guard, timeout) = pool
            .work
            .wait_timeout(st, IDLE_EXIT)
            .unwrap_or_else(|e| e.into_inner());
        st = guard;
        st.idle -= 1;
        if timeout.timed_out() && st.queue.is_empty() {
            st.threads -= 1;
            drop(st);
            crate::task_core::registry::internal_thread_exiting();
            return;
        }
    }
}

/// Runs `f` to completion without blocking a coroutine's worker.
///
/// In a coroutine, `f` runs on the offload pool and the coroutine waits
/// cooperatively; a panic in `f` is resumed in the caller. On a plain thread
/// `f` runs right here.
///
/// The wait is recorded as [`WaitKind::Offload`] at the caller's call site
/// and cannot be interrupted (the job borrows the caller's frame).
#[track_caller]
pub fn run<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    run_on(&OFFLOAD, f, Location::caller())
}

/// Runs a host name lookup `f` as [`run`] does, on the resolver pool.
#[track_caller]
pub fn resolve<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    run_on(&RESOLVER, f, Location::caller())
}

fn run_on<F, R>(pool: &'static Pool, f: F, location: &'static Location<'static>) -> R
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    if !in_coroutine() {
        return f();
    }
    struct Shared<R> {
        done: Latch,
        result: Mutex<Option<std::thread::Result<R>>>,
    }
    let shared = Arc::new(Shared {
        done: Latch::new(),
        result: Mutex::new(None),
    });
    let theirs = shared.clone();
    let job = move || {
        let r = catch_unwind(AssertUnwindSafe(f));
        *theirs.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        theirs.done.set();
    };
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(job);
    // SAFETY: only the lifetime is erased. The job borrows from this frame
    // (through `f` and `R`), and this frame does not return before the job
    // has finished: `done.wait()` below returns only after `done.set()`,
    // the job's last touch of anything borrowed. The Arc keeps `shared`
    // itself alive past that point.
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
    submit(pool, job);
    let on = WaitOn::at(WaitKind::Offload, 0, location).uninterruptible();
    shared.done.wait_on(on);
    let r = shared
        .result
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("offload job finished without a result");
    match r {
        Ok(v) => v,
        Err(p) => resume_unwind(p),
    }
}
