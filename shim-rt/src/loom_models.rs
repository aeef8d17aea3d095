//! loom models of the lock-free state machines (as tokio and crossbeam
//! check theirs): every interleaving of a few threads, under the C11
//! memory model, for the thread parker's word, the wait record's seqlock,
//! the coroutine sleeper's word and the I/O readiness slot. Run with
//! `LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg loom -C
//! link-arg=-Wl,--allow-multiple-definition" cargo test -p shim-rt
//! --release loom` (`.ci/run`): loom brings crates.io's `generator`, whose
//! context-switch symbols the vendored one defines too; only loom's
//! switches run in a model, and they link to either copy.
//!
//! The coroutine sleeper's state word is modelled by its own steps
//! (`sleeper::Sleeper`: the owner's look, its settle off its stack, a waker's
//! give), with a stand-in for the coroutine may's suspend would hand over,
//! as tokio models its task state without running tasks; the I/O
//! readiness slot's model is `io/loom_model.rs` (it reaches io's private
//! `Direction`). Their stress tests (`park::tests`, `io::tests`) run the
//! real suspend.

use loom::sync::Arc;
use loom::thread;

use crate::record::{Holder, Record, WaitKind, WaitOn, WaitResult};
use crate::sleeper::Sleeper;
use crate::task_core::Parker;

/// `Parker::park` with loom's park as the sleep: the same steps in the same
/// order; `deadline`: the sleep may end without the token (once).
fn park(p: &Parker, deadline: bool) -> WaitResult {
    if p.model_take() {
        return WaitResult::Notified;
    }
    if !p.model_enter() {
        return WaitResult::Notified;
    }
    let r = loop {
        if p.model_is_notified() {
            break WaitResult::Notified;
        }
        if deadline {
            break WaitResult::TimedOut;
        }
        thread::park();
    };
    p.model_after(r)
}

/// A thread that gives `p`'s token and unparks its owner (the caller).
fn giver(p: &Arc<Parker>) -> thread::JoinHandle<()> {
    let owner = thread::current();
    let q = p.clone();
    thread::spawn(move || {
        if q.model_give() {
            owner.unpark();
        }
    })
}

#[test]
fn loom_parker_an_unpark_is_never_lost() {
    loom::model(|| {
        let p = Arc::new(Parker::new());
        let t = giver(&p);
        // Without a deadline the park returns only with the token.
        assert_eq!(park(&p, false), WaitResult::Notified);
        t.join().unwrap();
        // Consumed: the next park with a deadline times out.
        assert_eq!(park(&p, true), WaitResult::TimedOut);
    });
}

#[test]
fn loom_parker_a_token_that_races_a_deadline_is_kept_once() {
    loom::model(|| {
        let p = Arc::new(Parker::new());
        let t = giver(&p);
        let first = park(&p, true);
        t.join().unwrap();
        let second = park(&p, true);
        // Exactly one of the two parks got the one token.
        let got = [first, second]
            .iter()
            .filter(|r| **r == WaitResult::Notified)
            .count();
        assert_eq!(got, 1, "{first:?} then {second:?}");
    });
}

#[test]
fn loom_parker_a_token_that_comes_with_an_interrupt_stays() {
    loom::model(|| {
        let p = Arc::new(Parker::new());
        // Parked, then interrupted while an unpark races in.
        assert!(!p.model_take());
        assert!(p.model_enter());
        let q = p.clone();
        let t = thread::spawn(move || {
            q.model_give();
        });
        assert_eq!(
            p.model_after(WaitResult::Interrupted),
            WaitResult::Interrupted
        );
        t.join().unwrap();
        // The token is there for the next park, once.
        assert_eq!(park(&p, true), WaitResult::Notified);
        assert_eq!(park(&p, true), WaitResult::TimedOut);
    });
}

#[test]
fn loom_record_a_reader_never_sees_a_torn_record() {
    loom::model(|| {
        let r = Arc::new(Record::new());
        // One wait written while a reader looks: every field of the read
        // comes from it, or every one from the empty record.
        let a = WaitOn::new(WaitKind::Mutex, 1).held_by(Holder::Stack(11));
        let w = r.clone();
        let writer = thread::spawn(move || w.describe(&a, true));
        let v = r.read();
        let seen = (v.kind, v.object, v.holder, v.timed);
        assert!(
            seen == (None, 0, Holder::None, false)
                || seen == (Some(WaitKind::Mutex), 1, Holder::Stack(11), true),
            "torn: {seen:?}"
        );
        writer.join().unwrap();
    });
}

/// A sleeper whose "coroutine" is a number (loom cannot suspend one).
type S = Sleeper<u32>;
const CO: u32 = 7;

/// The owner's sleep (`Sleeper::sleep_unless`): the look, then off its
/// stack the put and the settle, taking itself back when stopped. `true`
/// when it went to sleep: the coroutine now belongs to a waker.
fn sleep(s: &S, stop: u8, asleep: u8) -> bool {
    if s.model_stopped(stop) {
        return false;
    }
    s.model_put(CO);
    if s.model_settle(stop, asleep) {
        return true;
    }
    assert_eq!(s.model_take(), Some(CO), "the owner takes itself back");
    false
}

/// A waker (`Sleeper::set_or_resume`): `true` when it ended the sleep and
/// resumed the coroutine.
fn wake(s: &S, token: u8, ends: u8) -> bool {
    if s.model_give(token, ends) {
        assert_eq!(s.model_take(), Some(CO), "the waker finds the coroutine");
        return true;
    }
    false
}

#[test]
fn loom_sleeper_a_wake_is_never_lost_nor_left_over() {
    loom::model(|| {
        let s = Arc::new(S::new());
        let q = s.clone();
        let t = thread::spawn(move || wake(&q, S::WAKE, S::ASLEEP));
        let slept = sleep(&s, S::WAKE, S::ASLEEP);
        let resumed = t.join().unwrap();
        // Asleep exactly when the waker resumed it.
        assert_eq!(slept, resumed);
        // The wake-up ended this sleep (or kept it from beginning): no
        // token is left for the next one.
        assert_eq!(s.model_state(), 0);
    });
}

/// Two wakers, `(token, ends)` each, racing the owner's sleep
/// `(stop, asleep)`: whether it slept, and whether each waker resumed it.
fn two_wakers(first: (u8, u8), second: (u8, u8), sleep_as: (u8, u8)) -> (Arc<S>, bool, [bool; 2]) {
    let s = Arc::new(S::new());
    let (q, r) = (s.clone(), s.clone());
    let a = thread::spawn(move || wake(&q, first.0, first.1));
    let b = thread::spawn(move || wake(&r, second.0, second.1));
    let slept = sleep(&s, sleep_as.0, sleep_as.1);
    let resumed = [a.join().unwrap(), b.join().unwrap()];
    (s, slept, resumed)
}

#[test]
fn loom_sleeper_a_notification_and_a_deadline_resume_it_once() {
    loom::model(|| {
        // A notifier and a timer (a deadline, a cancellation) race to
        // end the same sleep.
        let wake_up = (S::WAKE, S::ASLEEP);
        let (s, slept, resumed) = two_wakers(wake_up, wake_up, (S::WAKE, S::ASLEEP));
        let resumes = resumed.iter().filter(|r| **r).count();
        assert_eq!(resumes, usize::from(slept), "{slept} {resumed:?}");
        // At most a wake-up is left: one spurious return of the next sleep.
        assert_eq!(s.model_state() & !S::WAKE, 0);
    });
}

#[test]
fn loom_sleeper_an_unpark_ends_only_a_park_and_its_token_stays() {
    loom::model(|| {
        // Another wait's sleep: an unpark does not end it, a wake-up does.
        let (s, slept, [unparked, woken]) = two_wakers(
            (S::PARK, S::PARKED),
            (S::WAKE, S::ASLEEP),
            (S::WAKE, S::ASLEEP),
        );
        assert!(!unparked, "an unpark ended a lock's wait");
        assert_eq!(slept, woken);
        // The park token is kept for the next `thread::park`, once.
        assert!(s.take_park_token());
        assert!(!s.take_park_token());
    });
    loom::model(|| {
        // `thread::park`'s sleep: the unpark ends it and leaves its token.
        let s = Arc::new(S::new());
        let q = s.clone();
        let unparker = thread::spawn(move || wake(&q, S::PARK, S::PARKED));
        let slept = sleep(&s, S::WAKE | S::PARK, S::ASLEEP | S::PARKED);
        assert_eq!(slept, unparker.join().unwrap());
        assert!(s.take_park_token());
        assert_eq!(s.model_state(), 0);
    });
}
