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

/// gevent's test__pool `test_add_method`/`test_discard`: a coroutine
/// started elsewhere is tracked (joined, counted, cancelled, holding a
/// pool's slot) once added, and no longer once discarded.
#[test]
fn add_and_discard_threads_started_elsewhere() {
    two_workers();
    let group = Group::new();
    let outside = thread::spawn(|| thread::sleep(Duration::from_millis(100)));
    assert!(group.add(&outside));
    assert!(!group.add(&outside), "a member already");
    assert_eq!(group.len(), 1);
    let t = Instant::now();
    group.join_all();
    assert!(
        t.elapsed() >= Duration::from_millis(50),
        "join_all waited for it"
    );
    assert!(group.is_empty());
    // Already finished: added and gone at once.
    assert!(group.add(&outside));
    assert!(group.is_empty());
    outside.join().unwrap();

    // Cancelled with the group; discarded ones are not.
    let kept = thread::spawn(|| thread::sleep(Duration::from_secs(3600)));
    let dropped = thread::spawn(|| thread::sleep(Duration::from_millis(50)));
    group.add(&kept);
    group.add(&dropped);
    assert!(group.discard(dropped.thread()));
    assert!(!group.discard(dropped.thread()));
    assert!(!group.contains(dropped.thread()) && group.contains(kept.thread()));
    assert_eq!(group.cancel_all(), 1);
    group.join_all();
    assert!(kept.join().unwrap_err().is::<green::Cancelled>());
    assert!(dropped.join().is_ok());

    // A pool: add takes a slot (blocking while full, from a plain thread
    // here), discard gives it back.
    let pool = Arc::new(Pool::new(1));
    let first = thread::spawn(|| thread::sleep(Duration::from_millis(50)));
    assert!(pool.add(&first));
    assert!(pool.is_full());
    let second = thread::spawn(|| thread::sleep(Duration::from_secs(3600)));
    let t = Instant::now();
    assert!(pool.add(&second), "waits for first to finish");
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert!(pool.discard(second.thread()));
    assert_eq!(pool.free_count(), 1);
    second.cancel();
    assert!(second.join().is_err());
    first.join().unwrap();
}

/// gevent's test__pool `test_apply_recursive`/`test_map_recursive`: a
/// member of a full Pool(1) that spawns into its own pool and joins, or
/// maps over it, runs the work inline instead of deadlocking — on one
/// worker too.
#[test]
fn a_member_of_a_full_pool_runs_its_own_work_inline() {
    green::Config::new().workers(1).apply().unwrap();
    let pool = Arc::new(Pool::new(1));
    let p = pool.clone();
    let outer = pool.spawn(move || {
        let me = thread::current().id();
        let inner = p.spawn(move || thread::current().id() == me);
        let ran_inline = inner.join().unwrap();
        let squares: Vec<u32> = p.map(1..=4, |x| x * x).map(Result::unwrap).collect();
        let mut sums: Vec<u32> = p
            .map_unordered([1, 2], |x| x + 1)
            .map(Result::unwrap)
            .collect();
        sums.sort();
        (ran_inline, squares, sums)
    });
    let (ran_inline, squares, sums) = outer
        .join_timeout(Duration::from_secs(20))
        .expect("no deadlock")
        .unwrap();
    assert!(ran_inline, "the nested spawn ran in the member itself");
    assert_eq!(squares, [1, 4, 9, 16]);
    assert_eq!(sums, [2, 3]);
    // Not a member: spawn waits for the slot as before.
    let busy = pool.spawn(|| thread::sleep(Duration::from_millis(50)));
    let t = Instant::now();
    let me = std::thread::current().id();
    assert!(!pool
        .spawn(move || std::thread::current().id() == me)
        .join()
        .unwrap());
    assert!(
        t.elapsed() >= Duration::from_millis(20),
        "waited for the slot"
    );
    busy.join().unwrap();
}

/// gevent's test__joinall `raise_error=True` and `count=N`.
#[test]
fn try_join_all_stops_at_the_first_failure_and_join_n_at_n() {
    two_workers();
    let group = Group::new();
    let slow = group.spawn(|| thread::sleep(Duration::from_secs(3600)));
    for i in 0..5u64 {
        group.spawn(move || thread::sleep(Duration::from_millis(i)));
    }
    let bad = group.spawn(|| -> () {
        thread::sleep(Duration::from_millis(20));
        panic!("member 7 failed")
    });
    let t = Instant::now();
    let failed = group.try_join_all().unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(60));
    assert_eq!(failed.thread().id(), bad.thread().id());
    assert_eq!(failed.message(), Some("member 7 failed"));
    assert!(!failed.is_cancelled());
    assert!(failed.to_string().contains("member 7 failed"));
    assert!(bad.join().is_err(), "the payload stays with the handle");
    assert!(group.contains(slow.thread()), "the others go on");
    // The six that finished are counted by join_n, each once.
    assert_eq!(group.join_n(4), 4);
    assert_eq!(group.join_n(2), 2);
    assert_eq!(group.join_n_timeout(1, Duration::from_millis(10)), 0);
    // A cancellation is a failure too; then the group is empty and Ok.
    group.cancel_all();
    assert!(group.try_join_all().unwrap_err().is_cancelled());
    assert!(group.try_join_all().is_ok());
    assert!(slow.join().unwrap_err().is::<green::Cancelled>());
    // From a coroutine: join_n waits for N of many.
    let g = Arc::new(Group::new());
    let g2 = g.clone();
    let waiter = thread::spawn(move || {
        for i in 0..10u64 {
            g2.spawn(move || thread::sleep(Duration::from_millis(10 * i)));
        }
        g2.join_n(3)
    });
    assert_eq!(waiter.join().unwrap(), 3);
    g.join_all();
}
