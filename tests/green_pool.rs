//! `greenstd::green::{Group, Pool}`: membership, join_all, the pool's
//! bound (never an 11th in a Pool of 10), cooperative spawn, free_count,
//! wait_available, map in order and map_unordered as results finish.

use greenstd::green::{self, Group, JoinHandleExt, Pool};
use greenstd::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn two_workers() {
    green::Config::new().workers(2).apply().unwrap();
}

/// Counts how many run at once, and the most seen.
#[derive(Default)]
struct Concurrency {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Concurrency {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(n, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn group_join_all_waits_for_every_member() {
    two_workers();
    let group = Group::new();
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..300u64 {
        let done = done.clone();
        group.spawn(move || {
            thread::sleep(Duration::from_millis(i % 20));
            done.fetch_add(1, Ordering::SeqCst);
        });
    }
    assert!(!group.is_empty());
    group.join_all();
    assert_eq!(done.load(Ordering::SeqCst), 300);
    assert_eq!(group.len(), 0);
    assert!(group.is_empty());
}

#[test]
fn group_members_leave_on_panic_and_results_stay_with_handles() {
    let group = Group::new();
    let ok = group.spawn(|| 1);
    let bad = group.spawn(|| -> i32 { panic!("member failed") });
    group.join_all();
    assert!(group.is_empty());
    assert_eq!(ok.join().unwrap(), 1);
    assert!(bad.join().is_err());
}

#[test]
fn group_join_all_timeout_and_from_a_plain_thread() {
    let group = Arc::new(Group::new());
    group.spawn(|| thread::sleep(Duration::from_millis(300)));
    let t = Instant::now();
    assert!(!group.join_all_timeout(Duration::from_millis(20)));
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert_eq!(group.len(), 1);
    let g2 = group.clone();
    let plain = std::thread::spawn(move || g2.join_all_timeout(Duration::from_secs(20)));
    assert!(plain.join().unwrap());
    // A coroutine can join a group too.
    let g2 = group.clone();
    group.spawn(|| thread::sleep(Duration::from_millis(20)));
    let co = thread::spawn(move || {
        g2.join_all();
        g2.len()
    });
    assert_eq!(co.join().unwrap(), 0);
}

#[test]
fn pool_of_ten_never_runs_an_eleventh() {
    two_workers();
    let pool = Pool::new(10);
    let c = Arc::new(Concurrency::default());
    let handles: Vec<_> = (0..1000u64)
        .map(|i| {
            let c = c.clone();
            let h = pool.spawn(move || {
                c.enter();
                match i % 3 {
                    0 => thread::sleep(Duration::from_millis(1)),
                    1 => thread::yield_now(),
                    _ => {}
                }
                c.leave();
            });
            assert!(pool.len() <= 10);
            h
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(c.most.load(Ordering::SeqCst), 10);
    assert_eq!(pool.free_count(), 10);
}

#[test]
fn pool_spawn_blocks_cooperatively_while_full() {
    two_workers();
    let pool = Arc::new(Pool::new(2));
    let release = Arc::new(green::Event::new());
    for _ in 0..2 {
        let r = release.clone();
        pool.spawn(move || r.wait());
    }
    assert!(pool.is_full());
    assert_eq!(pool.free_count(), 0);
    assert!(pool.try_spawn(|| ()).is_err());
    // A coroutine blocked in spawn leaves its worker free.
    let p2 = pool.clone();
    let released = Arc::new(AtomicBool::new(false));
    let r2 = released.clone();
    let spawner = thread::spawn(move || {
        let h = p2.spawn(|| ());
        // Only a finished member's slot can have let us in.
        let was_released = r2.load(Ordering::SeqCst);
        h.join().unwrap();
        was_released
    });
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let ticker = thread::spawn(move || {
        let mut n = 0;
        while !s2.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(1));
            n += 1;
        }
        n
    });
    thread::sleep(Duration::from_millis(100));
    assert!(!spawner.is_finished());
    stop.store(true, Ordering::SeqCst);
    assert!(ticker.join().unwrap() > 10);
    released.store(true, Ordering::SeqCst);
    release.set();
    assert!(
        spawner.join().unwrap(),
        "spawn returned while the pool was full"
    );
    pool.join_all();
    assert_eq!(pool.free_count(), 2);
}

#[test]
fn pool_wait_available() {
    let pool = Arc::new(Pool::new(1));
    let h = pool.spawn(|| thread::sleep(Duration::from_millis(50)));
    assert!(!pool.wait_available_timeout(Duration::from_millis(5)));
    let t = Instant::now();
    pool.wait_available();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(pool.free_count(), 1, "wait_available takes no slot");
    h.join().unwrap();
    // Several waiters all see the free slot.
    let busy = pool.spawn(|| thread::sleep(Duration::from_millis(30)));
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let p = pool.clone();
            thread::spawn(move || p.wait_available_timeout(Duration::from_secs(20)))
        })
        .collect();
    for w in waiters {
        assert!(w.join().unwrap());
    }
    busy.join().unwrap();
}

#[test]
fn map_yields_in_order_and_keeps_the_bound() {
    two_workers();
    let pool = Pool::new(5);
    let c = Arc::new(Concurrency::default());
    let c2 = c.clone();
    let out: Vec<u64> = pool
        .map(0..200u64, move |i| {
            c2.enter();
            thread::sleep(Duration::from_millis((i * 7) % 5));
            c2.leave();
            i * 2
        })
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..200).map(|i| i * 2).collect::<Vec<_>>());
    assert!(c.most.load(Ordering::SeqCst) <= 5);
    assert!(c.most.load(Ordering::SeqCst) >= 2, "ran one at a time");
}

#[test]
fn map_unordered_yields_results_as_they_finish() {
    two_workers();
    let pool = Pool::new(4);
    let start = Instant::now();
    let mut it = pool.map_unordered([400u64, 10, 20, 30], |ms| {
        thread::sleep(Duration::from_millis(ms));
        ms
    });
    // The quick ones arrive while the slow one still runs.
    let first: Vec<u64> = it.by_ref().take(3).map(Result::unwrap).collect();
    assert!(
        start.elapsed() < Duration::from_millis(350),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(first, [10, 20, 30]);
    assert_eq!(it.next().map(Result::unwrap), Some(400));
    assert!(it.next().is_none());
}

#[test]
fn map_reports_panics_per_item_and_goes_on() {
    let pool = Pool::new(3);
    let out: Vec<Result<u32, String>> = pool
        .map(0..10u32, |i| {
            if i == 4 {
                panic!("item {i}");
            }
            i
        })
        .map(|r| r.map_err(|p| p.downcast_ref::<String>().cloned().unwrap_or_default()))
        .collect();
    assert_eq!(out.len(), 10);
    assert_eq!(out[4], Err("item 4".to_string()));
    assert_eq!(out[9], Ok(9));
    assert_eq!(pool.free_count(), 3);
}

#[test]
fn map_from_a_coroutine_with_a_lazy_input() {
    let h = thread::spawn(|| {
        let pool = Pool::new(3);
        let taken = std::cell::Cell::new(0);
        // The input is not Send: it is consumed by the iterating thread.
        let input = std::iter::from_fn(|| {
            let n = taken.get();
            taken.set(n + 1);
            (n < 50).then_some(n)
        });
        let sum: u32 = pool.map_unordered(input, |n| n).map(Result::unwrap).sum();
        sum
    });
    assert_eq!(
        h.join_timeout(Duration::from_secs(30)).unwrap().unwrap(),
        1225
    );
}

#[test]
fn dropping_a_map_starts_no_more_items() {
    let pool = Pool::new(2);
    let started = Arc::new(AtomicUsize::new(0));
    let s2 = started.clone();
    let mut it = pool.map(0..1000, move |i| {
        s2.fetch_add(1, Ordering::SeqCst);
        i
    });
    assert_eq!(it.next().unwrap().unwrap(), 0);
    drop(it);
    pool.join_all();
    // At most the window of twice the capacity was started.
    assert!(
        started.load(Ordering::SeqCst) <= 5,
        "{}",
        started.load(Ordering::SeqCst)
    );
}

/// gevent's `Pool(0)`: a pool that never runs anything — no panic; a
/// spawn into it blocks (cooperatively) until cancelled.
#[test]
fn pool_of_zero_never_runs_anything() {
    let pool = Arc::new(Pool::new(0));
    assert_eq!((pool.capacity(), pool.free_count()), (0, 0));
    assert!(pool.is_full());
    assert!(pool.try_spawn(|| ()).is_err());
    assert!(!pool.wait_available_timeout(Duration::from_millis(5)));
    let ran = Arc::new(AtomicBool::new(false));
    let spawner = {
        let (pool, ran) = (pool.clone(), ran.clone());
        thread::spawn(move || {
            pool.spawn(move || ran.store(true, Ordering::SeqCst));
        })
    };
    let mapper = {
        let pool = pool.clone();
        thread::spawn(move || pool.map([1, 2], |x| x).count())
    };
    let spawner = spawner
        .join_timeout(Duration::from_millis(50))
        .expect_err("spawn blocks");
    let mapper = mapper
        .join_timeout(Duration::from_millis(1))
        .expect_err("map blocks");
    spawner.cancel();
    mapper.cancel();
    assert!(spawner.join().unwrap_err().is::<green::Cancelled>());
    assert!(mapper.join().unwrap_err().is::<green::Cancelled>());
    assert!(!ran.load(Ordering::SeqCst));
    assert!(pool.is_empty());
}
