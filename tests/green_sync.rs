//! `greenstd::green`'s Event, AsyncResult, Semaphore, wait_any,
//! join_timeout and spawn_after: from coroutines and plain threads, on
//! two workers, without blocking a worker.

use greenstd::green::{
    self, wait_any, wait_any_timeout, AsyncResult, Event, JoinHandleExt, Semaphore, Waitable,
};
use greenstd::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn two_workers() {
    green::Config::new().workers(2).apply().unwrap();
}

fn os_threads() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// A coroutine that sleeps 1 ms in a loop until stopped: returns how many
/// ticks it made. Proof that the workers stay free.
fn ticker(stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(1));
            n += 1;
        }
        n
    })
}

#[test]
fn event_wakes_a_thousand_waiting_coroutines_without_blocking_workers() {
    two_workers();
    let before = os_threads();
    let ev = Arc::new(Event::new());
    let woken = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..1000)
        .map(|_| {
            let (ev, woken) = (ev.clone(), woken.clone());
            thread::spawn(move || {
                ev.wait();
                woken.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let t = ticker(stop.clone());
    thread::sleep(Duration::from_millis(200));
    assert_eq!(woken.load(Ordering::SeqCst), 0);
    stop.store(true, Ordering::SeqCst);
    let ticks = t.join().unwrap();
    // 200 ms of 1 ms sleeps: well above 10 unless a worker is blocked.
    assert!(ticks > 10, "ticker made {ticks} ticks");
    assert!(
        os_threads() <= before + 8,
        "{} OS threads for 1000 waiters (was {before})",
        os_threads()
    );
    ev.set();
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(woken.load(Ordering::SeqCst), 1000);
}

#[test]
fn event_set_then_clear_still_wakes_those_waiting() {
    let ev = Arc::new(Event::new());
    let waiters: Vec<_> = (0..50)
        .map(|_| {
            let ev = ev.clone();
            thread::spawn(move || ev.wait_timeout(Duration::from_secs(20)))
        })
        .collect();
    thread::sleep(Duration::from_millis(50));
    ev.set();
    ev.clear();
    for w in waiters {
        assert!(
            w.join().unwrap(),
            "a waiter missed a set() followed by clear()"
        );
    }
    assert!(!ev.is_set());
    assert!(!ev.wait_timeout(Duration::from_millis(5)));
}

#[test]
fn event_across_plain_threads_and_coroutines() {
    let ev = Arc::new(Event::new());
    let e2 = ev.clone();
    let plain = std::thread::spawn(move || e2.wait_timeout(Duration::from_secs(20)));
    let e3 = ev.clone();
    let co = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        e3.set();
    });
    assert!(plain.join().unwrap());
    co.join().unwrap();
    // A coroutine waiting, set from a plain thread.
    let ev = Arc::new(Event::new());
    let e2 = ev.clone();
    let co = thread::spawn(move || e2.wait_timeout(Duration::from_secs(20)));
    let e3 = ev.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        e3.set()
    })
    .join()
    .unwrap();
    assert!(co.join().unwrap());
}

#[test]
fn event_wait_timeout_is_on_time() {
    let ev = Event::new();
    let h = thread::spawn(move || {
        let t = Instant::now();
        let set = ev.wait_timeout(Duration::from_millis(50));
        (set, t.elapsed())
    });
    let (set, e) = h.join().unwrap();
    assert!(!set);
    assert!(e >= Duration::from_millis(50), "{e:?}");
    assert!(e < Duration::from_secs(2), "{e:?}");
}

#[test]
fn async_result_reaches_every_getter_past_and_future() {
    two_workers();
    let r: Arc<AsyncResult<String>> = Arc::new(AsyncResult::new());
    let getters: Vec<_> = (0..100)
        .map(|_| {
            let r = r.clone();
            thread::spawn(move || r.get().ok().cloned())
        })
        .collect();
    let plain = {
        let r = r.clone();
        std::thread::spawn(move || r.get().ok().cloned())
    };
    thread::sleep(Duration::from_millis(20));
    assert!(!r.is_ready());
    r.set("value".to_string()).unwrap();
    assert_eq!(r.set("second".to_string()), Err("second".to_string()));
    for g in getters {
        assert_eq!(g.join().unwrap().as_deref(), Some("value"));
    }
    assert_eq!(plain.join().unwrap().as_deref(), Some("value"));
    assert_eq!(r.get().ok().map(String::as_str), Some("value"));
    assert!(r.is_successful());
}

#[test]
fn async_result_errors_and_panics() {
    let r: AsyncResult<u8, std::io::Error> = AsyncResult::new();
    r.set_error(std::io::Error::other("refused")).unwrap();
    assert_eq!(r.get().unwrap_err().to_string(), "refused");
    assert!(r.is_ready() && !r.is_successful());

    let r: Arc<AsyncResult<u8>> = Arc::new(AsyncResult::new());
    let r2 = r.clone();
    let worker = thread::spawn(move || {
        let outcome = std::panic::catch_unwind(|| -> u8 { panic!("worker failed") });
        match outcome {
            Ok(v) => r2.set(v).unwrap(),
            Err(p) => r2.set_panic(p).unwrap(),
        }
    });
    let got = r.get_timeout(Duration::from_secs(20)).expect("filled");
    assert_eq!(got.unwrap_err().message(), Some("worker failed"));
    worker.join().unwrap();
    let payload = Arc::into_inner(r)
        .unwrap()
        .into_inner()
        .unwrap()
        .unwrap_err()
        .into_payload();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"worker failed"));
}

#[test]
fn async_result_get_timeout_times_out() {
    let r: AsyncResult<u8> = AsyncResult::new();
    let t = Instant::now();
    assert!(r.get_timeout(Duration::from_millis(30)).is_none());
    assert!(t.elapsed() >= Duration::from_millis(30));
    assert!(r.try_get().is_none());
}

#[test]
fn semaphore_admits_at_most_n() {
    two_workers();
    let sem = Arc::new(Semaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..300u32)
        .map(|i| {
            let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
            thread::spawn(move || {
                let _p = sem.acquire();
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                if i.is_multiple_of(3) {
                    thread::sleep(Duration::from_millis(1));
                } else {
                    thread::yield_now();
                }
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(most.load(Ordering::SeqCst), 3);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn semaphore_timeouts_try_and_add_permits() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    assert!(sem.try_acquire().is_none());
    let s2 = sem.clone();
    let waiter = thread::spawn(move || {
        let t = Instant::now();
        let got = s2.acquire_timeout(Duration::from_millis(30)).is_some();
        (got, t.elapsed())
    });
    let (got, e) = waiter.join().unwrap();
    assert!(!got);
    assert!(e >= Duration::from_millis(30));
    // A blocked coroutine gets the permit once it is dropped.
    let s2 = sem.clone();
    let waiter = thread::spawn(move || s2.acquire_timeout(Duration::from_secs(20)).is_some());
    thread::sleep(Duration::from_millis(20));
    drop(held);
    assert!(waiter.join().unwrap());
    // add_permits wakes as many waiters.
    let sem = Arc::new(Semaphore::new(0));
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let s = sem.clone();
            thread::spawn(move || {
                s.acquire_timeout(Duration::from_secs(20))
                    .map(|p| p.forget())
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    sem.add_permits(5);
    for w in waiters {
        assert!(w.join().unwrap().is_some());
    }
    assert_eq!(sem.available_permits(), 0);
    // Owned permits move into other threads.
    let sem = Arc::new(Semaphore::new(1));
    let p = sem.clone().acquire_owned();
    let plain = std::thread::spawn(move || drop(p));
    plain.join().unwrap();
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn wait_any_returns_the_first_thread_to_finish() {
    two_workers();
    // Each thread finishes when its event is set; they are released in an
    // order of the test's choosing, and wait_any must follow it.
    let events: Vec<Arc<Event>> = (0..4).map(|_| Arc::new(Event::new())).collect();
    let mut hs: Vec<_> = (0..4usize)
        .map(|i| {
            let ev = events[i].clone();
            thread::spawn(move || {
                ev.wait();
                i
            })
        })
        .collect();
    let mut order = Vec::new();
    for k in [2, 0, 3, 1] {
        thread::sleep(Duration::from_millis(20));
        assert_eq!(wait_any_timeout(&hs, Duration::from_millis(5)), None);
        events[k].set();
        let i = wait_any(&hs).unwrap();
        assert!(hs[i].is_ready());
        order.push(hs.remove(i).join().unwrap());
    }
    assert_eq!(order, [2, 0, 3, 1]);
    let none: [thread::JoinHandle<()>; 0] = [];
    assert_eq!(wait_any(&none), None);
}

#[test]
fn wait_any_mixes_kinds_and_works_on_plain_threads() {
    let ev = Arc::new(Event::new());
    let res: Arc<AsyncResult<u8>> = Arc::new(AsyncResult::new());
    let slow = thread::spawn(|| thread::sleep(Duration::from_secs(3)));
    let r2 = res.clone();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        r2.set(1).unwrap();
    });
    let items: [&dyn Waitable; 3] = [&slow, &*ev, &*res];
    // From this plain thread.
    assert_eq!(wait_any(&items), Some(2));
    assert_eq!(
        wait_any_timeout(&[&slow as &dyn Waitable, &*ev], Duration::from_millis(20)),
        None
    );
    // From a coroutine.
    let ev2 = ev.clone();
    let co = thread::spawn(move || {
        let e: &Event = &ev2;
        wait_any_timeout(&[e], Duration::from_secs(20))
    });
    thread::sleep(Duration::from_millis(20));
    ev.set();
    assert_eq!(co.join().unwrap(), Some(0));
    drop(slow);
}

#[test]
fn join_timeout_gives_the_handle_back_then_the_result() {
    let h = thread::spawn(|| {
        thread::sleep(Duration::from_millis(100));
        "done"
    });
    let t = Instant::now();
    let h = h.join_timeout(Duration::from_millis(10)).unwrap_err();
    assert!(t.elapsed() < Duration::from_millis(90));
    assert_eq!(
        h.join_timeout(Duration::from_secs(20)).unwrap().unwrap(),
        "done"
    );
    let h = thread::spawn(|| panic!("inside"));
    let r = h.join_timeout(Duration::from_secs(20)).unwrap();
    assert!(r.is_err());
    // Scoped handles too, from a coroutine.
    let outer = thread::spawn(|| {
        let x = 5;
        thread::scope(|s| {
            let h = s.spawn(|| x * 2);
            h.join_timeout(Duration::from_secs(20)).unwrap().unwrap()
        })
    });
    assert_eq!(outer.join().unwrap(), 10);
}

#[test]
fn spawn_after_runs_later_and_sleeps_cooperatively() {
    two_workers();
    let start = Instant::now();
    let hs: Vec<_> = (0..500)
        .map(|_| green::spawn_after(Duration::from_millis(100), move || start.elapsed()))
        .collect();
    for h in hs {
        let e = h.join().unwrap();
        assert!(e >= Duration::from_millis(100), "{e:?}");
    }
    // 500 delayed starts on 2 workers overlap: nothing like 500 × 100 ms.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// A future that is ready once `flag` is set, registering its waker in
/// `wakers` until then (the shape of any channel or timer future).
fn flag_future(
    flag: Arc<AtomicBool>,
    wakers: Arc<std::sync::Mutex<Vec<std::task::Waker>>>,
) -> impl std::future::Future<Output = ()> {
    std::future::poll_fn(move |cx| {
        if flag.load(Ordering::SeqCst) {
            return std::task::Poll::Ready(());
        }
        wakers.lock().unwrap().push(cx.waker().clone());
        // Set between the check and the push: look again.
        if flag.load(Ordering::SeqCst) {
            return std::task::Poll::Ready(());
        }
        std::task::Poll::Pending
    })
}

#[test]
fn block_on_parks_500_coroutines_on_one_worker_until_their_wakers_fire() {
    green::Config::new().workers(1).apply().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let wakers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let tick = ticker(stop.clone());
    let threads_before = os_threads();
    let t = Instant::now();
    let handles: Vec<_> = (0..500)
        .map(|i| {
            let (f, w) = (flag.clone(), wakers.clone());
            thread::spawn(move || {
                green::block_on(async move {
                    flag_future(f, w).await;
                    i
                })
            })
        })
        .collect();
    // Every coroutine is parked in block_on while the one worker ticks.
    while wakers.lock().unwrap().len() < 500 {
        std::thread::sleep(Duration::from_millis(1));
        assert!(t.elapsed() < Duration::from_secs(30), "not all polled");
    }
    std::thread::sleep(Duration::from_millis(100));
    // Woken from a plain OS thread.
    flag.store(true, Ordering::SeqCst);
    for w in wakers.lock().unwrap().drain(..) {
        w.wake();
    }
    let sum: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, (0..500).sum());
    stop.store(true, Ordering::SeqCst);
    let ticks = tick.join().unwrap();
    assert!(ticks >= 10, "the worker was blocked: {ticks} ticks");
    assert!(
        os_threads() <= threads_before + 2,
        "{threads_before} -> {}",
        os_threads()
    );
    // On a plain OS thread it parks the thread, as futures' block_on.
    let (f, w) = (Arc::new(AtomicBool::new(false)), wakers.clone());
    let f2 = f.clone();
    let waker_thread = std::thread::spawn(move || {
        while w.lock().unwrap().is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
        f2.store(true, Ordering::SeqCst);
        w.lock().unwrap().drain(..).for_each(|w| w.wake());
    });
    green::block_on(flag_future(f, wakers));
    waker_thread.join().unwrap();
    // A future that is ready at once, and one that wakes itself.
    assert_eq!(green::block_on(async { 7 }), 7);
    let mut first = true;
    green::block_on(std::future::poll_fn(|cx| {
        if std::mem::take(&mut first) {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    }));
}
