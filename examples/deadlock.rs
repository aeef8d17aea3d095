//! The classic deadlocks, and programs that only look stuck, for greenstd's
//! deadlock report (`GREENSTD_DEADLOCK=abort|report|off`, default abort).
//!
//! ```text
//! cargo run --example deadlock -- mutexes     # two threads, two Mutexes, opposite order
//! cargo run --example deadlock -- channel     # everyone waits on a channel nobody sends to
//! cargo run --example deadlock -- join        # main joins a thread that waits for main's lock
//! cargo run --example deadlock -- condvar     # a Condvar nobody notifies
//! ```
//!
//! Each of these ends within a second or so with a report of who waits on
//! what, from which line, and the wait-for cycle, then aborts. The
//! following run to completion with no report: `sleepers`, `accept` (a
//! server idle in `accept` until a client connects: pass its address to
//! connect to on stdout), `plain-thread` (coroutines wait on a plain OS
//! thread that computes, then sleeps), `stdin` (a coroutine reads a line),
//! `hog` (a coroutine computes for half a second without switching: run it
//! with `GREENSTD_MAX_BLOCKING_TIME=100` for the blocked-worker report).
//!
//! This program is also what tests/green_deadlock.rs runs.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use greenstd::net::TcpListener;
use greenstd::sync::mpsc::channel;
use greenstd::sync::{Arc, Barrier, Condvar, Mutex};
use greenstd::thread;

fn named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .expect("spawn")
}

/// Two threads lock two mutexes in opposite order.
fn mutexes() {
    let a = Arc::new(Mutex::new("a"));
    let b = Arc::new(Mutex::new("b"));
    let both_hold_one = Arc::new(Barrier::new(2));
    let (a1, b1, g1) = (a.clone(), b.clone(), both_hold_one.clone());
    let left = named("left", move || {
        let _a = a1.lock().unwrap();
        g1.wait();
        let _b = b1.lock().unwrap(); // [left waits]
    });
    let right = named("right", move || {
        let _b = b.lock().unwrap();
        both_hold_one.wait();
        let _a = a.lock().unwrap(); // [right waits]
    });
    left.join().unwrap(); // [main joins left]
    right.join().unwrap();
}

/// Every thread waits on a channel that nobody will ever send to.
fn channel_nobody_sends_to() {
    let (tx, rx) = channel::<u32>();
    let consumer = named("consumer", move || rx.recv().unwrap()); // [consumer waits]
    let keep_sender_alive = tx;
    println!("{}", consumer.join().unwrap()); // [main joins consumer]
    drop(keep_sender_alive);
}

/// Main holds a lock and joins a thread that waits for that lock.
fn join_waits_for_joiner() {
    let lock = Arc::new(Mutex::new(0));
    let held = lock.lock().unwrap();
    let l2 = lock.clone();
    let child = named("child", move || *l2.lock().unwrap() += 1); // [child waits]
    child.join().unwrap(); // [main joins child]
    drop(held);
}

/// A thread waits on a condition variable that nobody notifies.
fn condvar_nobody_notifies() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p2 = pair.clone();
    let waiter = named("waiter", move || {
        let (lock, cvar) = &*p2;
        let mut ready = lock.lock().unwrap();
        while !*ready {
            ready = cvar.wait(ready).unwrap(); // [waiter waits]
        }
    });
    waiter.join().unwrap(); // [main joins waiter]
    drop(pair);
}

/// Coroutines that sleep, joined by main: not a deadlock.
fn sleepers() {
    let hs: Vec<_> = (0..10)
        .map(|i| {
            named(&format!("sleeper-{i}"), move || {
                thread::sleep(Duration::from_millis(1500))
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

/// A server idle in `accept`, joined by main, until a client (the test, from
/// outside the process) connects: not a deadlock.
fn accept() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("listening on {}", listener.local_addr().unwrap());
    std::io::stdout().flush().unwrap();
    let server = named("server", move || listener.accept().map(|_| ()));
    server.join().unwrap().unwrap();
}

/// Coroutines wait on a channel fed by a plain OS thread (std's own
/// `thread::spawn`, which greenstd does not see) that computes and sleeps.
fn plain_thread() {
    let (tx, rx) = channel::<u64>();
    let consumer = named("consumer", move || rx.recv().unwrap() + rx.recv().unwrap());
    let plain = std::thread::spawn(move || {
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(800) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        tx.send(x | 1).unwrap();
        std::thread::sleep(Duration::from_millis(800));
        tx.send(1).unwrap();
    });
    assert!(consumer.join().unwrap() > 0);
    plain.join().unwrap();
}

/// A coroutine waits for a line on stdin, joined by main: not a deadlock.
fn stdin() {
    let reader = named("reader", || {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    });
    print!("{}", reader.join().unwrap().unwrap());
}

/// A coroutine that holds its worker for 500 ms (not a deadlock: with
/// `GREENSTD_MAX_BLOCKING_TIME` set, the monitor names it and where it is).
/// Its loop calls nothing: in a release build it is inlined into the
/// coroutine's entry point.
fn hog() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static DONE: AtomicBool = AtomicBool::new(false);
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(500));
        DONE.store(true, Ordering::Relaxed);
    });
    named("number-cruncher", || {
        let mut x = 0u64;
        while !DONE.load(Ordering::Relaxed) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        x
    })
    .join()
    .unwrap();
    // Let the monitor's report (printed from its own thread) come out.
    let deadline = Instant::now() + Duration::from_secs(30);
    while shim_rt::monitor::reports_printed() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    match which.as_str() {
        "mutexes" => mutexes(),
        "channel" => channel_nobody_sends_to(),
        "join" => join_waits_for_joiner(),
        "condvar" => condvar_nobody_notifies(),
        "sleepers" => sleepers(),
        "accept" => accept(),
        "plain-thread" => plain_thread(),
        "stdin" => stdin(),
        "hog" => hog(),
        _ => {
            eprintln!(
                "usage: deadlock mutexes|channel|join|condvar|sleepers|accept|plain-thread|stdin|hog"
            );
            std::process::exit(2);
        }
    }
    println!("done");
}
