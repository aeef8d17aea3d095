//! `greenstd::green::dump()`: what every coroutine is doing, as a table.
//!
//! ```text
//! cargo run --example dump
//! GREENSTD_DUMP_SIGNAL=SIGQUIT cargo run --example dump -- --wait
//! ```
//!
//! Starts a few coroutines that block in different ways — one holds a
//! `Mutex` and waits for a message, one waits for that `Mutex`, one sleeps,
//! one joins the sleeper, one waits in `accept` — and prints the dump. With
//! `--wait` it then waits for a line on stdin, so that the dump signal can
//! be tried from another terminal (`kill -QUIT <pid>`): the process prints
//! the table to stderr and runs on.

use std::io::{BufRead, Write};
use std::time::Duration;

use greenstd::green::{self, TaskState};
use greenstd::net::{TcpListener, TcpStream};
use greenstd::sync::atomic::{AtomicBool, Ordering};
use greenstd::sync::mpsc::channel;
use greenstd::sync::{Arc, Mutex};
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

fn main() {
    let wait_for_enter = std::env::args().any(|a| a == "--wait");
    let lock = Arc::new(Mutex::new(0));
    let (release, released) = channel::<()>();
    let stop = Arc::new(AtomicBool::new(false));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();

    let l1 = lock.clone();
    let holder = named("holder", move || {
        let mut g = l1.lock().unwrap();
        released.recv().unwrap();
        *g += 1;
    });
    // Let the holder take the lock first.
    while lock.try_lock().is_ok() {
        thread::sleep(Duration::from_millis(1));
    }
    let l2 = lock.clone();
    let locker = named("locker", move || *l2.lock().unwrap() += 1);
    let s2 = stop.clone();
    let sleeper = named("sleeper", move || {
        while !s2.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(100));
        }
    });
    let joiner = named("joiner", move || sleeper.join().unwrap());
    let acceptor = named("acceptor", move || listener.accept().map(|_| ()));

    // Wait until the five are blocked, then show them.
    let dump = loop {
        let d = green::dump();
        let parked = d
            .tasks()
            .iter()
            .filter(|t| t.is_coroutine() && t.state() == TaskState::Parked)
            .count();
        if parked == 5 {
            break d;
        }
        thread::sleep(Duration::from_millis(5));
    };
    println!("{dump}");
    if wait_for_enter {
        println!("ready: pid {}; press Enter to finish", std::process::id());
        std::io::stdout().flush().unwrap();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).unwrap();
    }

    release.send(()).unwrap();
    stop.store(true, Ordering::SeqCst);
    drop(TcpStream::connect(addr).unwrap());
    holder.join().unwrap();
    locker.join().unwrap();
    joiner.join().unwrap();
    acceptor.join().unwrap().unwrap();
    assert_eq!(*lock.lock().unwrap(), 2);
    println!("done");
}
