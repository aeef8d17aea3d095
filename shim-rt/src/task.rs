//! The identity of the running execution context — a greenstd coroutine or a
//! plain OS thread — with its park token and its thread-local storage.
//!
//! `std::thread::Thread` is built on this: [`current`] returns the [`Task`]
//! of the caller, inside a coroutine as on a plain thread.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io;
use std::num::NonZeroU64;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::config;
use crate::park::{in_coroutine, Sleeper};
use crate::wait::{Holder, Parker, WaitKind, WaitOn, WaitResult};
use crate::{atomic, registry};

enum Kind {
    /// Set by the coroutine itself when it starts (and by the spawner).
    Coroutine(OnceLock<may::coroutine::Coroutine>),
    Thread(std::thread::Thread),
}

/// A thread or coroutine: its id, name, park token, interrupt flag and the
/// record of what it waits on.
pub struct Task {
    id: NonZeroU64,
    name: Option<String>,
    kind: Kind,
    /// `thread::park`'s token (threads; a coroutine's is in its sleeper).
    parker: Parker,
    /// Where the coroutine sleeps in every wait, with its park token
    /// (coroutines only).
    sleeper: Sleeper,
    /// Set by [`Task::interrupt`], cleared by the wait it ends.
    interrupt: AtomicBool,
    record: Record,
    /// The task that spawned this one (coroutines).
    parent: Option<NonZeroU64>,
    /// A thread or coroutine of greenstd's own (monitor, offload pool):
    /// never registered, never shown.
    internal: bool,
    /// Registered among the live tasks (see `registry`): shown by
    /// `dump()`, looked at by the deadlock detector.
    tracked: AtomicBool,
    /// Index in the registry while registered.
    slot: AtomicUsize,
    /// OS thread id (threads only; 0 for coroutines).
    tid: i32,
    /// `pthread_self()` (threads only), to find its stack on demand.
    pthread: usize,
    /// The stack's address range `[lo, hi)`, 0 while unknown.
    stack: [AtomicUsize; 2],
    /// Cancellation and deadlines (see [`crate::cancel`]).
    cancel: crate::cancel::State,
}

/// The task runs (or is about to): it is not in a wait.
pub(crate) const RUNNING: u8 = 0;
/// The task sleeps in a wait.
pub(crate) const PARKED: u8 = 1;
/// A notifier ended the task's wait; it has not run since.
pub(crate) const RUNNABLE: u8 = 2;

/// What a task waits on: written by the task itself when it starts a wait
/// (a seqlock: `seq` is odd while the fields change), read by anyone
/// ([`crate::inspect`]). `state` changes on its own: a notifier sets it to
/// `RUNNABLE`.
pub(crate) struct Record {
    seq: atomic::AtomicU32,
    state: atomic::AtomicU8,
    kind: atomic::AtomicU8,
    timed: atomic::AtomicBool,
    holder_tag: atomic::AtomicU8,
    holder: atomic::AtomicUsize,
    object: atomic::AtomicUsize,
    /// `CLOCK_MONOTONIC_COARSE`, nanoseconds.
    since: atomic::AtomicU64,
    location: atomic::AtomicPtr<Location<'static>>,
}

/// One consistent read of a [`Record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordView {
    /// Changes with every wait the task starts.
    pub(crate) seq: u32,
    pub(crate) state: u8,
    pub(crate) kind: Option<WaitKind>,
    pub(crate) timed: bool,
    pub(crate) holder: Holder,
    pub(crate) object: usize,
    pub(crate) since: u64,
    pub(crate) location: Option<&'static Location<'static>>,
}

/// `CLOCK_MONOTONIC_COARSE` in nanoseconds: a few nanoseconds to read (no
/// system call), a few milliseconds of resolution — enough to say how long
/// a task has waited.
pub(crate) fn coarse_now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(crate::sys::coarse_clock(), &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

impl Record {
    pub(crate) fn new() -> Record {
        Record {
            seq: atomic::AtomicU32::new(0),
            state: atomic::AtomicU8::new(RUNNING),
            kind: atomic::AtomicU8::new(0),
            timed: atomic::AtomicBool::new(false),
            holder_tag: atomic::AtomicU8::new(0),
            holder: atomic::AtomicUsize::new(0),
            object: atomic::AtomicUsize::new(0),
            since: atomic::AtomicU64::new(0),
            location: atomic::AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The task starts waiting on `on`. Only the task itself calls it.
    #[inline]
    pub(crate) fn begin(&self, on: &WaitOn, timed: bool) {
        self.describe(on, timed);
        self.state.store(PARKED, Ordering::Relaxed);
    }

    /// Writes what the task is about to wait on, leaving its state alone
    /// (done before taking a queue's lock; the state is set under it).
    #[inline]
    pub(crate) fn describe(&self, on: &WaitOn, timed: bool) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        atomic::fence(Ordering::Release);
        let (htag, hval) = on.holder().encode();
        self.kind.store(on.kind() as u8, Ordering::Relaxed);
        self.timed.store(timed, Ordering::Relaxed);
        self.holder_tag.store(htag, Ordering::Relaxed);
        self.holder.store(hval, Ordering::Relaxed);
        self.object.store(on.object(), Ordering::Relaxed);
        self.since.store(coarse_now(), Ordering::Relaxed);
        self.location.store(
            on.location() as *const Location<'static> as *mut Location<'static>,
            Ordering::Relaxed,
        );
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// The task's wait is over. Only the task itself calls it.
    #[inline]
    pub(crate) fn end(&self) {
        self.state.store(RUNNING, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn set_state(&self, state: u8) {
        self.state.store(state, Ordering::Relaxed);
    }

    /// A consistent view (retries while the task rewrites its record).
    pub(crate) fn read(&self) -> RecordView {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                atomic::spin_loop();
                continue;
            }
            let kind = WaitKind::from_u8(self.kind.load(Ordering::Relaxed));
            let timed = self.timed.load(Ordering::Relaxed);
            let holder = Holder::decode(
                self.holder_tag.load(Ordering::Relaxed),
                self.holder.load(Ordering::Relaxed),
            );
            let object = self.object.load(Ordering::Relaxed);
            let since = self.since.load(Ordering::Relaxed);
            let location = self.location.load(Ordering::Relaxed);
            let state = self.state.load(Ordering::Relaxed);
            atomic::fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return RecordView {
                    seq: s1,
                    state,
                    kind,
                    timed,
                    holder,
                    object,
                    since,
                    // SAFETY: only ever set from a `&'static Location`.
                    location: unsafe { location.as_ref() },
                };
            }
        }
    }
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
            cancel: crate::cancel::State::default(),
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
    pub(crate) fn cancel_state(&self) -> &crate::cancel::State {
        &self.cancel
    }

    /// `true` for a coroutine, `false` for an OS thread.
    #[inline]
    pub fn is_coroutine(&self) -> bool {
        matches!(self.kind, Kind::Coroutine(_))
    }

    /// Makes the park token available and wakes the task if it is parked in
    /// [`park_current`].
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
    /// already received) and returns [`WaitResult::Interrupted`], clearing
    /// the interrupt. Waits made [`WaitOn::uninterruptible`] leave it
    /// pending. greenstd's primitives treat `Interrupted` as a spurious
    /// wakeup and wait again, so on its own an interrupt changes nothing a
    /// program can see; cancellation (`green::JoinHandleExt::cancel`) is
    /// built on it.
    pub fn interrupt(&self) {
        self.interrupt.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// `true` while an interrupt is pending (set, and not yet taken by a wait).
    #[inline]
    pub fn is_interrupted(&self) -> bool {
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
    fn set_coroutine_stack(&self, top: usize, size: usize) {
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
struct GreenSlot {
    task: OnceLock<Arc<Task>>,
    locals: Locals,
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
fn with_slot<R>(embedder: *const (), f: impl FnOnce(&GreenSlot) -> R) -> R {
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
    if in_coroutine() {
        Some(current())
    } else {
        None
    }
}

/// Blocks until the current task's park token is available, then consumes it.
///
/// Never returns spuriously. Recorded as [`WaitKind::Park`] at the caller's
/// call site.
#[track_caller]
#[inline]
pub fn park_current() {
    let location = Location::caller();
    with_current(|me| {
        let on = on_self(me, location);
        loop {
            match wait_for_token(me, &on, None) {
                WaitResult::Notified => return,
                // A due cancellation or deadline unwinds; else park again.
                WaitResult::Interrupted => crate::cancel::interrupted(),
                _ => {}
            }
        }
    })
}

/// Blocks until the park token is available or `deadline` passes; consumes
/// the token if it was available.
#[track_caller]
pub fn park_current_until(deadline: Instant) {
    let location = Location::caller();
    with_current(|me| {
        let on = on_self(me, location);
        while wait_for_token(me, &on, Some(deadline)) == WaitResult::Interrupted {
            crate::cancel::interrupted();
        }
    })
}

/// `thread::park` for `me`, the caller's task: one recorded wait for its
/// park token (through the one suspend point, `wait::suspend`).
#[inline]
fn wait_for_token(me: &Arc<Task>, on: &WaitOn, deadline: Option<Instant>) -> WaitResult {
    match me.sleeper() {
        Some(s) => crate::wait::park_coroutine(me, s, on, deadline),
        None => me.parker.park(me, *on, deadline),
    }
}

/// A park is a wait on the task itself.
#[inline]
fn on_self(me: &Task, location: &'static Location<'static>) -> WaitOn {
    WaitOn::at(WaitKind::Park, me.id.get() as usize, location)
}

/// Spawns `body` as a coroutine running as `task`, with a stack of
/// `stack_size` bytes (`None`: the configured default).
///
/// The body runs with `task` as its identity. Panics must be caught by
/// `body` itself; one that escapes is reported and aborts the process, as a
/// panic escaping a thread's main function would otherwise be lost.
///
/// # Errors
///
/// The runtime's configuration error, or `OutOfMemory` when no stack could be
/// mapped (memory or `vm.max_map_count` exhausted).
pub fn spawn(
    task: Arc<Task>,
    stack_size: Option<usize>,
    body: impl FnOnce() + Send + 'static,
) -> io::Result<()> {
    let settings = config::start()?;
    let words = config::stack_words(stack_size.unwrap_or(settings.stack_size));
    let stack_bytes = words * std::mem::size_of::<usize>();
    let mut builder = may::coroutine::Builder::new().stack_size(words);
    if let Some(name) = task.name() {
        builder = builder.name(name.to_owned());
    }
    // Registered before it can run: from here it counts as live.
    if !task.internal {
        registry::register(&task);
    }
    let their_task = task.clone();
    let main = move || {
        their_task.set_coroutine_stack(crate::wait::stack_address(), stack_bytes);
        let me = may::coroutine::current();
        // The monitor names a stuck coroutine by this tag.
        me.set_tag(their_task.id.get());
        if let Kind::Coroutine(co) = &their_task.kind {
            let _ = co.set(me);
        }
        fence(Ordering::SeqCst);
        let me = their_task.clone();
        // The coroutine's slot lives in this frame, reached through may's
        // embedder pointer (no hash-map lookup per access).
        let slot = GreenSlot::default();
        let _ = slot.task.set(their_task);
        may::embed::set_embedder_ptr(&slot as *const GreenSlot as *const ());
        if catch_unwind(AssertUnwindSafe(body)).is_err() {
            eprintln!("greenstd: a panic escaped a coroutine's body; aborting");
            std::process::abort();
        }
        may::embed::set_embedder_ptr(std::ptr::null());
        drop(slot);
        registry::deregister(&me);
    };
    // Detached: greenstd's `JoinHandle` keeps its own result and panic
    // slots, so may's three per-coroutine join allocations are not made.
    // may panics (instead of returning an error) when it cannot map a stack.
    // SAFETY: greenstd coroutines reach thread-locals only through
    // greenstd's `thread_local!`, which is per coroutine; stack overflow hits
    // a guard page and aborts the process (see `overflow`).
    let spawned = catch_unwind(AssertUnwindSafe(|| unsafe { builder.spawn_detached(main) }));
    let handle = match spawned {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            registry::deregister(&task);
            return Err(e);
        }
        Err(_) => {
            registry::deregister(&task);
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                stack_map_error(),
            ));
        }
    };
    if let Kind::Coroutine(co) = &task.kind {
        let _ = co.set(handle);
    }
    Ok(())
}

/// Why no stack could be had, as far as we can tell.
fn stack_map_error() -> &'static str {
    #[cfg(target_os = "linux")]
    if may::stack_arena::in_use() == Some(true) {
        return "cannot map a coroutine stack: out of memory or address space \
                (stacks come from greenstd's stack arena); use fewer coroutines";
    }
    "cannot map a coroutine stack: out of memory or of memory mappings: every stack is a \
     mapping of its own (the kernel has no guard regions, MADV_GUARD_INSTALL of Linux 6.13+, \
     or GREENSTD_STACK_ARENA=0) and two count against the sysctl vm.max_map_count; raise it \
     (sysctl -w vm.max_map_count=...), or use fewer coroutines or smaller stacks"
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
struct Locals {
    entries: RefCell<Vec<LocalEntry>>,
    destroying: Cell<bool>,
}

impl Locals {
    fn get_or_init<T: 'static>(
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

    fn destroy_all(&self) {
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

/// Runs `f` with the current coroutine's value for the local `key`
/// (initialising it with `init` on first use).
///
/// `key` must be unique per local (the address of its static) and always
/// used with the same `T`. Returns `None` after the coroutine has started
/// destroying its locals and this one is gone (std's `AccessError`).
///
/// Must only be called inside a coroutine.
#[inline(never)]
pub fn with_coroutine_local<T: 'static, R>(
    key: usize,
    init: impl FnOnce() -> T,
    f: impl FnOnce(&T) -> R,
) -> Option<R> {
    let embedder = may::embed::current().expect("greenstd: a coroutine local outside a coroutine");
    let ptr = with_slot(embedder, |s| s.locals.get_or_init(key, init)).ok()?;
    // SAFETY: the value is boxed and owned by the coroutine's slot; it is
    // dropped only by `destroy_locals`, which marks it destroyed first, and
    // that runs on this same coroutine, never while `f` runs.
    Some(f(unsafe { &*ptr }))
}

/// Takes the calling coroutine off the registry of live tasks (dumps, the
/// deadlock detector) before its result is published: once `join` has
/// returned, the thread is finished, as std's, and no dump shows it. Later
/// calls, and the runtime's own at the coroutine's end, do nothing.
pub fn finish_current() {
    if in_coroutine() {
        with_current(|me| registry::deregister(me));
    }
}

/// Runs the destructors of the current coroutine's locals. greenstd calls
/// it when a coroutine's main function has returned, before its result is
/// published to `join`. Locals touched by a destructor after their own
/// destruction are unavailable (`None` from [`with_coroutine_local`]), as std's. On a
/// plain thread it does nothing: std runs those destructors at thread exit.
pub fn destroy_locals() {
    if let Some(embedder) = may::embed::current() {
        with_slot(embedder, |s| s.locals.destroy_all());
    }
}
