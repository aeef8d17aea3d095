//! `greenstd::green::JoinHandleExt::{link, link_result}`: completion
//! callbacks (gevent's `Greenlet.link`/`rawlink`, test__greenlet's link
//! cases): run once, after the result is stored, started in registration
//! order, each on a coroutine of its own (a blocking one holds up nothing
//! else), at once when linked after completion; an `AsyncResult` as the
//! target gets the value or the failure.

use greenstd::green::{self, AsyncResult, Cancelled, Event, JoinHandleExt};
use greenstd::thread;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn callbacks_run_once_in_order_after_the_result_is_set() {
    green::Config::new().workers(1).apply().unwrap();
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let h = thread::spawn(move || {
        g.wait();
        7
    });
    let order = Arc::new(Mutex::new(Vec::new()));
    let all = Arc::new(AsyncResult::<()>::new());
    let runs = Arc::new(AtomicUsize::new(0));
    for i in 0..5 {
        let (order, all, runs) = (order.clone(), all.clone(), runs.clone());
        h.link(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            let mut o = order.lock().unwrap();
            o.push(i);
            if o.len() == 5 {
                all.set(()).unwrap();
            }
        });
    }
    thread::sleep(Duration::from_millis(20));
    assert_eq!(runs.load(Ordering::SeqCst), 0, "not before the thread ends");
    gate.set();
    all.get_timeout(Duration::from_secs(20)).unwrap().unwrap();
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    // The result was stored before the callbacks ran: join returns at once.
    assert_eq!(h.join_timeout(Duration::ZERO).unwrap().unwrap(), 7);
    thread::sleep(Duration::from_millis(20));
    assert_eq!(runs.load(Ordering::SeqCst), 5, "each once");
}

#[test]
fn a_blocking_callback_blocks_nothing_else_and_late_links_run_at_once() {
    green::Config::new().workers(1).apply().unwrap();
    let h = thread::spawn(|| ());
    let never = Arc::new(Event::new());
    let (first, second) = (Arc::new(Event::new()), Arc::new(Event::new()));
    {
        let (never, first) = (never.clone(), first.clone());
        h.link(move || {
            first.set();
            never.wait(); // blocks its own coroutine only
        });
    }
    let s = second.clone();
    h.link(move || s.set());
    assert!(first.wait_timeout(Duration::from_secs(20)));
    assert!(second.wait_timeout(Duration::from_secs(20)));
    // Linked after the end (from a plain thread): runs at once.
    let late = Arc::new(Event::new());
    let l = late.clone();
    std::thread::spawn({
        let h = h;
        move || {
            thread::sleep(Duration::from_millis(10));
            h.link(move || l.set());
            h.join().unwrap();
        }
    })
    .join()
    .unwrap();
    assert!(late.wait_timeout(Duration::from_secs(20)));
    never.set();
}

#[test]
fn link_result_fills_an_async_result_with_the_value_or_the_failure() {
    let value: Arc<AsyncResult<String>> = Arc::new(AsyncResult::new());
    thread::spawn(|| "page".to_string()).link_result(value.clone());
    let readers: Vec<_> = (0..10)
        .map(|_| {
            let v = value.clone();
            thread::spawn(move || v.get().ok().cloned())
        })
        .collect();
    for r in readers {
        assert_eq!(r.join().unwrap().as_deref(), Some("page"));
    }
    // A panic arrives as its payload.
    let failed: Arc<AsyncResult<u8>> = Arc::new(AsyncResult::new());
    thread::spawn(|| -> u8 { panic!("bad page") }).link_result(failed.clone());
    assert_eq!(failed.get().unwrap_err().message(), Some("bad page"));
    // A cancelled thread: its Cancelled payload.
    let cancelled: Arc<AsyncResult<()>> = Arc::new(AsyncResult::new());
    let h = thread::spawn(|| thread::sleep(Duration::from_secs(3600)));
    h.cancel();
    h.link_result(cancelled.clone());
    assert!(cancelled.get().is_err());
    // The callback's coroutine lets go of its share as it ends.
    let mut cancelled = cancelled;
    let mut err = loop {
        match Arc::try_unwrap(cancelled) {
            Ok(c) => break c.into_inner().unwrap().unwrap_err(),
            Err(c) => cancelled = c,
        }
        thread::sleep(Duration::from_millis(1));
    };
    assert!(err.payload_mut().is::<Cancelled>());
    // Linked after the end, from a coroutine.
    let late: Arc<AsyncResult<u8>> = Arc::new(AsyncResult::new());
    let l = late.clone();
    thread::spawn(move || {
        let h = thread::spawn(|| 3);
        thread::sleep(Duration::from_millis(10));
        h.link_result(l);
    })
    .join()
    .unwrap();
    assert_eq!(late.get().ok(), Some(&3));
}
