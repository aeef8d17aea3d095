//! Races of the sleeper: tokens, and wake-ups racing with sleeps from
//! workers and from plain threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use super::*;
use crate::task::{self, Task};
use crate::test_util::{coroutine, until, SLACK};

#[test]
fn a_token_is_kept_once_and_a_sleep_without_one_waits_for_a_wake() {
    let (tx, rx) = mpsc::channel::<Arc<Task>>();
    let woken = Arc::new(AtomicU64::new(0));
    let w = woken.clone();
    let done = coroutine(move || {
        let me = task::current();
        let s = me.sleeper().expect("a coroutine sleeps in its sleeper");
        // Two wake-ups while awake leave one token: the first sleep
        // consumes it at once.
        me.wake();
        me.wake();
        s.sleep();
        tx.send(me.clone()).unwrap();
        // No token: this one returns only after the wake below.
        s.sleep();
        w.load(Ordering::SeqCst)
    });
    let t = rx.recv_timeout(SLACK).unwrap();
    until("asleep", || t.sleeper().unwrap().is_asleep());
    woken.store(1, Ordering::SeqCst);
    t.wake();
    assert_eq!(done.recv_timeout(SLACK).unwrap(), 1, "woke before the wake");
}

/// Where B runs in [`ping_pong`].
#[derive(Clone, Copy, PartialEq)]
enum B {
    Coroutine,
    /// A plain thread that parks.
    Thread,
    /// A plain thread that spins instead of parking (yielding its core
    /// after a while): its wake-ups come right after A's move, often while
    /// A is on its way to sleep.
    Spinner,
}

/// How the sides of [`ping_pong`] sleep and wake each other.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    /// Any wait's sleep and wake-up: `sleep_as` and `Task::wake`.
    Wake,
    /// `thread::park` and `unpark`: `task::park_current` and `Task::unpark`.
    Park,
}

/// A sleep and wake-up ping-pong between two tasks: `turn` odd is B's
/// move, even A's. A is a coroutine. A lost wake-up hangs one side, and the
/// test fails on its timeout.
fn ping_pong(rounds: u64, b: B, via: Via) {
    let sleep = move |my: &Arc<Task>| match via {
        Via::Wake => {
            sleep_as(my, None, Token::Wake);
        }
        Via::Park => task::park_current(),
    };
    let wake = move |other: &Arc<Task>| match via {
        Via::Wake => other.wake(),
        Via::Park => other.unpark(),
    };
    let turn = Arc::new(AtomicU64::new(0));
    let tasks: Arc<[OnceLock<Arc<Task>>; 2]> = Arc::new([OnceLock::new(), OnceLock::new()]);
    // Each side publishes its task and waits for the other's.
    let meet = |tasks: &[OnceLock<Arc<Task>>; 2], me: usize| {
        let my = task::current();
        tasks[me].set(my.clone()).unwrap();
        let t = Instant::now();
        loop {
            if let Some(other) = tasks[1 - me].get() {
                return (my, other.clone());
            }
            assert!(t.elapsed() < SLACK, "the other side never started");
            yield_now();
        }
    };
    let (turn_a, tasks_a) = (turn.clone(), tasks.clone());
    let (turn_dbg, tasks_dbg) = (turn.clone(), tasks.clone());
    let a = coroutine(move || {
        let (my, other) = meet(&tasks_a, 0);
        for k in 0..rounds {
            turn_a.store(2 * k + 1, Ordering::Release);
            wake(&other);
            while turn_a.load(Ordering::Acquire) != 2 * k + 2 {
                sleep(&my);
            }
        }
    });
    let b_body = move || {
        let (my, other) = meet(&tasks, 1);
        for k in 0..rounds {
            let mut spins = 0u32;
            while turn.load(Ordering::Acquire) != 2 * k + 1 {
                if b != B::Spinner {
                    sleep(&my);
                } else if spins < 1000 {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    // A busy machine: let A's worker have the core.
                    std::thread::yield_now();
                }
            }
            turn.store(2 * k + 2, Ordering::Release);
            wake(&other);
        }
    };
    let b = if b != B::Coroutine {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            b_body();
            let _ = tx.send(());
        });
        rx
    } else {
        coroutine(b_body)
    };
    if a.recv_timeout(SLACK).is_err() {
        let a = tasks_dbg[0].get().map(|t| format!("{:?}", t.sleeper()));
        panic!(
            "A hung, a wake-up was lost: turn {}, A's sleeper {a:?}",
            turn_dbg.load(Ordering::SeqCst)
        );
    }
    b.recv_timeout(SLACK).expect("B hung: a wake-up was lost");
}

#[test]
fn wakes_racing_with_sleeps_between_coroutines_are_never_lost() {
    ping_pong(20_000, B::Coroutine, Via::Wake);
    ping_pong(20_000, B::Coroutine, Via::Park);
}

#[test]
fn wakes_racing_with_sleeps_between_a_coroutine_and_a_thread_are_never_lost() {
    ping_pong(5_000, B::Thread, Via::Wake);
    ping_pong(5_000, B::Thread, Via::Park);
}

/// Most of these wake-ups reach A between its token check and its
/// suspension (the sleeper's second check).
#[test]
fn wakes_racing_with_a_coroutine_going_to_sleep_are_never_lost() {
    ping_pong(50_000, B::Spinner, Via::Wake);
    ping_pong(50_000, B::Spinner, Via::Park);
}

/// A deadline ends a coroutine's sleep (a worker's timer wakes it).
#[test]
fn sleep_as_keeps_a_deadline_in_a_coroutine() {
    let done = coroutine(|| {
        let me = task::current();
        let t = Instant::now();
        let deadline = t + Duration::from_millis(20);
        while !sleep_as(&me, Some(deadline), Token::Wake) {}
        t.elapsed()
    });
    let waited = done.recv_timeout(SLACK).unwrap();
    assert!(waited >= Duration::from_millis(20), "{waited:?}");
}
