use std::cell::Cell;
use std::cell::UnsafeCell;
use std::io;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::config;
use crate::coroutine_impl::{run_coroutine, CoroutineImpl};
use crate::io::{EventLoop, Selector};
use crate::likely::likely;
use crate::pool::CoroutinePool;
use crate::sync::AtomicOption;
use crate::worker_timer::{self, SlotTimers, TimerKey};
use crate::yield_now::set_co_para;
use crossbeam::deque::{Injector, Steal as InjectorSteal};
use std::sync::atomic::{fence, AtomicBool, AtomicU64};

#[cfg(not(feature = "work_steal"))]
compile_error!("greenstd's may needs the work_steal feature: its hand-off gives each scheduler thread its own stealable queue");

// greenstd patch: crossbeam's deque for the run queues (see the module).
use crate::crossbeam_queue_shim::{self as spmc, Local, Steal};

// greenstd patch: the scheduler thread the current OS thread is (its own
// queue and tick counter), null on every other thread. Upstream kept a
// worker id here; with the hand-off a worker's slot (its selector, its
// place in the wake-up and steal lists) moves between OS threads, while a
// queue stays with the one thread that may push to it.
thread_local! { pub(crate) static WORKER: Cell<*const Runner> = const { Cell::new(std::ptr::null()) }; }

// greenstd patch: the worker slot whose event loop the current thread
// runs (usize::MAX on other threads): where its timers go.
thread_local! { static SLOT: Cell<usize> = const { Cell::new(usize::MAX) }; }

// greenstd patch: when the calling worker last ran its expired timers
// and took its ready I/O for a yield (`schedule_yielded`), in `cycles()`.
thread_local! { static LAST_LOOK: Cell<u64> = const { Cell::new(0) }; }

// greenstd patch: the calling worker took a coroutine from the injector
// (one fed from outside the workers) since it last looked for work
// before sleeping (`Scheduler::spin_for_work`).
thread_local! { static FED: Cell<bool> = const { Cell::new(false) }; }

// greenstd patch: the calling worker is handing out the coroutines of a
// poll of its own that returned at least `LARGE_POLL` events
// (`set_large_poll`, read by `Suspended::resume`).
thread_local! { static IN_LARGE_POLL: Cell<bool> = const { Cell::new(false) }; }

/// greenstd patch: makes a coroutine spawned from outside the workers, on
/// the worker that takes it (`Scheduler::schedule_deferred`). The closure
/// is kept inline (in the queue's own slots) when it fits, as a spawn's
/// does: a box, made by the spawning thread and freed by a worker, made
/// them contend for the spawning thread's malloc arena (11,000 futex
/// sleeps in `__lll_lock_wait_private` for 300,000 spawns, 400 without).
pub(crate) struct Deferred {
    data: std::mem::MaybeUninit<[usize; DEFERRED_WORDS]>,
    /// Calls the closure in `data` (moving it out).
    make: unsafe fn(*mut u8) -> CoroutineImpl,
    /// Drops the closure in `data` (it was never called).
    drop: unsafe fn(*mut u8),
    called: bool,
}

/// Words of a closure kept inline in a [`Deferred`]; a larger one is boxed.
const DEFERRED_WORDS: usize = 24;

// SAFETY: only `Send` closures are stored (see `Deferred::new`).
unsafe impl Send for Deferred {}

impl Deferred {
    pub(crate) fn new<F: FnOnce() -> CoroutineImpl + Send + 'static>(f: F) -> Deferred {
        let fits = std::mem::size_of::<F>() <= std::mem::size_of::<[usize; DEFERRED_WORDS]>()
            && std::mem::align_of::<F>() <= std::mem::align_of::<usize>();
        if fits {
            Deferred::inline(f)
        } else {
            let boxed: Box<dyn FnOnce() -> CoroutineImpl + Send> = Box::new(f);
            Deferred::inline(boxed)
        }
    }

    /// `f` kept in `data`.
    ///
    /// # Panics
    ///
    /// If `F` does not fit (`new` checks first).
    fn inline<F: FnOnce() -> CoroutineImpl + Send + 'static>(f: F) -> Deferred {
        /// Moves the `F` out of `p` and calls it.
        unsafe fn make<F: FnOnce() -> CoroutineImpl>(p: *mut u8) -> CoroutineImpl {
            // SAFETY: the caller passes `data`, which holds an `F` not yet
            // moved out (`called` guards a second use).
            unsafe { p.cast::<F>().read()() }
        }
        /// Drops the `F` in `p`.
        unsafe fn drop<F>(p: *mut u8) {
            // SAFETY: as in `make`.
            unsafe { p.cast::<F>().drop_in_place() }
        }
        assert!(
            std::mem::size_of::<F>() <= std::mem::size_of::<[usize; DEFERRED_WORDS]>()
                && std::mem::align_of::<F>() <= std::mem::align_of::<usize>()
        );
        let mut data = std::mem::MaybeUninit::<[usize; DEFERRED_WORDS]>::uninit();
        // SAFETY: `F` fits `data`, in size and alignment (checked above).
        unsafe { data.as_mut_ptr().cast::<F>().write(f) };
        Deferred {
            data,
            make: make::<F>,
            drop: drop::<F>,
            called: false,
        }
    }

    /// Makes the coroutine.
    fn call(mut self) -> CoroutineImpl {
        self.called = true;
        // SAFETY: `data` holds the closure `make` was made for, not called
        // before (`self` is consumed; `called` keeps `Drop` off it).
        unsafe { (self.make)(self.data.as_mut_ptr().cast()) }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        if !self.called {
            // SAFETY: the closure was never moved out.
            unsafe { (self.drop)(self.data.as_mut_ptr().cast()) }
        }
    }
}

/// greenstd patch: spawns waiting to be made by a worker, at most
/// (`Scheduler::may_defer`).
const DEFERRED_MAX: usize = 256;

/// greenstd patch: a poll with at least this many events wakes coroutines
/// that run one after another, behind each other and behind what the
/// worker had queued; at a thousand connections and more a coroutine's
/// stack lines are out of the caches by its turn, so each is prefetched
/// when it is woken (`GeneratorObj::prefetch_stack`), and its lines arrive
/// while the others run. A few events mean a short wait and few
/// connections: a prefetch would only cost its instructions. (A worker's
/// look between coroutines takes up to 32 events, its poll before it
/// sleeps up to 1,024.)
pub(crate) const LARGE_POLL: usize = 16;

/// greenstd patch: a selector's `dispatch` says it hands out a large poll
/// of the calling worker's own (see [`LARGE_POLL`]), and then that it is
/// done.
#[inline]
pub(crate) fn set_large_poll(large: bool) {
    IN_LARGE_POLL.set(large);
}

/// greenstd patch: whether a coroutine woken now on this thread is one of
/// a large poll's (see [`LARGE_POLL`]).
#[inline]
pub(crate) fn in_large_poll() -> bool {
    IN_LARGE_POLL.get()
}

/// greenstd patch: a yield runs the worker's expired timers and takes its
/// ready I/O events if it did not for this long, in `cycles()` (an I/O
/// look is an `epoll_wait`, a timer look may take the slot's lock and read
/// the clock; a tight yield loop would otherwise make them every yield):
/// about 50 µs, the bound on how late a yielding loop makes a timer or a
/// ready socket.
#[cfg(target_arch = "x86_64")]
const YIELD_LOOK_INTERVAL: u64 = 100_000;
#[cfg(not(target_arch = "x86_64"))]
const YIELD_LOOK_INTERVAL: u64 = 50_000;

/// greenstd patch: a clock for `YIELD_LOOK_INTERVAL`, as cheap as can be: the
/// time-stamp counter on x86_64 (CPU cycles, a few nanoseconds to read;
/// not comparable between CPUs, which only moves a look earlier or later),
/// nanoseconds elsewhere.
#[inline]
fn cycles() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` is in every x86_64 CPU's baseline instruction set.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

static mut SCHED: *const Scheduler = std::ptr::null();

#[cold]
fn init_scheduler() {
    let workers = config().get_workers();
    let b: Box<Scheduler> = Scheduler::new(workers);
    unsafe { SCHED = Box::into_raw(b) };

    let core_ids = core_affinity::get_core_ids().unwrap();
    let pin_cores = config().get_worker_pin();
    // SAFETY: set above to a leaked `Box` that is never freed or written
    // again, before the threads start.
    let s = unsafe { &*SCHED };
    // greenstd patch: every slot's runner is set before the first worker
    // starts: a worker that finds no work steals from the others at once
    // (`runner_of`), and one started before the next slot's runner was
    // set read a null pointer there.
    let runners: Vec<_> = (0..workers)
        .map(|id| {
            let runner = s.handoff.runner();
            s.worker_state[id]
                .runner
                .store(runner as *const _ as *mut _, Ordering::Release);
            runner
        })
        .collect();
    // io event loop thread
    // greenstd patch: named as the threads a hand-off starts are (`top -H`,
    // `perf`, a debugger and a stall report show what each thread is).
    for ((id, core), runner) in (0..workers).zip(core_ids.into_iter().cycle()).zip(runners) {
        thread::Builder::new()
            .name("greenstd-worker".into())
            .spawn(move || {
                if pin_cores {
                    core_affinity::set_for_current(core);
                }
                // SAFETY: set above, before this thread started, to a
                // leaked `Box` that is never freed.
                let s = unsafe { &*SCHED };
                s.handoff.run_thread(s, runner, id, true);
            })
            .expect("failed to spawn thread");
    }
}

#[inline]
pub fn get_scheduler() -> &'static Scheduler {
    unsafe {
        if likely(!SCHED.is_null()) {
            return &*SCHED;
        }
    }
    static ONCE: Once = Once::new();
    ONCE.call_once(init_scheduler);
    unsafe { &*SCHED }
}

/// greenstd patch: the scheduler if it was started, without starting it.
pub(crate) fn scheduler_if_started() -> Option<&'static Scheduler> {
    // SAFETY: set once, before any thread could read it here through
    // `get_scheduler`'s `Once`, to a leaked box that is never freed.
    let s = unsafe { SCHED };
    // SAFETY: as above.
    (!s.is_null()).then(|| unsafe { &*s })
}

/// greenstd patch: one OS thread that runs the scheduler — a worker, or a
/// spare that took over a worker's slot. Runners are never freed (a thread
/// that retires leaves its runner for the next one), so a pointer to one
/// stays valid for stealing and for the monitor.
#[repr(align(128))]
pub(crate) struct Runner {
    /// Its local run queue: only the runner's own thread pushes and pops.
    local: UnsafeCell<Local<CoroutineImpl>>,
    /// Steals from `local`, from any thread.
    pub(crate) stealer: Steal<CoroutineImpl>,
    /// Coroutines this runner has started running, with [`LOST`] set once
    /// the monitor handed its slot to another thread. Changed only by
    /// atomic read-modify-writes, so that the runner's count and the
    /// monitor's hand-off are ordered: either the runner counts first (and
    /// the hand-off fails) or it finds `LOST` when it counts.
    pub(crate) ticks: AtomicU64,
    /// The thread's `pthread_t` (to signal it) and kernel thread id (to
    /// read its state in `/proc`), while a thread runs it.
    pub(crate) thread: AtomicU64,
    pub(crate) tid: AtomicU64,
}

// SAFETY: `local` is touched only by the thread that runs this runner (it
// is set in that thread's `WORKER`); the rest is atomics and a stealer.
unsafe impl Sync for Runner {}

/// greenstd patch: a runner's local queue, and a new empty one (scratch
/// space for stealing a whole queue).
pub(crate) type LocalQueue = Local<CoroutineImpl>;
pub(crate) fn new_local() -> LocalQueue {
    spmc::local().1
}

/// greenstd patch: the bit of [`Runner::ticks`] that says its slot was handed off.
pub(crate) const LOST: u64 = 1 << 63;

impl Runner {
    pub(crate) fn new() -> Runner {
        let (stealer, local) = spmc::local();
        Runner {
            local: UnsafeCell::new(local),
            stealer,
            ticks: AtomicU64::new(0),
            thread: AtomicU64::new(0),
            tid: AtomicU64::new(0),
        }
    }

    /// The calling thread's local queue.
    ///
    /// # Safety
    ///
    /// Only on the thread whose `WORKER` is this runner, with no other
    /// reference to the queue alive.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn local(&self) -> &mut Local<CoroutineImpl> {
        &mut *self.local.get()
    }

    #[inline]
    pub(crate) fn lost(&self) -> bool {
        self.ticks.load(Ordering::Relaxed) & LOST != 0
    }
}

#[repr(align(128))]
pub struct Scheduler {
    /// greenstd patch: one queue shared by every worker for coroutines
    /// woken from outside a worker (timers, other OS threads, spawns from
    /// `main`). Upstream kept one such queue per worker, drained only by its
    /// owner, so a stuck worker held back every coroutine woken onto it.
    injector: Injector<CoroutineImpl>,
    /// greenstd patch: coroutines spawned from outside the workers, still
    /// to be made (`schedule_deferred`): taken as the injector's are.
    deferred: crossbeam::queue::SegQueue<Deferred>,
    /// greenstd patch: how many are in `deferred` (at most about
    /// [`DEFERRED_MAX`]).
    deferred_len: AtomicUsize,
    /// greenstd patch: what each worker slot is doing, for wake-ups and the monitor.
    pub(crate) worker_state: Vec<WorkerState>,
    /// greenstd patch: how many workers are (about to be) asleep in `epoll_wait`.
    num_sleeping: AtomicUsize,
    /// greenstd patch: a sleeping worker has been woken and has not yet
    /// looked for work: no need to wake another.
    wake_in_flight: AtomicBool,
    /// greenstd patch: a worker that ran out of work looks for more a
    /// little longer before it sleeps (`spin_for_work`); while one does, a
    /// coroutine pushed to the injector wakes nobody.
    spinning: AtomicBool,
    /// greenstd patch: the threads that run worker slots, and the spares.
    pub(crate) handoff: crate::handoff::Threads,
    event_loop: EventLoop,
    /// greenstd patch: one timer list per worker slot (`worker_timer`).
    timers: Vec<SlotTimers>,
    /// greenstd patch: the slot a timer added off the workers goes to next.
    next_timer_slot: AtomicUsize,
    pub pool: CoroutinePool,
    pub workers: usize,
}

impl Scheduler {
    pub fn new(workers: usize) -> Box<Self> {
        let worker_state = Vec::from_iter((0..workers).map(|_| WorkerState::default()));

        Box::new(Scheduler {
            pool: CoroutinePool::new(),
            event_loop: EventLoop::new(workers).expect("can't create event_loop"),
            injector: Injector::new(),
            deferred: crossbeam::queue::SegQueue::new(),
            deferred_len: AtomicUsize::new(0),
            worker_state,
            num_sleeping: AtomicUsize::new(0),
            wake_in_flight: AtomicBool::new(false),
            spinning: AtomicBool::new(false),
            handoff: crate::handoff::Threads::new(workers),
            timers: (0..workers).map(|_| SlotTimers::new()).collect(),
            next_timer_slot: AtomicUsize::new(0),
            workers,
        })
    }

    /// The runner serving worker slot `id` now.
    #[inline]
    pub(crate) fn runner_of(&self, id: usize) -> &'static Runner {
        let r = self.worker_state[id].runner.load(Ordering::Acquire);
        // SAFETY: set before the workers start, only ever to a leaked runner.
        unsafe { &*r }
    }

    /// Runs the coroutines queued for worker slot `id`, on its runner's
    /// thread. greenstd patch: returns `false` as soon as the slot was
    /// handed to another thread (the caller then leaves the slot alone).
    #[inline]
    pub fn run_queued_tasks(&self, id: usize) -> bool {
        // SAFETY: called by the event loop on the runner's own thread.
        let runner = unsafe { &*WORKER.get() };
        // greenstd patch: the local queue is taken afresh at each use below,
        // not once for the whole loop: a coroutine run here (and poll_now,
        // collect_global) pushes to the same queue through its own
        // reference, which `Runner::local` allows only while no other is
        // alive.

        let max_steal: usize = std::cmp::min(3, self.workers - 1);

        #[cfg(feature = "rand_work_steal")]
        let mut rng = fastrand::Rng::new();

        let mut until_injector = INJECTOR_INTERVAL;
        'work: loop {
            // greenstd patch: one read-modify-write per coroutine run,
            // ordered with the monitor's hand-off (see `Runner::ticks`).
            if runner.ticks.fetch_add(1, Ordering::Relaxed) & LOST != 0 {
                return false;
            }
            // greenstd patch: every INJECTOR_INTERVAL-th coroutine comes from
            // the shared queue, so coroutines woken from outside a worker
            // are never starved by a busy local queue (Go does the same
            // every 61 scheduling rounds).
            // greenstd patch: and the worker takes its ready I/O events
            // then too (tokio's rule, every 61 tasks), so a woken acceptor
            // or reader does not wait until the local queue is empty.
            until_injector -= 1;
            if until_injector == 0 {
                until_injector = INJECTOR_INTERVAL;
                self.get_selector().poll_now(self, id);
                self.fire_timers(id);
                if let Some(co) = self.pop_outside() {
                    run_coroutine(co);
                    continue 'work;
                }
            }
            // SAFETY: the runner's own thread; this reference ends before
            // anything else takes one (`pop` only).
            let next = unsafe { runner.local() }.pop();
            match next {
                Some(co) => {
                    run_coroutine(co);
                    continue 'work;
                }
                None => {
                    self.collect_global(id);
                    // SAFETY: as above, taken after collect_global's ended.
                    if unsafe { runner.local() }.has_tasks() {
                        continue 'work;
                    }
                }
            }

            // The i variable is unused if rand_work_steal is enabled since it selects the steal target randomly instead.
            for _i in 0..max_steal {
                cfg_if::cfg_if! {
                    if #[cfg(feature = "rand_work_steal")] {
                        let target = rng.usize(0..self.workers);
                    } else {
                        let target = (id + _i + 1) % self.workers;
                    }
                };
                // SAFETY: the runner's own thread; the reference lives for
                // this one call, which takes no other.
                let stolen = self
                    .runner_of(target)
                    .stealer
                    .steal_into(unsafe { runner.local() });
                if let Some(co) = stolen {
                    run_coroutine(co);
                    continue 'work;
                }
            }
            return true;
        }
    }

    /// put the coroutine to correct queue so that next time it can be scheduled
    #[inline]
    pub fn schedule(&self, co: CoroutineImpl) {
        let runner = WORKER.get();
        if !runner.is_null() {
            // SAFETY: the calling thread's own runner.
            self.schedule_local(co, unsafe { &*runner });
        } else {
            self.schedule_global(co);
        }
    }

    /// called by selector with known id
    ///
    /// greenstd patch: the coroutine goes to the calling thread's own
    /// queue (the selector's owner is the thread serving slot `_id`).
    #[inline]
    pub fn schedule_with_id(&self, co: CoroutineImpl, _id: usize) {
        self.schedule(co)
    }

    /// greenstd patch: pushes onto `runner`'s queue (the caller's own),
    /// unless its slot was handed off: then the thread is only finishing a
    /// coroutine that blocked, and its queue is nobody's to run.
    #[inline]
    fn schedule_local(&self, co: CoroutineImpl, runner: &Runner) {
        if runner.lost() {
            return self.schedule_global(co);
        }
        // SAFETY: `runner` is the calling thread's own.
        let local = unsafe { runner.local() };
        // greenstd patch: a second runnable coroutine on this worker while
        // another worker sleeps: wake one to steal (as tokio does), instead
        // of leaving it to a periodic wake-up.
        // While every worker is awake (the busy case) that costs one load.
        let piling_up = self.num_sleeping.load(Ordering::Relaxed) > 0 && local.has_tasks();
        local.push_back(co);
        if piling_up {
            self.wake_sleeper();
        }
    }

    /// greenstd patch: queues a coroutine that yields (gevent's
    /// `sleep(0)`) behind every coroutine that is runnable now on the
    /// calling worker: everything on the shared queue is moved to its local
    /// queue, and — at most every `YIELD_LOOK_INTERVAL`, one time-stamp
    /// read deciding — its slot's expired timers are run and its ready I/O
    /// taken (a look is a system call), before the yielder goes to the
    /// back. Off a worker: the shared queue.
    ///
    /// The common yield (nothing on the shared queue, a look not due) is
    /// a time-stamp read, two loads and the push: ~20 instructions with
    /// no frame of its own; the rest is out of line (`yield_look`).
    #[inline]
    pub(crate) fn schedule_yielded(&self, co: CoroutineImpl) {
        let runner = WORKER.get();
        if runner.is_null() {
            return self.schedule_global(co);
        }
        // SAFETY: the calling thread's own runner.
        let runner = unsafe { &*runner };
        let now = cycles();
        if now.wrapping_sub(LAST_LOOK.get()) >= YIELD_LOOK_INTERVAL || !self.injector.is_empty() {
            return self.yield_look(co, runner, now);
        }
        // A runner whose slot was handed off (not serving one) goes to
        // the shared queue there.
        self.schedule_local(co, runner)
    }

    /// greenstd patch: [`schedule_yielded`](Self::schedule_yielded) when
    /// the shared queue holds coroutines or a look at the slot's timers
    /// and I/O is due (`now`, in `cycles()`).
    #[inline(never)]
    fn yield_look(&self, co: CoroutineImpl, runner: &Runner, now: u64) {
        let id = SLOT.get();
        if id >= self.workers || runner.lost() {
            return self.schedule_local(co, runner);
        }
        if now.wrapping_sub(LAST_LOOK.get()) >= YIELD_LOOK_INTERVAL {
            LAST_LOOK.set(now);
            self.fire_timers(id);
            self.get_selector().poll_now(self, id);
        }
        if !self.injector.is_empty() {
            // SAFETY: the calling thread's own queue.
            let local = unsafe { runner.local() };
            for _ in 0..self.injector.len() {
                match self.pop_injector() {
                    Some(c) => local.push_back(c),
                    None => break,
                }
            }
        }
        self.schedule_local(co, runner);
    }

    /// put the coroutine to global queue so that next time it can be scheduled
    ///
    /// greenstd patch: the shared injector, taken from by whichever worker
    /// is free; a sleeping worker is woken for it.
    #[inline]
    pub fn schedule_global(&self, co: CoroutineImpl) {
        self.injector.push(co);
        self.pushed_outside();
    }

    /// greenstd patch: queues the making of a coroutine spawned from
    /// outside the workers (`make` builds it on its stack, reserved by the
    /// spawning thread): the worker that takes it from here writes the
    /// stack's first page, and takes its first faults, not the spawning
    /// thread. A loop spawning from `main` then shares that work with the
    /// workers instead of doing it all (issue 24: spawning a million).
    pub(crate) fn schedule_deferred(&self, make: Deferred) {
        self.deferred_len.fetch_add(1, Ordering::Relaxed);
        self.deferred.push(make);
        self.pushed_outside();
    }

    /// greenstd patch: whether a spawn may be deferred: fewer than
    /// [`DEFERRED_MAX`] wait to be made. When the workers lag, the
    /// spawning thread makes the coroutine itself: it shares the work
    /// instead of queueing it (each waiting spawn holds its closure in a
    /// box: 300,000 of them queued made the heap 18 MB larger).
    #[inline]
    pub(crate) fn may_defer(&self) -> bool {
        self.deferred_len.load(Ordering::Relaxed) < DEFERRED_MAX
    }

    /// After a push to the injector or the deferred spawns.
    #[inline]
    fn pushed_outside(&self) {
        // Pairs with the fence in `prepare_sleep`: either the sleeper sees
        // this coroutine, or we see the sleeper. A worker that spins for
        // work will take it (it looks at the injector again after that
        // fence when it stops spinning): no wake-up, which would only make
        // a sleeper run one coroutine and sleep again.
        fence(Ordering::SeqCst);
        if self.num_sleeping.load(Ordering::Relaxed) > 0 && !self.spinning.load(Ordering::Relaxed) {
            self.wake_sleeper();
        }
    }

    /// greenstd patch: nothing in the injector nor in the deferred spawns
    /// (their count, one load: it is raised before the push and the fence
    /// that pairs with `prepare_sleep`'s).
    #[inline]
    fn no_outside_work(&self) -> bool {
        self.injector.is_empty() && self.no_deferred()
    }

    #[inline]
    fn no_deferred(&self) -> bool {
        self.deferred_len.load(Ordering::Relaxed) == 0
    }

    /// put the coroutine to global queue so that next time it can be scheduled
    ///
    /// greenstd patch: the worker id is only a hint now; the coroutine goes
    /// to the shared injector like any other wake-up from outside.
    #[inline]
    pub fn schedule_global_with_id(&self, co: CoroutineImpl, _id: usize) {
        self.schedule_global(co);
    }

    /// Moves a batch of coroutines from the shared injector to the calling
    /// runner's local queue; wakes another sleeper if more are left.
    #[inline]
    pub fn collect_global(&self, _id: usize) {
        // greenstd patch: an empty injector in two loads, not a `steal`
        // (~36 instructions; the worker looks each time its queue runs dry).
        if self.no_outside_work() {
            return;
        }
        // SAFETY: called by the event loop on the runner's own thread; the
        // reference ends before a deferred spawn is made below.
        let local = unsafe { (*WORKER.get()).local() };
        let mut took = false;
        for _ in 0..INJECTOR_BATCH {
            match self.pop_injector() {
                Some(co) => local.push_back(co),
                None => break,
            }
            took = true;
        }
        // Else one deferred spawn, made here: one at a time, so that the
        // worker's run count moves between them (the monitor does not take
        // a worker faulting in stacks for one held in a coroutine).
        if !took {
            match self.pop_outside() {
                // SAFETY: as above; `pop_outside` has returned.
                Some(co) => unsafe { (*WORKER.get()).local() }.push_back(co),
                None => return,
            }
        }
        if !self.no_outside_work() && self.num_sleeping.load(Ordering::Relaxed) > 0 {
            self.wake_sleeper();
        }
    }

    /// greenstd patch: a coroutine from the injector, or else one made
    /// here from the deferred spawns.
    #[inline]
    fn pop_outside(&self) -> Option<CoroutineImpl> {
        if let Some(co) = self.pop_injector() {
            return Some(co);
        }
        if self.no_deferred() {
            return None;
        }
        let make = self.deferred.pop()?;
        self.deferred_len.fetch_sub(1, Ordering::Relaxed);
        FED.set(true);
        Some(make.call())
    }

    #[inline]
    fn pop_injector(&self) -> Option<CoroutineImpl> {
        loop {
            match self.injector.steal() {
                InjectorSteal::Success(co) => {
                    FED.set(true);
                    return Some(co);
                }
                InjectorSteal::Empty => return None,
                InjectorSteal::Retry => {}
            }
        }
    }

    /// greenstd patch: wakes one sleeping worker, unless one is already on its way.
    #[cold]
    fn wake_sleeper(&self) {
        if self.wake_in_flight.swap(true, Ordering::AcqRel) {
            return;
        }
        for (id, w) in self.worker_state.iter().enumerate() {
            if w.sleeping.swap(false, Ordering::AcqRel) {
                self.num_sleeping.fetch_sub(1, Ordering::AcqRel);
                self.get_selector().wakeup(id);
                return;
            }
        }
        self.wake_in_flight.store(false, Ordering::Release);
    }

    /// greenstd patch: called by worker `id` before it blocks in
    /// `epoll_wait`. Returns `false` (and stays awake) when there is work
    /// it would otherwise sleep through.
    pub(crate) fn prepare_sleep(&self, id: usize) -> bool {
        if self.spin_for_work() {
            return false;
        }
        let w = &self.worker_state[id];
        w.parked.store(true, Ordering::Relaxed);
        w.sleeping.store(true, Ordering::Release);
        self.num_sleeping.fetch_add(1, Ordering::AcqRel);
        fence(Ordering::SeqCst);
        if self.no_outside_work() {
            return true;
        }
        self.wake_from_sleep(id);
        false
    }

    /// greenstd patch: a worker about to sleep that ran coroutines from
    /// the injector since it last got here first watches the injector for
    /// [`SPIN_FOR_WORK`], unless another worker does already (Go's
    /// spinning M, tokio's searching worker): when another thread feeds
    /// the workers one coroutine at a time (a loop spawning from `main`),
    /// each would otherwise wake a sleeper with a system call, which runs
    /// it and sleeps again. A worker fed by its own I/O events and timers
    /// does not spin: on an echo server with 10 connections spinning took
    /// half the round trips per second (the client shares the cores and
    /// waited for them). While it waits it takes the first page faults
    /// of the stacks being handed out (`stack_arena::prefault`), which the
    /// spawning thread would otherwise take. Returns whether to stay
    /// awake: work arrived, or it prepared a stack.
    ///
    /// Spawning 1,000,000 threads from `main` on 2 workers (issue 24):
    /// see BENCHMARKS.md, "Issue 24, spawning a million (this stop)".
    #[inline]
    fn spin_for_work(&self) -> bool {
        FED.replace(false) && self.spin_fed()
    }

    /// [`spin_for_work`](Self::spin_for_work) for a worker that was fed
    /// from the injector: out of line, so that a worker fed by its own
    /// events goes to sleep without its frame.
    #[inline(never)]
    fn spin_fed(&self) -> bool {
        if self.spinning.load(Ordering::Relaxed) || self.spinning.swap(true, Ordering::Acquire) {
            return false;
        }
        let start = Instant::now();
        let found = loop {
            if !self.no_outside_work() {
                break true;
            }
            // Meanwhile, the stacks of coroutines being spawned: their
            // first page faults here rather than on the spawning thread.
            // One stack, then back through the run loop, where the run
            // count moves (the monitor does not take a worker that
            // prepares stacks for one blocked in a coroutine) and a
            // hand-off of the slot is seen.
            #[cfg(target_os = "linux")]
            if crate::stack_arena::prefault(1) > 0 {
                // Spins again on its next look: it was fed.
                FED.set(true);
                break true;
            }
            if start.elapsed() >= SPIN_FOR_WORK {
                break false;
            }
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        };
        // The caller's `prepare_sleep` looks at the injector again after
        // its fence: a push that saw this flag still set is seen there.
        self.spinning.store(false, Ordering::Release);
        found
    }

    /// greenstd patch: called by worker `id` when `epoll_wait` returned.
    pub(crate) fn wake_from_sleep(&self, id: usize) {
        let w = &self.worker_state[id];
        w.parked.store(false, Ordering::Relaxed);
        if w.sleeping.swap(false, Ordering::AcqRel) {
            self.num_sleeping.fetch_sub(1, Ordering::AcqRel);
        } else {
            // A waker took us off the sleepers: we are its one wake-up in flight.
            self.wake_in_flight.store(false, Ordering::Release);
        }
        crate::monitor::worker_woke(self);
    }

    /// greenstd patch: the number of workers asleep in `epoll_wait`.
    #[inline]
    pub(crate) fn sleeping_workers(&self) -> usize {
        self.num_sleeping.load(Ordering::Acquire)
    }

    /// greenstd patch: moves every runnable coroutine of `runner`'s local
    /// queue to the shared injector and wakes a sleeper for them. Returns
    /// how many were moved.
    pub(crate) fn rescue_local(
        &self,
        runner: &Runner,
        scratch: &mut Local<CoroutineImpl>,
    ) -> usize {
        let mut moved = 0;
        while let Some(co) = runner.stealer.steal_into(scratch) {
            self.injector.push(co);
            moved += 1;
            while let Some(co) = scratch.pop() {
                self.injector.push(co);
                moved += 1;
            }
        }
        if moved > 0 {
            fence(Ordering::SeqCst);
            self.wake_sleeper();
        }
        moved
    }

    /// greenstd patch: moves what is left on the calling runner's own queue
    /// to the shared injector (a runner whose slot was handed off).
    pub(crate) fn drain_own(&self, runner: &Runner) {
        // SAFETY: `runner` is the calling thread's own.
        let local = unsafe { runner.local() };
        let mut moved = false;
        while let Some(co) = local.pop() {
            self.injector.push(co);
            moved = true;
        }
        if moved {
            fence(Ordering::SeqCst);
            self.wake_sleeper();
        }
    }

    /// greenstd patch: may's own timed waits (`sleep`, `Park` with a
    /// timeout) on the one timer service: the coroutine is scheduled with a
    /// `TimedOut` result at `dur` from now.
    #[inline]
    pub fn add_timer(&self, dur: Duration, co: Arc<AtomicOption<CoroutineImpl>>) -> TimerKey {
        self.add_timer_at(
            Instant::now() + dur,
            Box::new(move || {
                if let Some(mut co) = co.take() {
                    set_co_para(&mut co, io::Error::new(io::ErrorKind::TimedOut, "timeout"));
                    get_scheduler().schedule(co);
                }
            }),
        )
    }

    /// greenstd patch: runs `action` at `at` on the calling worker's slot
    /// (another thread's timers go round the slots), waking that slot's
    /// worker if it sleeps past `at`.
    pub(crate) fn add_timer_at(&self, at: Instant, action: worker_timer::Action) -> TimerKey {
        let mut slot = SLOT.get();
        if slot >= self.workers {
            slot = self.next_timer_slot.fetch_add(1, Ordering::Relaxed) % self.workers;
        }
        let (key, wake) = self.timers[slot].add(slot, at, action);
        if wake {
            self.get_selector().wakeup(slot);
        }
        key
    }

    /// greenstd patch: cancels a timer; `false` if it already fired.
    #[inline]
    pub fn del_timer(&self, key: TimerKey) -> bool {
        self.timers[key.slot()].cancel(key)
    }

    /// greenstd patch: runs slot `id`'s expired timers (on its worker, or
    /// on the monitor for a stuck worker). Returns how many ran.
    #[inline]
    pub(crate) fn fire_timers(&self, id: usize) -> usize {
        self.timers[id].fire()
    }

    /// greenstd patch: slot `id`'s worker woke from its selector: fires its
    /// expired timers.
    #[inline]
    pub(crate) fn woke(&self, id: usize) {
        self.timers[id].awake();
        self.timers[id].fire();
        // And the other slots' expired timers, whose workers may be busy
        // (Go's idle Ps run other Ps' timers too): what they wake runs
        // here.
        // The clock is read only when another slot has a timer (a worker
        // wakes for every event it waits for; a read is ~70 instructions).
        if self.workers > 1 {
            let mut now = None;
            for (i, t) in self.timers.iter().enumerate() {
                if i != id && t.next_at() != worker_timer::FOREVER {
                    t.help(*now.get_or_insert_with(|| worker_timer::nanos(Instant::now())));
                }
            }
        }
    }

    /// greenstd patch: slot `id`'s worker is about to wait in its
    /// selector: how long it may sleep (nanoseconds; `None`: until woken),
    /// the earlier of `io_next` (may's io timeouts) and its next timer.
    #[inline]
    pub(crate) fn plan_sleep(&self, id: usize, io_next: Option<u64>) -> Option<u64> {
        let mut next = match (self.timers[id].plan(), io_next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // The other slots' next deadlines too (see `woke`); their timers
        // do not wake this worker early, their own workers are awake.
        if self.workers == 1 {
            return next;
        }
        let others = self
            .timers
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != id)
            .map(|(_, t)| t.next_at())
            .min()
            .unwrap_or(worker_timer::FOREVER);
        if others != worker_timer::FOREVER {
            let now = worker_timer::nanos(Instant::now());
            let d = others.saturating_sub(now);
            next = Some(next.map_or(d, |n| n.min(d)));
        }
        next
    }

    /// greenstd patch: timers pending on every slot.
    pub(crate) fn pending_timers(&self) -> usize {
        self.timers.iter().map(SlotTimers::len).sum()
    }

    /// greenstd patch: runs the event loop of worker slot `id` on the
    /// calling thread until the slot is handed off.
    pub(crate) fn serve(&self, id: usize) {
        SLOT.set(id);
        self.event_loop.run(id);
        SLOT.set(usize::MAX);
    }

    #[inline]
    pub fn get_selector(&self) -> &Selector {
        self.event_loop.get_selector()
    }
}

/// greenstd patch: how often a worker takes from the shared injector before its local queue.
const INJECTOR_INTERVAL: u32 = 61;

/// greenstd patch: how many coroutines a worker takes from the injector at once.
const INJECTOR_BATCH: usize = 32;

/// greenstd patch: how long a worker that ran out of work watches the
/// injector before it sleeps (`Scheduler::spin_for_work`); one worker at
/// a time.
const SPIN_FOR_WORK: Duration = Duration::from_micros(20);

/// greenstd patch: the state of one worker slot, read by the monitor.
#[repr(align(128))]
pub(crate) struct WorkerState {
    /// Asleep in `epoll_wait`, or about to be; cleared by the worker when it
    /// wakes, or by the one waker that sends it a wake-up.
    pub(crate) sleeping: AtomicBool,
    /// greenstd patch: the thread is in the worker's own poll meaning to
    /// sleep there, asleep or woken and not yet back (not inside a
    /// coroutine); set and cleared by that thread alone. A waker clears
    /// `sleeping` before its wake-up reaches the thread, and on a busy
    /// machine the thread may sleep on, or wait for a CPU, for milliseconds
    /// after: the monitor, which looks at this flag, does not take such a
    /// worker for one held by a blocking call.
    pub(crate) parked: AtomicBool,
    /// The runner (OS thread) serving this slot now.
    pub(crate) runner: AtomicPtr<Runner>,
}

impl Default for WorkerState {
    fn default() -> Self {
        WorkerState {
            sleeping: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            runner: AtomicPtr::new(std::ptr::null_mut()),
        }
    }
}

/// greenstd patch: the sleep flags' protocol (run by name in CI: the
/// crate's upstream tests are not ours to run).
#[cfg(test)]
mod parked_tests {
    use super::*;

    /// A waker takes a sleeping worker off the sleepers at once; the worker
    /// stays parked (what the monitor looks at) until it is back from its
    /// poll, however late its wake-up lands.
    #[test]
    fn a_woken_worker_stays_parked_until_it_is_back() {
        // A scheduler of its own, never started: no thread runs its slots.
        let s: &'static Scheduler = Box::leak(Scheduler::new(2));
        let w = &s.worker_state[1];
        assert!(s.prepare_sleep(1), "nothing to do: it sleeps");
        assert!(w.sleeping.load(Ordering::SeqCst) && w.parked.load(Ordering::SeqCst));
        // As a push from outside the workers does.
        s.wake_sleeper();
        assert!(!w.sleeping.load(Ordering::SeqCst), "taken off the sleepers");
        assert!(w.parked.load(Ordering::SeqCst), "still in its poll");
        s.wake_from_sleep(1);
        assert!(!w.parked.load(Ordering::SeqCst), "back");
        assert!(
            !s.wake_in_flight.load(Ordering::SeqCst),
            "its wake-up arrived"
        );
    }
}
