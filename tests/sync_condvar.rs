//! `greenstd::sync::Condvar`: notify_one/notify_all, timeouts, spurious
//! wakeup tolerance, several mutexes over its life, and mixed callers.

mod alone;

use greenstd::sync::{Arc, Condvar, Mutex};
use greenstd::thread;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[test]
fn notify_one_wakes_a_coroutine() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p2 = pair.clone();
    let h = thread::spawn(move || {
        let (m, c) = &*p2;
        let mut g = m.lock().unwrap();
        while !*g {
            g = c.wait(g).unwrap();
        }
    });
    thread::sleep(Duration::from_millis(20));
    {
        let (m, c) = &*pair;
        *m.lock().unwrap() = true;
        c.notify_one();
    }
    h.join().unwrap();
}

#[test]
fn notify_all_wakes_every_waiter() {
    const N: usize = 100;
    let pair = Arc::new((Mutex::new(0usize), Condvar::new()));
    let go = Arc::new(Mutex::new(false));
    let mut hs = Vec::new();
    for _ in 0..N {
        let (pair, go) = (pair.clone(), go.clone());
        hs.push(thread::spawn(move || {
            let (m, c) = &*pair;
            let mut g = m.lock().unwrap();
            *g += 1;
            c.notify_all();
            while !*go.lock().unwrap() {
                g = c.wait(g).unwrap();
            }
        }));
    }
    let (m, c) = &*pair;
    let g = c.wait_while(m.lock().unwrap(), |n| *n < N).unwrap();
    *go.lock().unwrap() = true;
    c.notify_all();
    drop(g);
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn wait_timeout_times_out_within_bounds() {
    let m = Mutex::new(());
    let c = Condvar::new();
    for dur in [Duration::from_millis(1), Duration::from_millis(50)] {
        let start = Instant::now();
        let (_g, r) = c.wait_timeout(m.lock().unwrap(), dur).unwrap();
        let took = start.elapsed();
        // Spurious wakeups are allowed; a report of timeout must be true.
        if r.timed_out() {
            assert!(took >= dur, "{took:?} < {dur:?}");
        }
        assert!(took < dur + Duration::from_secs(2), "{took:?}");
    }
    // Same from a coroutine (deadline kept by the hub).
    thread::spawn(|| {
        let m = Mutex::new(());
        let c = Condvar::new();
        let start = Instant::now();
        let (_g, r) = c
            .wait_timeout_while(m.lock().unwrap(), Duration::from_millis(50), |_| true)
            .unwrap();
        assert!(r.timed_out());
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(50), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    })
    .join()
    .unwrap();
}

#[test]
#[allow(deprecated)]
fn wait_timeout_ms_and_huge_timeouts() {
    let m = Mutex::new(());
    let c = Condvar::new();
    let (_g, timed_out) = c.wait_timeout_ms(m.lock().unwrap(), 5).unwrap();
    assert!(timed_out);
    // A timeout too large for `Instant` does not panic (std: waits forever).
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p2 = pair.clone();
    let h = thread::spawn(move || {
        let (m, c) = &*p2;
        let (g, r) = c
            .wait_timeout_while(m.lock().unwrap(), Duration::MAX, |done| !*done)
            .unwrap();
        assert!(*g && !r.timed_out());
    });
    thread::sleep(Duration::from_millis(20));
    *pair.0.lock().unwrap() = true;
    pair.1.notify_all();
    h.join().unwrap();
}

#[test]
fn wait_timeout_while_returns_when_the_condition_clears() {
    let pair = Arc::new((Mutex::new(0), Condvar::new()));
    let p2 = pair.clone();
    let h = thread::spawn(move || {
        for _ in 0..5 {
            thread::sleep(Duration::from_millis(5));
            *p2.0.lock().unwrap() += 1;
            p2.1.notify_one(); // wakes the waiter while the condition still holds
        }
    });
    let (m, c) = &*pair;
    let (g, r) = c
        .wait_timeout_while(m.lock().unwrap(), Duration::from_secs(30), |n| *n < 5)
        .unwrap();
    assert_eq!(*g, 5);
    assert!(!r.timed_out());
    drop(g);
    h.join().unwrap();
}

#[test]
fn notify_one_reaches_a_waiter_that_is_still_waiting() {
    // One waiter times out quickly, the other waits long; a notify issued
    // after the first has timed out must wake the second, not vanish.
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let woken = Arc::new(AtomicUsize::new(0));
    let short = {
        let (pair, _w) = (pair.clone(), woken.clone());
        thread::spawn(move || {
            let (m, c) = &*pair;
            let (_g, r) = c
                .wait_timeout(m.lock().unwrap(), Duration::from_millis(10))
                .unwrap();
            r.timed_out()
        })
    };
    let long = {
        let (pair, w) = (pair.clone(), woken.clone());
        thread::spawn(move || {
            let (m, c) = &*pair;
            let (g, r) = c
                .wait_timeout_while(m.lock().unwrap(), Duration::from_secs(30), |f| !*f)
                .unwrap();
            assert!(*g);
            w.fetch_add(1, Ordering::SeqCst);
            r.timed_out()
        })
    };
    let _ = short.join().unwrap();
    thread::sleep(Duration::from_millis(20));
    *pair.0.lock().unwrap() = true;
    pair.1.notify_one();
    let start = Instant::now();
    assert!(!long.join().unwrap(), "the long waiter timed out");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(woken.load(Ordering::SeqCst), 1);
}

#[test]
fn one_condvar_with_two_mutexes() {
    // std may panic here; ours must not.
    let c = Arc::new(Condvar::new());
    let m1 = Arc::new(Mutex::new(false));
    let m2 = Arc::new(Mutex::new(false));
    let (c2, m1b, m2b) = (c.clone(), m1.clone(), m2.clone());
    let h1 = thread::spawn(move || {
        let _g = c2.wait_while(m1b.lock().unwrap(), |f| !*f).unwrap();
    });
    let c3 = c.clone();
    let h2 = thread::spawn(move || {
        let _g = c3.wait_while(m2b.lock().unwrap(), |f| !*f).unwrap();
    });
    thread::sleep(Duration::from_millis(20));
    *m1.lock().unwrap() = true;
    *m2.lock().unwrap() = true;
    c.notify_all();
    h1.join().unwrap();
    h2.join().unwrap();
    // And then with a third, sequentially.
    let m3 = Mutex::new(());
    let (_g, r) = c
        .wait_timeout(m3.lock().unwrap(), Duration::from_millis(1))
        .unwrap();
    assert!(r.timed_out());
}

#[test]
fn main_thread_waits_on_a_condvar_a_coroutine_notifies() {
    let pair = Arc::new((Mutex::new(None), Condvar::new()));
    let p2 = pair.clone();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        *p2.0.lock().unwrap() = Some(42);
        p2.1.notify_one();
    });
    let (m, c) = &*pair;
    let g = c.wait_while(m.lock().unwrap(), |v| v.is_none()).unwrap();
    assert_eq!(*g, Some(42));
    drop(g);
    h.join().unwrap();
}

#[test]
fn coroutine_waits_on_a_condvar_a_thread_notifies() {
    let pair = Arc::new((Mutex::new(0), Condvar::new()));
    let p2 = pair.clone();
    let co = thread::spawn(move || {
        let (m, c) = &*p2;
        *c.wait_while(m.lock().unwrap(), |v| *v == 0).unwrap()
    });
    let p3 = pair.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        *p3.0.lock().unwrap() = 7;
        p3.1.notify_all();
    });
    assert_eq!(co.join().unwrap(), 7);
    t.join().unwrap();
}

#[test]
fn wait_reports_poison_and_keeps_the_guard() {
    let pair = Arc::new((Mutex::new(0), Condvar::new()));
    let p2 = pair.clone();
    let waiter = thread::spawn(move || {
        let (m, c) = &*p2;
        let g = m.lock().unwrap();
        match c.wait(g) {
            Err(e) => *e.into_inner(),
            Ok(_) => -1,
        }
    });
    thread::sleep(Duration::from_millis(20));
    let p3 = pair.clone();
    let _ = thread::spawn(move || {
        let mut g = p3.0.lock().unwrap();
        *g = 5;
        p3.1.notify_one();
        panic!("poison the mutex");
    })
    .join();
    assert_eq!(waiter.join().unwrap(), 5);
}

#[test]
fn ping_pong_on_one_worker() {
    if !alone::here() {
        return;
    }
    greenstd::green::Config::new().workers(1).apply().unwrap();
    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let hs: Vec<_> = (0..2u32)
        .map(|me| {
            let pair = pair.clone();
            thread::spawn(move || {
                let (m, c) = &*pair;
                for _ in 0..1000 {
                    let mut g = c.wait_while(m.lock().unwrap(), |t| *t % 2 != me).unwrap();
                    *g += 1;
                    c.notify_all();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(*pair.0.lock().unwrap(), 2000);
}
