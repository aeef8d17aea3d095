//! `greenstd::sync::{Once, OnceLock, LazyLock}`: run exactly once, poisoning
//! as std, races between many initialisers, and cooperation: an initialiser
//! that sleeps parks the other callers, not the worker.

mod alone;

use greenstd::sync::{Arc, LazyLock, Once, OnceLock};
use greenstd::thread;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[test]
fn once_runs_once_among_coroutines_and_threads() {
    static O: Once = Once::new();
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let f = || {
        O.call_once(|| {
            thread::sleep(Duration::from_millis(30));
            RUNS.fetch_add(1, Ordering::SeqCst);
        });
        assert!(O.is_completed());
        assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    };
    let cos: Vec<_> = (0..50).map(|_| thread::spawn(f)).collect();
    let ths: Vec<_> = (0..4).map(|_| std::thread::spawn(f)).collect();
    for h in cos {
        h.join().unwrap();
    }
    for h in ths {
        h.join().unwrap();
    }
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(format!("{O:?}"), "Once { .. }");
}

#[test]
fn once_poisoning_and_call_once_force() {
    static O: Once = Once::new();
    let r = thread::spawn(|| O.call_once(|| panic!("init fails"))).join();
    assert!(r.is_err());
    assert!(!O.is_completed());
    // Poison propagates to call_once and wait.
    assert!(thread::spawn(|| O.call_once(|| {})).join().is_err());
    assert!(thread::spawn(|| O.wait()).join().is_err());
    // call_once_force runs, sees the poison, and may panic again...
    let r = thread::spawn(|| {
        O.call_once_force(|s| {
            assert!(s.is_poisoned());
            panic!("still failing");
        })
    })
    .join();
    assert!(r.is_err());
    // ...or succeed, which clears it.
    O.call_once_force(|s| assert!(s.is_poisoned()));
    assert!(O.is_completed());
    O.call_once(|| panic!("must not run again"));
    O.call_once_force(|_| panic!("must not run again"));
    O.wait();
    O.wait_force();
}

#[test]
fn waiters_of_a_panicking_initialiser_see_the_poison() {
    let o = Arc::new(Once::new());
    let o2 = o.clone();
    let init = thread::spawn(move || {
        o2.call_once(|| {
            thread::sleep(Duration::from_millis(50));
            panic!("init fails");
        })
    });
    thread::sleep(Duration::from_millis(10));
    let o3 = o.clone();
    let waiter = thread::spawn(move || o3.call_once(|| {}));
    let o4 = o.clone();
    let thread_waiter = std::thread::spawn(move || o4.call_once(|| {}));
    assert!(init.join().is_err());
    assert!(
        waiter.join().is_err(),
        "call_once waiting on a panicking init must panic"
    );
    assert!(thread_waiter.join().is_err(), "same for a thread");
    // Only now (a racing forcer could complete the Once before the waiters
    // look, as with std) does a call_once_force retry.
    let o5 = o.clone();
    let forcer = thread::spawn(move || {
        let mut saw = false;
        o5.call_once_force(|s| saw = s.is_poisoned());
        saw
    });
    assert!(
        forcer.join().unwrap(),
        "call_once_force retried on the poisoned Once"
    );
    assert!(o.is_completed());
}

#[test]
fn once_wait_blocks_until_completed() {
    let o = Arc::new(Once::new());
    let o2 = o.clone();
    let w = thread::spawn(move || {
        o2.wait();
        o2.is_completed()
    });
    let o3 = o.clone();
    let wf = std::thread::spawn(move || {
        o3.wait_force();
        o3.is_completed()
    });
    thread::sleep(Duration::from_millis(30));
    assert!(!w.is_finished());
    o.call_once(|| {});
    assert!(w.join().unwrap());
    assert!(wf.join().unwrap());
}

#[test]
fn once_lock_race_exactly_one_initialiser_runs() {
    static CELL: OnceLock<usize> = OnceLock::new();
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let mut hs = Vec::new();
    for i in 0..100 {
        hs.push(thread::spawn(move || {
            *CELL.get_or_init(|| {
                RUNS.fetch_add(1, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(20));
                i
            })
        }));
    }
    let ths: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| *CELL.wait()))
        .collect();
    let vals: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    assert!(vals.iter().all(|&v| v == vals[0]));
    for t in ths {
        assert_eq!(t.join().unwrap(), vals[0]);
    }
    assert_eq!(CELL.set(1000), Err(1000));
}

#[test]
fn once_lock_set_races_one_wins() {
    let cell = Arc::new(OnceLock::new());
    let hs: Vec<_> = (0..50)
        .map(|i| {
            let cell = cell.clone();
            thread::spawn(move || cell.set(i).is_ok())
        })
        .collect();
    let wins = hs.into_iter().map(|h| h.join().unwrap());
    assert_eq!(wins.filter(|&w| w).count(), 1);
    assert!(cell.get().is_some());
}

#[test]
fn once_lock_api() {
    let mut c: OnceLock<String> = OnceLock::new();
    assert_eq!(format!("{c:?}"), "OnceLock(<uninit>)");
    assert!(c.get().is_none() && c.get_mut().is_none());
    assert_eq!(c.take(), None);
    c.set("a".into()).unwrap();
    assert_eq!(format!("{c:?}"), "OnceLock(\"a\")");
    c.get_mut().unwrap().push('b');
    assert_eq!(c.get().map(String::as_str), Some("ab"));
    let c2 = c.clone();
    assert_eq!(c, c2);
    assert_eq!(c.take().as_deref(), Some("ab"));
    assert_ne!(c, c2);
    assert_eq!(c, OnceLock::default());
    assert_eq!(OnceLock::from(3).into_inner(), Some(3));
    assert_eq!(OnceLock::<u8>::new().into_inner(), None);
    // After `take` the cell can be initialised again.
    assert_eq!(c.get_or_init(|| "c".into()), "c");

    // Drop runs for the stored value exactly once.
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct D;
    impl Drop for D {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let c = OnceLock::new();
    let _ = c.set(D);
    assert!(c.set(D).is_err()); // the rejected one is dropped here
    drop(c);
    assert_eq!(DROPS.load(Ordering::SeqCst), 2);
}

#[test]
fn once_lock_panicking_initialiser_leaves_it_empty() {
    let c: OnceLock<u32> = OnceLock::new();
    let r = catch_unwind(AssertUnwindSafe(|| c.get_or_init(|| panic!("nope"))));
    assert!(r.is_err());
    assert!(c.get().is_none());
    assert_eq!(*c.get_or_init(|| 5), 5);
}

#[test]
fn lazy_lock_api_and_poisoning() {
    let l = LazyLock::new(|| 92);
    assert_eq!(LazyLock::get(&l), None);
    assert_eq!(format!("{l:?}"), "LazyLock(<uninit>)");
    assert_eq!(*LazyLock::force(&l), 92);
    assert_eq!(format!("{l:?}"), "LazyLock(92)");
    let mut l = l;
    *LazyLock::get_mut(&mut l).unwrap() = 1;
    assert_eq!(*l, 1);
    let mut m = LazyLock::new(|| String::from("x"));
    LazyLock::force_mut(&mut m).push('y');
    m.push('z'); // DerefMut
    assert_eq!(&*m, "xyz");
    let d: LazyLock<Vec<u8>> = LazyLock::default();
    assert!(d.is_empty());

    // A panicking initialiser poisons: every later access panics.
    let p: LazyLock<u32> = LazyLock::new(|| panic!("init fails"));
    assert!(catch_unwind(AssertUnwindSafe(|| *p)).is_err());
    let again = catch_unwind(AssertUnwindSafe(|| *p)).unwrap_err();
    let msg = again
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| again.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(msg.contains("poisoned"), "{msg}");
    assert_eq!(LazyLock::get(&p), None);
    let mut p = p;
    assert_eq!(LazyLock::get_mut(&mut p), None);
    assert!(catch_unwind(AssertUnwindSafe(|| *LazyLock::force_mut(&mut p))).is_err());

    // force_mut poisons too.
    let mut q: LazyLock<u32> = LazyLock::new(|| panic!("init fails"));
    assert!(catch_unwind(AssertUnwindSafe(|| *LazyLock::force_mut(&mut q))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| *q)).is_err());
}

#[test]
fn lazy_lock_waiters_of_a_panicking_initialiser_panic() {
    let l = Arc::new(LazyLock::new(|| -> u32 {
        thread::sleep(Duration::from_millis(50));
        panic!("init fails");
    }));
    let hs: Vec<_> = (0..10)
        .map(|_| {
            let l = l.clone();
            thread::spawn(move || {
                let _: &u32 = &l;
            })
        })
        .collect();
    for h in hs {
        assert!(h.join().is_err());
    }
}

#[test]
fn lazy_lock_sleeping_initialiser_hit_by_thousand_coroutines_on_one_worker() {
    if !alone::here() {
        return;
    }
    greenstd::green::Config::new().workers(1).apply().unwrap();
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    static VALUE: LazyLock<u64> = LazyLock::new(|| {
        RUNS.fetch_add(1, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(200));
        42
    });
    let start = Instant::now();
    let hs: Vec<_> = (0..1000).map(|_| thread::spawn(|| *VALUE)).collect();
    // A plain thread joins the crowd.
    let t = std::thread::spawn(|| *VALUE);
    for h in hs {
        assert_eq!(h.join().unwrap(), 42);
    }
    assert_eq!(t.join().unwrap(), 42);
    let took = start.elapsed();
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    assert!(took >= Duration::from_millis(200), "{took:?}");
    // 1,000 × 200 ms would be 200 s; one initialisation is 0.2 s.
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn once_lock_sleeping_initialiser_on_one_worker_parks_the_others() {
    if !alone::here() {
        return;
    }
    greenstd::green::Config::new().workers(1).apply().unwrap();
    static CELL: OnceLock<u32> = OnceLock::new();
    let ticks = Arc::new(AtomicUsize::new(0));
    let t2 = ticks.clone();
    // A bystander on the only worker keeps ticking while the init sleeps.
    let ticker = thread::spawn(move || {
        for _ in 0..10 {
            thread::sleep(Duration::from_millis(10));
            t2.fetch_add(1, Ordering::SeqCst);
        }
    });
    let hs: Vec<_> = (0..100)
        .map(|_| {
            thread::spawn(|| {
                *CELL.get_or_init(|| {
                    thread::sleep(Duration::from_millis(200));
                    7
                })
            })
        })
        .collect();
    ticker.join().unwrap();
    // The ticker finished (10 × 10 ms) while the initialiser still slept.
    assert!(
        CELL.get().is_none(),
        "the bystander could not run during the init"
    );
    for h in hs {
        assert_eq!(h.join().unwrap(), 7);
    }
    assert_eq!(ticks.load(Ordering::SeqCst), 10);
}

#[test]
fn send_and_sync_as_std() {
    fn sync<T: Sync>() {}
    fn send<T: Send>() {}
    sync::<Once>();
    sync::<OnceLock<Vec<u8>>>();
    send::<OnceLock<std::cell::Cell<u8>>>();
    sync::<LazyLock<Vec<u8>>>();
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    unwind_safe::<Once>();
    unwind_safe::<OnceLock<u8>>();
    unwind_safe::<LazyLock<u8>>();
    #[allow(deprecated)]
    let o: Once = greenstd::sync::ONCE_INIT;
    assert!(!o.is_completed());
}

/// std's `dropck` test: a cell may hold a reference that dies before the
/// cell (compiles only when the drop checker lets it, as std's
/// `#[may_dangle]`); the value is still dropped with the cell.
#[test]
fn once_lock_dropck_as_std() {
    let cell = OnceLock::new();
    {
        let s = String::new();
        cell.set(&s).unwrap();
    }
    let drops = std::rc::Rc::new(());
    let cell = OnceLock::new();
    cell.set(drops.clone()).unwrap();
    assert_eq!(std::rc::Rc::strong_count(&drops), 2);
    drop(cell);
    assert_eq!(std::rc::Rc::strong_count(&drops), 1);
}
