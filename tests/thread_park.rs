//! park / unpark / park_timeout: std's token semantics, in coroutines and on
//! plain OS threads (where park must really park, never be a no-op).

mod alone;

use greenstd::thread;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SLACK: Duration = Duration::from_secs(5);

#[test]
fn unpark_before_park_makes_park_return_at_once_in_a_coroutine() {
    let h = thread::spawn(|| {
        thread::current().unpark();
        let t = Instant::now();
        thread::park();
        t.elapsed()
    });
    assert!(h.join().unwrap() < SLACK);
}

#[test]
fn the_token_does_not_accumulate() {
    let h = thread::spawn(|| {
        let me = thread::current();
        me.unpark();
        me.unpark();
        thread::park(); // consumes the single token
        let t = Instant::now();
        thread::park_timeout(Duration::from_millis(100));
        t.elapsed()
    });
    assert!(h.join().unwrap() >= Duration::from_millis(100));
}

#[test]
fn park_timeout_waits_at_least_the_duration() {
    let h = thread::spawn(|| {
        let t = Instant::now();
        thread::park_timeout(Duration::from_millis(80));
        t.elapsed()
    });
    let e = h.join().unwrap();
    assert!(e >= Duration::from_millis(80), "{e:?}");
    assert!(e < SLACK, "{e:?}");
}

#[test]
fn main_thread_park_timeout_really_blocks() {
    let t = Instant::now();
    thread::park_timeout(Duration::from_millis(100));
    assert!(t.elapsed() >= Duration::from_millis(100));
}

#[test]
fn coroutine_unparks_a_parked_plain_thread() {
    let flag = Arc::new(AtomicBool::new(false));
    let me = thread::current();
    let f2 = flag.clone();
    let t0 = Instant::now();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        f2.store(true, Ordering::Release);
        me.unpark();
    });
    while !flag.load(Ordering::Acquire) {
        thread::park();
    }
    assert!(t0.elapsed() >= Duration::from_millis(50));
    h.join().unwrap();
}

#[test]
fn plain_thread_unparks_a_parked_coroutine() {
    let flag = Arc::new(AtomicBool::new(false));
    let f2 = flag.clone();
    let h = thread::spawn(move || {
        let t0 = Instant::now();
        while !f2.load(Ordering::Acquire) {
            thread::park();
        }
        t0.elapsed()
    });
    let target = h.thread().clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        flag.store(true, Ordering::Release);
        target.unpark();
    });
    let waited = h.join().unwrap();
    t.join().unwrap();
    assert!(waited >= Duration::from_millis(40), "{waited:?}");
}

#[test]
fn unpark_from_another_coroutine_wakes_exactly_the_target() {
    if !alone::here() {
        return;
    }
    greenstd::green::Config::new().workers(1).apply().unwrap();
    let woke = Arc::new(AtomicBool::new(false));
    let w2 = woke.clone();
    let sleeper = thread::spawn(move || {
        thread::park();
        w2.store(true, Ordering::SeqCst);
    });
    let bystander = thread::spawn(|| {
        let t = Instant::now();
        thread::park_timeout(Duration::from_millis(150));
        t.elapsed()
    });
    thread::sleep(Duration::from_millis(30));
    assert!(!woke.load(Ordering::SeqCst));
    sleeper.thread().unpark();
    sleeper.join().unwrap();
    assert!(woke.load(Ordering::SeqCst));
    assert!(bystander.join().unwrap() >= Duration::from_millis(150));
}

#[test]
fn a_parked_coroutine_does_not_block_its_worker() {
    if !alone::here() {
        return;
    }
    greenstd::green::Config::new().workers(1).apply().unwrap();
    let parked = thread::spawn(thread::park);
    // With one worker, this can only run if the parked coroutine yielded it.
    let other = thread::spawn(|| 7);
    assert_eq!(other.join().unwrap(), 7);
    parked.thread().unpark();
    parked.join().unwrap();
}
