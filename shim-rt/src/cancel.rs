//! Cancellation and deadlines: a task unwinds from the wait it is in.
//!
//! Built on the wait mechanism's interruption hook ([`Task::interrupt`]):
//! [`cancel`] and an expiring deadline ([`with_deadline`], whose timer a
//! worker keeps) mark the task's state, then interrupt it. The wait the
//! interrupt ends — or the task's next one — leaves its queue (passing on a
//! notification it had received) and reports
//! [`WaitResult::Interrupted`](crate::wait::WaitResult::Interrupted); the
//! primitive that waited then calls [`interrupted`] at a point where
//! unwinding leaves it consistent (a condition variable has re-taken its
//! mutex, a rendezvous send has taken its message back), and
//! [`interrupted`] unwinds if something is due. Nothing is delivered:
//!
//! * inside a [`shield`] or [`defer`] (it is delivered when a shield ends,
//!   at the next wait after a `defer`): a wait there leaves the interrupt
//!   pending instead of ending;
//! * while the task unwinds, whatever started it (a destructor that waits
//!   during an unwinding finishes its wait normally).
//!
//! Together these are **the destructor rule**: a cancellation or a
//! deadline never cuts a wait made inside a destructor. An unwinding's
//! destructors are covered by themselves; on the normal path Rust cannot
//! tell a destructor runs, so a destructor that may wait wraps its body in
//! [`defer`] (`green::defer_cancel`), as greenstd's own do. The check is
//! made where a wait begins (`wait::suspend`, the one suspend point).
//!
//! Nothing is delivered, either:
//!
//! * after the task's body has returned ([`close_current`]);
//! * twice: a cancellation is delivered once, each deadline once.
//!
//! The unwinding is `resume_unwind` with a [`Cancelled`] payload (or a
//! private one for a deadline): the panic hook is not called, so nothing
//! is printed, and destructors run on the way as for any panic (a
//! `MutexGuard` held by the unwinding code poisons its mutex).
//!
//! std counts panics per OS thread, so an unwinding coroutine keeps its OS
//! thread while a destructor waits (`sleeper::Sleeper` polls instead of
//! switching; its worker is handed off meanwhile): `thread::panicking()`
//! stays true for it and for no other coroutine. Delivery is still
//! postponed (retried every millisecond) while the current OS thread
//! reports a panic in progress, should a wait begin there unshielded.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::task_core::{self as task, Task};
use crate::task_core::{deliver, Deadline, Expired};
use crate::timer;

pub use crate::task_core::Cancelled;

/// The deadline passed while the closure given to [`with_deadline`] was
/// blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedOut;

/// Asks `task` to unwind from its current or next wait. Returns `false`
/// (and does nothing) when `task` is a plain OS thread, which greenstd
/// cannot cancel, or has already finished its body.
pub fn cancel(task: &Task) -> bool {
    if !task.is_coroutine() {
        return false;
    }
    let st = task.cancel_state();
    if st.closed.load(Ordering::SeqCst) {
        return false;
    }
    st.requested.store(true, Ordering::SeqCst);
    task.interrupt();
    true
}

/// As [`cancel`], the task unwinding with `payload` instead of
/// [`Cancelled`]. A task cancelled already keeps its first cancellation
/// (and `payload` is dropped).
pub fn cancel_with(task: &Task, payload: Box<dyn Any + Send>) -> bool {
    if !task.is_coroutine() {
        return false;
    }
    let st = task.cancel_state();
    if st.closed.load(Ordering::SeqCst) || st.requested.load(Ordering::SeqCst) {
        return !st.closed.load(Ordering::SeqCst);
    }
    st.deadlines
        .lock()
        .get_or_insert_default()
        .payload
        .get_or_insert(payload);
    cancel(task)
}

/// Takes a due cancellation or deadline of the current task, marking it
/// delivered: the payload the caller must unwind with
/// ([`resume_unwind`]) once it has restored its own state. For a
/// primitive that must undo something first (take back a message it
/// queued); others call [`interrupted`].
pub fn take_due() -> Option<Box<dyn Any + Send>> {
    task::with_current(|me| me.cancel_state().due(me))
}

/// Keeps a cancellation or deadline that an interrupted wait consumed for
/// the task's next wait: for a primitive whose wait was interrupted but
/// whose operation completed anyway (it returns its result).
pub fn rearm() {
    task::with_current(|me| {
        if me.cancel_state().pending() {
            me.interrupt();
        }
    })
}

/// Delivers a due cancellation or deadline: call it when a wait returned
/// [`WaitResult::Interrupted`](crate::wait::WaitResult::Interrupted), at a
/// point where unwinding leaves the primitive consistent (its waiter off
/// the queue, its own state restored). Unwinds, or returns when nothing is
/// due (the interrupt was spurious, or delivery is deferred): the caller
/// then waits again.
pub fn interrupted() {
    deliver();
}

/// Delivers a due cancellation or deadline of the current task now, at a
/// point of the caller's choosing (a long computation).
pub fn checkpoint() {
    deliver();
}

/// Marks the current task's body as returned: no cancellation or deadline
/// is delivered to it from now on (its thread-locals' destructors and the
/// publication of its result run undisturbed).
pub fn close_current() {
    task::current()
        .cancel_state()
        .closed
        .store(true, Ordering::SeqCst);
}

struct Unshield(Arc<Task>);

impl Drop for Unshield {
    fn drop(&mut self) {
        self.0.cancel_state().shield.fetch_sub(1, Ordering::SeqCst);
    }
}

fn enter_shield() -> Unshield {
    let me = task::current();
    me.cancel_state().shield.fetch_add(1, Ordering::SeqCst);
    Unshield(me)
}

/// Runs `f` with cancellation and deadlines deferred to its end: a due one
/// is delivered when `f` returns (its value is dropped).
pub fn shield<R>(f: impl FnOnce() -> R) -> R {
    let guard = enter_shield();
    let r = f();
    let me = guard.0.clone();
    drop(guard);
    if let Some(payload) = me.cancel_state().due(&me) {
        drop(r);
        resume_unwind(payload);
    }
    r
}

/// Runs `f` with cancellation and deadlines deferred to the current task's
/// next wait after it: greenstd's own bookkeeping that must not be cut in
/// half (a pool giving back its slot, a waiter list being updated).
pub fn defer<R>(f: impl FnOnce() -> R) -> R {
    let guard = enter_shield();
    let r = f();
    let me = guard.0.clone();
    drop(guard);
    if me.cancel_state().pending() {
        me.interrupt();
    }
    r
}

/// Runs `f`; if `deadline` passes while `f` waits, `f` unwinds from that
/// wait and this returns `Err(TimedOut)`. Deadlines nest independently:
/// an outer one's expiry unwinds through the inner `with_deadline` to its
/// own. Once this returns, its deadline can no longer fire.
pub fn with_deadline<R>(deadline: Instant, f: impl FnOnce() -> R) -> Result<R, TimedOut> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let me = task::current();
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    if !std::thread::panicking() {
        // Not inside a destructor run by an unwinding: an unwinding of ours
        // that user code caught (catch_unwind) is over.
        me.cancel_state().unwinding.store(false, Ordering::SeqCst);
    }
    me.cancel_state()
        .deadlines
        .lock()
        .get_or_insert_default()
        .push(Deadline {
            id,
            expired: false,
            delivered: false,
        });
    let weak = Arc::downgrade(&me);
    let key = timer::add(
        deadline,
        Box::new(move || {
            if let Some(t) = weak.upgrade() {
                expire(&t, id);
            }
        }),
    );
    struct Pop<'a> {
        me: &'a Task,
        id: u64,
        key: timer::TimerKey,
    }
    impl Drop for Pop<'_> {
        fn drop(&mut self) {
            timer::cancel(self.key);
            self.me
                .cancel_state()
                .deadlines
                .lock()
                .iter_mut()
                .for_each(|v| v.retain(|e| e.id != self.id));
        }
    }
    let pop = Pop { me: &me, id, key };
    let r = catch_unwind(AssertUnwindSafe(f));
    drop(pop);
    match r {
        Ok(v) => {
            clear_stale_interrupt(&me);
            Ok(v)
        }
        Err(p) if p.downcast_ref::<Expired>().is_some_and(|e| e.id == id) => {
            me.cancel_state().unwinding.store(false, Ordering::SeqCst);
            clear_stale_interrupt(&me);
            Err(TimedOut)
        }
        Err(p) => resume_unwind(p),
    }
}

/// Drops an interrupt left by this deadline (it expired while `f` was
/// running, or just as it returned), keeping one for anything still due:
/// after `with_deadline` returns, its deadline leaves no trace.
fn clear_stale_interrupt(me: &Task) {
    // `cancel` and `expire` mark the state before they interrupt, so a
    // consumed interrupt that was not stale is seen by `pending` here.
    if me.take_interrupt() && me.cancel_state().pending() {
        me.interrupt();
    }
}

/// The timer's action for deadline `id` of `task`.
fn expire(task: &Task, id: u64) {
    let mut d = task.cancel_state().deadlines.lock();
    if let Some(e) = d.iter_mut().flat_map(|v| v.iter_mut()).find(|e| e.id == id) {
        e.expired = true;
        drop(d);
        task.interrupt();
    }
}
