//! `greenstd::sync::RwLock`: shared readers, exclusive writers, poisoning,
//! downgrade, writers not starved, mixed callers, cooperation.

mod alone;

use greenstd::sync::{Arc, RwLock, RwLockWriteGuard, TryLockError};
use greenstd::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[test]
fn smoke_and_std_api() {
    let l = RwLock::new(1);
    {
        let r1 = l.read().unwrap();
        let r2 = l.try_read().unwrap();
        assert_eq!(*r1 + *r2, 2);
        assert!(matches!(l.try_write(), Err(TryLockError::WouldBlock)));
        assert_eq!(format!("{l:?}"), "RwLock { data: 1, poisoned: false, .. }");
        assert_eq!(format!("{r1} {r2:?}"), "1 1");
    }
    {
        let mut w = l.write().unwrap();
        *w = 2;
        assert!(matches!(l.try_read(), Err(TryLockError::WouldBlock)));
        assert_eq!(
            format!("{l:?}"),
            "RwLock { data: <locked>, poisoned: false, .. }"
        );
        assert_eq!(format!("{w} {w:?}"), "2 2");
    }
    let mut l = l;
    *l.get_mut().unwrap() += 1;
    assert_eq!(l.into_inner().unwrap(), 3);
    assert_eq!(RwLock::from(4).into_inner().unwrap(), 4);
    assert_eq!(*RwLock::<u8>::default().read().unwrap(), 0);
    static S: RwLock<u32> = RwLock::new(9);
    assert_eq!(*S.read().unwrap(), 9);
    let unsized_: Arc<RwLock<[u8]>> = Arc::new(RwLock::new([1, 2]));
    assert_eq!(unsized_.read().unwrap().len(), 2);
}

#[test]
fn a_panicking_writer_poisons_a_panicking_reader_does_not() {
    let l = Arc::new(RwLock::new(1));
    let l2 = l.clone();
    let _ = thread::spawn(move || {
        let _r = l2.read().unwrap();
        panic!("reader panics");
    })
    .join();
    assert!(!l.is_poisoned());

    let l2 = l.clone();
    let _ = thread::spawn(move || {
        let _w = l2.write().unwrap();
        panic!("writer panics");
    })
    .join();
    assert!(l.is_poisoned());
    assert!(l.read().is_err());
    assert!(l.write().is_err());
    assert!(matches!(l.try_read(), Err(TryLockError::Poisoned(_))));
    assert!(matches!(l.try_write(), Err(TryLockError::Poisoned(_))));
    assert_eq!(format!("{l:?}"), "RwLock { data: 1, poisoned: true, .. }");
    l.clear_poison();
    assert!(!l.is_poisoned());
    assert_eq!(*l.read().unwrap(), 1);
}

#[test]
fn readers_share_writers_exclude() {
    const N: usize = 100;
    let l = Arc::new(RwLock::new(0usize));
    let readers_in = Arc::new(AtomicUsize::new(0));
    let max_readers = Arc::new(AtomicUsize::new(0));
    let writer_in = Arc::new(AtomicBool::new(false));
    let mut hs = Vec::new();
    for i in 0..N {
        let (l, rin, maxr, win) = (
            l.clone(),
            readers_in.clone(),
            max_readers.clone(),
            writer_in.clone(),
        );
        hs.push(thread::spawn(move || {
            for _ in 0..20 {
                if i % 10 == 0 {
                    let mut w = l.write().unwrap();
                    assert!(!win.swap(true, Ordering::SeqCst));
                    assert_eq!(rin.load(Ordering::SeqCst), 0);
                    *w += 1;
                    thread::yield_now();
                    win.store(false, Ordering::SeqCst);
                } else {
                    let _r = l.read().unwrap();
                    assert!(!win.load(Ordering::SeqCst));
                    let n = rin.fetch_add(1, Ordering::SeqCst) + 1;
                    maxr.fetch_max(n, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(1));
                    rin.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(*l.read().unwrap(), N / 10 * 20);
    assert!(
        max_readers.load(Ordering::SeqCst) > 1,
        "readers never overlapped"
    );
}

#[test]
fn a_waiting_writer_is_not_starved_by_new_readers() {
    let l = Arc::new(RwLock::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // Readers that keep the lock read-held, overlapping each other.
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (l, stop) = (l.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _r = l.read().unwrap();
                    thread::sleep(Duration::from_millis(2));
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    let start = Instant::now();
    *l.write().unwrap() = 1;
    let waited = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(waited < Duration::from_secs(5), "writer waited {waited:?}");
}

#[test]
fn downgrade_keeps_writers_out_and_lets_readers_in() {
    let l = Arc::new(RwLock::new(1));
    let mut w = l.write().unwrap();
    *w = 2;
    // A reader coroutine queues behind the writer.
    let l2 = l.clone();
    let reader = thread::spawn(move || *l2.read().unwrap());
    thread::sleep(Duration::from_millis(20));
    let r = RwLockWriteGuard::downgrade(w);
    assert_eq!(*r, 2);
    assert_eq!(
        reader.join().unwrap(),
        2,
        "a queued reader got in after downgrade"
    );
    assert!(l.try_write().is_err());
    drop(r);
    assert!(l.try_write().is_ok());
}

#[test]
fn thread_writer_waits_for_coroutine_reader_across_a_sleep() {
    let l = Arc::new(RwLock::new(0));
    let held = Arc::new(AtomicBool::new(false));
    let co = {
        let (l, held) = (l.clone(), held.clone());
        thread::spawn(move || {
            let _r = l.read().unwrap();
            held.store(true, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(80));
        })
    };
    while !held.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    let t = {
        let l = l.clone();
        std::thread::spawn(move || *l.write().unwrap() = 1)
    };
    t.join().unwrap();
    assert!(start.elapsed() >= Duration::from_millis(40));
    co.join().unwrap();
    assert_eq!(*l.read().unwrap(), 1);
}

#[test]
fn writers_sleeping_inside_the_lock_on_one_worker() {
    if !alone::here() {
        return;
    }
    greenstd::green::Config::new().workers(1).apply().unwrap();
    let l = Arc::new(RwLock::new(0usize));
    let hs: Vec<_> = (0..200)
        .map(|i| {
            let l = l.clone();
            thread::spawn(move || {
                if i % 2 == 0 {
                    let mut w = l.write().unwrap();
                    thread::sleep(Duration::from_millis(1));
                    *w += 1;
                } else {
                    let r = l.read().unwrap();
                    thread::sleep(Duration::from_millis(1));
                    drop(r);
                }
            })
        })
        .collect();
    let start = Instant::now();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(*l.read().unwrap(), 100);
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn send_and_sync_as_std() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<RwLock<std::cell::Cell<u8>>>();
    sync::<RwLock<Vec<u8>>>();
    sync::<greenstd::sync::RwLockReadGuard<'static, u8>>();
    sync::<greenstd::sync::RwLockWriteGuard<'static, u8>>();
}

#[test]
fn stress_threads_and_coroutines() {
    let l = Arc::new(RwLock::new(0usize));
    let mut cos = Vec::new();
    for i in 0..50 {
        let l = l.clone();
        cos.push(thread::spawn(move || {
            for j in 0..400 {
                if (i + j) % 4 == 0 {
                    *l.write().unwrap() += 1;
                } else {
                    let _ = *l.read().unwrap();
                }
                if j % 64 == 0 {
                    thread::yield_now();
                }
            }
        }));
    }
    let ths: Vec<_> = (0..4)
        .map(|i| {
            let l = l.clone();
            std::thread::spawn(move || {
                for j in 0..4000 {
                    if (i + j) % 4 == 0 {
                        let w = l.write().unwrap();
                        let w = RwLockWriteGuard::downgrade(w);
                        drop(w);
                    } else {
                        let _ = *l.read().unwrap();
                    }
                }
            })
        })
        .collect();
    for h in cos {
        h.join().unwrap();
    }
    for h in ths {
        h.join().unwrap();
    }
    assert_eq!(*l.read().unwrap(), 50 * 100);
}

/// std's `test_read_guard_covariance`: a read guard is covariant in `T`
/// (compiles only then).
#[test]
fn read_guard_is_covariant_as_std() {
    fn do_stuff<'a>(_: greenstd::sync::RwLockReadGuard<'_, &'a i32>, _: &'a i32) {}
    let j: i32 = 5;
    let lock = RwLock::new(&j);
    {
        let i = 6;
        do_stuff(lock.read().unwrap(), &i);
    }
    assert_eq!(**lock.read().unwrap(), 5);
}
