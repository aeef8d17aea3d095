//! Cancellation (`green::JoinHandleExt::cancel`): a coroutine unwinds from
//! the blocking call it is in — socket I/O, accept, connect, locks,
//! condition variables, channels, join, sleep, park, Barrier, Once, pipes,
//! a child's exit, green-os's readiness waits and `Signals` — with its
//! destructors run, and `join` reports `Cancelled`. Group and Pool
//! cancel_all, shield, checkpoint, the quiet panic hook, the destructor
//! rule, and the waits that once parked outside the wait record (their
//! fallbacks reached with the kernel's own limits or a seccomp filter).

mod alone;

use greenstd::green::{self, Cancelled, Event, Group, JoinHandleExt, Pool, TaskState, WaitKind};
use greenstd::io::{Read, Write};
use greenstd::net::{TcpListener, TcpStream};
use greenstd::sync::{mpsc, Arc, Barrier, Condvar, Mutex, Once, RwLock};
use greenstd::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn two_workers() {
    green::Config::new().workers(2).apply().unwrap();
}

/// Open socket descriptors (the runtime's own epoll and event descriptors,
/// created on first use, are not counted).
fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// Counts its drops: proof that destructors ran on the way out.
struct Dropper(Arc<AtomicUsize>);

impl Drop for Dropper {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits (bounded) until `n` coroutines announced they are about to block,
/// then a little more so that they really are parked.
fn wait_for(counter: &AtomicUsize, n: usize) {
    let t = Instant::now();
    while counter.load(Ordering::SeqCst) < n {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "only {} of {n} blocked",
            counter.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
}

fn assert_cancelled<T: std::fmt::Debug>(r: std::thread::Result<T>) {
    match r {
        Ok(v) => panic!("not cancelled: returned {v:?}"),
        Err(p) => assert!(p.is::<Cancelled>(), "unwound with another payload"),
    }
}

#[test]
fn a_thousand_coroutines_blocked_in_mixed_calls_are_cancelled_and_joined_within_a_second() {
    two_workers();
    // The runtime and its pollers are up before the count is taken.
    thread::spawn(|| ()).join().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sockets_before = open_sockets();

    let drops = Arc::new(AtomicUsize::new(0));
    let blocked = Arc::new(AtomicUsize::new(0));
    let lock = Arc::new(Mutex::new(0u32));
    let held = lock.lock().unwrap();
    let stop_children = Arc::new(Event::new());
    let mut senders = Vec::new();
    let mut children_done = Vec::new();
    let mut handles = Vec::new();
    for i in 0..1000 {
        let d = Dropper(drops.clone());
        let blocked = blocked.clone();
        let h = match i % 5 {
            0 => thread::spawn(move || {
                let _d = d;
                let mut s = TcpStream::connect(addr).unwrap();
                let mut buf = [0u8; 16];
                blocked.fetch_add(1, Ordering::SeqCst);
                s.read(&mut buf).map(|_| ())
            }),
            1 => {
                let lock = lock.clone();
                thread::spawn(move || {
                    let _d = d;
                    blocked.fetch_add(1, Ordering::SeqCst);
                    drop(lock.lock());
                    Ok(())
                })
            }
            2 => {
                let (tx, rx) = mpsc::channel::<u8>();
                senders.push(tx);
                thread::spawn(move || {
                    let _d = d;
                    blocked.fetch_add(1, Ordering::SeqCst);
                    let _ = rx.recv();
                    Ok(())
                })
            }
            3 => thread::spawn(move || {
                let _d = d;
                blocked.fetch_add(1, Ordering::SeqCst);
                thread::sleep(Duration::from_secs(3600));
                Ok(())
            }),
            _ => {
                let stop = stop_children.clone();
                let child = thread::spawn(move || stop.wait());
                let done = Arc::new(Event::new());
                children_done.push(done.clone());
                thread::spawn(move || {
                    let _d = d;
                    // The child outlives a cancelled joiner: it reports its
                    // own end here.
                    let _report = SetOnDrop(done);
                    blocked.fetch_add(1, Ordering::SeqCst);
                    drop(child.join());
                    Ok(())
                })
            }
        };
        handles.push(h);
    }
    // The server side of the 200 readers: accepted, never written to.
    let accepted: Vec<TcpStream> = (0..200).map(|_| listener.accept().unwrap().0).collect();
    wait_for(&blocked, 1000);
    assert!(handles.iter().all(|h| !h.is_finished()));

    let start = Instant::now();
    for h in &handles {
        h.cancel();
    }
    for h in handles {
        assert_cancelled(h.join());
    }
    let took = start.elapsed();
    println!("cancelled and joined 1,000 in {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "cancelling and joining 1,000 took {took:?}"
    );
    assert_eq!(drops.load(Ordering::SeqCst), 1000, "every destructor ran");
    drop(held);
    assert!(!lock.is_poisoned(), "the waiters never held the lock");

    // Clean up the rest; then every descriptor the test opened is closed:
    // the 200 client sockets were closed as their coroutines unwound.
    stop_children.set();
    drop((accepted, senders, listener));
    for done in children_done {
        assert!(done.wait_timeout(Duration::from_secs(10)));
    }
    let t = Instant::now();
    while open_sockets() > sockets_before - 1 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        open_sockets(),
        sockets_before - 1,
        "sockets leaked (the listener is closed too)"
    );
}

/// Sets an event when dropped.
struct SetOnDrop(Arc<Event>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// Spawns `f` as a coroutine, waits until it is blocked, cancels it and
/// checks that it unwound with `Cancelled` and ran its destructors.
fn cancel_while_blocked<F, T>(what: &str, f: F)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + std::fmt::Debug + 'static,
{
    let drops = Arc::new(AtomicUsize::new(0));
    let d = Dropper(drops.clone());
    let h = thread::spawn(move || {
        let _d = d;
        f()
    });
    thread::sleep(Duration::from_millis(100));
    assert!(!h.is_finished(), "{what}: not blocked");
    let t = Instant::now();
    h.cancel();
    let r = h
        .join_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what}: still blocked after cancel"));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "{what}: took {:?}",
        t.elapsed()
    );
    assert_cancelled(r);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "{what}: destructor");
}

#[test]
fn each_blocking_call_can_be_cancelled() {
    two_workers();
    // Socket I/O: read, write into a full buffer, accept.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(addr).unwrap();
    let (_server, _) = listener.accept().unwrap();
    let c2 = client.try_clone().unwrap();
    cancel_while_blocked("read", move || {
        (&c2).read(&mut [0u8; 8]).map_err(|e| e.kind())
    });
    let c2 = client.try_clone().unwrap();
    cancel_while_blocked("write", move || {
        let chunk = vec![0u8; 1 << 16];
        loop {
            if let Err(e) = (&c2).write(&chunk) {
                return e.kind();
            }
        }
    });
    let l2 = listener.try_clone().unwrap();
    cancel_while_blocked("accept", move || {
        l2.accept().map(|_| ()).map_err(|e| e.kind())
    });

    // Locks, condition variables, channels.
    let m = Arc::new(Mutex::new(()));
    let g = m.lock().unwrap();
    let m2 = m.clone();
    cancel_while_blocked("Mutex::lock", move || m2.lock().is_ok());
    drop(g);
    let rw = Arc::new(RwLock::new(0));
    let w = rw.write().unwrap();
    let rw2 = rw.clone();
    cancel_while_blocked("RwLock::read", move || rw2.read().map(|g| *g).ok());
    let rw2 = rw.clone();
    cancel_while_blocked("RwLock::write", move || rw2.write().map(|g| *g).ok());
    drop(w);
    *rw.write().unwrap() += 1; // still usable
    assert_eq!(*rw.read().unwrap(), 1);
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p2 = pair.clone();
    cancel_while_blocked("Condvar::wait", move || {
        let (m, c) = &*p2;
        let g = m.lock().unwrap();
        c.wait(g).is_ok()
    });
    // The guard held across the wait poisoned the mutex, as a panic would.
    assert!(pair.0.is_poisoned());
    let (tx, rx) = mpsc::channel::<u8>();
    cancel_while_blocked("recv", move || rx.recv().ok());
    drop(tx);
    let (tx, rx) = mpsc::sync_channel::<u8>(1);
    tx.send(1).unwrap();
    cancel_while_blocked("send on a full sync_channel", move || tx.send(2).is_ok());
    assert_eq!(rx.recv().ok(), Some(1));
    assert!(
        rx.try_recv().is_err(),
        "the cancelled send delivered nothing"
    );
    let (tx, rx) = mpsc::sync_channel::<u8>(0);
    cancel_while_blocked("rendezvous send", move || tx.send(3).is_ok());
    assert!(
        rx.try_recv().is_err(),
        "a cancelled rendezvous send takes its message back"
    );

    // join, sleep, park.
    let stop = Arc::new(Event::new());
    let s2 = stop.clone();
    let child = thread::spawn(move || s2.wait());
    cancel_while_blocked("join", move || child.join().is_ok());
    stop.set();
    cancel_while_blocked("sleep", || thread::sleep(Duration::from_secs(3600)));
    cancel_while_blocked("park", || loop {
        thread::park();
    });
}

#[test]
fn a_cancelled_barrier_waiter_withdraws_its_arrival() {
    two_workers();
    let b = Arc::new(Barrier::new(2));
    let b2 = b.clone();
    cancel_while_blocked("Barrier::wait", move || b2.wait().is_leader());
    // Had the cancelled waiter stayed counted, this one would pass alone.
    let b2 = b.clone();
    let first = thread::spawn(move || b2.wait().is_leader());
    thread::sleep(Duration::from_millis(50));
    assert!(
        !first.is_finished(),
        "the barrier opened with one real arrival"
    );
    let second = b.wait().is_leader();
    assert!(first.join().unwrap() ^ second);
}

#[test]
fn once_waiters_and_initializers_can_be_cancelled() {
    two_workers();
    static ONCE: Once = Once::new();
    let release = Arc::new(Event::new());
    let r2 = release.clone();
    let init = thread::spawn(move || ONCE.call_once(|| r2.wait()));
    thread::sleep(Duration::from_millis(50));
    // A waiter for the running initializer.
    cancel_while_blocked("Once (waiting)", || ONCE.call_once(|| ()));
    // The initializer itself: the Once is poisoned, as by a panic.
    init.cancel();
    assert_cancelled(init.join());
    assert!(!ONCE.is_completed());
    let poisoned = std::panic::catch_unwind(|| ONCE.call_once(|| ()));
    assert!(
        poisoned.is_err(),
        "a cancelled initializer poisons the Once"
    );
    let mut ran = false;
    ONCE.call_once_force(|state| {
        assert!(state.is_poisoned());
        ran = true;
    });
    assert!(ran);
    release.set();
}

#[test]
fn connect_can_be_cancelled() {
    two_workers();
    // A listener whose backlog is full and that never accepts: further
    // connection attempts get no answer (the SYN is dropped), so connect
    // blocks.
    let raw = socket_with_backlog_zero();
    let addr = raw.local_addr().unwrap();
    let mut fillers = Vec::new();
    let blocked_connect = loop {
        let h = thread::spawn(move || TcpStream::connect(addr).map(|_| ()).map_err(|e| e.kind()));
        thread::sleep(Duration::from_millis(100));
        if !h.is_finished() {
            break h;
        }
        fillers.push(h.join().unwrap());
        assert!(fillers.len() < 64, "connect never blocked");
    };
    let t = Instant::now();
    blocked_connect.cancel();
    assert_cancelled(blocked_connect.join());
    assert!(t.elapsed() < Duration::from_secs(5));
    drop(raw);
}

/// A listening socket on 127.0.0.1 with a backlog of 0 (std's is 128).
fn socket_with_backlog_zero() -> std::net::TcpListener {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor this function owns; on
    // success it is handed to a TcpListener that closes it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, &sin as *const _ as *const libc::sockaddr, len),
            0
        );
        assert_eq!(libc::listen(fd, 0), 0);
        std::net::TcpListener::from_raw_fd(fd)
    }
}

#[test]
fn cancelling_a_finished_thread_does_nothing() {
    let h = thread::spawn(|| 7);
    while !h.is_finished() {
        thread::sleep(Duration::from_millis(1));
    }
    h.cancel();
    h.cancel();
    assert_eq!(h.join().unwrap(), 7);
    // A thread that is cancelled only after it stopped blocking finishes
    // its work if it never blocks again.
    // (Cancelled once running: one cancelled before it starts never runs.)
    let go = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let (g2, s2) = (go.clone(), started.clone());
    let h = thread::spawn(move || {
        s2.store(true, Ordering::SeqCst);
        while !g2.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        "computed"
    });
    while !started.load(Ordering::SeqCst) {
        std::hint::spin_loop();
    }
    h.cancel();
    go.store(true, Ordering::SeqCst);
    assert_eq!(h.join().unwrap(), "computed");
}

#[test]
fn a_cancellation_is_delivered_once() {
    let h = thread::spawn(|| {
        let first = std::panic::catch_unwind(|| thread::sleep(Duration::from_secs(3600)));
        assert!(first.unwrap_err().is::<Cancelled>());
        // Caught: the thread goes on, and is not cancelled again.
        thread::sleep(Duration::from_millis(20));
        "went on"
    });
    thread::sleep(Duration::from_millis(50));
    h.cancel();
    assert_eq!(h.join().unwrap(), "went on");
}

#[test]
fn shield_defers_the_cancellation_to_its_end() {
    let steps = Arc::new(Mutex::new(Vec::new()));
    let s2 = steps.clone();
    let started = Arc::new(Event::new());
    let st2 = started.clone();
    let h = thread::spawn(move || {
        let v = green::shield(|| {
            let t = Instant::now();
            st2.set();
            thread::sleep(Duration::from_millis(100));
            s2.lock().unwrap().push(t.elapsed());
            5
        });
        // Not reached: the cancellation is delivered as the shield ends.
        s2.lock().unwrap().push(Duration::ZERO);
        v
    });
    started.wait();
    h.cancel();
    assert_cancelled(h.join());
    let steps = steps.lock().unwrap();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert!(
        steps[0] >= Duration::from_millis(100),
        "the shielded sleep was cut: {steps:?}"
    );
    // Without a pending cancellation, shield is transparent.
    assert_eq!(green::shield(|| 3), 3);
}

#[test]
fn checkpoint_makes_a_computation_cancellable() {
    let h = thread::spawn(|| {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n + 1);
            if n.is_multiple_of(4096) {
                green::checkpoint();
            }
        }
    });
    thread::sleep(Duration::from_millis(30));
    h.cancel();
    assert_cancelled(h.join());
}

#[test]
fn group_cancel_all_stops_every_member() {
    two_workers();
    let group = Group::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Arc::new(Mutex::new(rx));
    let handles: Vec<_> = (0..200u32)
        .map(|i| {
            let (d, rx) = (Dropper(drops.clone()), rx.clone());
            group.spawn(move || {
                let _d = d;
                if i.is_multiple_of(2) {
                    thread::sleep(Duration::from_secs(3600));
                } else {
                    // Waits on the mutex or, holding it, on the channel.
                    // (a lock poisoned by a cancelled holder is taken all
                    // the same: every member blocks until cancelled).
                    let r = rx.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = r.recv();
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    assert_eq!(group.len(), 200);
    let t = Instant::now();
    assert_eq!(group.cancel_all(), 200);
    assert!(group.join_all_timeout(Duration::from_secs(10)));
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(group.is_empty());
    for h in handles {
        assert_cancelled(h.join());
    }
    assert_eq!(drops.load(Ordering::SeqCst), 200);
    drop(tx);
    // The group goes on being usable.
    assert_eq!(group.spawn(|| 1).join().unwrap(), 1);
}

#[test]
fn group_cancel_on_panic_stops_the_others() {
    let group = Group::new();
    group.set_cancel_on_panic(true);
    let sleepers: Vec<_> = (0..20)
        .map(|_| group.spawn(|| thread::sleep(Duration::from_secs(3600))))
        .collect();
    let failing = group.spawn(|| {
        thread::sleep(Duration::from_millis(30));
        panic!("one member failed");
    });
    assert!(group.join_all_timeout(Duration::from_secs(10)));
    assert_eq!(
        failing.join().unwrap_err().downcast_ref::<&str>(),
        Some(&"one member failed")
    );
    for s in sleepers {
        assert_cancelled(s.join());
    }
    // A cancelled member does not cancel the others.
    let a = group.spawn(|| thread::sleep(Duration::from_millis(200)));
    let b = group.spawn(|| thread::sleep(Duration::from_secs(3600)));
    b.cancel();
    assert_cancelled(b.join());
    assert!(a.join().is_ok());
}

#[test]
fn pool_cancel_all_frees_every_slot_and_map_reports_cancelled_items() {
    two_workers();
    let pool = Pool::new(5);
    for _ in 0..5 {
        pool.spawn(|| thread::sleep(Duration::from_secs(3600)));
    }
    assert!(pool.is_full());
    assert_eq!(pool.cancel_all(), 5);
    pool.join_all();
    assert_eq!(pool.free_count(), 5);

    // map: the items running when the pool is cancelled come out as Err.
    let pool = Arc::new(Pool::new(3));
    let p2 = pool.clone();
    let canceller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        p2.cancel_all()
    });
    let results: Vec<_> = pool
        .map(0..6u64, |i| {
            if i >= 3 {
                return i;
            }
            thread::sleep(Duration::from_secs(3600));
            i
        })
        .collect();
    assert_eq!(canceller.join().unwrap(), 3);
    assert_eq!(results.len(), 6);
    for r in &results[..3] {
        assert!(r.as_ref().unwrap_err().is::<Cancelled>());
    }
    assert_eq!(
        results[3..]
            .iter()
            .map(|r| *r.as_ref().unwrap())
            .collect::<Vec<_>>(),
        [3, 4, 5]
    );
}

#[test]
fn spawn_after_cancelled_before_it_starts_never_runs() {
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let h = green::spawn_after(Duration::from_secs(3600), move || {
        r2.store(true, Ordering::SeqCst)
    });
    thread::sleep(Duration::from_millis(20));
    h.cancel();
    assert_cancelled(h.join());
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn the_panic_hook_prints_nothing_for_a_cancellation() {
    const CHILD: &str = "GREEN_CANCEL_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let handles: Vec<_> = (0..10)
            .map(|_| thread::spawn(|| thread::sleep(Duration::from_secs(3600))))
            .collect();
        thread::sleep(Duration::from_millis(50));
        for h in &handles {
            h.cancel();
        }
        for h in handles {
            assert!(h.join().unwrap_err().is::<Cancelled>());
        }
        // A real panic still reports, as a control.
        let _ = thread::spawn(|| panic!("a real panic, for contrast")).join();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_panic_hook_prints_nothing_for_a_cancellation",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("a real panic, for contrast"), "{stderr}");
    assert_eq!(stderr.matches("panicked").count(), 1, "{stderr}");
}

/// gevent's test__greenlet `test_kill_before_start` (and `joinall` of
/// greenlets killed before they ran): a coroutine cancelled before it
/// first runs never runs its function, its captures are dropped, and
/// `join` gives the cancellation. One worker: the spawner holds it, so
/// the children cannot have started when they are cancelled.
#[test]
fn a_thread_cancelled_before_it_starts_never_runs() {
    if !alone::here() {
        return; // it ran, and passed, in a child process
    }
    green::Config::new().workers(1).apply().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let outer = thread::spawn(move || {
        let dropped = Arc::new(());
        let handles: Vec<_> = (0..100)
            .map(|_| {
                let (r, d) = (r.clone(), dropped.clone());
                thread::spawn(move || {
                    let _keep = d;
                    r.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for h in &handles {
            h.cancel();
        }
        let cancelled = handles
            .into_iter()
            .map(|h| h.join().unwrap_err().is::<Cancelled>())
            .filter(|&c| c)
            .count();
        // A group member and a pool's map item cancelled before they ran.
        let group = Group::new();
        let member = group.spawn(|| 1);
        group.cancel_all();
        let member_cancelled = member.join().unwrap_err().is::<Cancelled>();
        group.join_all();
        (cancelled, Arc::strong_count(&dropped), member_cancelled)
    });
    let (cancelled, refs, member_cancelled) = outer.join().unwrap();
    assert_eq!(cancelled, 100);
    assert_eq!(refs, 1, "every closure was dropped");
    assert!(member_cancelled);
    assert_eq!(ran.load(Ordering::SeqCst), 0, "no body ran");
}

/// A map whose items are cancelled before they start still reports each
/// of them (as cancelled) instead of waiting for them forever.
#[test]
fn map_items_cancelled_before_they_start_are_reported() {
    if !alone::here() {
        return; // it ran, and passed, in a child process
    }
    green::Config::new().workers(1).apply().unwrap();
    let outer = thread::spawn(|| {
        let pool = Arc::new(Pool::new(4));
        let p = pool.clone();
        // Cancel every member as soon as the map has started them (the
        // canceller runs right after the map's spawns, on the one worker).
        let canceller = thread::spawn(move || {
            while p.is_empty() {
                thread::yield_now();
            }
            p.cancel_all()
        });
        let results: Vec<bool> = pool
            .map(0..4, |_| thread::sleep(Duration::from_secs(3600)))
            .map(|r| r.unwrap_err().is::<Cancelled>())
            .collect();
        canceller.join().unwrap();
        results
    });
    let results = outer
        .join_timeout(Duration::from_secs(30))
        .unwrap()
        .unwrap();
    assert_eq!(results, [true; 4]);
}

/// gevent's `kill(exception=…)`: the payload of the caller's choosing is
/// what `join` gives; a second cancellation keeps the first.
#[test]
fn cancel_with_unwinds_with_the_callers_payload() {
    #[derive(Debug, PartialEq)]
    struct Reload(u32);
    let blocked = thread::spawn(|| thread::sleep(Duration::from_secs(3600)));
    thread::sleep(Duration::from_millis(10));
    blocked.cancel_with(Reload(1));
    blocked.cancel_with(Reload(2));
    blocked.cancel();
    let payload = blocked.join().unwrap_err();
    assert_eq!(payload.downcast_ref::<Reload>(), Some(&Reload(1)));
    // Before it starts, too (one worker is not needed: either way the
    // payload is what join gives).
    let h = thread::spawn(|| thread::sleep(Duration::from_secs(3600)));
    h.cancel_with("shutdown");
    assert_eq!(
        h.join().unwrap_err().downcast_ref::<&str>(),
        Some(&"shutdown")
    );
    // A finished thread: nothing happens.
    let done = thread::spawn(|| 5);
    while !done.is_finished() {
        thread::sleep(Duration::from_millis(1));
    }
    done.cancel_with(Reload(3));
    assert_eq!(done.join().unwrap(), 5);
}

// ---------------------------------------------------------------------------
// The destructor rule: a cancellation or a deadline never cuts a wait made
// inside a destructor; it is delivered at the next wait after it.
// ---------------------------------------------------------------------------

type Items = Arc<Mutex<Vec<u32>>>;

/// Gives its item back to the pool under the pool's lock, as a pooled
/// connection's guard does; `deferred`: through `green::defer_cancel`, as
/// a destructor that waits on the normal path must.
struct Pooled {
    item: Option<u32>,
    pool: Items,
    deferred: bool,
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut give_back = || self.pool.lock().unwrap().extend(self.item.take());
        if self.deferred {
            green::defer_cancel(give_back);
        } else {
            give_back();
        }
    }
}

fn sorted(pool: &Items) -> Vec<u32> {
    let mut v = pool.lock().unwrap().clone();
    v.sort_unstable();
    v
}

/// Long enough for every waiter to be parked on the held lock and for any
/// 3 ms deadline to have passed; the assertions hold for any longer delay.
const HOLD: Duration = Duration::from_millis(150);

#[test]
fn a_destructor_waiting_on_a_contended_lock_finishes_when_cancelled() {
    two_workers();
    let pool: Items = Arc::new(Mutex::new(vec![7]));
    let after_drop = Arc::new(AtomicBool::new(false));
    let after_sleep = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (p, d, s) = (pool.clone(), after_drop.clone(), after_sleep.clone());
    let h = thread::spawn(move || {
        let item = p.lock().unwrap().pop();
        let guard = Pooled {
            item,
            pool: p,
            deferred: true,
        };
        ready_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        drop(guard); // waits for the lock the test holds, and is cancelled meanwhile
        d.store(true, Ordering::SeqCst);
        thread::sleep(Duration::from_secs(60)); // the cancellation lands here
        s.store(true, Ordering::SeqCst);
    });
    ready_rx.recv().unwrap();
    let held = pool.lock().unwrap();
    go_tx.send(()).unwrap();
    std::thread::sleep(HOLD);
    let t = Instant::now();
    h.cancel();
    std::thread::sleep(HOLD);
    assert!(
        !h.is_finished(),
        "the destructor's wait was cut by the cancellation"
    );
    assert!(!after_drop.load(Ordering::SeqCst));
    drop(held);
    assert_cancelled(h.join());
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "the sleep after it was not cut"
    );
    assert!(
        after_drop.load(Ordering::SeqCst),
        "the destructor did not finish"
    );
    assert!(!after_sleep.load(Ordering::SeqCst));
    assert_eq!(sorted(&pool), vec![7], "the item was lost");
}

#[test]
fn destructors_waiting_on_a_contended_lock_finish_after_their_timeout_elapsed() {
    // The case: four guards give their items back under a
    // Mutex, each inside `with_timeout(3 ms)`; 3 of 4 items were lost.
    // The test holds the pool's lock while the deadlines pass.
    two_workers();
    let pool: Items = Arc::new(Mutex::new(Vec::new()));
    let dropped = Arc::new(AtomicUsize::new(0));
    let after_sleep = Arc::new(AtomicUsize::new(0));
    let held = pool.lock().unwrap();
    let mut handles = Vec::new();
    for item in [1, 2, 3, 4] {
        let (p, d, s) = (pool.clone(), dropped.clone(), after_sleep.clone());
        handles.push(thread::spawn(move || {
            green::with_timeout(Duration::from_millis(3), move || {
                drop(Pooled {
                    item: Some(item),
                    pool: p,
                    deferred: true,
                });
                d.fetch_add(1, Ordering::SeqCst);
                thread::sleep(Duration::from_secs(60)); // the deadline lands here
                s.fetch_add(1, Ordering::SeqCst);
            })
        }));
    }
    std::thread::sleep(HOLD);
    assert!(
        handles.iter().all(|h| !h.is_finished()),
        "a destructor's wait was cut by its deadline"
    );
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    drop(held);
    let t = Instant::now();
    for h in handles {
        assert!(h.join().unwrap().is_err(), "the deadline was lost");
    }
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "a sleep after it was not cut"
    );
    assert_eq!(dropped.load(Ordering::SeqCst), 4);
    assert_eq!(after_sleep.load(Ordering::SeqCst), 0);
    assert_eq!(sorted(&pool), vec![1, 2, 3, 4], "items were lost");
}

#[test]
fn destructors_run_by_an_unwinding_finish_their_waits_unshielded() {
    // No `defer_cancel`: an unwinding shields its destructors by itself.
    two_workers();
    let pool: Items = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    // 1. The unwinding of the cancellation itself.
    let p = pool.clone();
    let r = ready_tx.clone();
    let cancelled = thread::spawn(move || {
        let _guard = Pooled {
            item: Some(1),
            pool: p,
            deferred: false,
        };
        r.send(()).unwrap();
        thread::sleep(Duration::from_secs(60));
    });
    // 2. A panic's unwinding, during which a 3 ms deadline expires.
    let p = pool.clone();
    let panicked = thread::spawn(move || {
        green::with_timeout(Duration::from_millis(3), move || {
            let _guard = Pooled {
                item: Some(2),
                pool: p,
                deferred: false,
            };
            ready_tx.send(()).unwrap();
            panic!("the body fails");
        })
    });
    ready_rx.recv().unwrap();
    let held = pool.lock().unwrap();
    ready_rx.recv().unwrap();
    cancelled.cancel();
    std::thread::sleep(HOLD);
    assert!(
        !cancelled.is_finished() && !panicked.is_finished(),
        "an unwinding destructor's wait was cut"
    );
    drop(held);
    assert_cancelled(cancelled.join());
    let p = panicked.join().expect_err("the panic goes on");
    assert_eq!(p.downcast_ref::<&str>(), Some(&"the body fails"));
    assert_eq!(sorted(&pool), vec![1, 2], "an item was lost");
}

/// std counts panics per OS thread. A coroutine whose destructor waits
/// while it unwinds must not leave that count raised for the coroutines
/// that run on its worker meanwhile or after (they would see
/// `thread::panicking()`, poison the locks they release, and have their
/// cancellations held back), whichever worker it ends its unwinding on.
#[test]
fn an_unwinding_that_waits_leaves_no_panic_behind_on_its_workers() {
    if !alone::here() {
        return; // it ran, and passed, in a child process
    }
    two_workers();
    for round in 0..20 {
        let pool: Items = Arc::new(Mutex::new(Vec::new()));
        let held = pool.lock().unwrap();
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let p = pool.clone();
        let panicking = thread::spawn(move || {
            let _guard = Pooled {
                item: Some(round),
                pool: p,
                deferred: false,
            };
            ready_tx.send(()).unwrap();
            panic!("the body fails");
        });
        ready_rx.recv().unwrap();
        // While the destructor waits for the lock, and after: coroutines
        // on every worker see no panic, and are cancelled at once.
        let check = || {
            let seen: Vec<_> = (0..8)
                .map(|_| {
                    thread::spawn(|| {
                        (0..50).any(|_| {
                            thread::yield_now();
                            thread::panicking()
                        })
                    })
                })
                .collect();
            for s in seen {
                assert!(!s.join().unwrap(), "a coroutine saw another's panic");
            }
            let sleepers: Vec<_> = (0..8)
                .map(|_| thread::spawn(|| thread::sleep(Duration::from_secs(3600))))
                .collect();
            thread::sleep(Duration::from_millis(5));
            let t = Instant::now();
            for s in sleepers {
                s.cancel();
                assert!(s.join().unwrap_err().is::<Cancelled>());
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "cancellations held back"
            );
        };
        check();
        drop(held);
        assert!(panicking.join().is_err());
        check();
        assert_eq!(sorted(&pool), vec![round]);
    }
}

// ---------------------------------------------------------------------------
// The five waits that once parked through the raw park functions (issue 19:
// a Unix connect to a full backlog, a child waited for by polling, green-os's
// poll fallback, its wait on a descriptor epoll refuses, the signal pipe's
// fallback). Each is recorded in `dump()` at the caller's line with its kind,
// ends with a cancellation and with `with_timeout`'s deadline, and leaves its
// worker free (1 worker, no hand-off, and 2 workers). The fallbacks run when
// the kernel refuses something: poll's past the kernel's limit of nested
// epoll paths to one file, reached here with 600 pollers; the others on
// refusals this kernel does not make (no `pidfd_open` before Linux 5.3,
// epoll out of memory, an `EPERM` Linux gives only for files that are always
// ready), made here by a seccomp filter in the test's own process (`alone`).
// ---------------------------------------------------------------------------

const LIMIT: Duration = Duration::from_secs(60);

fn workers(n: usize) {
    // With one worker, no hand-off thread either: a wait that blocked its
    // worker would stop every other coroutine.
    let max = if n == 1 { 1 } else { 64 };
    green::Config::new()
        .workers(n)
        .max_threads(max)
        .apply()
        .unwrap();
    // The runtime and its descriptors are up before any filter or fill.
    thread::spawn(|| ()).join().unwrap();
}

/// Waits (at most `LIMIT`) until the coroutine `name` is parked in a `kind`
/// wait recorded at `line` of this file (on `object`, if given), with a
/// deadline or (`timed` false) without.
fn parked_at(name: &str, kind: WaitKind, line: u32, object: Option<usize>, timed: bool) {
    let t = Instant::now();
    loop {
        let d = green::dump();
        let found = d.tasks().iter().any(|t| {
            t.name() == Some(name)
                && t.state() == TaskState::Parked
                && t.wait().is_some_and(|w| {
                    w.kind() == kind
                        && object.is_none_or(|o| w.object() == o)
                        && w.is_timed() == timed
                        && w.location().file() == file!()
                        && w.location().line() == line
                })
        });
        if found {
            return;
        }
        assert!(
            t.elapsed() < LIMIT,
            "{name} never parked in {kind:?} at {}:{line}\n{d}",
            file!()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The checks every former raw-park wait passes. `make` gives the wait's
/// body, whose call is at `line`, and the object it waits on when known:
/// run in a coroutine, it is parked there in a `kind` wait (with a deadline
/// if `timed`: the fallbacks look again now and then) while another
/// coroutine runs on its worker; a cancellation ends it with `Cancelled`;
/// run under `with_timeout`, it ends with `Elapsed`; both promptly.
fn a_former_raw_park<F, T>(
    name: &str,
    kind: WaitKind,
    line: u32,
    timed: bool,
    make: impl Fn() -> (Option<usize>, F),
) where
    F: FnOnce() -> T + Send + 'static,
    T: Send + std::fmt::Debug + 'static,
{
    // Cancelled.
    let (object, body) = make();
    let h = thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .unwrap();
    parked_at(name, kind, line, object, timed);
    let other = thread::spawn(|| 7);
    match other.join_timeout(LIMIT) {
        Ok(r) => assert_eq!(r.unwrap(), 7),
        Err(_) => panic!("{name}: the wait holds its worker"),
    }
    let t = Instant::now();
    h.cancel();
    let r = h
        .join_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("{name}: still waiting after the cancellation"));
    assert_cancelled(r);
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "{name}: cancelled in {took:?}"
    );

    // Its deadline elapses (never early; the wait is entered well before).
    let (_, body) = make();
    let t = Instant::now();
    let h = thread::spawn(move || green::with_timeout(Duration::from_millis(300), body));
    let r = h
        .join_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("{name}: still waiting after its deadline"));
    match r {
        Ok(Err(green::Elapsed { .. })) => {}
        other => panic!("{name}: {other:?} instead of Elapsed"),
    }
    assert!(t.elapsed() >= Duration::from_millis(300));
}

fn unix_connect_to_a_full_backlog(n: usize) {
    use greenstd::os::unix::net::UnixStream;
    workers(n);
    let dir = std::env::temp_dir().join(format!("greenstd-cancel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("full.sock");
    let listener = green::bind_unix_with_backlog(&path, 0).unwrap();
    // Fill the backlog with connections nobody accepts, until the kernel
    // says `EAGAIN` to a non-blocking one.
    let mut queued = Vec::new();
    loop {
        let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        match s.connect(&socket2::SockAddr::unix(&path).unwrap()) {
            Ok(()) => queued.push(s),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
            Err(e) => panic!("connect: {e}"),
        }
        assert!(queued.len() < 1000, "the backlog never filled");
    }
    let line = line!() + 3;
    a_former_raw_park("unix-connect", WaitKind::Connect, line, true, || {
        let p = path.clone();
        (None, move || UnixStream::connect(&p).map(drop))
    });
    drop((listener, queued));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_unix_connect_to_a_full_backlog_ends_on_one_worker() {
    if alone::here() {
        unix_connect_to_a_full_backlog(1);
    }
}

#[test]
fn a_unix_connect_to_a_full_backlog_ends_on_two_workers() {
    if alone::here() {
        unix_connect_to_a_full_backlog(2);
    }
}

/// `green::poll` when the kernel refuses to nest its private epoll instance
/// in the pollers: it looks with `poll(2)` between recorded sleeps. Linux
/// allows 500 nested wake-up paths of this length to one file
/// (`path_limits` in fs/eventpoll.c), so 600 pollers of one descriptor are
/// enough for the later ones to be refused (`EINVAL`).
fn poll_when_the_nesting_is_refused(n: usize) {
    use std::io::Write as _;
    use std::os::fd::{AsFd, AsRawFd};
    workers(n);
    let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let b = Arc::new(b);
    let line = line!() + 3;
    let poller = |b: Arc<std::os::unix::net::UnixStream>| {
        let flags = green::PollFlags::POLLIN;
        move || green::poll(&mut [green::PollFd::new(b.as_fd(), flags)], None)
    };
    let fillers: Vec<_> = (0..600)
        .map(|_| {
            let body = poller(b.clone());
            thread::Builder::new()
                .name("filler".into())
                .spawn(body)
                .unwrap()
        })
        .collect();
    let t = Instant::now();
    while !green::dump()
        .tasks()
        .iter()
        .any(|t| t.name() == Some("filler") && t.wait().is_some_and(|w| w.kind() == WaitKind::Poll))
    {
        assert!(
            t.elapsed() < LIMIT,
            "no poller was refused\n{}",
            green::dump()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    a_former_raw_park("poll", WaitKind::Poll, line, true, || {
        (Some(b.as_raw_fd() as usize), poller(b.clone()))
    });
    a.write_all(b"x").unwrap();
    for f in fillers {
        assert_eq!(f.join_timeout(LIMIT).unwrap().unwrap().unwrap(), 1);
    }
}

#[test]
fn a_poll_whose_nesting_is_refused_ends_on_one_worker() {
    if alone::here() {
        poll_when_the_nesting_is_refused(1);
    }
}

#[test]
fn a_poll_whose_nesting_is_refused_ends_on_two_workers() {
    if alone::here() {
        poll_when_the_nesting_is_refused(2);
    }
}

/// The fallbacks behind a refusal no kernel here makes by itself: a
/// seccomp filter (Linux, x86-64 and AArch64) makes it, in the test's own
/// process.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod refused {
    use super::*;

    /// The `seccomp_data` offsets of a system call's number, its architecture
    /// and the low half of its argument `i` (little-endian targets).
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    const fn arg(i: u32) -> u32 {
        16 + 8 * i
    }

    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64

    /// Makes the kernel fail the system call `nr` with `errno`, for every thread
    /// of this process, for the rest of its life (run the test `alone`). With
    /// `fd_floor`, only `epoll_ctl(_, EPOLL_CTL_ADD, fd, _)` with `fd >=
    /// fd_floor` fails: the registrations of descriptors opened after
    /// [`fill_descriptors_below`].
    fn refuse(nr: libc::c_long, fd_floor: Option<u32>, errno: i32) {
        use libc::{
            sock_filter, BPF_ABS, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W,
        };
        let load = |k| sock_filter {
            code: (BPF_LD | BPF_W | BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k,
        };
        // Goes on when equal (or greater), else jumps to the last instruction.
        let test = |op, k, allow: u8| sock_filter {
            code: (BPF_JMP | op | BPF_K) as u16,
            jt: 0,
            jf: allow,
            k,
        };
        let ret = |k| sock_filter {
            code: (BPF_RET | BPF_K) as u16,
            jt: 0,
            jf: 0,
            k,
        };
        let mut f = vec![load(ARCH), test(BPF_JEQ, AUDIT_ARCH, 0), load(NR)];
        f.push(test(BPF_JEQ, nr as u32, 0));
        if let Some(floor) = fd_floor {
            f.push(load(arg(1)));
            f.push(test(BPF_JEQ, libc::EPOLL_CTL_ADD as u32, 0));
            f.push(load(arg(2)));
            f.push(test(BPF_JGE, floor, 0));
        }
        f.push(ret(libc::SECCOMP_RET_ERRNO | errno as u32));
        f.push(ret(libc::SECCOMP_RET_ALLOW));
        // Point each test's "else" at the last instruction.
        let last = f.len() - 1;
        for (i, ins) in f.iter_mut().enumerate() {
            if ins.code == (BPF_JMP | BPF_JEQ | BPF_K) as u16
                || ins.code == (BPF_JMP | BPF_JGE | BPF_K) as u16
            {
                ins.jf = (last - i - 1) as u8;
            }
        }
        let prog = libc::sock_fprog {
            len: f.len() as u16,
            filter: f.as_mut_ptr(),
        };
        // SAFETY: plain prctl/seccomp calls; `prog` points at `f`, alive
        // during the call (the kernel copies the program).
        unsafe {
            assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
            let r = libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::SECCOMP_FILTER_FLAG_TSYNC,
                &prog as *const libc::sock_fprog,
            );
            assert_eq!(r, 0, "seccomp: {}", std::io::Error::last_os_error());
        }
    }

    /// Opens `/dev/null` until every descriptor number below `floor` is taken,
    /// so that the next one opened is `floor` or above; returns them (keep
    /// them open).
    fn fill_descriptors_below(floor: u32) -> Vec<std::fs::File> {
        use std::os::fd::AsRawFd;
        let mut held = Vec::new();
        loop {
            let f = std::fs::File::open("/dev/null").unwrap();
            let n = f.as_raw_fd() as u32;
            held.push(f);
            if n + 1 >= floor {
                return held;
            }
        }
    }

    /// Descriptors from here on are not registered by the pollers: epoll_ctl
    /// fails with `errno` for them.
    const FLOOR: u32 = 200;

    /// Fills the descriptor table below `FLOOR`, then makes the pollers refuse
    /// every descriptor opened from now on with `errno`; returns the fillers.
    fn refuse_registrations(errno: i32) -> Vec<std::fs::File> {
        let held = fill_descriptors_below(FLOOR);
        refuse(libc::SYS_epoll_ctl, Some(FLOOR), errno);
        held
    }

    /// `Child::wait` when the kernel gives no pidfd (`pidfd_open` says
    /// `ENOSYS`) or the pollers refuse it (`EPERM`): it polls `try_wait`
    /// between recorded sleeps, on the child's process id (the pidfd's wait
    /// is on its descriptor).
    fn child_wait_by_polling(n: usize, no_pidfd: bool) {
        use greenstd::process::Command;
        workers(n);
        let _held = if no_pidfd {
            refuse(libc::SYS_pidfd_open, None, libc::ENOSYS);
            Vec::new()
        } else {
            refuse_registrations(libc::EPERM)
        };
        let children = Arc::new(Mutex::new(Vec::new()));
        let c = children.clone();
        let line = line!() + 5;
        a_former_raw_park("child-wait", WaitKind::Child, line, true, || {
            let mut child = Command::new("sleep").arg("60").spawn().unwrap();
            let pid = child.id();
            c.lock().unwrap().push(pid);
            (Some(pid as usize), move || child.wait())
        });
        reap(&children.lock().unwrap());
    }

    #[test]
    fn a_child_waited_for_without_pidfd_ends_on_one_worker() {
        if alone::here() {
            child_wait_by_polling(1, true);
        }
    }

    #[test]
    fn a_child_waited_for_without_pidfd_ends_on_two_workers() {
        if alone::here() {
            child_wait_by_polling(2, true);
        }
    }

    #[test]
    fn a_child_whose_pidfd_the_pollers_refuse_ends_on_two_workers() {
        if alone::here() {
            child_wait_by_polling(2, false);
        }
    }

    /// `green::wait_readable` on a descriptor epoll refuses (`EPERM`, which
    /// Linux says only for files that are always ready, so only a filter
    /// reaches it): it sleeps until its deadline, recorded on the caller's
    /// descriptor (the normal wait is on a duplicate).
    fn wait_readable_when_epoll_refuses(n: usize) {
        use std::os::fd::AsRawFd;
        workers(n);
        let (_a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let b = Arc::new(b);
        let _held = refuse_registrations(libc::EPERM);
        let line = line!() + 4;
        a_former_raw_park("wait-readable", WaitKind::Read, line, false, || {
            let b = b.clone();
            let fd = b.as_raw_fd() as usize;
            (Some(fd), move || green::wait_readable(&*b, None))
        });
    }

    #[test]
    fn a_wait_readable_that_epoll_refuses_ends_on_one_worker() {
        if alone::here() {
            wait_readable_when_epoll_refuses(1);
        }
    }

    #[test]
    fn a_wait_readable_that_epoll_refuses_ends_on_two_workers() {
        if alone::here() {
            wait_readable_when_epoll_refuses(2);
        }
    }

    /// `Signals::recv` when its pipe cannot be registered (`ENOMEM`): it looks
    /// again every 10 ms, a timed wait (the normal one has no deadline).
    fn signals_when_the_pipe_is_refused(n: usize) {
        use green::signal::{Signals, SIGUSR2};
        workers(n);
        let _held = refuse_registrations(libc::ENOMEM);
        let line = line!() + 3;
        a_former_raw_park("signals", WaitKind::Read, line, true, || {
            let mut signals = Signals::new([SIGUSR2]).unwrap();
            (None, move || signals.recv())
        });
    }

    #[test]
    fn signals_whose_pipe_is_refused_end_on_one_worker() {
        if alone::here() {
            signals_when_the_pipe_is_refused(1);
        }
    }

    #[test]
    fn signals_whose_pipe_is_refused_end_on_two_workers() {
        if alone::here() {
            signals_when_the_pipe_is_refused(2);
        }
    }
}

/// `cancel_while_blocked` on one body of `make`, then another under a
/// 50 ms `with_timeout`, which must end with `Elapsed`.
fn cancelled_and_timed_out<F, T>(what: &str, mut make: impl FnMut() -> F)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + std::fmt::Debug + 'static,
{
    cancel_while_blocked(what, make());
    let body = make();
    let h = thread::spawn(move || green::with_timeout(Duration::from_millis(50), body));
    let r = h
        .join_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("{what}: still waiting after its deadline"));
    assert!(
        matches!(r, Ok(Err(green::Elapsed { .. }))),
        "{what}: {r:?} instead of Elapsed"
    );
}

/// The normal paths of the same families, each a wait on its I/O source:
/// a pipe, `Child::wait` on its pidfd, `wait_readable`/`wait_writable`,
/// `poll`, `Signals::recv`.
#[test]
fn io_process_and_os_waits_can_be_cancelled_and_timed_out() {
    use greenstd::process::Command;
    use std::os::fd::AsFd;
    two_workers();
    let (r, w) = greenstd::io::pipe().unwrap();
    let r = Arc::new(r);
    cancelled_and_timed_out("pipe read", || {
        let r = r.clone();
        move || (&*r).read(&mut [0; 8]).map_err(|e| e.kind())
    });
    let mut pids = Vec::new();
    cancelled_and_timed_out("Child::wait", || {
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        pids.push(child.id());
        move || child.wait()
    });
    let (_a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let b = Arc::new(b);
    cancelled_and_timed_out("wait_readable", || {
        let b = b.clone();
        move || green::wait_readable(&*b, None)
    });
    cancelled_and_timed_out("poll", || {
        let b = b.clone();
        let flags = green::PollFlags::POLLIN;
        move || green::poll(&mut [green::PollFd::new(b.as_fd(), flags)], None)
    });
    let (c, _d) = std::os::unix::net::UnixStream::pair().unwrap();
    c.set_nonblocking(true).unwrap();
    while (&c).write(&[0; 4096]).is_ok() {}
    let c = Arc::new(c);
    cancelled_and_timed_out("wait_writable", || {
        let c = c.clone();
        move || green::wait_writable(&*c, None)
    });
    cancelled_and_timed_out("Signals::recv", || {
        let mut signals = green::signal::Signals::new([green::signal::SIGUSR2]).unwrap();
        move || signals.recv()
    });
    drop(w);
    reap(&pids);
}

/// Kills and reaps the children of `pids`, whose cancelled waiters left
/// them running.
fn reap(pids: &[u32]) {
    for &pid in pids {
        // SAFETY: kill(2) and waitpid(2) of a child this test spawned and
        // nobody reaped.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
            libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
    }
}
