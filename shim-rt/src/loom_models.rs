//! loom models of the lock-free state machines (as tokio and crossbeam
//! check theirs): every interleaving of a few threads, under the C11
//! memory model, for the thread parker's word and the wait record's
//! seqlock. Run with
//! `LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg loom -C
//! link-arg=-Wl,--allow-multiple-definition" cargo test -p shim-rt
//! --release loom` (`.ci/run`): loom brings crates.io's `generator`, whose
//! context-switch symbols the vendored one defines too; only loom's
//! switches run in a model, and they link to either copy.
//!
//! Not modelled here: the coroutine sleeper's state word (its sleep is
//! may's suspend, which loom cannot run) and the I/O slot (io.rs), which
//! stay covered by their stress tests (`park::tests`, `io::tests`).

use loom::sync::Arc;
use loom::thread;

use crate::task::Record;
use crate::wait::{Holder, Parker, WaitKind, WaitOn, WaitResult};

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

#[test]
fn loom_parker_an_unpark_is_never_lost() {
    loom::model(|| {
        let p = Arc::new(Parker::new());
        let owner = thread::current();
        let q = p.clone();
        let t = thread::spawn(move || {
            if q.model_give() {
                owner.unpark();
            }
        });
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
        let owner = thread::current();
        let q = p.clone();
        let t = thread::spawn(move || {
            if q.model_give() {
                owner.unpark();
            }
        });
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
