//! `greenstd::sync::Barrier`: exactly one leader per generation, reuse,
//! coroutines and threads mixed.

use greenstd::sync::{Arc, Barrier};
use greenstd::thread;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[test]
fn exactly_one_leader_per_generation_with_reuse() {
    const N: usize = 50;
    const ROUNDS: usize = 20;
    let b = Arc::new(Barrier::new(N));
    let leaders = Arc::new(AtomicUsize::new(0));
    let passed = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..N)
        .map(|_| {
            let (b, leaders, passed) = (b.clone(), leaders.clone(), passed.clone());
            thread::spawn(move || {
                for round in 0..ROUNDS {
                    // Nobody gets past round `r` before all arrived at it.
                    assert!(passed.load(Ordering::SeqCst) >= round * N);
                    passed.fetch_add(1, Ordering::SeqCst);
                    if b.wait().is_leader() {
                        leaders.fetch_add(1, Ordering::SeqCst);
                    }
                    assert!(passed.load(Ordering::SeqCst) >= (round + 1) * N);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(leaders.load(Ordering::SeqCst), ROUNDS);
}

#[test]
fn threads_and_coroutines_meet_at_one_barrier() {
    let b = Arc::new(Barrier::new(4));
    let leaders = Arc::new(AtomicUsize::new(0));
    let mut cos = Vec::new();
    let mut ths = Vec::new();
    for i in 0..4 {
        let (b, l) = (b.clone(), leaders.clone());
        let f = move || {
            if b.wait().is_leader() {
                l.fetch_add(1, Ordering::SeqCst);
            }
        };
        if i % 2 == 0 {
            cos.push(thread::spawn(f));
        } else {
            ths.push(std::thread::spawn(f));
        }
    }
    for h in cos {
        h.join().unwrap();
    }
    for h in ths {
        h.join().unwrap();
    }
    assert_eq!(leaders.load(Ordering::SeqCst), 1);
}

#[test]
fn waiters_block_until_the_last_arrives() {
    let b = Arc::new(Barrier::new(2));
    let b2 = b.clone();
    let h = thread::spawn(move || b2.wait().is_leader());
    thread::sleep(Duration::from_millis(50));
    assert!(!h.is_finished(), "passed the barrier alone");
    let me = b.wait().is_leader();
    assert!(me ^ h.join().unwrap());
}

#[test]
fn trivial_barriers_and_debug() {
    assert!(Barrier::new(0).wait().is_leader());
    assert!(Barrier::new(1).wait().is_leader());
    assert_eq!(format!("{:?}", Barrier::new(3)), "Barrier { .. }");
    assert_eq!(
        format!("{:?}", Barrier::new(1).wait()),
        "BarrierWaitResult { is_leader: true }"
    );
}
