//! The one wait mechanism every blocking primitive of greenstd is built on.
//!
//! A waiter is a node that lives in the waiting frame — pinned on the
//! stack of the coroutine or thread that waits, so a wait allocates nothing
//! — linked into an intrusive FIFO, a [`WaitList`]. A list is always used
//! under a lock: its own ([`WaitQueue`]) or one of the primitive's (the
//! channels keep theirs inside their state, [`wait_locked`]).
//!
//! The rules, in one place (in the spirit of parking_lot's parking lot and
//! tokio's `scheduled_io.rs`):
//!
//! * a waiter is linked under the lock, after the primitive's `validate`
//!   said it must sleep, and before the lock is released: a notification
//!   issued after the release cannot be missed;
//! * a notifier unlinks the node and marks it notified under the lock, and
//!   wakes the waiter only after releasing it ([`Wake`], [`Wakeups`]); the
//!   node's mark is the last thing the notifier touches, because once the
//!   waiter sees it, it may return and its frame — the node — is gone;
//! * a waiter whose deadline passes, or which is interrupted, takes the
//!   lock and unlinks itself — unless a notifier got there first: then a
//!   timed-out wait reports the notification ([`WaitResult::Notified`]),
//!   never losing it, and an interrupted wait (an interrupt wins over a
//!   notification that came with it) passes it on to the next waiter
//!   before reporting [`WaitResult::Interrupted`];
//! * every wait writes what it waits on — the [`WaitKind`], the object, the
//!   lock holder, the user's call site, since when — into the waiting
//!   task's record, which [`crate::inspect`] reads for `green::dump()`, the
//!   deadlock report and the blocked-worker monitor.
//!
//! # Interruption (the cancellation hook)
//!
//! [`Task::interrupt`] ends the task's current wait — or, if it is not
//! waiting, its next one — early: the wait unlinks itself (leaving the
//! queue consistent, see above), clears the interrupt and returns
//! [`WaitResult::Interrupted`]. Waits made [`WaitOn::uninterruptible`]
//! (the offload pool's: the job borrows the waiting frame) ignore it and
//! leave it pending. A primitive whose wait returns `Interrupted` restores
//! its own state and calls `cancel::interrupted()`, which unwinds with a
//! due cancellation or deadline, or returns (a stray interrupt: it waits
//! again); [`pause`] does that itself.

use std::fmt;
use std::marker::PhantomPinned;
use std::ops::DerefMut;
use std::pin::{pin, Pin};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::park::{self, Token};
use crate::record::RUNNABLE;
use crate::sleeper::Sleeper;
use crate::task_core::{self as task, Parker, Task};

pub use crate::record::{stack_address, Holder, WaitKind, WaitOn, WaitResult};

// ---------------------------------------------------------------------------
// Nodes and lists.
// ---------------------------------------------------------------------------

/// Not linked: fresh, or withdrawn by its waiter.
const IDLE: u8 = 0;
/// In a list.
const LINKED: u8 = 1;
/// Taken off its list by a notifier.
const NOTIFIED: u8 = 2;

/// One waiter, in the waiting frame.
///
/// The links are atomics only so that a node is `Sync` without ceremony:
/// they are read and written under the lock of the list the node is in.
struct Node {
    prev: AtomicPtr<Node>,
    next: AtomicPtr<Node>,
    /// `LINKED` → `NOTIFIED` by a notifier (under the lock, its last touch
    /// of the node), `LINKED` → `IDLE` by the waiter itself (under the lock).
    state: AtomicU8,
    tag: u64,
    /// The waiting task; valid while the node is linked (the waiter runs
    /// inside `task::with_current`, which keeps this `Arc` alive).
    task: *const Arc<Task>,
    _pinned: PhantomPinned,
}

// SAFETY: the raw task pointer is only dereferenced by notifiers while the
// node is linked, under the lock of its list; everything else is atomic.
unsafe impl Send for Node {}
// SAFETY: as above.
unsafe impl Sync for Node {}

impl Node {
    fn new(tag: u64, task: &Arc<Task>) -> Node {
        Node {
            prev: AtomicPtr::new(ptr::null_mut()),
            next: AtomicPtr::new(ptr::null_mut()),
            state: AtomicU8::new(IDLE),
            tag,
            task,
            _pinned: PhantomPinned,
        }
    }

    #[inline]
    fn is_notified(&self) -> bool {
        self.state.load(Ordering::Acquire) == NOTIFIED
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A node still linked is about to dangle in its list: only a panic
        // between linking and waiting (in a primitive's `before_sleep` or
        // lock) can get here. Nothing can unlink it without the lock.
        if *self.state.get_mut() == LINKED {
            eprintln!("greenstd: a waiter left its wait queue while still queued; aborting");
            std::process::abort();
        }
    }
}

/// A FIFO of waiters, kept under a lock of the user's choice (all methods
/// need `&mut`, which that lock provides).
///
/// The waiters themselves live in their waiting frames; the list holds
/// pointers to them. [`WaitQueue`] is a list under its own lock;
/// [`wait_locked`] waits on a list inside any other locked state.
pub struct WaitList {
    head: *const Node,
    tail: *const Node,
    len: usize,
}

// SAFETY: the pointers name nodes that stay alive and pinned while they are
// linked (a waiter returns only once its node is unlinked, and `Node`'s
// drop aborts otherwise); they are only followed through `&mut WaitList`,
// that is under the lock that guards the list.
unsafe impl Send for WaitList {}
// SAFETY: `&WaitList` only reads the length and the first tag, of nodes
// that are alive while linked (see above).
unsafe impl Sync for WaitList {}

impl Default for WaitList {
    fn default() -> WaitList {
        WaitList::new()
    }
}

impl fmt::Debug for WaitList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList").field("len", &self.len).finish()
    }
}

impl WaitList {
    /// An empty list.
    pub const fn new() -> WaitList {
        WaitList {
            head: ptr::null(),
            tail: ptr::null(),
            len: 0,
        }
    }

    /// Number of waiters.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when nobody waits.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tag of the first waiter.
    #[inline]
    pub fn front_tag(&self) -> Option<u64> {
        // SAFETY: a linked node is alive (see the `Send` impl).
        unsafe { self.head.as_ref() }.map(|n| n.tag)
    }

    /// Links `node` at the back.
    ///
    /// # Safety
    ///
    /// `node` is pinned, not linked anywhere, and stays alive until it has
    /// been unlinked (by a notifier or by [`WaitList::withdraw`] on this
    /// same list).
    unsafe fn push_back(&mut self, node: &Node) {
        let p = node as *const Node as *mut Node;
        node.prev.store(self.tail as *mut Node, Ordering::Relaxed);
        node.next.store(ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: the tail, if any, is a linked node, alive.
        match unsafe { self.tail.as_ref() } {
            Some(tail) => tail.next.store(p, Ordering::Relaxed),
            None => self.head = p,
        }
        self.tail = p;
        self.len += 1;
        node.state.store(LINKED, Ordering::Relaxed);
    }

    /// Unlinks a node known to be in this list.
    fn unlink(&mut self, node: &Node) {
        let prev = node.prev.load(Ordering::Relaxed);
        let next = node.next.load(Ordering::Relaxed);
        // SAFETY: neighbours of a linked node are linked nodes, alive.
        match unsafe { prev.as_ref() } {
            Some(p) => p.next.store(next, Ordering::Relaxed),
            None => self.head = next,
        }
        // SAFETY: as above.
        match unsafe { next.as_ref() } {
            Some(n) => n.prev.store(prev, Ordering::Relaxed),
            None => self.tail = prev,
        }
        self.len -= 1;
    }

    /// The waiter takes itself off the list; `false` if a notifier took it
    /// first. `node` must have been pushed on this list.
    fn withdraw(&mut self, node: &Node) -> bool {
        if node.state.load(Ordering::Relaxed) != LINKED {
            return false;
        }
        self.unlink(node);
        node.state.store(IDLE, Ordering::Relaxed);
        true
    }

    /// Takes the first waiter off the list and marks it notified; it is
    /// woken when the returned [`Wake`] is dropped — after the lock is
    /// released.
    pub fn notify_one(&mut self) -> Option<Wake> {
        // SAFETY: the head, if any, is a linked node, alive until we mark
        // it notified below (its waiter cannot withdraw: we hold the lock).
        let node = unsafe { self.head.as_ref() }?;
        self.unlink(node);
        // SAFETY: the waiting task outlives its wait (see `Node::task`).
        let task = unsafe { &*node.task }.clone();
        task.record().set_state(RUNNABLE);
        // The last touch: from here the waiter may return and free the node.
        node.state.store(NOTIFIED, Ordering::Release);
        Some(Wake { task })
    }

    /// Takes every waiter off the list and marks them notified; they are
    /// woken when the returned [`Wakeups`] is dropped.
    pub fn notify_all(&mut self) -> Wakeups {
        let mut woken = Wakeups::new();
        while let Some(w) = self.notify_one() {
            woken.push(w);
        }
        woken
    }
}

/// A waiter taken off a list, to be woken once the lock is released: on
/// drop, or by [`Wake::wake`].
#[must_use = "dropping a Wake wakes the waiter: drop it after releasing the lock"]
pub struct Wake {
    task: Arc<Task>,
}

impl Wake {
    /// Wakes the waiter now.
    #[inline]
    pub fn wake(self) {}
}

impl Drop for Wake {
    #[inline]
    fn drop(&mut self) {
        self.task.wake();
    }
}

impl fmt::Debug for Wake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wake")
            .field("task", &self.task.id())
            .finish()
    }
}

/// Waiters taken off a list, woken on drop (in the order they waited). The
/// first four are kept inline: a broadcast to a few waiters allocates
/// nothing.
#[must_use = "dropping Wakeups wakes the waiters: drop it after releasing the lock"]
#[derive(Default)]
pub struct Wakeups {
    inline: [Option<Wake>; 4],
    more: Vec<Wake>,
    len: usize,
}

impl Wakeups {
    /// None yet.
    pub fn new() -> Wakeups {
        Wakeups::default()
    }

    /// Adds one.
    pub fn push(&mut self, w: Wake) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = Some(w),
            None => self.more.push(w),
        }
        self.len += 1;
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Wakes them now.
    pub fn wake(self) {}
}

impl fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wakeups").field("len", &self.len).finish()
    }
}

// ---------------------------------------------------------------------------
// Waiting: the one place where a waiter sleeps.
// ---------------------------------------------------------------------------

enum Outcome {
    Notified,
    TimedOut,
    /// `consumed`: a notification had reached the node first.
    Interrupted {
        consumed: bool,
    },
}

/// A wait is about to sleep. A plain thread's wait that only another task
/// can end may be the last piece of a deadlock (a coroutine's is seen by
/// the monitor when its worker falls asleep): tell the detector.
#[inline]
fn blocking(me: &Task, on: &WaitOn, deadline: Option<Instant>) {
    if !me.is_coroutine() && me.is_tracked() && deadline.is_none() && !on.kind.is_external() {
        crate::observe::tell(crate::observe::Event::ThreadBlocked);
    }
}

/// How the task's record stands when [`suspend`] is called.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Recorded {
    /// Not yet: `suspend` writes it.
    Begin,
    /// Described and marked parked by the caller under a lock (a notifier
    /// may already have marked it runnable): `suspend` leaves it.
    Begun,
}

/// The one suspend point: every wait of every task — coroutine or plain
/// thread — sleeps here and nowhere else.
///
/// Records the wait (`on`: kind, object, holder, the user's line; since
/// now) unless the caller did ([`Recorded::Begun`]), tells the deadlock
/// detector about a thread that may be its last piece, then sleeps on
/// `token` until `ready()` holds ([`WaitResult::Notified`]), `deadline`
/// passes ([`WaitResult::TimedOut`], unless `ready()` holds by then), or
/// the task is interrupted ([`WaitResult::Interrupted`], checked first: an
/// interrupt wins over a readiness that came with it). The record says
/// running again when it returns.
///
/// **The destructor rule.** A cancellation or a deadline never cuts a
/// wait made inside a destructor: the interrupt is not taken (it stays
/// pending and ends the first wait after) while the task is shielded —
/// inside [`crate::cancel::defer`] (`green::defer_cancel`, which
/// greenstd's own destructors use and a user's destructor that waits wraps
/// its body in; Rust cannot tell a destructor runs) or
/// [`crate::cancel::shield`] — or unwinding (`std::thread::panicking()`:
/// every destructor an unwinding runs, whatever started it).
#[inline]
pub(crate) fn suspend(
    me: &Arc<Task>,
    on: &WaitOn,
    deadline: Option<Instant>,
    token: Token,
    record: Recorded,
    mut ready: impl FnMut() -> bool,
) -> WaitResult {
    if record == Recorded::Begin {
        me.record().begin(on, deadline.is_some());
    }
    blocking(me, on, deadline);
    // Asked once, before the first sleep (an unwinding coroutine keeps its
    // OS thread, see `sleeper::Sleeper::sleep_unwinding`, so the answer holds).
    let interruptible = on.interruptible && !me.cancel_state().defers_interrupts();
    let r = loop {
        if interruptible && me.take_interrupt() {
            break WaitResult::Interrupted;
        }
        if ready() {
            break WaitResult::Notified;
        }
        let timed_out = park::sleep_as(me, deadline, token);
        // It suspended: a fresh budget, on the worker it resumed on.
        crate::coop::reset();
        if timed_out {
            break if ready() {
                WaitResult::Notified
            } else {
                WaitResult::TimedOut
            };
        }
    };
    me.record().end();
    r
}

/// Sleeps until `node` is notified, `deadline` passes or the task is
/// interrupted. `withdraw` takes the lock and unlinks the node if it is
/// still linked (returning `true`), else returns `false`: called at most
/// once, and the node is unlinked when this returns.
fn sleep_on(
    node: &Node,
    me: &Arc<Task>,
    on: &WaitOn,
    deadline: Option<Instant>,
    mut withdraw: impl FnMut() -> bool,
) -> Outcome {
    match suspend(me, on, deadline, Token::Wake, Recorded::Begun, || {
        node.is_notified()
    }) {
        // An interrupt wins over a notification that came with it: the
        // notification goes on to the next waiter (cancellation must not
        // take a lock it was about to be handed, say).
        WaitResult::Interrupted => Outcome::Interrupted {
            consumed: !withdraw(),
        },
        // A notification that raced with the deadline wins.
        WaitResult::TimedOut if withdraw() => Outcome::TimedOut,
        _ => Outcome::Notified,
    }
}

/// Links the current task on a list behind `guard`, releases the lock,
/// runs `before_sleep` and sleeps. The core of every wait on a list.
#[allow(clippy::too_many_arguments)]
fn wait_in<G, P, L>(
    me: &Arc<Task>,
    mut guard: G,
    project: P,
    relock: L,
    on: &WaitOn,
    tag: u64,
    deadline: Option<Instant>,
    before_sleep: impl FnOnce(),
    changed: impl Fn(&WaitList),
) -> WaitResult
where
    G: DerefMut,
    P: Fn(&mut G::Target) -> &mut WaitList,
    L: Fn() -> G,
{
    let node = pin!(Node::new(tag, me));
    let node: Pin<&Node> = node.into_ref();
    {
        let list = project(&mut guard);
        // The record was described by the caller; parked from here (the
        // notifier's RUNNABLE comes after, under the same lock).
        me.record().set_state(crate::record::PARKED);
        // SAFETY: the node is pinned in this frame, fresh, and this
        // function returns only once it is unlinked: `sleep_on` returns
        // notified (unlinked by the notifier) or after `withdraw`; a panic
        // in between aborts in `Node::drop`.
        unsafe { list.push_back(&node) };
        changed(list);
    }
    drop(guard);
    before_sleep();
    let outcome = sleep_on(&node, me, on, deadline, || {
        let mut g = relock();
        let list = project(&mut g);
        let removed = list.withdraw(&node);
        if removed {
            changed(list);
        }
        removed
    });
    match outcome {
        Outcome::Notified => WaitResult::Notified,
        Outcome::TimedOut => WaitResult::TimedOut,
        Outcome::Interrupted { consumed } => {
            if consumed {
                // Pass the notification on, as if it had never reached us.
                let mut g = relock();
                let list = project(&mut g);
                let next = list.notify_one();
                changed(list);
                drop(g);
                drop(next);
            }
            WaitResult::Interrupted
        }
    }
}

/// Waits on a [`WaitList`] kept inside state guarded by the caller's own
/// lock.
///
/// `guard` holds that lock, and the caller has checked under it that it
/// must wait; `project` finds the list in the locked state; `relock` takes
/// the lock again (to withdraw on timeout or interruption). The caller is
/// linked at the back of the list, the lock is released, and the caller
/// runs `before_sleep` (to wake whoever the caller's change concerns, say)
/// and sleeps until a notifier ([`WaitList::notify_one`], …) takes it off
/// the list, `deadline` passes, or the task is interrupted. The lock is
/// not held on return.
///
/// `relock` and `before_sleep` must not panic (the waiter would be left
/// queued: the process aborts).
pub fn wait_locked<G, P, L>(
    guard: G,
    project: P,
    relock: L,
    on: WaitOn,
    tag: u64,
    deadline: Option<Instant>,
    before_sleep: impl FnOnce(),
) -> WaitResult
where
    G: DerefMut,
    P: Fn(&mut G::Target) -> &mut WaitList,
    L: Fn() -> G,
{
    task::with_current(|me| {
        me.record().describe(&on, deadline.is_some());
        wait_in(
            me,
            guard,
            project,
            relock,
            &on,
            tag,
            deadline,
            before_sleep,
            |_| {},
        )
    })
}

/// A [`WaitList`] under its own lock, with a lock-free count of waiters so
/// that a notifier with nobody to wake takes no lock.
#[derive(Debug, Default)]
pub struct WaitQueue {
    list: parking_lot::Mutex<WaitList>,
    /// The length of `list`, stored under its lock (`SeqCst`); during a
    /// `wait`, one more from before `validate` runs (see [`WaitQueue::has_waiters`]).
    len: AtomicUsize,
}

impl WaitQueue {
    /// An empty queue.
    pub const fn new() -> WaitQueue {
        WaitQueue {
            list: parking_lot::Mutex::new(WaitList::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// `true` if anybody waits or is about to.
    ///
    /// A notifier may skip the queue's lock when this is `false`, provided
    /// it made its condition visible with a `SeqCst` store (or RMW) before
    /// calling this, and the waiters' `validate` reads it with `SeqCst`:
    /// then either the waiter sees the condition in `validate` and does not
    /// sleep, or the notifier sees the waiter here.
    #[inline]
    pub fn has_waiters(&self) -> bool {
        self.len.load(Ordering::SeqCst) != 0
    }

    /// Number of waiters (a hint: stale as soon as it is read).
    #[inline]
    pub fn waiters(&self) -> usize {
        self.len.load(Ordering::SeqCst)
    }

    /// Waits on the queue, parking_lot's `park` in shape.
    ///
    /// Under the queue's lock, `validate` decides whether to wait at all
    /// (`false`: return [`WaitResult::Invalid`] at once); the caller is then
    /// queued with `tag`, the lock released, `before_sleep` run (e.g. to
    /// release the mutex of a condition variable: a notify issued after it
    /// cannot be missed), and the caller sleeps until notified, `deadline`
    /// passes, or the task is interrupted.
    pub fn wait(
        &self,
        on: WaitOn,
        tag: u64,
        deadline: Option<Instant>,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
    ) -> WaitResult {
        task::with_current(|me| self.wait_as(me, on, tag, deadline, validate, before_sleep))
    }

    /// [`WaitQueue::wait`] for the task `me`, the caller's own (looked up
    /// once by callers that wait in a loop).
    pub(crate) fn wait_as(
        &self,
        me: &Arc<Task>,
        on: WaitOn,
        tag: u64,
        deadline: Option<Instant>,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
    ) -> WaitResult {
        // Outside the lock: a record nobody reads unless the state says
        // parked, which is set under the lock.
        me.record().describe(&on, deadline.is_some());
        let guard = self.list.lock();
        // Announce the waiter before `validate` reads the condition
        // (see `has_waiters`).
        self.len.store(guard.len + 1, Ordering::SeqCst);
        if !validate() {
            self.len.store(guard.len, Ordering::SeqCst);
            return WaitResult::Invalid;
        }
        wait_in(
            me,
            guard,
            |l| l,
            || self.list.lock(),
            &on,
            tag,
            deadline,
            before_sleep,
            |l| self.len.store(l.len, Ordering::SeqCst),
        )
    }

    /// Wakes the first waiter; `false` if there was none.
    pub fn notify_one(&self) -> bool {
        let w = {
            let mut l = self.list.lock();
            let w = l.notify_one();
            self.len.store(l.len, Ordering::SeqCst);
            w
        };
        w.is_some()
    }

    /// Wakes every waiter; returns how many.
    pub fn notify_all(&self) -> usize {
        let woken = {
            let mut l = self.list.lock();
            let woken = l.notify_all();
            self.len.store(0, Ordering::SeqCst);
            woken
        };
        woken.len()
    }

    /// Runs `f` under the queue's lock; the waiters `f` notifies (through
    /// the [`Notifier`]) are woken after the lock is released.
    pub fn notify_with<R>(&self, f: impl FnOnce(&mut Notifier<'_>) -> R) -> R {
        let mut woken = Wakeups::new();
        let r = {
            let mut l = self.list.lock();
            let r = f(&mut Notifier {
                list: &mut l,
                woken: &mut woken,
            });
            self.len.store(l.len, Ordering::SeqCst);
            r
        };
        drop(woken);
        r
    }
}

/// A locked [`WaitQueue`], as [`WaitQueue::notify_with`] gives it.
pub struct Notifier<'a> {
    list: &'a mut WaitList,
    woken: &'a mut Wakeups,
}

impl Notifier<'_> {
    /// The tag of the first waiter.
    #[inline]
    pub fn front_tag(&self) -> Option<u64> {
        self.list.front_tag()
    }

    /// `true` when nobody (else) waits.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Notifies the first waiter; `false` if there was none.
    pub fn notify_one(&mut self) -> bool {
        match self.list.notify_one() {
            Some(w) => {
                self.woken.push(w);
                true
            }
            None => false,
        }
    }

    /// Notifies every waiter; returns how many.
    pub fn notify_all(&mut self) -> usize {
        let mut n = 0;
        while self.notify_one() {
            n += 1;
        }
        n
    }
}

impl fmt::Debug for Notifier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("waiting", &self.list.len)
            .finish()
    }
}

impl Parker {
    /// Waits for the token and consumes it ([`WaitResult::Notified`]),
    /// until `deadline` or an interrupt. `me` owns the parker.
    pub(crate) fn park(&self, me: &Arc<Task>, on: WaitOn, deadline: Option<Instant>) -> WaitResult {
        if self.take() {
            return WaitResult::Notified;
        }
        // Recorded before the parked state is visible: an unparker that
        // sees it marks the record runnable after this.
        me.record().begin(&on, deadline.is_some());
        if !self.enter() {
            me.record().end();
            return WaitResult::Notified;
        }
        let r = suspend(me, &on, deadline, Token::Wake, Recorded::Begun, || {
            self.is_notified()
        });
        self.after(r)
    }
}

/// `thread::park` in a coroutine: [`Parker::park`]'s rules — the record,
/// interruption, the deadline, a token kept across an interrupt — on the
/// coroutine's [`Sleeper`], whose one state word holds the park token as
/// well as the coroutine while it sleeps (a [`Parker`] on top of it would
/// be a second state machine, with atomic operations of its own, on every
/// park and unpark).
#[inline(always)]
pub(crate) fn park_coroutine(
    me: &Arc<Task>,
    sleeper: &Sleeper,
    on: &WaitOn,
    deadline: Option<Instant>,
) -> WaitResult {
    if sleeper.take_park_token() {
        return WaitResult::Notified;
    }
    // A token that comes with an interrupt stays for the next park.
    suspend(me, on, deadline, Token::Park, Recorded::Begin, || {
        sleeper.take_park_token()
    })
}

/// Sleeps until `deadline`, recorded as `on` (kind [`WaitKind::Sleep`]
/// for `thread::sleep`); [`WaitResult::TimedOut`] when the deadline has
/// passed, [`WaitResult::Interrupted`] if the task was interrupted first.
///
/// In a coroutine a worker's timer wakes it; on a plain thread this is a
/// `park_timeout` loop (std's `thread::sleep` is what shim-time uses there).
pub fn sleep_until(deadline: Instant, on: WaitOn) -> WaitResult {
    sleep_recorded(Some(deadline), &on)
}

/// Sleeps until `deadline` (for ever without one), recorded as `on`: the
/// pause of a loop that polls what greenstd cannot wait for (a child with
/// no pidfd, an epoll instance the kernel refuses to nest, a full accept
/// queue). `dump()` shows the wait at `on`'s location; a due cancellation
/// or deadline of the task unwinds from here, any other interrupt is a
/// spurious wake-up and the sleep goes on. Returns once `deadline` has
/// passed.
pub fn pause(deadline: Option<Instant>, on: WaitOn) {
    loop {
        match sleep_recorded(deadline, &on) {
            WaitResult::TimedOut => return,
            WaitResult::Interrupted => crate::task_core::deliver(),
            _ => {}
        }
    }
}

/// [`sleep_until`] and [`pause`]: one recorded sleep, ended by the
/// deadline or an interrupt (a stray wake-up sleeps on).
fn sleep_recorded(deadline: Option<Instant>, on: &WaitOn) -> WaitResult {
    task::with_current(|me| suspend(me, on, deadline, Token::Wake, Recorded::Begin, || false))
}

/// Runs `f`, a call that blocks in a way greenstd cannot see (a system
/// call on a plain thread), with the current task's record saying it waits
/// on `on`, so that `green::dump()` shows it. Not interruptible; never
/// counts towards a deadlock.
pub fn recorded<R>(on: WaitOn, f: impl FnOnce() -> R) -> R {
    struct End<'a>(&'a Task);
    impl Drop for End<'_> {
        fn drop(&mut self) {
            self.0.record().end();
        }
    }
    task::with_current(|me| {
        me.record().begin(&on, true);
        let _end = End(me);
        f()
    })
}

#[cfg(test)]
mod tests;
