use std::cell::Cell;
#[cfg(feature = "work_steal")]
use std::cell::UnsafeCell;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::thread;
use std::time::Duration;

use crate::config::config;
use crate::coroutine_impl::{run_coroutine, CoroutineImpl};
use crate::io::{EventLoop, Selector};
use crate::likely::likely;
use crate::pool::CoroutinePool;
use crate::sync::AtomicOption;
use crate::timeout_list;
use crate::yield_now::set_co_para;
use crossbeam::deque::{Injector, Steal as InjectorSteal};
use std::sync::atomic::{fence, AtomicBool, AtomicU64};

cfg_if::cfg_if! {
    if #[cfg(feature = "crossbeam_queue_steal")] {
        use crate::crossbeam_queue_shim::{self as spmc, Local, Steal};
    } else if #[cfg(feature = "work_steal")] {
        use may_queue::spmc::{self, Local, Steal};
    } else {
        use may_queue::spsc::Queue as Local;
    }
}

// thread id, only workers are normal ones
thread_local! { pub static WORKER_ID: Cell<usize> = const { Cell::new(usize::MAX) }; }

// here we use Arc<AtomicOption<>> for that in the select implementation
// other event may try to consume the coroutine while timer thread consume it
type TimerData = Arc<AtomicOption<CoroutineImpl>>;
type TimerThread = timeout_list::TimerThread<TimerData>;

static mut SCHED: *const Scheduler = std::ptr::null();

#[cold]
fn init_scheduler() {
    let workers = config().get_workers();
    let b: Box<Scheduler> = Scheduler::new(workers);
    unsafe { SCHED = Box::into_raw(b) };

    // timer thread
    thread::spawn(move || {
        // timer function
        let timer_event_handler = |c: Arc<AtomicOption<CoroutineImpl>>| {
            // just re-push the co to the visit list
            if let Some(mut co) = c.take() {
                // set the timeout result for the coroutine
                set_co_para(&mut co, io::Error::new(io::ErrorKind::TimedOut, "timeout"));
                // s.schedule_global(c);
                run_coroutine(co);
            }
        };

        let s = unsafe { &*SCHED };
        s.timer_thread.run(&timer_event_handler);
    });

    let core_ids = core_affinity::get_core_ids().unwrap();
    let pin_cores = config().get_worker_pin();
    // io event loop thread
    for (id, core) in (0..workers).zip(core_ids.into_iter().cycle()) {
        thread::spawn(move || {
            if pin_cores {
                core_affinity::set_for_current(core);
            }
            let s = unsafe { &*SCHED };
            s.event_loop.run(id);
        });
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

#[repr(align(128))]
pub struct Scheduler {
    #[cfg(not(feature = "work_steal"))]
    local_queues: Vec<Local<CoroutineImpl>>,
    #[cfg(feature = "work_steal")]
    local_queues: Vec<UnsafeCell<Local<CoroutineImpl>>>,
    #[cfg(feature = "work_steal")]
    stealers: Vec<Steal<CoroutineImpl>>,
    /// greenstd patch: one queue shared by every worker for coroutines
    /// woken from outside a worker (timers, other OS threads, spawns from
    /// `main`). Upstream kept one such queue per worker, drained only by its
    /// owner, so a stuck worker held back every coroutine woken onto it.
    injector: Injector<CoroutineImpl>,
    /// greenstd patch: what each worker is doing, for wake-ups and the monitor.
    pub(crate) worker_state: Vec<WorkerState>,
    /// greenstd patch: how many workers are (about to be) asleep in `epoll_wait`.
    num_sleeping: AtomicUsize,
    /// greenstd patch: a sleeping worker has been woken and has not yet
    /// looked for work: no need to wake another.
    wake_in_flight: AtomicBool,
    event_loop: EventLoop,
    timer_thread: TimerThread,
    pub pool: CoroutinePool,
    pub workers: usize,
}

impl Scheduler {
    pub fn new(workers: usize) -> Box<Self> {
        #[cfg(not(feature = "work_steal"))]
        let local_queues = Vec::from_iter((0..workers).map(|_| Local::new()));

        #[cfg(feature = "work_steal")]
        let queues = Vec::from_iter((0..workers).map(|_| spmc::local()));
        #[cfg(feature = "work_steal")]
        let stealers = Vec::from_iter(queues.iter().map(|(s, _l)| s.clone()));
        #[cfg(feature = "work_steal")]
        let local_queues = Vec::from_iter(queues.into_iter().map(|(_s, l)| UnsafeCell::new(l)));

        let worker_state = Vec::from_iter((0..workers).map(|_| WorkerState::default()));

        Box::new(Scheduler {
            pool: CoroutinePool::new(),
            event_loop: EventLoop::new(workers).expect("can't create event_loop"),
            local_queues,
            #[cfg(feature = "work_steal")]
            stealers,
            injector: Injector::new(),
            worker_state,
            num_sleeping: AtomicUsize::new(0),
            wake_in_flight: AtomicBool::new(false),
            timer_thread: TimerThread::new(),
            workers,
        })
    }

    #[inline]
    #[cfg(not(feature = "work_steal"))]
    pub fn run_queued_tasks(&self, id: usize) {
        let local = unsafe { self.local_queues.get_unchecked(id) };
        while let Some(co) = local.pop() {
            run_coroutine(co);
        }
    }

    #[inline]
    #[cfg(feature = "work_steal")]
    pub fn run_queued_tasks(&self, id: usize) {
        let local = unsafe { &mut *self.local_queues.get_unchecked(id).get() };
        let state = unsafe { self.worker_state.get_unchecked(id) };

        let max_steal: usize = std::cmp::min(3, self.workers - 1);

        #[cfg(feature = "rand_work_steal")]
        let mut rng = fastrand::Rng::new();

        // greenstd patch: the counts live in registers; `ticks` only
        // publishes one (a store per coroutine run) for the monitor.
        let mut ticks = state.ticks.load(Ordering::Relaxed);
        let mut until_injector = INJECTOR_INTERVAL;
        'work: loop {
            ticks = ticks.wrapping_add(1);
            state.ticks.store(ticks, Ordering::Relaxed);
            // greenstd patch: every INJECTOR_INTERVAL-th coroutine comes from
            // the shared queue, so coroutines woken from outside a worker
            // are never starved by a busy local queue (Go does the same
            // every 61 scheduling rounds).
            until_injector -= 1;
            if until_injector == 0 {
                until_injector = INJECTOR_INTERVAL;
                if let Some(co) = self.pop_injector() {
                    run_coroutine(co);
                    continue 'work;
                }
            }
            match local.pop() {
                Some(co) => {
                    run_coroutine(co);
                    continue 'work;
                }
                None => {
                    self.collect_global(id);
                    if local.has_tasks() {
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
                let stealer = self.stealers.get(target).unwrap();
                if let Some(co) = stealer.steal_into(local) {
                    run_coroutine(co);
                    continue 'work;
                }
            }
            return;
        }
    }

    /// put the coroutine to correct queue so that next time it can be scheduled
    #[inline]
    pub fn schedule(&self, co: CoroutineImpl) {
        let id = WORKER_ID.get();

        if id != usize::MAX {
            self.schedule_with_id(co, id);
        } else {
            self.schedule_global(co);
        }
    }

    /// called by selector with known id
    #[inline]
    #[cfg(feature = "work_steal")]
    pub fn schedule_with_id(&self, co: CoroutineImpl, id: usize) {
        let local = unsafe { &mut *self.local_queues.get_unchecked(id).get() };
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

    #[inline]
    #[cfg(not(feature = "work_steal"))]
    pub fn schedule_with_id(&self, co: CoroutineImpl, id: usize) {
        let local = unsafe { self.local_queues.get_unchecked(id) };
        local.push(co);
    }

    /// put the coroutine to global queue so that next time it can be scheduled
    ///
    /// greenstd patch: the shared injector, taken from by whichever worker
    /// is free; a sleeping worker is woken for it.
    #[inline]
    pub fn schedule_global(&self, co: CoroutineImpl) {
        self.injector.push(co);
        // Pairs with the fence in `prepare_sleep`: either the sleeper sees
        // this coroutine, or we see the sleeper.
        fence(Ordering::SeqCst);
        if self.num_sleeping.load(Ordering::Relaxed) > 0 {
            self.wake_sleeper();
        }
    }

    /// put the coroutine to global queue so that next time it can be scheduled
    ///
    /// greenstd patch: the worker id is only a hint now; the coroutine goes
    /// to the shared injector like any other wake-up from outside.
    #[inline]
    pub fn schedule_global_with_id(&self, co: CoroutineImpl, _id: usize) {
        self.schedule_global(co);
    }

    /// Moves a batch of coroutines from the shared injector to worker
    /// `id`'s local queue; wakes another sleeper if more are left.
    #[inline]
    pub fn collect_global(&self, id: usize) {
        #[cfg(feature = "work_steal")]
        let local = unsafe { &mut *self.local_queues.get_unchecked(id).get() };
        #[cfg(not(feature = "work_steal"))]
        let local = unsafe { self.local_queues.get_unchecked(id) };
        for _ in 0..INJECTOR_BATCH {
            match self.pop_injector() {
                #[cfg(feature = "work_steal")]
                Some(co) => local.push_back(co),
                #[cfg(not(feature = "work_steal"))]
                Some(co) => local.push(co),
                None => return,
            }
        }
        if !self.injector.is_empty() && self.num_sleeping.load(Ordering::Relaxed) > 0 {
            self.wake_sleeper();
        }
    }

    #[inline]
    fn pop_injector(&self) -> Option<CoroutineImpl> {
        loop {
            match self.injector.steal() {
                InjectorSteal::Success(co) => return Some(co),
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
        let w = &self.worker_state[id];
        w.sleeping.store(true, Ordering::Release);
        self.num_sleeping.fetch_add(1, Ordering::AcqRel);
        fence(Ordering::SeqCst);
        if self.injector.is_empty() {
            return true;
        }
        self.wake_from_sleep(id);
        false
    }

    /// greenstd patch: called by worker `id` when `epoll_wait` returned.
    pub(crate) fn wake_from_sleep(&self, id: usize) {
        let w = &self.worker_state[id];
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

    /// greenstd patch: moves every runnable coroutine of worker `id`'s
    /// local queue to the shared injector and wakes a sleeper for them.
    /// Returns how many were moved.
    #[cfg(feature = "work_steal")]
    pub(crate) fn rescue_local(&self, id: usize, scratch: &mut Local<CoroutineImpl>) -> usize {
        let mut moved = 0;
        while let Some(co) = self.stealers[id].steal_into(scratch) {
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

    #[inline]
    pub fn add_timer(
        &self,
        dur: Duration,
        co: Arc<AtomicOption<CoroutineImpl>>,
    ) -> timeout_list::TimeoutHandle<TimerData> {
        self.timer_thread.add_timer(dur, co)
    }

    #[inline]
    pub fn del_timer(&self, handle: timeout_list::TimeoutHandle<TimerData>) {
        self.timer_thread.del_timer(handle);
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

/// greenstd patch: the state of one worker, read by the monitor.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct WorkerState {
    /// Coroutines this worker has started running (only it writes).
    pub(crate) ticks: AtomicU64,
    /// Asleep in `epoll_wait`, or about to be.
    pub(crate) sleeping: AtomicBool,
    /// The worker's `pthread_t`, once it runs.
    pub(crate) thread: AtomicU64,
}
