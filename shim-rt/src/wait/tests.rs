//! Races of the wait mechanism, on plain threads and on coroutines.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::*;
use crate::task::{self, Task};
use crate::test_util::{coroutine, until, SLACK};

#[track_caller]
fn on() -> WaitOn {
    WaitOn::new(WaitKind::Event, 0)
}

#[test]
fn validate_false_never_sleeps() {
    let q = WaitQueue::new();
    let r = q.wait(on(), 0, None, || false, || panic!("must not run"));
    assert_eq!(r, WaitResult::Invalid);
    assert!(!q.has_waiters());
}

#[test]
fn deadline_passes_and_the_waiter_leaves_the_queue() {
    let q = WaitQueue::new();
    let t = Instant::now();
    let r = q.wait(
        on(),
        0,
        Some(Instant::now() + Duration::from_millis(30)),
        || true,
        || {},
    );
    assert_eq!(r, WaitResult::TimedOut);
    assert!(t.elapsed() >= Duration::from_millis(30));
    assert!(!q.has_waiters());
    assert!(!q.notify_one(), "nobody may be left queued");
}

#[test]
fn before_sleep_runs_after_queueing_so_its_notify_is_not_missed() {
    let q = Arc::new(WaitQueue::new());
    // before_sleep notifies: the waiter is already queued, so it is woken.
    let r = q.wait(
        on(),
        0,
        Some(Instant::now() + SLACK),
        || true,
        || assert!(q.notify_one()),
    );
    assert_eq!(r, WaitResult::Notified);
}

#[test]
fn notify_one_is_fifo_and_notify_all_wakes_everybody() {
    const N: usize = 20;
    let q = Arc::new(WaitQueue::new());
    let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let mut hs = Vec::new();
    for i in 0..N {
        // Queue them one after the other, in order.
        let before = q.waiters();
        let (q2, o2) = (q.clone(), order.clone());
        hs.push(std::thread::spawn(move || {
            let r = q2.wait(on(), i as u64, None, || true, || {});
            o2.lock().push(i);
            r
        }));
        until("the waiter is queued", || q.waiters() == before + 1);
    }
    for i in 0..N / 2 {
        assert!(q.notify_one());
        until("the notified waiter runs", || order.lock().len() == i + 1);
    }
    assert_eq!(*order.lock(), (0..N / 2).collect::<Vec<_>>(), "FIFO");
    assert_eq!(q.notify_all(), N - N / 2);
    for h in hs {
        assert_eq!(h.join().unwrap(), WaitResult::Notified);
    }
    assert_eq!(order.lock().len(), N);
    assert!(!q.has_waiters());
}

#[test]
fn notify_with_picks_by_tag() {
    let q = Arc::new(WaitQueue::new());
    let woken = Arc::new(AtomicUsize::new(0));
    let mut hs = Vec::new();
    for tag in [7u64, 7, 9] {
        let before = q.waiters();
        let (q2, w2) = (q.clone(), woken.clone());
        hs.push(std::thread::spawn(move || {
            let _ = q2.wait(on(), tag, None, || true, || {});
            w2.fetch_add(1, Ordering::SeqCst);
        }));
        until("queued", || q.waiters() == before + 1);
    }
    // Wake the 7s at the front only.
    let n = q.notify_with(|n| {
        let mut k = 0;
        while n.front_tag() == Some(7) {
            n.notify_one();
            k += 1;
        }
        k
    });
    assert_eq!(n, 2);
    until("two woken", || woken.load(Ordering::SeqCst) == 2);
    assert_eq!(q.waiters(), 1);
    q.notify_all();
    for h in hs {
        h.join().unwrap();
    }
}

/// notify_one racing with timeouts: a notification is never lost (every
/// notify that found a waiter is reported as `Notified` by exactly one
/// waiter) and never invented.
#[test]
fn notify_racing_with_timeouts_is_never_lost() {
    const WAITERS: usize = 8;
    const ROUNDS: usize = 300;
    let q = Arc::new(WaitQueue::new());
    let stop = Arc::new(AtomicBool::new(false));
    let notified = Arc::new(AtomicUsize::new(0));
    let mut hs = Vec::new();
    for i in 0..WAITERS {
        let (q2, stop2, n2) = (q.clone(), stop.clone(), notified.clone());
        hs.push(std::thread::spawn(move || {
            let mut k = 0u64;
            while !stop2.load(Ordering::SeqCst) {
                k += 1;
                // Deadlines from 0 to ~200 µs: many end right as a notify comes.
                let d = Duration::from_micros((k * 37 + i as u64 * 11) % 200);
                match q2.wait(on(), 0, Some(Instant::now() + d), || true, || {}) {
                    WaitResult::Notified => {
                        n2.fetch_add(1, Ordering::SeqCst);
                    }
                    WaitResult::TimedOut => {}
                    r => panic!("unexpected {r:?}"),
                }
            }
        }));
    }
    let mut sent = 0;
    for _ in 0..ROUNDS {
        for _ in 0..WAITERS {
            if q.notify_one() {
                sent += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    stop.store(true, Ordering::SeqCst);
    // Wake whoever still waits (not counted as sent).
    let extra = Arc::new(AtomicUsize::new(0));
    while hs.iter().any(|h| !h.is_finished()) {
        extra.fetch_add(q.notify_all(), Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1));
    }
    for h in hs {
        h.join().unwrap();
    }
    assert!(sent > 0);
    assert_eq!(
        notified.load(Ordering::SeqCst),
        sent + extra.load(Ordering::SeqCst),
        "every notification that found a waiter reached exactly one"
    );
    assert!(!q.has_waiters());
}

/// A notification that reached a waiter which is interrupted at the same
/// moment goes on to the next waiter: of two waiters, one notify_one and
/// one interrupt of the first, exactly one ends `Notified`.
#[test]
fn notify_one_passes_on_when_the_notified_waiter_is_interrupted() {
    const ROUNDS: usize = 300;
    let mut passed_on = 0;
    for round in 0..ROUNDS {
        let q = Arc::new(WaitQueue::new());
        let (tx, rx) = mpsc::channel::<Arc<Task>>();
        let q1 = q.clone();
        let first = std::thread::spawn(move || {
            tx.send(task::current()).unwrap();
            q1.wait(on(), 0, None, || true, || {})
        });
        let me = rx.recv().unwrap();
        until("first queued", || q.waiters() == 1);
        let q2 = q.clone();
        let second = std::thread::spawn(move || {
            q2.wait(on(), 0, Some(Instant::now() + SLACK), || true, || {})
        });
        until("second queued", || q.waiters() == 2);
        // Race the interrupt of the first against a notify_one.
        let q3 = q.clone();
        let notifier = std::thread::spawn(move || {
            if round % 2 == 0 {
                std::hint::spin_loop();
            }
            q3.notify_one()
        });
        me.interrupt();
        assert!(notifier.join().unwrap());
        let a = first.join().unwrap();
        match a {
            WaitResult::Notified => {
                // The interrupt stays pending for the task's next wait.
                assert!(me.is_interrupted());
                assert!(q.notify_one(), "the second still waits");
                assert_eq!(second.join().unwrap(), WaitResult::Notified);
            }
            WaitResult::Interrupted => {
                assert!(!me.is_interrupted(), "the wait took the interrupt");
                // Notified directly or passed on: the second must get it
                // without any further notify.
                assert_eq!(second.join().unwrap(), WaitResult::Notified);
                passed_on += 1;
            }
            r => panic!("unexpected {r:?}"),
        }
        assert!(!q.has_waiters());
    }
    assert!(passed_on > 0, "the interrupt never won a round");
}

/// The same, made deterministic: the first waiter is notified and
/// interrupted (by itself, in `before_sleep`) before it sleeps; the
/// notification must reach the second waiter.
#[test]
fn a_notification_taken_by_an_interrupted_waiter_goes_to_the_next() {
    let q = Arc::new(WaitQueue::new());
    let q3 = q.clone();
    let (tx, rx) = mpsc::channel();
    let first = std::thread::spawn(move || {
        let me = task::current();
        q3.wait(
            on(),
            0,
            None,
            || true,
            || {
                // Queued, not yet asleep: wait for the other waiter to queue
                // behind us, then take a notification and an interrupt.
                tx.send(()).unwrap();
                until("the other queued", || q3.waiters() == 2);
                assert!(q3.notify_one());
                me.interrupt();
            },
        )
    });
    rx.recv().unwrap();
    let q4 = q.clone();
    let next =
        std::thread::spawn(move || q4.wait(on(), 0, Some(Instant::now() + SLACK), || true, || {}));
    assert_eq!(first.join().unwrap(), WaitResult::Interrupted);
    assert_eq!(
        next.join().unwrap(),
        WaitResult::Notified,
        "the notification was passed on"
    );
    assert!(!q.has_waiters());
}

#[test]
fn an_interrupt_before_the_wait_ends_it_at_once_and_is_consumed() {
    let me = task::current();
    me.interrupt();
    let q = WaitQueue::new();
    let r = q.wait(on(), 0, None, || true, || {});
    assert_eq!(r, WaitResult::Interrupted);
    assert!(!me.is_interrupted());
    assert!(!q.has_waiters());
    // The next wait sleeps as usual.
    let r = q.wait(
        on(),
        0,
        Some(Instant::now() + Duration::from_millis(10)),
        || true,
        || {},
    );
    assert_eq!(r, WaitResult::TimedOut);
}

#[test]
fn an_uninterruptible_wait_leaves_the_interrupt_pending() {
    let me = task::current();
    me.interrupt();
    let q = WaitQueue::new();
    let r = q.wait(
        on().uninterruptible(),
        0,
        Some(Instant::now() + Duration::from_millis(20)),
        || true,
        || {},
    );
    assert_eq!(r, WaitResult::TimedOut);
    assert!(me.is_interrupted());
    assert_eq!(
        sleep_until(Instant::now() + SLACK, on()),
        WaitResult::Interrupted
    );
    assert!(!me.is_interrupted());
}

#[test]
fn interrupt_ends_a_sleep_and_a_queue_wait_in_a_coroutine() {
    let (tx, rx) = mpsc::channel::<Arc<Task>>();
    let done = coroutine(move || {
        tx.send(task::current()).unwrap();
        let slept = sleep_until(Instant::now() + SLACK, WaitOn::new(WaitKind::Sleep, 0));
        let q = WaitQueue::new();
        let waited = q.wait(on(), 0, None, || true, || {});
        (slept, waited)
    });
    let t = rx.recv().unwrap();
    until("asleep", || {
        t.record().read().state == crate::record::PARKED
    });
    t.interrupt();
    until("in the queue wait", || {
        let r = t.record().read();
        r.state == crate::record::PARKED && r.kind == Some(WaitKind::Event)
    });
    t.interrupt();
    let (slept, waited) = done.recv_timeout(SLACK).unwrap();
    assert_eq!(slept, WaitResult::Interrupted);
    assert_eq!(waited, WaitResult::Interrupted);
}

/// Many coroutines on one queue: each notify_one wakes exactly one, and
/// a coroutine that waits does not block its worker.
#[test]
fn many_coroutines_wait_and_are_woken_one_by_one() {
    const N: usize = 500;
    let q = Arc::new(WaitQueue::new());
    let woken = Arc::new(AtomicUsize::new(0));
    let rxs: Vec<_> = (0..N)
        .map(|i| {
            let (q2, w2) = (q.clone(), woken.clone());
            coroutine(move || {
                let r = q2.wait(on(), i as u64, None, || true, || {});
                w2.fetch_add(1, Ordering::SeqCst);
                r
            })
        })
        .collect();
    until("all queued", || q.waiters() == N);
    for i in 0..N {
        assert!(q.notify_one());
        until("one more woken", || woken.load(Ordering::SeqCst) == i + 1);
    }
    for rx in rxs {
        assert_eq!(rx.recv_timeout(SLACK).unwrap(), WaitResult::Notified);
    }
    assert!(!q.notify_one());
}

/// A one-shot condition with the lock-free notifier fast path
/// (`has_waiters`): set/wait races never hang.
#[test]
fn has_waiters_fast_path_never_loses_a_wakeup() {
    for _ in 0..2000 {
        let q = Arc::new(WaitQueue::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (q2, f2) = (q.clone(), flag.clone());
        let waiter = std::thread::spawn(move || {
            while !f2.load(Ordering::SeqCst) {
                let _ = q2.wait(
                    on(),
                    0,
                    Some(Instant::now() + SLACK),
                    || !f2.load(Ordering::SeqCst),
                    || {},
                );
            }
        });
        flag.store(true, Ordering::SeqCst);
        if q.has_waiters() {
            q.notify_all();
        }
        let t = Instant::now();
        waiter.join().unwrap();
        assert!(t.elapsed() < SLACK / 2, "a wakeup was lost");
    }
}

/// Waiting on a list inside the caller's own locked state.
#[test]
fn wait_locked_under_a_foreign_lock() {
    struct State {
        items: Vec<u32>,
        waiters: WaitList,
    }
    fn list(s: &mut State) -> &mut WaitList {
        &mut s.waiters
    }
    let state = Arc::new(parking_lot::Mutex::new(State {
        items: Vec::new(),
        waiters: WaitList::new(),
    }));
    // Timeout: the waiter withdraws and the list is empty again.
    let g = state.lock();
    let r = wait_locked(
        g,
        list,
        || state.lock(),
        on(),
        0,
        Some(Instant::now() + Duration::from_millis(20)),
        || {},
    );
    assert_eq!(r, WaitResult::TimedOut);
    assert!(state.lock().waiters.is_empty());
    // A consumer waits until an item is pushed and it is notified.
    let s2 = state.clone();
    let consumer = std::thread::spawn(move || loop {
        let mut g = s2.lock();
        if let Some(x) = g.items.pop() {
            return x;
        }
        let _ = wait_locked(g, list, || s2.lock(), on(), 0, None, || {});
    });
    until("consumer queued", || state.lock().waiters.len() == 1);
    let wake = {
        let mut g = state.lock();
        g.items.push(42);
        g.waiters.notify_one()
    };
    drop(wake);
    assert_eq!(consumer.join().unwrap(), 42);
}

#[test]
fn the_record_names_the_wait_while_it_lasts() {
    let q = Arc::new(WaitQueue::new());
    let (tx, rx) = mpsc::channel::<Arc<Task>>();
    let q2 = q.clone();
    let (on, line) = (WaitOn::new(WaitKind::Condvar, 0xabc), line!());
    let on = on.held_by(Holder::Stack(0x1234));
    let h = std::thread::spawn(move || {
        tx.send(task::current()).unwrap();
        q2.wait(on, 0, None, || true, || {})
    });
    let t = rx.recv().unwrap();
    until("parked", || {
        t.record().read().state == crate::record::PARKED
    });
    let r = t.record().read();
    assert_eq!(r.kind, Some(WaitKind::Condvar));
    assert_eq!(r.object, 0xabc);
    assert_eq!(r.holder, Holder::Stack(0x1234));
    assert!(!r.timed);
    let loc = r.location.unwrap();
    assert_eq!((loc.file(), loc.line()), (file!(), line));
    q.notify_one();
    assert_eq!(h.join().unwrap(), WaitResult::Notified);
    assert_eq!(t.record().read().state, crate::record::RUNNING);
}

#[test]
fn parker_token_interrupt_and_deadline() {
    let me = task::current();
    let p = Parker::new();
    let on = || WaitOn::new(WaitKind::Park, 0);
    // A token made available before the park is consumed at once.
    p.unpark(&me);
    assert_eq!(p.park(&me, on(), None), WaitResult::Notified);
    // Tokens do not accumulate; the deadline ends a park without one.
    p.unpark(&me);
    p.unpark(&me);
    assert_eq!(p.park(&me, on(), None), WaitResult::Notified);
    let t = Instant::now();
    let r = p.park(&me, on(), Some(Instant::now() + Duration::from_millis(20)));
    assert_eq!(r, WaitResult::TimedOut);
    assert!(t.elapsed() >= Duration::from_millis(20));
    // An interrupt ends a park and is consumed; a token that came with it
    // stays for the next park.
    me.interrupt();
    assert_eq!(p.park(&me, on(), None), WaitResult::Interrupted);
    assert!(!me.is_interrupted());
    assert_eq!(me.record().read().state, crate::record::RUNNING);
}

#[test]
fn parker_wakes_a_parked_coroutine_and_a_token_outlives_an_interrupt() {
    let (tx, rx) = mpsc::channel::<Arc<Task>>();
    let p = Arc::new(Parker::new());
    let p2 = p.clone();
    let done = coroutine(move || {
        let me = task::current();
        tx.send(me.clone()).unwrap();
        let first = p2.park(&me, WaitOn::new(WaitKind::Park, 0), None);
        // Parked again: interrupted, then the token arrives with it.
        let second = p2.park(&me, WaitOn::new(WaitKind::Park, 0), None);
        let third = p2.park(&me, WaitOn::new(WaitKind::Park, 0), None);
        (first, second, third)
    });
    let t = rx.recv().unwrap();
    until("parked", || {
        t.record().read().state == crate::record::PARKED
    });
    let first_seq = t.record().read().seq;
    p.unpark(&t);
    until("in the second park", || {
        let r = t.record().read();
        r.state == crate::record::PARKED && r.seq != first_seq
    });
    t.interrupt();
    p.unpark(&t);
    let (first, second, third) = done.recv_timeout(SLACK).unwrap();
    assert_eq!(first, WaitResult::Notified);
    // Either the interrupt came first (and the token was kept for the
    // third park) or the token did (and the interrupt ended the third).
    assert!(
        (second, third) == (WaitResult::Interrupted, WaitResult::Notified)
            || (second, third) == (WaitResult::Notified, WaitResult::Interrupted),
        "{second:?} {third:?}"
    );
}

/// `thread::park` of a coroutine (its token lives in the sleeper): the
/// same rules as the [`Parker`]'s.
fn park_me(deadline: Option<Instant>) -> WaitResult {
    let me = task::current();
    let on = WaitOn::new(WaitKind::Park, 0);
    park_coroutine(&me, me.sleeper().expect("a coroutine"), &on, deadline)
}

#[test]
fn coroutine_park_token_interrupt_and_deadline() {
    let done = coroutine(|| {
        let me = task::current();
        // A token made available before the park is consumed at once;
        // tokens do not accumulate.
        me.unpark();
        let first = park_me(None);
        me.unpark();
        me.unpark();
        let second = park_me(None);
        // No token: the deadline ends the park.
        let t = Instant::now();
        let third = park_me(Some(t + Duration::from_millis(20)));
        let waited = t.elapsed();
        // An interrupt ends a park and is consumed.
        me.interrupt();
        let fourth = park_me(None);
        let interrupted = me.is_interrupted();
        let state = me.record().read().state;
        ([first, second, third, fourth], waited, interrupted, state)
    });
    let (results, waited, interrupted, state) = done.recv_timeout(SLACK).unwrap();
    use WaitResult::*;
    assert_eq!(results, [Notified, Notified, TimedOut, Interrupted]);
    assert!(waited >= Duration::from_millis(20), "{waited:?}");
    assert!(!interrupted);
    assert_eq!(state, crate::record::RUNNING);
}

/// A wake-up (a timer's, a stray notifier's) does not end a park; an
/// unpark does not end any other wait, and its token is kept.
#[test]
fn a_park_ends_on_unpark_only_and_an_unpark_ends_no_other_wait() {
    let (tx, rx) = mpsc::channel::<Arc<Task>>();
    let done = coroutine(move || {
        let me = task::current();
        tx.send(me.clone()).unwrap();
        let parked = park_me(None);
        // A queue wait that only its deadline ends.
        let q = WaitQueue::new();
        let t = Instant::now();
        let waited = q.wait(
            on(),
            0,
            Some(t + Duration::from_millis(100)),
            || true,
            || {},
        );
        let elapsed = t.elapsed();
        // The unpark made during the queue wait left its token.
        let t = Instant::now();
        let token = park_me(Some(t + SLACK));
        (parked, waited, elapsed, token, t.elapsed())
    });
    let t = rx.recv_timeout(SLACK).unwrap();
    until("parked", || {
        t.record().read().state == crate::record::PARKED
    });
    let seq = t.record().read().seq;
    t.wake();
    // Woken, it sleeps again in the same park (or has not yet run).
    std::thread::sleep(Duration::from_millis(20));
    let r = t.record().read();
    assert_eq!(
        (r.state, r.seq),
        (crate::record::PARKED, seq),
        "a wake-up ended a park"
    );
    t.unpark();
    until("in the queue wait", || {
        let r = t.record().read();
        r.state == crate::record::PARKED && r.kind == Some(WaitKind::Event)
    });
    t.unpark();
    let (parked, waited, elapsed, token, token_wait) = done.recv_timeout(SLACK).unwrap();
    assert_eq!(parked, WaitResult::Notified);
    assert_eq!(waited, WaitResult::TimedOut, "an unpark ended a queue wait");
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    assert_eq!(token, WaitResult::Notified);
    assert!(token_wait < SLACK / 2);
}

#[test]
fn a_parked_coroutine_wakes_on_unpark_and_a_token_outlives_an_interrupt() {
    let (tx, rx) = mpsc::channel::<Arc<Task>>();
    let done = coroutine(move || {
        tx.send(task::current()).unwrap();
        let first = park_me(None);
        // Parked again: interrupted, then the token arrives with it.
        let second = park_me(None);
        let third = park_me(None);
        (first, second, third)
    });
    let t = rx.recv().unwrap();
    until("parked", || {
        t.record().read().state == crate::record::PARKED
    });
    let first_seq = t.record().read().seq;
    t.unpark();
    until("in the second park", || {
        let r = t.record().read();
        r.state == crate::record::PARKED && r.seq != first_seq
    });
    t.interrupt();
    t.unpark();
    let (first, second, third) = done.recv_timeout(SLACK).unwrap();
    assert_eq!(first, WaitResult::Notified);
    // Either the interrupt came first (and the token was kept for the
    // third park) or the token did (and the interrupt ended the third).
    assert!(
        (second, third) == (WaitResult::Interrupted, WaitResult::Notified)
            || (second, third) == (WaitResult::Notified, WaitResult::Interrupted),
        "{second:?} {third:?}"
    );
}
