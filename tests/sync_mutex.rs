//! `greenstd::sync::Mutex`: std's behaviour (poisoning, try_lock, Debug,
//! unsized data), mixed coroutine/thread callers, and cooperation: a lock
//! held across a sleep parks the other coroutines, not the worker.

mod alone;

use greenstd::sync::{Arc, Mutex, TryLockError};
use greenstd::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[test]
fn smoke_and_std_api() {
    let m = Mutex::new(1);
    {
        let mut g = m.lock().unwrap();
        *g += 1;
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        assert_eq!(format!("{g}"), "2");
        assert_eq!(format!("{g:?}"), "2");
        assert_eq!(
            format!("{m:?}"),
            "Mutex { data: <locked>, poisoned: false, .. }"
        );
    }
    assert_eq!(format!("{m:?}"), "Mutex { data: 2, poisoned: false, .. }");
    assert_eq!(*m.try_lock().unwrap(), 2);
    let mut m = m;
    *m.get_mut().unwrap() = 5;
    assert_eq!(m.into_inner().unwrap(), 5);
    assert_eq!(
        *Mutex::<Vec<u8>>::default().lock().unwrap(),
        Vec::<u8>::new()
    );
    assert_eq!(Mutex::from(3).into_inner().unwrap(), 3);
}

#[test]
fn static_mutex_and_unsized_data() {
    static M: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    M.lock().unwrap().push(1);
    assert_eq!(*M.lock().unwrap(), [1]);

    let m: Arc<Mutex<[i32]>> = Arc::new(Mutex::new([1, 2, 3]));
    m.lock().unwrap()[1] = 20;
    assert_eq!(&*m.lock().unwrap(), &[1, 20, 3]);
}

#[test]
fn poisoning_from_a_coroutine() {
    let m = Arc::new(Mutex::new(1));
    let m2 = m.clone();
    let r = thread::spawn(move || {
        let _g = m2.lock().unwrap();
        panic!("poison it");
    })
    .join();
    assert!(r.is_err());
    assert!(m.is_poisoned());
    assert_eq!(format!("{m:?}"), "Mutex { data: 1, poisoned: true, .. }");
    match m.lock() {
        Err(e) => assert_eq!(**e.get_ref(), 1),
        Ok(_) => panic!("lock of a poisoned mutex returned Ok"),
    }
    match m.try_lock() {
        Err(TryLockError::Poisoned(e)) => assert_eq!(*e.into_inner(), 1),
        _ => panic!("try_lock of a poisoned mutex did not report it"),
    }
    // Recovering: the guard is usable and poison can be cleared.
    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
    *g = 2;
    drop(g);
    m.clear_poison();
    assert!(!m.is_poisoned());
    assert_eq!(*m.lock().unwrap(), 2);

    // into_inner / get_mut report poison too.
    let m = Arc::new(Mutex::new(7));
    let m2 = m.clone();
    let _ = thread::spawn(move || {
        let _g = m2.lock().unwrap();
        panic!("poison it");
    })
    .join();
    let mut m = Arc::try_unwrap(m).unwrap();
    assert_eq!(*m.get_mut().unwrap_err().into_inner(), 7);
    assert_eq!(m.into_inner().unwrap_err().into_inner(), 7);
}

#[test]
fn a_guard_taken_while_panicking_does_not_poison() {
    struct Unwinder(Arc<Mutex<i32>>);
    impl Drop for Unwinder {
        fn drop(&mut self) {
            // Already panicking when locking: std does not poison.
            *self.0.lock().unwrap() += 1;
        }
    }
    let m = Arc::new(Mutex::new(0));
    let m2 = m.clone();
    let r = thread::spawn(move || {
        let _u = Unwinder(m2);
        panic!("unwind");
    })
    .join();
    assert!(r.is_err());
    assert!(!m.is_poisoned());
    assert_eq!(*m.lock().unwrap(), 1);
}

#[test]
fn coroutines_and_threads_count_exactly() {
    const CO: usize = 200;
    const TH: usize = 4;
    const N: usize = 500;
    let m = Arc::new(Mutex::new(0usize));
    let mut cos = Vec::new();
    for _ in 0..CO {
        let m = m.clone();
        cos.push(thread::spawn(move || {
            for i in 0..N {
                *m.lock().unwrap() += 1;
                if i % 50 == 0 {
                    thread::yield_now();
                }
            }
        }));
    }
    let mut ths = Vec::new();
    for _ in 0..TH {
        let m = m.clone();
        ths.push(std::thread::spawn(move || {
            for _ in 0..N * 10 {
                *m.lock().unwrap() += 1;
            }
        }));
    }
    for h in cos {
        h.join().unwrap();
    }
    for h in ths {
        h.join().unwrap();
    }
    assert_eq!(*m.lock().unwrap(), CO * N + TH * N * 10);
}

#[test]
fn thousand_coroutines_sleep_inside_the_lock_on_one_worker() {
    if !alone::here() {
        return;
    }
    greenstd::green::Config::new().workers(1).apply().unwrap();
    const N: usize = 1000;
    let m = Arc::new(Mutex::new(0usize));
    let inside = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let ticks = Arc::new(AtomicUsize::new(0));
    // A bystander on the same worker: it must keep running while the lock
    // is held across sleeps.
    let ticker = {
        let (stop, ticks) = (stop.clone(), ticks.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(10));
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let start = Instant::now();
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let (m, inside) = (m.clone(), inside.clone());
            thread::spawn(move || {
                let mut g = m.lock().unwrap();
                assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                thread::sleep(Duration::from_millis(2));
                *g += 1;
                inside.store(false, Ordering::SeqCst);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    ticker.join().unwrap();
    assert_eq!(*m.lock().unwrap(), N);
    // 1,000 sequential 2 ms sleeps: at least 2 s, and far from a hang.
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    // The bystander ran throughout (≈ elapsed / 10 ms ticks; demand a tenth).
    let expected = elapsed.as_millis() as usize / 10;
    assert!(
        ticks.load(Ordering::Relaxed) >= expected / 10,
        "bystander ticked {} times in {elapsed:?}",
        ticks.load(Ordering::Relaxed)
    );
}

#[test]
fn thread_waits_for_a_coroutine_holding_the_lock_across_a_sleep() {
    let m = Arc::new(Mutex::new(0));
    let (m2, held) = (m.clone(), Arc::new(AtomicBool::new(false)));
    let held2 = held.clone();
    let co = thread::spawn(move || {
        let mut g = m2.lock().unwrap();
        held2.store(true, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(100));
        *g = 1;
    });
    while !held.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    let t = std::thread::spawn({
        let m = m.clone();
        move || *m.lock().unwrap()
    });
    assert_eq!(
        t.join().unwrap(),
        1,
        "the thread got the lock before the holder released it"
    );
    assert!(start.elapsed() >= Duration::from_millis(50));
    co.join().unwrap();
}

#[test]
fn coroutine_waits_for_a_thread_holding_the_lock() {
    let m = Arc::new(Mutex::new(0));
    let held = Arc::new(AtomicBool::new(false));
    let t = {
        let (m, held) = (m.clone(), held.clone());
        std::thread::spawn(move || {
            let mut g = m.lock().unwrap();
            held.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            *g = 1;
        })
    };
    while !held.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let co = {
        let m = m.clone();
        thread::spawn(move || *m.lock().unwrap())
    };
    assert_eq!(co.join().unwrap(), 1);
    t.join().unwrap();
}

#[test]
fn send_and_sync_as_std() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Mutex<std::cell::Cell<u8>>>();
    sync::<Mutex<std::cell::Cell<u8>>>();
    sync::<greenstd::sync::MutexGuard<'static, u8>>();
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    unwind_safe::<Mutex<std::cell::Cell<u8>>>();
}
