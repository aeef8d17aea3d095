//! `greenstd::green::queue`: order, bounds, timeouts, close waking every
//! waiter, capacity 0, JoinableQueue; coroutines and plain threads mixed,
//! on two workers, without blocking a worker.

mod alone;

use greenstd::green::queue::{
    GetTimeoutError, JoinableQueue, LifoQueue, PriorityQueue, PutTimeoutError, Queue, TryGetError,
    TryPutError,
};
use greenstd::green::{self, JoinHandleExt};
use greenstd::thread;
use std::cmp::Reverse;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn two_workers() {
    green::Config::new().workers(2).apply().unwrap();
}

#[test]
fn each_queue_gives_items_in_its_order() {
    let q = Queue::new();
    let l = LifoQueue::new();
    let p = PriorityQueue::new();
    for i in [3, 1, 4, 1, 5, 9, 2, 6] {
        q.put(i).unwrap();
        l.put(i).unwrap();
        p.put(i).unwrap();
    }
    let drain = |f: &dyn Fn() -> Result<i32, TryGetError>| {
        std::iter::from_fn(|| f().ok()).collect::<Vec<_>>()
    };
    assert_eq!(drain(&|| q.try_get()), [3, 1, 4, 1, 5, 9, 2, 6]);
    assert_eq!(drain(&|| l.try_get()), [6, 2, 9, 5, 1, 4, 1, 3]);
    assert_eq!(drain(&|| p.try_get()), [9, 6, 5, 4, 3, 2, 1, 1]);
    // gevent's order for a PriorityQueue: smallest first, with Reverse.
    let p = PriorityQueue::new();
    for i in [3, 1, 2] {
        p.put(Reverse(i)).unwrap();
    }
    assert_eq!(p.get(), Some(Reverse(1)));
}

#[test]
fn bounded_producers_block_cooperatively_and_nothing_is_lost() {
    two_workers();
    let q = Arc::new(Queue::bounded(4));
    let most = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..50)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                for i in 0..100 {
                    q.put(p * 1000 + i).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..10)
        .map(|_| {
            let (q, most) = (q.clone(), most.clone());
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(v) = q.get() {
                    most.fetch_max(q.len(), Ordering::SeqCst);
                    got.push(v);
                    if got.len().is_multiple_of(7) {
                        thread::sleep(Duration::from_millis(1));
                    }
                }
                got
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.close();
    let mut all: Vec<usize> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    all.sort_unstable();
    let want: Vec<usize> = (0..50)
        .flat_map(|p| (0..100).map(move |i| p * 1000 + i))
        .collect();
    assert_eq!(all, want);
    assert!(most.load(Ordering::SeqCst) <= 4);
}

#[test]
fn per_producer_order_is_kept() {
    let q = Arc::new(Queue::bounded(3));
    let q2 = q.clone();
    let producer = thread::spawn(move || {
        for i in 0..500 {
            q2.put(i).unwrap();
        }
        q2.close();
    });
    let got: Vec<i32> = q.iter().collect();
    assert_eq!(got, (0..500).collect::<Vec<_>>());
    producer.join().unwrap();
}

#[test]
fn close_wakes_every_blocked_getter_and_putter() {
    two_workers();
    let empty: Arc<Queue<u32>> = Arc::new(Queue::new());
    let full = Arc::new(Queue::bounded(1));
    full.put(0).unwrap();
    let getters: Vec<_> = (0..200)
        .map(|_| {
            let q = empty.clone();
            thread::spawn(move || q.get())
        })
        .collect();
    let putters: Vec<_> = (0..200)
        .map(|i| {
            let q = full.clone();
            thread::spawn(move || q.put(i).map_err(|e| e.0))
        })
        .collect();
    // A plain thread blocked too.
    let plain = {
        let q = empty.clone();
        std::thread::spawn(move || q.get_timeout(Duration::from_secs(30)))
    };
    thread::sleep(Duration::from_millis(100));
    assert!(getters.iter().all(|g| !g.is_finished()));
    let t = Instant::now();
    empty.close();
    full.close();
    for g in getters {
        assert_eq!(
            g.join_timeout(Duration::from_secs(10)).unwrap().unwrap(),
            None
        );
    }
    for (i, p) in putters.into_iter().enumerate() {
        assert_eq!(p.join().unwrap(), Err(i as u32), "the item comes back");
    }
    assert_eq!(plain.join().unwrap(), Err(GetTimeoutError::Closed));
    assert!(t.elapsed() < Duration::from_secs(5));
    // What was queued before the close can still be taken, then None.
    assert_eq!(full.get(), Some(0));
    assert_eq!(full.get(), None);
    assert_eq!(full.try_get(), Err(TryGetError::Closed));
    assert!(matches!(full.try_put(1), Err(TryPutError::Closed(1))));
}

#[test]
fn timeouts_and_try_variants() {
    let q = Queue::bounded(1);
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    let t = Instant::now();
    assert_eq!(
        q.get_timeout(Duration::from_millis(30)),
        Err(GetTimeoutError::Timeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(30));
    q.try_put(1).unwrap();
    assert!(matches!(q.try_put(2), Err(TryPutError::Full(2))));
    let t = Instant::now();
    assert!(matches!(
        q.put_timeout(3, Duration::from_millis(30)),
        Err(PutTimeoutError::Timeout(3))
    ));
    assert!(t.elapsed() >= Duration::from_millis(30));
    assert_eq!(q.get_timeout(Duration::from_millis(30)), Ok(1));
    // A blocked put succeeds once a getter makes room.
    let q = Arc::new(q);
    q.put(10).unwrap();
    let q2 = q.clone();
    let putter = thread::spawn(move || q2.put_timeout(11, Duration::from_secs(20)).is_ok());
    thread::sleep(Duration::from_millis(20));
    assert_eq!(q.get(), Some(10));
    assert!(putter.join().unwrap());
    assert_eq!(q.get(), Some(11));
    assert_eq!(q.capacity(), Some(1));
    assert!(q.is_empty() && !q.is_full());
}

#[test]
fn capacity_zero_hands_items_to_waiting_getters() {
    let q: Arc<Queue<u32>> = Arc::new(Queue::bounded(0));
    // Nobody waits: a put cannot proceed.
    assert!(matches!(q.try_put(1), Err(TryPutError::Full(1))));
    assert!(q.is_full());
    let q2 = q.clone();
    let getter = thread::spawn(move || q2.get());
    let t = Instant::now();
    q.put_timeout(7, Duration::from_secs(20)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(getter.join().unwrap(), Some(7));
    assert!(q.is_empty());
    // Many putters and getters meet one to one.
    let putters: Vec<_> = (0..100)
        .map(|i| {
            let q = q.clone();
            thread::spawn(move || q.put(i).unwrap())
        })
        .collect();
    let mut got: Vec<u32> = (0..100).map(|_| q.get().unwrap()).collect();
    for p in putters {
        p.join().unwrap();
    }
    got.sort_unstable();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn joinable_queue_join_waits_for_every_task_done() {
    two_workers();
    let q = Arc::new(JoinableQueue::new());
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (q, done) = (q.clone(), done.clone());
            thread::spawn(move || {
                for ms in q.iter() {
                    thread::sleep(Duration::from_millis(ms));
                    done.fetch_add(1, Ordering::SeqCst);
                    q.task_done().unwrap();
                }
            })
        })
        .collect();
    for i in 0..200 {
        q.put(i % 5).unwrap();
    }
    q.join();
    assert_eq!(done.load(Ordering::SeqCst), 200);
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.task_done().is_err(), "one task_done too many is an error");
    // A plain thread can join too.
    q.put(30).unwrap();
    let q2 = q.clone();
    let joiner = std::thread::spawn(move || q2.join_timeout(Duration::from_secs(20)));
    assert!(joiner.join().unwrap());
    q.close();
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn blocked_queue_users_leave_the_workers_free() {
    two_workers();
    let q: Arc<Queue<u8>> = Arc::new(Queue::bounded(1));
    q.put(0).unwrap();
    let empty: Arc<Queue<u8>> = Arc::new(Queue::new());
    let blocked: Vec<_> = (0..500u32)
        .map(|i| {
            let (q, empty) = (q.clone(), empty.clone());
            if i.is_multiple_of(2) {
                thread::spawn(move || q.put(1).is_ok())
            } else {
                thread::spawn(move || empty.get_timeout(Duration::from_secs(30)).is_ok())
            }
        })
        .collect();
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
    thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    let ticks = ticker.join().unwrap();
    assert!(ticks > 10, "ticker made {ticks} ticks in 200 ms");
    assert!(blocked.iter().all(|b| !b.is_finished()));
    q.close();
    empty.close();
    for b in blocked {
        b.join().unwrap();
    }
}

/// gevent's test__queue `test_peek_empty` / `test_peek_two_greenlets`:
/// peek blocks (a coroutine's peek does not block its worker), every
/// peeker sees the item, and the item stays for the getter.
#[test]
fn peek_waits_for_an_item_and_leaves_it() {
    if !alone::here() {
        return; // it ran, and passed, in a child process
    }
    green::Config::new().workers(1).apply().unwrap();
    for q in [Arc::new(Queue::new()), Arc::new(Queue::bounded(0))] {
        let peekers: Vec<_> = (0..20)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || q.peek())
            })
            .collect();
        let plain = {
            let q = q.clone();
            std::thread::spawn(move || q.peek_timeout(Duration::from_secs(30)))
        };
        // One worker: this sleep runs only if the waits park their coroutines.
        thread::sleep(Duration::from_millis(50));
        assert!(peekers.iter().all(|p| !p.is_finished()));
        // (A waiting peeker lets a put into a capacity-0 queue proceed.)
        q.put(7).unwrap();
        for p in peekers {
            assert_eq!(
                p.join_timeout(Duration::from_secs(10)).unwrap().unwrap(),
                Some(7)
            );
        }
        assert_eq!(plain.join().unwrap(), Ok(7));
        assert_eq!(q.len(), 1);
        assert_eq!(q.get(), Some(7));
        assert_eq!(q.try_peek(), Err(TryGetError::Empty));
    }
    let l = LifoQueue::new();
    let p = PriorityQueue::new();
    for i in [3, 9, 1] {
        l.put(i).unwrap();
        p.put(i).unwrap();
    }
    assert_eq!((l.try_peek(), l.len()), (Ok(1), 3));
    assert_eq!((p.try_peek(), p.len()), (Ok(9), 3));
    assert_eq!(
        Queue::<u8>::new().peek_timeout(Duration::from_millis(5)),
        Err(GetTimeoutError::Timeout)
    );
    let closed = Queue::<u8>::new();
    closed.close();
    assert_eq!(closed.peek(), None);
    assert_eq!(closed.try_peek(), Err(TryGetError::Closed));
}

/// Python 3.13's test_queue shutdown cases: `shutdown(false)` drains,
/// `shutdown(true)` drops what is queued; blocked getters, peekers and
/// putters (coroutines and a plain thread) all wake with `Closed`.
#[test]
fn shutdown_wakes_waiters_and_immediate_drops_the_items() {
    two_workers();
    let drained = Queue::new();
    drained.put(1).unwrap();
    drained.shutdown(false);
    assert!(drained.put(2).is_err());
    assert_eq!(drained.try_peek(), Ok(1));
    assert_eq!(drained.get(), Some(1));
    assert_eq!(drained.get(), None);

    let empty: Arc<Queue<u32>> = Arc::new(Queue::new());
    let full: Arc<JoinableQueue<Arc<u32>>> = Arc::new(JoinableQueue::bounded(1));
    let item = Arc::new(0);
    full.put(item.clone()).unwrap();
    let getters: Vec<_> = (0..50)
        .map(|_| {
            let q = empty.clone();
            thread::spawn(move || q.get_timeout(Duration::from_secs(30)))
        })
        .collect();
    let peekers: Vec<_> = (0..50)
        .map(|_| {
            let q = empty.clone();
            thread::spawn(move || q.peek())
        })
        .collect();
    let putters: Vec<_> = (0..50)
        .map(|i| {
            let q = full.clone();
            thread::spawn(move || q.put(Arc::new(i)).map_err(|e| *e.0))
        })
        .collect();
    let plain = {
        let q = full.clone();
        std::thread::spawn(move || q.put_timeout(Arc::new(99), Duration::from_secs(30)))
    };
    let joiner = {
        let q = full.clone();
        thread::spawn(move || q.join_timeout(Duration::from_secs(30)))
    };
    thread::sleep(Duration::from_millis(50));
    assert!(!joiner.is_finished());
    empty.shutdown(true);
    full.shutdown(true);
    assert_eq!(Arc::strong_count(&item), 1, "the queued item was dropped");
    assert!(full.is_empty() && full.is_closed());
    assert_eq!(full.try_get().unwrap_err(), TryGetError::Closed);
    for g in getters {
        assert_eq!(g.join().unwrap(), Err(GetTimeoutError::Closed));
    }
    for p in peekers {
        assert_eq!(p.join().unwrap(), None);
    }
    for (i, p) in putters.into_iter().enumerate() {
        assert_eq!(p.join().unwrap(), Err(i as u32), "the item comes back");
    }
    assert!(matches!(
        plain.join().unwrap(),
        Err(PutTimeoutError::Closed(_))
    ));
    assert!(joiner.join().unwrap(), "dropped items count as done");
    assert_eq!(full.unfinished_tasks(), 0);
}

#[test]
fn capacity_zero_try_get_takes_from_a_waiting_putter() {
    // gevent's Channel: get_nowait takes the item of a blocked put.
    let q: Arc<Queue<u32>> = Arc::new(Queue::bounded(0));
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    let q2 = q.clone();
    let putter = thread::spawn(move || q2.put(7));
    let t = Instant::now();
    let got = loop {
        match q.try_get() {
            Ok(v) => break v,
            Err(TryGetError::Empty) => {
                assert!(
                    t.elapsed() < Duration::from_secs(20),
                    "putter never offered"
                );
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    assert_eq!(got, 7);
    putter.join().unwrap().unwrap();
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    // A putter that times out takes its item back; closing gives it back
    // (whether the put was already waiting or not).
    let r = q.put_timeout(8, Duration::from_millis(20));
    assert!(matches!(r, Err(PutTimeoutError::Timeout(8))));
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    let q2 = q.clone();
    let putter = thread::spawn(move || q2.put(9));
    thread::sleep(Duration::from_millis(20));
    q.close();
    assert_eq!(putter.join().unwrap().unwrap_err().0, 9);
}
