//! greenstd patch: the hand-off of a blocked worker's slot (Go's sysmon
//! handing a P off a thread blocked in a system call).
//!
//! A worker slot is what runs coroutines: its selector (epoll), its place
//! in the wake-up and steal lists. An OS thread serves a slot through a
//! [`Runner`] (its own local queue and tick counter). When the monitor
//! finds a slot's thread blocked inside one coroutine, [`Threads::hand_off`]
//! marks that runner lost and gives the slot to a spare thread (started on
//! demand, up to a bound). The blocked thread goes on with its coroutine;
//! what that coroutine wakes goes to the shared injector, and when it
//! switches, its thread leaves the slot alone, moves what is left on its
//! own queue to the injector, and becomes a spare. A spare that is not
//! needed for [`IDLE_RETIRE`] exits.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::scheduler::{Runner, Scheduler, LOST, WORKER};

/// How long a spare thread waits for a slot before it exits.
pub const IDLE_RETIRE: Duration = Duration::from_millis(500);

/// The default bound on the scheduler's threads (Go's `SetMaxThreads`).
pub const DEFAULT_MAX_THREADS: usize = 10_000;

/// Why a hand-off did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOffError {
    /// The slot's thread switched (or was handed off) since it was looked at.
    Moved,
    /// The scheduler already runs its maximum number of threads.
    Limit(usize),
    /// No thread could be started (the error of `std::thread::Builder::spawn`).
    Spawn,
}

struct Pool {
    /// Slots handed off and not yet taken by a spare.
    assignments: VecDeque<usize>,
    /// Spares waiting for a slot (some of them may be on their way to an
    /// assignment: a spare is free while `idle > assignments.len()`).
    idle: usize,
    /// Scheduler threads alive (workers, spares, and threads finishing a
    /// blocked coroutine).
    threads: usize,
    /// Runners whose slot was handed off and whose thread still runs the
    /// coroutine that blocked.
    detached: Vec<&'static Runner>,
    /// Runners no thread uses.
    free: Vec<&'static Runner>,
}

/// The scheduler's threads: the spare pool and its bound.
pub(crate) struct Threads {
    pool: Mutex<Pool>,
    work: Condvar,
    max: AtomicUsize,
    /// Hand-offs made so far.
    handoffs: AtomicUsize,
}

/// Called on every scheduler thread the hand-off starts, first and last
/// thing (the embedder tells its own threads from the program's).
static HOOKS: OnceLock<(fn(), fn())> = OnceLock::new();

/// Sets the functions every hand-off thread calls when it starts and when
/// it exits. Only the first call has an effect.
pub fn set_thread_hooks(started: fn(), exiting: fn()) {
    let _ = HOOKS.set((started, exiting));
}

impl Threads {
    pub(crate) fn new(workers: usize) -> Threads {
        Threads {
            pool: Mutex::new(Pool {
                assignments: VecDeque::new(),
                idle: 0,
                threads: workers,
                detached: Vec::new(),
                free: Vec::new(),
            }),
            work: Condvar::new(),
            max: AtomicUsize::new(DEFAULT_MAX_THREADS.max(workers)),
            handoffs: AtomicUsize::new(0),
        }
    }

    pub(crate) fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed);
    }

    pub(crate) fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    pub(crate) fn threads(&self) -> usize {
        self.pool.lock().threads
    }

    pub(crate) fn handoffs(&self) -> usize {
        self.handoffs.load(Ordering::Relaxed)
    }

    /// A runner for a new thread: a free one, or a new one (leaked: runners
    /// are reused, never freed, so pointers to them stay valid).
    pub(crate) fn runner(&self) -> &'static Runner {
        if let Some(r) = self.pool.lock().free.pop() {
            return r;
        }
        Box::leak(Box::new(Runner::new()))
    }

    /// The runners detached from their slot whose thread is still in the
    /// coroutine that blocked.
    pub(crate) fn detached(&self) -> Vec<&'static Runner> {
        self.pool.lock().detached.clone()
    }

    /// Hands worker slot `id` to another thread if its runner is still
    /// `runner` at `ticks` (the monitor's earlier look).
    pub(crate) fn hand_off(
        &'static self,
        s: &'static Scheduler,
        id: usize,
        runner: &'static Runner,
        ticks: u64,
    ) -> Result<(), HandOffError> {
        if ticks & LOST != 0 || !std::ptr::eq(s.runner_of(id), runner) {
            return Err(HandOffError::Moved);
        }
        let mut pool = self.pool.lock();
        let spawn = if pool.idle > pool.assignments.len() {
            false
        } else if pool.threads < self.max() {
            true
        } else {
            return Err(HandOffError::Limit(self.max()));
        };
        // The one point of no return: from here the runner's thread finds
        // `LOST` the next time it counts a coroutine.
        if runner
            .ticks
            .compare_exchange(ticks, ticks | LOST, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return Err(HandOffError::Moved);
        }
        pool.detached.push(runner);
        if spawn {
            pool.threads += 1;
            let fresh = pool.free.pop();
            drop(pool);
            let fresh = fresh.unwrap_or_else(|| Box::leak(Box::new(Runner::new())));
            let started = std::thread::Builder::new()
                .name("greenstd-worker".into())
                .spawn(move || {
                    let s = crate::scheduler::get_scheduler();
                    s.handoff.run_thread(s, fresh, id, false)
                });
            if started.is_err() {
                // No thread: the slot goes to the next spare (or back to
                // its own thread when it switches, which then serves it).
                let mut pool = self.pool.lock();
                pool.threads -= 1;
                pool.free.push(fresh);
                pool.assignments.push_back(id);
                drop(pool);
                self.rescue(s, runner);
                return Err(HandOffError::Spawn);
            }
        } else {
            pool.assignments.push_back(id);
            drop(pool);
            self.work.notify_one();
        }
        self.handoffs.fetch_add(1, Ordering::Relaxed);
        self.rescue(s, runner);
        Ok(())
    }

    /// Moves the coroutines queued on `runner` to the shared injector.
    pub(crate) fn rescue(&self, s: &Scheduler, runner: &Runner) -> usize {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Option<crate::scheduler::LocalQueue>> =
                const { std::cell::RefCell::new(None) };
        }
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let local = scratch.get_or_insert_with(crate::scheduler::new_local);
            s.rescue_local(runner, local)
        })
    }

    /// The body of every scheduler thread: serves slot `slot`, and after
    /// losing it, waits as a spare for the next slot or exits.
    /// `initial`: one of the workers the scheduler starts with.
    pub(crate) fn run_thread(
        &self,
        s: &Scheduler,
        runner: &'static Runner,
        mut slot: usize,
        initial: bool,
    ) {
        WORKER.set(runner);
        // SAFETY: pthread_self has no preconditions.
        runner
            .thread
            .store(unsafe { libc::pthread_self() } as u64, Ordering::Release);
        runner.tid.store(kernel_tid(), Ordering::Release);
        if !initial {
            if let Some((started, _)) = HOOKS.get() {
                started();
            }
        }
        loop {
            runner.ticks.store(0, Ordering::Relaxed);
            s.worker_state[slot]
                .runner
                .store(runner as *const Runner as *mut Runner, Ordering::Release);
            s.serve(slot);
            // Lost the slot: the coroutine that blocked has switched.
            s.drain_own(runner);
            let next = {
                let mut pool = self.pool.lock();
                pool.detached.retain(|r| !std::ptr::eq(*r, runner));
                self.wait_for_slot(&mut pool)
            };
            match next {
                Some(next) => slot = next,
                None => break,
            }
        }
        runner.thread.store(0, Ordering::Release);
        runner.tid.store(0, Ordering::Release);
        WORKER.set(std::ptr::null());
        if let Some((_, exiting)) = HOOKS.get() {
            exiting();
        }
        self.pool.lock().free.push(runner);
    }

    /// Waits (as a spare) for a slot to serve; `None` after [`IDLE_RETIRE`]
    /// without one, and then the thread is no longer counted.
    fn wait_for_slot(&self, pool: &mut parking_lot::MutexGuard<'_, Pool>) -> Option<usize> {
        if let Some(slot) = pool.assignments.pop_front() {
            return Some(slot);
        }
        pool.idle += 1;
        let deadline = Instant::now() + IDLE_RETIRE;
        let next = loop {
            if let Some(slot) = pool.assignments.pop_front() {
                break Some(slot);
            }
            if self.work.wait_until(pool, deadline).timed_out() {
                break pool.assignments.pop_front();
            }
        };
        pool.idle -= 1;
        if next.is_none() {
            pool.threads -= 1;
        }
        next
    }
}

/// The kernel's id of the calling thread (for `/proc/self/task/TID` on
/// Linux; elsewhere only compared with other ids of this process).
fn kernel_tid() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: gettid has no preconditions.
    return unsafe { libc::gettid() } as u64;
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    {
        let mut id = 0u64;
        // SAFETY: `id` is valid for the call to fill; the thread is the
        // calling one.
        unsafe { libc::pthread_threadid_np(libc::pthread_self(), &mut id) };
        return id;
    }
    #[cfg(target_os = "freebsd")]
    // SAFETY: no preconditions.
    return unsafe { libc::pthread_getthreadid_np() } as u64;
    #[allow(unreachable_code)]
    0
}
