//! `greenstd::green::{wait_n, wait_all, iwait}`: waiting for N of many,
//! or all, and iterating as they become ready — over join handles,
//! events, async results and queues mixed — from coroutines (one worker
//! too) and plain threads, without polling. Ports gevent's test__iwait
//! and the `count=`/`timeout=` cases of test__joinall.

use greenstd::green::queue::Queue;
use greenstd::green::{self, AsyncResult, Event, JoinHandleExt, Waitable};
use greenstd::thread;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sleepers(ms: &[u64]) -> Vec<thread::JoinHandle<u64>> {
    ms.iter()
        .map(|&ms| {
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(ms));
                ms
            })
        })
        .collect()
}

/// test__iwait: items come out in the order they finish, each once.
#[test]
fn iwait_yields_each_item_as_it_becomes_ready() {
    green::Config::new().workers(1).apply().unwrap();
    // From a coroutine on one worker: its waits must park it, or the
    // sleepers (on the same worker) could never finish.
    let from_coroutine = thread::spawn(|| {
        let handles = sleepers(&[400, 0, 200]);
        green::iwait(&handles).collect::<Vec<_>>()
    });
    assert_eq!(
        from_coroutine
            .join_timeout(Duration::from_secs(30))
            .unwrap()
            .unwrap(),
        [1, 2, 0]
    );
    // From a plain thread.
    let handles = sleepers(&[300, 0, 150]);
    let mut it = green::iwait(&handles);
    assert_eq!(it.next(), Some(1));
    assert_eq!(it.next(), Some(2));
    assert_eq!(it.next(), Some(0));
    assert_eq!(it.next(), None);
    drop(it);
    for h in handles {
        h.join().unwrap();
    }
    // Empty: nothing to wait for.
    assert_eq!(green::iwait::<Event>(&[]).next(), None);
}

/// gevent.wait(objects, count=n, timeout): N of many kinds, fewer on
/// timeout, and iwait_timeout ending the iteration at the deadline.
#[test]
fn wait_n_and_wait_all_over_mixed_waitables() {
    let event = Arc::new(Event::new());
    let result: Arc<AsyncResult<u32>> = Arc::new(AsyncResult::new());
    let queue: Arc<Queue<u32>> = Arc::new(Queue::new());
    let handle = thread::spawn(|| thread::sleep(Duration::from_secs(3600)));
    let items: [&dyn Waitable; 4] = [&*event, &*result, &*queue, &handle];
    assert!(items.iter().all(|w| !w.is_ready()));
    assert_eq!(
        green::wait_n_timeout(&items, 1, Duration::from_millis(10)),
        []
    );
    {
        let (e, r, q) = (event.clone(), result.clone(), queue.clone());
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            q.put(1).unwrap();
            thread::sleep(Duration::from_millis(150));
            r.set(2).unwrap();
            thread::sleep(Duration::from_millis(150));
            e.set();
        });
    }
    let t = Instant::now();
    assert_eq!(green::wait_n(&items, 2), [2, 1]);
    assert!(t.elapsed() >= Duration::from_millis(100));
    // Not all: the handle never finishes in time.
    event.wait();
    let ready = green::wait_n_timeout(&items, 4, Duration::from_millis(50));
    assert_eq!(ready.len(), 3, "{ready:?}");
    assert!(!green::wait_all_timeout(&items, Duration::from_millis(10)));
    let got: Vec<usize> = green::iwait_timeout(&items, Duration::from_millis(10)).collect();
    assert_eq!(
        got,
        [0, 1, 2],
        "ready ones first, then the end at the deadline"
    );
    handle.cancel();
    assert!(green::wait_all_timeout(&items, Duration::from_secs(20)));
    green::wait_all(&items);
    // A queue is ready while a get would not block: emptied, it is not;
    // closed, it is.
    assert_eq!(queue.get(), Some(1));
    assert!(!queue.is_ready());
    queue.close();
    assert!(queue.is_ready());
    assert!(handle.join().is_err());
}

/// Many coroutines each waiting for all of a set, woken together.
#[test]
fn many_coroutines_wait_all_on_the_same_events() {
    green::Config::new().workers(2).apply().unwrap();
    let events: Arc<Vec<Event>> = Arc::new((0..5).map(|_| Event::new()).collect());
    let waiters: Vec<_> = (0..200)
        .map(|_| {
            let ev = events.clone();
            thread::spawn(move || green::wait_all_timeout(&ev[..], Duration::from_secs(30)))
        })
        .collect();
    let plain = {
        let ev = events.clone();
        std::thread::spawn(move || green::wait_n(&ev[..], 5).len())
    };
    thread::sleep(Duration::from_millis(30));
    for e in events.iter().rev() {
        e.set();
    }
    for w in waiters {
        assert!(w.join().unwrap());
    }
    assert_eq!(plain.join().unwrap(), 5);
}
