//! The loom model of the I/O readiness slot (`Direction`): a readiness
//! edge racing a waiter's registration in the slot is never lost, and the
//! slot's reference to the waiter is released exactly once. The waiter
//! runs `Direction::wait`'s and `wait_in_slot`'s steps on the same fields
//! with the same orderings, and its sleep is the sleeper's own state
//! machine (`sleeper::Sleeper`, whose suspend loom cannot run); the edge is
//! the real [`Direction::wake_all`] (the bump, the slot taken, the task's
//! sleeper woken), except where noted.
//!
//! The edge and the waiter are a Dekker pair: each writes its word (the
//! bump of `seq`; the waiter into `slot`) then reads the other's, all
//! `SeqCst`, so the single total order of `SeqCst` operations lets at most
//! one of them miss the other. loom models a `SeqCst` load as an acquire
//! load only (its documented limit, tokio-rs/loom#180), which would allow
//! both to miss; a `SeqCst` fence it does model. So the first model gives
//! it that total order as a fence after each side's write, in a copy of
//! `wake_all`'s steps; the second runs the real `wake_all`. Run with the
//! other models (`loom_models.rs`).

use std::ptr;
use std::sync::atomic::Ordering;
use std::sync::Arc as StdArc;

use loom::sync::atomic::fence;
use loom::sync::Arc;
use loom::thread;

use super::{Direction, EDGE};
use crate::sleeper::Sleeper;
use crate::task::Task;

/// The waiter's steps up to its sleep, after it read `seq` and its attempt
/// would block: into the slot, the suspend point's `ready()` look, then
/// the sleeper's look and settle. `true` when it went to sleep.
/// `sc`: the `SeqCst` total order, as a fence (see the module's docs).
fn wait_steps(dir: &Direction, me: &StdArc<Task>, mine: *mut Task, seq: u64, sc: bool) -> bool {
    assert!(dir
        .slot
        .compare_exchange(ptr::null_mut(), mine, Ordering::SeqCst, Ordering::Relaxed)
        .is_ok());
    if sc {
        fence(Ordering::SeqCst);
    }
    if dir.seq.load(Ordering::SeqCst) != seq {
        return false;
    }
    let s = me.sleeper().expect("a coroutine's task");
    !s.model_stopped(Sleeper::<()>::WAKE)
        && s.model_settle(Sleeper::<()>::WAKE, Sleeper::<()>::ASLEEP)
}

/// [`Direction::wake_all`]'s steps on the slot (the queue of further
/// waiters is empty here), with the fence that stands for the `SeqCst`
/// total order.
fn edge(dir: &Direction) {
    dir.seq.fetch_add(EDGE, Ordering::SeqCst);
    fence(Ordering::SeqCst);
    if !dir.slot.load(Ordering::SeqCst).is_null() {
        let p = dir.slot.swap(ptr::null_mut(), Ordering::SeqCst);
        if !p.is_null() {
            // SAFETY: the slot's reference, now ours.
            let task = unsafe { StdArc::from_raw(p) };
            task.wake();
        }
    }
}

/// `wait_in_slot`'s end: takes back the slot's reference if no edge took it.
fn take_back(dir: &Direction, mine: *mut Task) {
    if dir
        .slot
        .compare_exchange(mine, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
    {
        // SAFETY: the slot's reference, made by `into_raw` in the model.
        drop(unsafe { StdArc::from_raw(mine) });
    }
}

/// The model's start: a direction, a waiter's task that read `seq` and
/// whose attempt would block, and `edge` (a readiness edge) on another
/// thread, from then on. Returns the waiter's reference for the slot too.
#[allow(clippy::type_complexity)]
fn start(
    edge: fn(&Direction),
) -> (
    Arc<Direction>,
    StdArc<Task>,
    u64,
    *mut Task,
    thread::JoinHandle<()>,
) {
    let dir = Arc::new(Direction::default());
    let me = Task::model_coroutine();
    let seq = dir.seq.load(Ordering::Acquire);
    let d = dir.clone();
    let edge = thread::spawn(move || edge(&d));
    let mine = StdArc::into_raw(me.clone()).cast_mut();
    (dir, me, seq, mine, edge)
}

#[test]
fn loom_io_slot_an_edge_racing_the_registration_is_never_lost() {
    loom::model(|| {
        let (dir, me, seq, mine, edge) = start(edge);
        wait_steps(&dir, &me, mine, seq, true);
        edge.join().unwrap();
        assert!(
            !me.sleeper().unwrap().is_asleep(),
            "the waiter sleeps on after the edge: a lost wake-up"
        );
        take_back(&dir, mine);
        assert_eq!(StdArc::strong_count(&me), 1, "the slot's reference leaked");
    });
}

#[test]
fn loom_io_slot_an_edge_racing_a_timed_out_waiter_releases_it_once() {
    loom::model(|| {
        let (dir, me, seq, mine, edge) = start(Direction::wake_all);
        if !wait_steps(&dir, &me, mine, seq, false) {
            // Not asleep (the edge came): leaves at once, racing the edge.
            take_back(&dir, mine);
        } else {
            // Asleep: the deadline ends the sleep as a wake-up would, and
            // the waiter takes its reference back while the edge may be
            // taking it too.
            me.wake();
            take_back(&dir, mine);
        }
        edge.join().unwrap();
        assert_eq!(StdArc::strong_count(&me), 1, "the slot's reference leaked");
    });
}
