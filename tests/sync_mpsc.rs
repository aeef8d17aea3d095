//! `greenstd::sync::mpsc`: std's error types and disconnect semantics,
//! bounded and rendezvous channels, `recv_timeout` bounds, iterators, and
//! every mix of coroutine and thread at either end.

mod alone;

use greenstd::sync::mpsc::{
    self, channel, sync_channel, Receiver, RecvError, RecvTimeoutError, SendError, Sender,
    SyncSender, TryRecvError, TrySendError,
};
use greenstd::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn error_types_are_std_s() {
    let (tx, rx) = channel::<u8>();
    drop(rx);
    let e: std::sync::mpsc::SendError<u8> = tx.send(3).unwrap_err();
    assert_eq!(e, SendError(3));
    let (tx, rx) = channel::<u8>();
    drop(tx);
    let e: std::sync::mpsc::RecvError = rx.recv().unwrap_err();
    assert_eq!(e, RecvError);
    assert_eq!(
        rx.try_recv(),
        Err(std::sync::mpsc::TryRecvError::Disconnected)
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(1)),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
    );
}

#[test]
fn disconnect_semantics() {
    // Buffered messages are delivered after every sender is gone.
    let (tx, rx) = channel();
    let tx2 = tx.clone();
    tx.send(1).unwrap();
    tx2.send(2).unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(1));
    drop(tx2);
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

    // Send after the receiver is gone returns the value.
    let (tx, rx) = sync_channel(1);
    drop(rx);
    assert_eq!(
        tx.send(String::from("x")),
        Err(SendError(String::from("x")))
    );
    assert_eq!(
        tx.try_send(5.to_string()),
        Err(TrySendError::Disconnected("5".into()))
    );

    // Dropping the receiver drops buffered messages.
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct D;
    impl Drop for D {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (tx, rx) = channel();
    tx.send(D).unwrap();
    tx.send(D).unwrap();
    drop(rx);
    assert_eq!(DROPS.load(Ordering::SeqCst), 2);
}

#[test]
fn a_blocked_recv_wakes_on_disconnect() {
    let (tx, rx) = channel::<u8>();
    let h = thread::spawn(move || rx.recv());
    thread::sleep(Duration::from_millis(20));
    drop(tx);
    assert_eq!(h.join().unwrap(), Err(RecvError));

    let (tx, rx) = channel::<u8>();
    let t = std::thread::spawn(move || rx.recv_timeout(Duration::from_secs(30)));
    thread::sleep(Duration::from_millis(20));
    drop(tx);
    assert_eq!(t.join().unwrap(), Err(RecvTimeoutError::Disconnected));
}

#[test]
fn a_blocked_bounded_send_wakes_on_receiver_drop_with_its_value() {
    let (tx, rx) = sync_channel(1);
    tx.send(1).unwrap();
    let h = thread::spawn(move || tx.send(2));
    thread::sleep(Duration::from_millis(20));
    assert!(!h.is_finished());
    drop(rx);
    assert_eq!(h.join().unwrap(), Err(SendError(2)));
}

#[test]
fn bounded_channel_blocks_when_full() {
    let (tx, rx) = sync_channel(2);
    tx.send(1).unwrap();
    tx.try_send(2).unwrap();
    assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    let sent = Arc::new(AtomicBool::new(false));
    let s2 = sent.clone();
    let h = thread::spawn(move || {
        tx.send(3).unwrap();
        s2.store(true, Ordering::SeqCst);
    });
    thread::sleep(Duration::from_millis(30));
    assert!(
        !sent.load(Ordering::SeqCst),
        "send did not block on a full channel"
    );
    assert_eq!(rx.recv(), Ok(1));
    h.join().unwrap();
    assert!(sent.load(Ordering::SeqCst));
    assert_eq!(rx.iter().collect::<Vec<_>>(), [2, 3]);
}

#[test]
fn rendezvous_send_returns_only_after_the_receive() {
    let (tx, rx) = sync_channel::<u32>(0);
    // No receiver waiting: try_send fails.
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    let h = thread::spawn(move || {
        tx.send(7).unwrap();
        tx
    });
    thread::sleep(Duration::from_millis(30));
    assert!(
        !h.is_finished(),
        "rendezvous send returned with no receiver"
    );
    assert_eq!(rx.recv(), Ok(7));
    let tx = h.join().unwrap();

    // A receiver blocked in recv makes try_send succeed.
    let r = thread::spawn(move || rx.recv());
    let start = Instant::now();
    loop {
        match tx.try_send(9) {
            Ok(()) => break,
            Err(TrySendError::Full(_)) => thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("{e:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(10));
    }
    assert_eq!(r.join().unwrap(), Ok(9));
}

#[test]
fn rendezvous_send_gets_its_value_back_when_the_receiver_goes() {
    let (tx, rx) = sync_channel::<String>(0);
    let h = thread::spawn(move || tx.send("hello".into()));
    thread::sleep(Duration::from_millis(20));
    drop(rx);
    assert_eq!(h.join().unwrap(), Err(SendError("hello".into())));
}

#[test]
fn rendezvous_many_senders_coroutines_and_threads() {
    let (tx, rx) = sync_channel::<usize>(0);
    let mut cos = Vec::new();
    for i in 0..20 {
        let tx = tx.clone();
        cos.push(thread::spawn(move || {
            for j in 0..50 {
                tx.send(i * 1000 + j).unwrap();
            }
        }));
    }
    let mut ths = Vec::new();
    for i in 20..22 {
        let tx = tx.clone();
        ths.push(std::thread::spawn(move || {
            for j in 0..50 {
                tx.send(i * 1000 + j).unwrap();
            }
        }));
    }
    drop(tx);
    let mut got: Vec<usize> = rx.iter().collect();
    for h in cos {
        h.join().unwrap();
    }
    for h in ths {
        h.join().unwrap();
    }
    assert_eq!(got.len(), 22 * 50);
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), 22 * 50);
}

#[test]
fn recv_timeout_bounds() {
    let (tx, rx) = channel::<u8>();
    for ms in [1u64, 20, 100] {
        let d = Duration::from_millis(ms);
        let start = Instant::now();
        assert_eq!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout));
        let took = start.elapsed();
        assert!(took >= d, "returned early: {took:?} < {d:?}");
        assert!(
            took < d + Duration::from_millis(500),
            "overshot: {took:?} for {d:?}"
        );
    }
    // Same in a coroutine, where the hub keeps the deadline.
    let h = thread::spawn(move || {
        let mut worst = Duration::ZERO;
        for _ in 0..5 {
            let d = Duration::from_millis(30);
            let start = Instant::now();
            assert_eq!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout));
            let took = start.elapsed();
            assert!(took >= d, "returned early: {took:?}");
            worst = worst.max(took - d);
        }
        worst
    });
    let worst = h.join().unwrap();
    assert!(worst < Duration::from_millis(500), "overshot by {worst:?}");
    drop(tx);
    // A huge timeout does not panic.
    let (tx, rx) = channel::<u8>();
    tx.send(1).unwrap();
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
}

#[test]
fn recv_timeout_never_swallows_a_message() {
    // Messages sent around the moment the receiver times out must all be
    // received: none is lost to a timed-out wait.
    let (tx, rx) = channel::<usize>();
    const N: usize = 300;
    let sender = thread::spawn(move || {
        for i in 0..N {
            if i % 3 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
            tx.send(i).unwrap();
        }
    });
    let mut got = Vec::new();
    let mut timeouts = 0;
    loop {
        match rx.recv_timeout(Duration::from_micros(700)) {
            Ok(v) => got.push(v),
            Err(RecvTimeoutError::Timeout) => timeouts += 1,
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    sender.join().unwrap();
    assert_eq!(got, (0..N).collect::<Vec<_>>(), "after {timeouts} timeouts");
}

#[test]
fn iterators() {
    let (tx, rx) = channel();
    for i in 0..3 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(rx.try_iter().next(), None);
    tx.send(3).unwrap();
    drop(tx);
    let mut v = Vec::new();
    for x in &rx {
        v.push(x);
    }
    assert_eq!(v, [3]);
    let (tx, rx) = channel();
    let h = thread::spawn(move || {
        for i in 0..100 {
            tx.send(i).unwrap();
        }
    });
    let all: Vec<i32> = rx.into_iter().collect();
    h.join().unwrap();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
}

#[test]
fn every_mix_of_coroutine_and_thread() {
    fn run(co_sender: bool, co_receiver: bool) {
        let (tx, rx) = channel::<u32>();
        let (ack_tx, ack_rx) = sync_channel::<u32>(0);
        let send = move || {
            for i in 0..200 {
                tx.send(i).unwrap();
                assert_eq!(ack_rx.recv().unwrap(), i);
            }
        };
        let recv = move || {
            for i in 0..200 {
                assert_eq!(rx.recv().unwrap(), i);
                ack_tx.send(i).unwrap();
            }
            assert!(rx.recv().is_err());
        };
        let s: Box<dyn FnOnce()> = if co_sender {
            let h = thread::spawn(send);
            Box::new(move || h.join().unwrap())
        } else {
            let h = std::thread::spawn(send);
            Box::new(move || h.join().unwrap())
        };
        let r: Box<dyn FnOnce()> = if co_receiver {
            let h = thread::spawn(recv);
            Box::new(move || h.join().unwrap())
        } else {
            let h = std::thread::spawn(recv);
            Box::new(move || h.join().unwrap())
        };
        s();
        r();
    }
    run(true, true);
    run(true, false);
    run(false, true);
    run(false, false);
}

#[test]
fn many_coroutine_senders_one_worker() {
    if !alone::here() {
        return;
    }
    greenstd::green::Config::new().workers(1).apply().unwrap();
    let (tx, rx) = sync_channel::<usize>(4);
    let hs: Vec<_> = (0..1000)
        .map(|i| {
            let tx = tx.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(5));
                tx.send(i).unwrap();
            })
        })
        .collect();
    drop(tx);
    let start = Instant::now();
    let sum: usize = rx.iter().sum();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(sum, (0..1000).sum::<usize>());
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn send_sync_clone_debug_as_std() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Sender<u8>>();
    sync::<Sender<u8>>();
    send::<SyncSender<u8>>();
    sync::<SyncSender<u8>>();
    send::<Receiver<u8>>();
    let (tx, rx) = channel::<u8>();
    let (stx, _srx) = sync_channel::<u8>(1);
    assert_eq!(format!("{tx:?}"), "Sender { .. }");
    assert_eq!(format!("{stx:?}"), "SyncSender { .. }");
    assert_eq!(format!("{rx:?}"), "Receiver { .. }");
    let _ = (tx.clone(), stx.clone());
    let _: mpsc::Iter<'_, u8> = rx.iter();
    let _: mpsc::TryIter<'_, u8> = rx.try_iter();
    let _: mpsc::IntoIter<u8> = rx.into_iter();
}

#[test]
fn detached_coroutines_finishing_right_after_a_wakeup() {
    // Each coroutine is detached (its JoinHandle dropped) and ends right
    // after `recv` returns; the wakeup often arrives while it is parking.
    // A worker must never get stuck tearing such a coroutine down.
    let (done_tx, done_rx) = channel::<usize>();
    for i in 0..3000 {
        let (tx, rx) = channel::<usize>();
        let done_tx = done_tx.clone();
        drop(thread::spawn(move || {
            let v = rx.recv().unwrap();
            done_tx.send(v).unwrap();
        }));
        tx.send(i).unwrap();
        assert_eq!(
            done_rx.recv_timeout(Duration::from_secs(20)),
            Ok(i),
            "coroutine {i} never finished"
        );
    }
}
