//! What a task waits on, and how a wait ends: the descriptors every wait
//! is made with ([`WaitOn`], [`WaitKind`], [`Holder`]), its outcome
//! ([`WaitResult`]), and the record a task keeps of its current wait
//! ([`Record`], a seqlock), which `green::dump()`, the deadlock detector
//! and the monitor read. Below the task's core, which holds a record;
//! `wait` re-exports the public types at their paths.

use std::fmt;
use std::num::NonZeroU64;
use std::panic::Location;
use std::sync::atomic::Ordering;

use crate::atomic;

/// What a blocked coroutine or thread waits for: the operation it is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum WaitKind {
    /// `Mutex::lock` (and a `Condvar` re-acquiring its mutex).
    Mutex = 1,
    /// `RwLock::read`.
    RwLockRead,
    /// `RwLock::write`.
    RwLockWrite,
    /// `Condvar::wait` and its timed forms.
    Condvar,
    /// A channel's `recv`.
    Recv,
    /// A bounded channel's `send`.
    Send,
    /// `JoinHandle::join`; the object is the joined thread's id.
    Join,
    /// The end of `thread::scope`, waiting for its threads.
    Scope,
    /// `thread::park`.
    Park,
    /// `thread::sleep`.
    Sleep,
    /// `Barrier::wait`.
    Barrier,
    /// `Once`, `OnceLock`, `LazyLock`: waiting for another initialiser.
    Once,
    /// A read or receive on a socket; the object is the descriptor.
    Read,
    /// A write or send on a socket; the object is the descriptor.
    Write,
    /// `accept`; the object is the listening descriptor.
    Accept,
    /// `connect`; the object is the descriptor.
    Connect,
    /// Work running on the offload pool.
    Offload,
    /// A one-shot event ([`crate::latch::Latch`]) or another event.
    Event,
    /// `Child::wait` and its forms; the object is the child's process id.
    Child,
    /// `poll` on several descriptors; the object is the first descriptor.
    Poll,
}

impl WaitKind {
    const ALL: [WaitKind; 20] = [
        WaitKind::Mutex,
        WaitKind::RwLockRead,
        WaitKind::RwLockWrite,
        WaitKind::Condvar,
        WaitKind::Recv,
        WaitKind::Send,
        WaitKind::Join,
        WaitKind::Scope,
        WaitKind::Park,
        WaitKind::Sleep,
        WaitKind::Barrier,
        WaitKind::Once,
        WaitKind::Read,
        WaitKind::Write,
        WaitKind::Accept,
        WaitKind::Connect,
        WaitKind::Offload,
        WaitKind::Event,
        WaitKind::Child,
        WaitKind::Poll,
    ];

    pub(crate) fn from_u8(v: u8) -> Option<WaitKind> {
        WaitKind::ALL.iter().copied().find(|k| *k as u8 == v)
    }

    /// The operation, as a user reads it: `Mutex::lock`, `recv`, `join`, …
    pub fn name(self) -> &'static str {
        match self {
            WaitKind::Mutex => "Mutex::lock",
            WaitKind::RwLockRead => "RwLock::read",
            WaitKind::RwLockWrite => "RwLock::write",
            WaitKind::Condvar => "Condvar::wait",
            WaitKind::Recv => "recv",
            WaitKind::Send => "send",
            WaitKind::Join => "join",
            WaitKind::Scope => "scope",
            WaitKind::Park => "park",
            WaitKind::Sleep => "sleep",
            WaitKind::Barrier => "Barrier::wait",
            WaitKind::Once => "Once",
            WaitKind::Read => "read",
            WaitKind::Write => "write",
            WaitKind::Accept => "accept",
            WaitKind::Connect => "connect",
            WaitKind::Offload => "offload",
            WaitKind::Event => "event",
            WaitKind::Child => "Child::wait",
            WaitKind::Poll => "poll",
        }
    }

    /// `true` when the outside world ends the wait — the kernel (I/O), the
    /// clock (sleep) or the offload pool — rather than another thread or
    /// coroutine of the program. Such a wait never counts towards a
    /// deadlock.
    pub(crate) fn is_external(self) -> bool {
        matches!(
            self,
            WaitKind::Read
                | WaitKind::Write
                | WaitKind::Accept
                | WaitKind::Connect
                | WaitKind::Sleep
                | WaitKind::Offload
                | WaitKind::Child
                | WaitKind::Poll
        )
    }
}

impl fmt::Display for WaitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who holds what a waiter waits for, when the primitive knows it: the
/// edges of a wait-for graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Holder {
    /// Unknown, or nobody in particular (a condition variable, a channel).
    #[default]
    None,
    /// A task, by id (the thread a `join` waits for).
    Task(NonZeroU64),
    /// An address on the holder's stack, taken when it acquired a lock
    /// ([`stack_address`]); `crate::inspect` maps it to the task whose
    /// stack contains it. Costs the lock one store, no lookup.
    Stack(usize),
}

impl Holder {
    pub(crate) fn encode(self) -> (u8, usize) {
        match self {
            Holder::None => (0, 0),
            Holder::Task(id) => (1, id.get() as usize),
            Holder::Stack(a) => (2, a),
        }
    }

    pub(crate) fn decode(tag: u8, v: usize) -> Holder {
        match tag {
            1 => NonZeroU64::new(v as u64).map_or(Holder::None, Holder::Task),
            2 => Holder::Stack(v),
            _ => Holder::None,
        }
    }
}

/// An address in the caller's current stack frame: a cheap identity of the
/// running coroutine or thread, for lock owners ([`Holder::Stack`]).
#[inline(always)]
pub fn stack_address() -> usize {
    let probe = 0u8;
    std::hint::black_box(&probe) as *const u8 as usize
}

/// What one wait is for: recorded in the waiting task while it waits.
#[derive(Clone, Copy, Debug)]
pub struct WaitOn {
    pub(crate) kind: WaitKind,
    object: usize,
    holder: Holder,
    location: &'static Location<'static>,
    pub(crate) interruptible: bool,
}

impl WaitOn {
    /// A wait of `kind` on `object` (an address, a descriptor or an id),
    /// called from the caller's caller: put `#[track_caller]` on every
    /// function between the user's code and this call, so the location is
    /// the user's line.
    #[track_caller]
    #[inline]
    pub fn new(kind: WaitKind, object: usize) -> WaitOn {
        WaitOn::at(kind, object, Location::caller())
    }

    /// A wait of `kind` on `object` made at `location`.
    #[inline]
    pub fn at(kind: WaitKind, object: usize, location: &'static Location<'static>) -> WaitOn {
        WaitOn {
            kind,
            object,
            holder: Holder::None,
            location,
            interruptible: true,
        }
    }

    /// Records who holds the object (a lock's owner, a joined thread).
    #[inline]
    pub fn held_by(mut self, holder: Holder) -> WaitOn {
        self.holder = holder;
        self
    }

    /// Makes the wait ignore [`Task::interrupt`](crate::task::Task::interrupt) (which stays pending for
    /// the next wait): for waits that must not end before what they wait
    /// for, such as an offload job that borrows the waiting frame.
    #[inline]
    pub fn uninterruptible(mut self) -> WaitOn {
        self.interruptible = false;
        self
    }

    /// The kind of wait.
    pub fn kind(&self) -> WaitKind {
        self.kind
    }

    /// The object waited on.
    pub fn object(&self) -> usize {
        self.object
    }

    /// The holder, if known.
    pub fn holder(&self) -> Holder {
        self.holder
    }

    /// The call site.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum WaitResult {
    /// A notifier woke the waiter.
    Notified,
    /// `validate` returned `false` under the lock: the caller never slept.
    Invalid,
    /// The deadline passed first.
    TimedOut,
    /// [`Task::interrupt`](crate::task::Task::interrupt) ended the wait; a notification it had received
    /// was passed on to the next waiter.
    Interrupted,
}

/// The task runs (or is about to): it is not in a wait.
pub(crate) const RUNNING: u8 = 0;
/// The task sleeps in a wait.
pub(crate) const PARKED: u8 = 1;
/// A notifier ended the task's wait; it has not run since.
pub(crate) const RUNNABLE: u8 = 2;

/// What a task waits on: written by the task itself when it starts a wait
/// (a seqlock: `seq` is odd while the fields change), read by anyone
/// (`crate::inspect`). `state` changes on its own: a notifier sets it to
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
