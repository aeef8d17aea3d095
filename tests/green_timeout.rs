//! Deadlines (`green::with_timeout`): a blocked closure unwinds when the
//! time runs out and `with_timeout` returns `Err(Elapsed)`; nested
//! deadlines stay independent (gevent#1861); a deadline never fires after
//! `with_timeout` returned; punctual under 2,000 concurrent sleepers.

use greenstd::green::{self, with_deadline, with_timeout, Elapsed, JoinHandleExt};
use greenstd::io::Read;
use greenstd::net::{TcpListener, TcpStream};
use greenstd::sync::{mpsc, Arc, Condvar, Mutex};
use greenstd::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn two_workers() {
    green::Config::new().workers(2).apply().unwrap();
}

const MS: Duration = Duration::from_millis(1);

/// Runs `f` under a 50 ms deadline in a coroutine; checks that it was cut
/// short in time, with its destructors run.
fn times_out<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let d = Flag(dropped.clone());
    let h = thread::spawn(move || {
        let t = Instant::now();
        let r = with_timeout(50 * MS, move || {
            let _d = d;
            f()
        });
        (r.is_err(), t.elapsed())
    });
    let (elapsed_err, took) = h
        .join_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what}: the deadline did not end it"))
        .unwrap();
    assert!(elapsed_err, "{what}: returned Ok");
    assert!(took >= 50 * MS, "{what}: {took:?}");
    assert!(took < Duration::from_secs(5), "{what}: {took:?}");
    assert!(dropped.load(Ordering::SeqCst), "{what}: destructor");
}

#[test]
fn with_timeout_cuts_every_kind_of_wait() {
    two_workers();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(addr).unwrap();
    let (_server, _) = listener.accept().unwrap();
    times_out("read", move || {
        (&client).read(&mut [0u8; 4]).map_err(|e| e.kind())
    });
    times_out("accept", move || {
        listener.accept().map(|_| ()).map_err(|e| e.kind())
    });
    let m = Arc::new(Mutex::new(()));
    let g = m.lock().unwrap();
    let m2 = m.clone();
    times_out("lock", move || m2.lock().is_ok());
    drop(g);
    let pair = Arc::new((Mutex::new(()), Condvar::new()));
    let p2 = pair.clone();
    times_out("Condvar::wait", move || {
        let g = p2.0.lock().unwrap();
        p2.1.wait(g).is_ok()
    });
    let (tx, rx) = mpsc::channel::<u8>();
    times_out("recv", move || rx.recv().ok());
    drop(tx);
    times_out("sleep", || thread::sleep(Duration::from_secs(3600)));
    let stop = Arc::new(green::Event::new());
    let s2 = stop.clone();
    let child = thread::spawn(move || s2.wait());
    times_out("join", move || child.join().is_ok());
    stop.set();
    times_out("park", || loop {
        thread::park();
    });
    let q: Arc<green::queue::Queue<u8>> = Arc::new(green::queue::Queue::new());
    let q2 = q.clone();
    times_out("Queue::get", move || q2.get());
    // The cut-short getter left the queue consistent.
    q.put(1).unwrap();
    assert_eq!(q.get(), Some(1));
}

#[test]
fn with_timeout_returns_ok_when_in_time() {
    let r = with_timeout(Duration::from_secs(10), || {
        thread::sleep(10 * MS);
        "done"
    });
    assert_eq!(r, Ok("done"));
    let h = thread::spawn(|| with_timeout(Duration::from_secs(10), || 6 * 7));
    assert_eq!(h.join().unwrap(), Ok(42));
}

#[test]
fn nested_deadlines_are_independent() {
    // The outer deadline expires inside the inner with_timeout: the inner
    // does not report it as its own (gevent#1861); the outer does.
    let inner_returned = Arc::new(AtomicBool::new(false));
    let ir = inner_returned.clone();
    let h = thread::spawn(move || {
        with_timeout(30 * MS, move || {
            let inner = with_timeout(Duration::from_secs(10), || {
                thread::sleep(Duration::from_secs(3600))
            });
            ir.store(true, Ordering::SeqCst);
            inner
        })
    });
    assert_eq!(h.join().unwrap(), Err(Elapsed::new()));
    assert!(
        !inner_returned.load(Ordering::SeqCst),
        "the inner with_timeout took the outer deadline"
    );

    // The inner deadline expires first: only the inner reports it, and the
    // outer block goes on.
    let h = thread::spawn(|| {
        with_timeout(Duration::from_secs(10), || {
            let inner = with_timeout(20 * MS, || thread::sleep(Duration::from_secs(3600)));
            thread::sleep(20 * MS); // not cut: the outer deadline is far
            inner
        })
    });
    assert_eq!(h.join().unwrap(), Ok(Err(Elapsed::new())));

    // Both expire while blocked: the outer one wins, once.
    let h = thread::spawn(|| {
        let start = Instant::now() + 20 * MS;
        with_deadline(start, || {
            let inner = with_deadline(start + MS, || thread::sleep(Duration::from_secs(3600)));
            (inner, "inner returned")
        })
    });
    assert_eq!(h.join().unwrap(), Err(Elapsed::new()));
}

#[test]
fn a_deadline_never_fires_after_with_timeout_returned() {
    two_workers();
    // Many deadlines that expire just as, or just after, their closure
    // returns; then the coroutine blocks for a while: nothing may cut it.
    let hs: Vec<_> = (0..200)
        .map(|i| {
            thread::spawn(move || {
                for j in 0..20u64 {
                    let dur = Duration::from_micros((i * 7 + j * 13) % 400);
                    let _ = with_timeout(dur, || {
                        if j.is_multiple_of(2) {
                            thread::yield_now();
                        }
                    });
                }
                let t = Instant::now();
                thread::sleep(30 * MS);
                let (tx, rx) = mpsc::channel();
                let sender = thread::spawn(move || {
                    thread::sleep(10 * MS);
                    tx.send(1).unwrap();
                });
                let got = rx.recv().unwrap();
                sender.join().unwrap();
                (t.elapsed(), got)
            })
        })
        .collect();
    for h in hs {
        // Unwinding would make join return Err.
        let (e, got) = h.join().expect("a stale deadline cut a later wait");
        assert!(e >= 40 * MS, "{e:?}");
        assert_eq!(got, 1);
    }
}

#[test]
fn with_timeout_on_a_plain_thread_cuts_greenstd_waits() {
    // On a plain OS thread, waits on greenstd's primitives are cut too.
    let m = Arc::new(Mutex::new(()));
    let m2 = m.clone();
    let holder = thread::spawn(move || {
        let _g = m2.lock().unwrap();
        thread::sleep(Duration::from_millis(500));
    });
    thread::sleep(20 * MS);
    let t = Instant::now();
    assert!(with_timeout(30 * MS, || m.lock().is_ok()).is_err());
    assert!(with_timeout(30 * MS, || thread::sleep(Duration::from_secs(3600))).is_err());
    assert!(
        t.elapsed() < Duration::from_millis(450),
        "{:?}",
        t.elapsed()
    );
    holder.join().unwrap();
}

#[test]
fn elapsed_converts_to_a_timed_out_io_error() {
    fn fetch() -> std::io::Result<u32> {
        let (_tx, rx) = mpsc::channel::<u32>();
        Ok(with_timeout(10 * MS, || rx.recv().unwrap_or(0))?)
    }
    let e = thread::spawn(fetch).join().unwrap().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
}

/// The bound: with 2,000 coroutines sleeping (10-100 ms at a
/// time, in loops) on two workers, a `with_timeout` ends within 20 ms of
/// its deadline. Plain `sleep`s measured alongside show what the machine
/// itself adds (printed with `--no-capture`).
#[test]
fn with_timeout_holds_its_deadline_under_2000_sleepers() {
    two_workers();
    let stop = Arc::new(AtomicBool::new(false));
    let ticks = Arc::new(AtomicUsize::new(0));
    let sleepers: Vec<_> = (0..2000u64)
        .map(|i| {
            let (stop, ticks) = (stop.clone(), ticks.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(10 + (i * 37) % 91));
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(200));
    // 100 deadlines of 30-129 ms, and as many plain sleeps, measured from
    // coroutines among the sleepers.
    let probe = |i: u64, deadline: bool| {
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(i % 17));
            let dur = Duration::from_millis(30 + i);
            let t = Instant::now();
            if deadline {
                let r = with_timeout(dur, || thread::sleep(Duration::from_secs(3600)));
                assert!(r.is_err());
            } else {
                thread::sleep(dur);
            }
            t.elapsed() - dur
        })
    };
    let probes: Vec<_> = (0..100u64)
        .map(|i| (probe(i, true), probe(i, false)))
        .collect();
    let (mut late, mut sleep_late): (Vec<Duration>, Vec<Duration>) = probes
        .into_iter()
        .map(|(d, s)| (d.join().unwrap(), s.join().unwrap()))
        .unzip();
    stop.store(true, Ordering::Relaxed);
    for s in sleepers {
        s.join().unwrap();
    }
    late.sort();
    sleep_late.sort();
    let pct = |v: &[Duration], p: usize| v[(v.len() - 1) * p / 100];
    println!(
        "with_timeout lateness under 2,000 sleepers: p50 {:?}, p90 {:?}, p99 {:?}, max {:?} \
         (plain sleep: p50 {:?}, p99 {:?}, max {:?}); {} sleeper ticks",
        pct(&late, 50),
        pct(&late, 90),
        pct(&late, 99),
        late[99],
        pct(&sleep_late, 50),
        pct(&sleep_late, 99),
        sleep_late[99],
        ticks.load(Ordering::Relaxed)
    );
    assert!(
        late[99] <= Duration::from_millis(20),
        "latest: {:?} (p50 {:?}, p99 {:?}; plain sleeps: max {:?})",
        late[99],
        pct(&late, 50),
        pct(&late, 99),
        sleep_late[99]
    );
}
