//! The task's core: the identity of a coroutine or plain OS thread and
//! what every wait works on — its sleeper (a coroutine's), its parker (a
//! thread's), its interrupt flag, its wait record and its cancellation
//! state — with the registry of live tasks and the look-up of the caller's
//! own task ([`with_current`]). Below the sleep (`park`) and the wait
//! (`wait`); spawning, `thread::park` and the locals' API are `task`'s,
//! above them.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::record::{Record, RUNNABLE};
use crate::sleeper::Sleeper;

mod cancel_state;
mod parker;
pub(crate) mod registry;

pub use cancel_state::Cancelled;
pub(crate) use cancel_state::{deliver, Deadline, Expired, State};
pub(crate) use parker::Parker;

enum Kind {
    /// Set by the coroutine itself when it starts (and by the spawner).
    Coroutine(OnceLock<may::coroutine::Coroutine>),
    Thread(std::thread::Thread),
}

/// A thread or coroutine: its id, name, park token, interrupt flag and the
/// record of what it waits on.
///
/// `repr(C)`, in this order: what every wait and wake-up touches first
/// (the kind, the sleeper, the interrupt and tracking flags, the record,
/// the cancellation state: 112 bytes, behind the `Arc`'s two counts), then
/// what only spawning, `dump()` and the registry read. The compiler's own
/// order spread the first over all four cache lines of the `Arc`'s 200
/// bytes: at 10,000 echo connections, where no task is in the caches when
/// it is woken, each line is a miss.
#[repr(C)]
pub struct Task {
    kind: Kind,
    /// Where the coroutine sleeps in every wait, with its park token
    /// (coroutines only).
    sleeper: Sleeper,
    /// Set by [`Task::interrupt`], cleared by the wait it ends.
    interrupt: AtomicBool,
    /// Registered among the live tasks (see `registry`): shown by
    /// `dump()`, looked at by the deadlock detector.
    tracked: AtomicBool,
    /// A thread or coroutine of greenstd's own (monitor, offload pool):
    /// never registered, never shown.
    internal: bool,
    /// `thread::park`'s token (threads; a coroutine's is in its sleeper).
    parker: Parker,
    /// OS thread id (threads only; 0 for coroutines).
    tid: i32,
    record: Record,
    /// Cancellation and deadlines (see [`crate::cancel`]).
    cancel: State,
    id: NonZeroU64,
    name: Option<String>,
    /// The task that spawned this one (coroutines).
    parent: Option<NonZeroU64>,
    /// Index in the registry while registered.
    slot: AtomicUsize,
    /// `pthread_self()` (threads only), to find its stack on demand.
    pthread: usize,
    /// The stack's address range `[lo, hi)`, 0 while unknown.
    stack: [AtomicUsize; 2],
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn next_id() -> NonZeroU64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    NonZeroU64::new(id).expect("greenstd: task id counter wrapped")
}

impl Task {
    fn with(name: Option<String>, kind: Kind, parent: Option<NonZeroU64>, internal: bool) -> Task {
        let (tid, pthread) = match kind {
            Kind::Thread(_) => (
                crate::sys::gettid(),
                // SAFETY: a plain call without arguments.
                unsafe { libc::pthread_self() } as usize,
            ),
            Kind::Coroutine(_) => (0, 0),
        };
        Task {
            id: next_id(),
            name,
            kind,
            parker: Parker::new(),
            sleeper: Sleeper::new(),
            interrupt: AtomicBool::new(false),
            record: Record::new(),
            parent,
            internal,
            tracked: AtomicBool::new(false),
            slot: AtomicUsize::new(usize::MAX),
            tid,
            pthread,
            stack: [AtomicUsize::new(0), AtomicUsize::new(0)],
            cancel: State::default(),
        }
    }

    /// A task for a coroutine about to be spawned; its parent is the caller.
    pub fn new_coroutine(name: Option<String>) -> Arc<Task> {
        let parent = with_current(|t| t.id);
        Arc::new(Task::with(
            name,
            Kind::Coroutine(OnceLock::new()),
            Some(parent),
            false,
        ))
    }

    fn new_thread() -> Arc<Task> {
        let t = std::thread::current();
        let name = t.name().map(str::to_owned);
        Arc::new(Task::with(
            name,
            Kind::Thread(t),
            None,
            INTERNAL_THREAD.with(Cell::get),
        ))
    }

    /// A coroutine's task that no coroutine runs, for the loom models.
    #[cfg(all(test, loom))]
    pub(crate) fn model_coroutine() -> Arc<Task> {
        Arc::new(Task::with(
            None,
            Kind::Coroutine(OnceLock::new()),
            None,
            true,
        ))
    }

    /// A thread or coroutine of greenstd's own: never registered.
    #[inline]
    pub(crate) fn is_internal(&self) -> bool {
        self.internal
    }

    /// Keeps the handle of the coroutine that runs as this task (set by
    /// the spawner and by the coroutine itself when it starts; the first
    /// stays).
    pub(crate) fn set_coroutine(&self, co: may::coroutine::Coroutine) {
        if let Kind::Coroutine(c) = &self.kind {
            let _ = c.set(co);
        }
    }

    /// Unique id of this task over the life of the process (never reused).
    #[inline]
    pub fn id(&self) -> NonZeroU64 {
        self.id
    }

    /// The task's name, if it has one (`"main"` for the main thread).
    #[inline]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The id of the task that spawned this coroutine (`None` for threads).
    #[inline]
    pub fn parent(&self) -> Option<NonZeroU64> {
        self.parent
    }

    /// The task's cancellation state.
    #[inline]
    pub(crate) fn cancel_state(&self) -> &State {
        &self.cancel
    }

    /// `true` for a coroutine, `false` for an OS thread.
    #[inline]
    pub(crate) fn is_coroutine(&self) -> bool {
        matches!(self.kind, Kind::Coroutine(_))
    }

    /// Makes the park token available and wakes the task if it is parked in
    /// [`park_current`](crate::task::park_current).
    #[inline]
    pub fn unpark(&self) {
        match self.kind {
            // The record says runnable before the coroutine can run (and
            // end its wait).
            Kind::Coroutine(_) => self.sleeper.unpark(|| self.record.set_state(RUNNABLE)),
            Kind::Thread(_) => self.parker.unpark(self),
        }
    }

    /// Interrupts the task's current wait, or its next one if it is not
    /// waiting: the cancellation hook.
    ///
    /// The wait — any wait of greenstd's one mechanism ([`crate::wait`]):
    /// locks, condition variables, channels, join, park, sleep, socket
    /// readiness — leaves its queue (passing on a notification it had
    /// already received) and returns [`WaitResult::Interrupted`](crate::wait::WaitResult::Interrupted), clearing
    /// the interrupt. Waits made [`WaitOn::uninterruptible`](crate::wait::WaitOn::uninterruptible) leave it
    /// pending. greenstd's primitives treat `Interrupted` as a spurious
    /// wakeup and wait again, so on its own an interrupt changes nothing a
    /// program can see; cancellation (`green::JoinHandleExt::cancel`) is
    /// built on it.
    pub fn interrupt(&self) {
        self.interrupt.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// `true` while an interrupt is pending (set, and not yet taken by a wait).
    #[cfg(test)]
    pub(crate) fn is_interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }

    /// Takes a pending interrupt.
    #[inline]
    pub(crate) fn take_interrupt(&self) -> bool {
        self.interrupt.load(Ordering::Relaxed) && self.interrupt.swap(false, Ordering::SeqCst)
    }

    /// Wakes the task from `park::park` (a wait re-checks its own state).
    #[inline]
    pub(crate) fn wake(&self) {
        match &self.kind {
            Kind::Coroutine(_) => self.sleeper.wake(),
            Kind::Thread(t) => t.unpark(),
        }
    }

    /// `thread::park`'s token of a thread task (a coroutine's is in its
    /// sleeper).
    #[inline]
    pub(crate) fn parker(&self) -> &Parker {
        &self.parker
    }

    /// Where the task sleeps when it is a coroutine; `None` for a thread.
    #[inline]
    pub(crate) fn sleeper(&self) -> Option<&Sleeper> {
        match self.kind {
            Kind::Coroutine(_) => Some(&self.sleeper),
            Kind::Thread(_) => None,
        }
    }

    #[inline]
    pub(crate) fn record(&self) -> &Record {
        &self.record
    }

    /// Registered among the live tasks.
    #[inline]
    pub(crate) fn is_tracked(&self) -> bool {
        self.tracked.load(Ordering::Relaxed)
    }

    pub(crate) fn set_registered(&self, slot: Option<usize>) {
        self.slot
            .store(slot.unwrap_or(usize::MAX), Ordering::Relaxed);
        self.tracked.store(slot.is_some(), Ordering::Relaxed);
    }

    pub(crate) fn registered_slot(&self) -> Option<usize> {
        let s = self.slot.load(Ordering::Relaxed);
        (s != usize::MAX).then_some(s)
    }

    /// The OS thread id of a thread task (0 for coroutines).
    pub(crate) fn tid(&self) -> i32 {
        self.tid
    }

    /// The task's stack range `[lo, hi)`, if known. For a thread it is
    /// asked of the C library the first time (the thread must be alive:
    /// callers hold the registry, which a thread leaves before it exits).
    pub(crate) fn stack_range(&self) -> Option<(usize, usize)> {
        let lo = self.stack[0].load(Ordering::Acquire);
        let hi = self.stack[1].load(Ordering::Acquire);
        if hi != 0 {
            return Some((lo, hi));
        }
        if !matches!(self.kind, Kind::Thread(_)) || self.pthread == 0 {
            return None;
        }
        // `pthread` names a live thread (see above).
        let (lo, size) = crate::sys::thread_stack(self.pthread as libc::pthread_t)?;
        self.stack[0].store(lo, Ordering::Release);
        self.stack[1].store(lo + size, Ordering::Release);
        Some((lo, lo + size))
    }

    /// Records the stack of a coroutine that starts running: `top` is an
    /// address in its first frame, `size` its stack size.
    pub(crate) fn set_coroutine_stack(&self, top: usize, size: usize) {
        // The first frame sits a little below the top of the mapping.
        self.stack[0].store(top.saturating_sub(size), Ordering::Release);
        self.stack[1].store(top.saturating_add(4096), Ordering::Release);
    }
}

/// The handle of the last coroutine task dropped, kept until the next one
/// dies.
///
/// may 0.3.51 spins forever when the last handle of a coroutine is dropped
/// while that coroutine is torn down from inside its own `Park::subscribe`
/// (a wakeup that raced with its final park makes `subscribe` resume it in
/// place; it then finishes, its locals are dropped, and `Park`'s drop waits
/// for the very `subscribe` it is nested in). For a detached coroutine the
/// handle in its [`Task`] is the last one, so it is never dropped in place:
/// it waits here and is dropped by the next task to die, outside that frame
/// (on another thread it waits at most for that `subscribe` to return).
static LAST_DEAD: parking_lot::Mutex<Option<may::coroutine::Coroutine>> =
    parking_lot::Mutex::new(None);

impl Drop for Task {
    fn drop(&mut self) {
        if let Kind::Coroutine(co) = &mut self.kind {
            if let Some(co) = co.take() {
                let previous = LAST_DEAD.lock().replace(co);
                drop(previous);
            }
        }
    }
}

/// Per-coroutine slot kept in `may`'s coroutine-local storage.
#[derive(Default)]
pub(crate) struct GreenSlot {
    pub(crate) task: OnceLock<Arc<Task>>,
    pub(crate) locals: Locals,
}

may::coroutine_local!(static SLOT: GreenSlot = GreenSlot::default());

/// A plain thread's task, registered while the thread lives.
struct ThreadTask(OnceLock<Arc<Task>>);

impl Drop for ThreadTask {
    fn drop(&mut self) {
        if let Some(t) = self.0.get() {
            registry::deregister(t);
            crate::observe::tell(crate::observe::Event::SomethingEnded);
        }
    }
}

thread_local! {
    static THREAD_TASK: ThreadTask = const { ThreadTask(OnceLock::new()) };
    /// Set on greenstd's own threads (monitor, offload pool, detector).
    static INTERNAL_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one of greenstd's own: its task, if it ever
/// gets one, is never registered, and the deadlock detector knows it is
/// not one of the program's threads.
pub(crate) fn mark_internal_thread() {
    INTERNAL_THREAD.with(|i| i.set(true));
    registry::internal_thread_started();
}

/// Runs `f` with the slot of the running coroutine, whose embedder pointer
/// (`may::embed::current`) is `embedder`.
#[inline]
pub(crate) fn with_slot<R>(embedder: *const (), f: impl FnOnce(&GreenSlot) -> R) -> R {
    let slot = embedder as *const GreenSlot;
    if !slot.is_null() {
        // SAFETY: a greenstd coroutine's slot lives in its main frame (see
        // `spawn`), which outlasts every call made by the coroutine, and
        // the pointer is cleared before that frame ends.
        return f(unsafe { &*slot });
    }
    // A coroutine spawned by raw `may`: its slot is a may local (a
    // hash-map lookup away).
    with_raw_slot(f)
}

#[inline(never)]
fn with_raw_slot<R>(f: impl FnOnce(&GreenSlot) -> R) -> R {
    SLOT.with(f)
}

/// The task of the running coroutine, whose embedder pointer is `embedder`.
#[inline]
fn with_coroutine_task<R>(embedder: *const (), f: impl FnOnce(&Arc<Task>) -> R) -> R {
    with_slot(embedder, |s| {
        let t = match s.task.get() {
            Some(t) => t,
            None => s.task.get_or_init(new_raw_coroutine_task),
        };
        f(t)
    })
}

/// The task of a coroutine spawned by raw `may`, not by greenstd: never
/// registered (its end cannot be seen).
#[cold]
fn new_raw_coroutine_task() -> Arc<Task> {
    let t = Arc::new(Task::with(
        None,
        Kind::Coroutine(OnceLock::new()),
        None,
        false,
    ));
    if let Kind::Coroutine(co) = &t.kind {
        let _ = co.set(may::coroutine::current());
    }
    t
}

/// The task of the caller: its coroutine, or its OS thread.
pub fn current() -> Arc<Task> {
    with_current(Arc::clone)
}

/// Runs `f` with the task of the caller, without taking a reference count.
/// The `Arc` stays alive while `f` runs (waits run inside `f`).
///
/// The thread-local state that tells a coroutine from a thread is read in
/// a frame of its own (`may::embed::current`, never inlined; see
/// [`crate::park::in_coroutine`]), so this may be inlined.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&Arc<Task>) -> R) -> R {
    match may::embed::current() {
        Some(embedder) => with_coroutine_task(embedder, f),
        None => with_thread_task(f),
    }
}

/// [`with_current`] in a coroutine; `None` (and `f` not called) on a plain
/// thread.
#[inline]
pub(crate) fn with_current_coroutine<R>(f: impl FnOnce(&Arc<Task>) -> R) -> Option<R> {
    may::embed::current().map(|embedder| with_coroutine_task(embedder, f))
}

/// A plain thread's task (registered on first use).
fn with_thread_task<R>(f: impl FnOnce(&Arc<Task>) -> R) -> R {
    let t = THREAD_TASK.try_with(|t| {
        t.0.get_or_init(|| {
            let t = Task::new_thread();
            if !t.internal {
                registry::register(&t);
            }
            t
        })
        .clone()
    });
    match t {
        Ok(t) => f(&t),
        // During thread teardown: a fresh, unnamed, unregistered identity.
        Err(_) => f(&Task::new_thread()),
    }
}

/// The current task if it is a greenstd coroutine (for panic messages).
pub(crate) fn current_coroutine_task() -> Option<Arc<Task>> {
    if may::embed::current().is_some() {
        Some(current())
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Thread-local storage of coroutines.
// ---------------------------------------------------------------------------

/// Why a local could not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LocalDestroyed;

struct LocalEntry {
    key: usize,
    /// `None` while being initialised or after destruction.
    value: Option<Box<dyn Any>>,
    destroyed: bool,
}

#[derive(Default)]
pub(crate) struct Locals {
    entries: RefCell<Vec<LocalEntry>>,
    destroying: Cell<bool>,
}

impl Locals {
    pub(crate) fn get_or_init<T: 'static>(
        &self,
        key: usize,
        init: impl FnOnce() -> T,
    ) -> Result<*const T, LocalDestroyed> {
        {
            let entries = self.entries.borrow();
            if let Some(e) = entries.iter().find(|e| e.key == key) {
                if e.destroyed {
                    return Err(LocalDestroyed);
                }
                if let Some(v) = &e.value {
                    let v: &T = v.downcast_ref().expect("greenstd: local key type mismatch");
                    return Ok(v as *const T);
                }
            }
        }
        // Not initialised yet: run `init` without holding the borrow (it may
        // touch other locals).
        let value: Box<dyn Any> = Box::new(init());
        let mut entries = self.entries.borrow_mut();
        if let Some(e) = entries.iter_mut().find(|e| e.key == key) {
            if e.destroyed {
                return Err(LocalDestroyed);
            }
            if let Some(v) = &e.value {
                // `init` initialised it recursively; keep the first value.
                let v: &T = v.downcast_ref().expect("greenstd: local key type mismatch");
                return Ok(v as *const T);
            }
            e.value = Some(value);
            let v: &T = e
                .value
                .as_ref()
                .and_then(|v| v.downcast_ref())
                .expect("just set");
            return Ok(v as *const T);
        }
        entries.push(LocalEntry {
            key,
            value: Some(value),
            destroyed: false,
        });
        let v: &T = entries
            .last()
            .and_then(|e| e.value.as_ref())
            .and_then(|v| v.downcast_ref())
            .expect("just pushed");
        Ok(v as *const T)
    }

    pub(crate) fn destroy_all(&self) {
        self.destroying.set(true);
        loop {
            let victim = {
                let mut entries = self.entries.borrow_mut();
                entries.iter_mut().find(|e| !e.destroyed).map(|e| {
                    e.destroyed = true;
                    e.value.take()
                })
            };
            match victim {
                None => break,
                Some(v) => drop(v),
            }
        }
    }
}
