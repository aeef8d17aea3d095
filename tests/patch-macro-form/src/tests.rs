//! The patch took effect for the wrapped imports, and only for them.

use super::*;
use std::any::TypeId;
use std::time::Instant;

/// OS threads of this process.
fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn spawned_threads_are_coroutines() {
    assert!(thread::spawn(greenstd::green::in_coroutine).join().unwrap());
    // The test's own thread is a plain OS thread.
    assert!(!greenstd::green::in_coroutine());
}

#[test]
fn wrapped_imports_are_greenstd_s() {
    assert_eq!(
        TypeId::of::<TcpStream>(),
        TypeId::of::<greenstd::net::TcpStream>()
    );
    assert_eq!(
        TypeId::of::<TcpListener>(),
        TypeId::of::<greenstd::net::TcpListener>()
    );
    assert_eq!(
        TypeId::of::<Mutex<u8>>(),
        TypeId::of::<greenstd::sync::Mutex<u8>>()
    );
    assert_eq!(
        TypeId::of::<thread::JoinHandle<()>>(),
        TypeId::of::<greenstd::thread::JoinHandle<()>>()
    );
    // … and not std's: paths outside the macro are untouched.
    assert_ne!(
        TypeId::of::<TcpStream>(),
        TypeId::of::<::std::net::TcpStream>()
    );
    assert_ne!(
        TypeId::of::<Mutex<u8>>(),
        TypeId::of::<::std::sync::Mutex<u8>>()
    );
    assert_ne!(
        TypeId::of::<thread::JoinHandle<()>>(),
        TypeId::of::<::std::thread::JoinHandle<()>>()
    );
}

#[test]
fn unpatched_paths_are_std_s() {
    assert_eq!(
        TypeId::of::<HashMap<u8, u8>>(),
        TypeId::of::<::std::collections::HashMap<u8, u8>>()
    );
    assert_eq!(TypeId::of::<io::Error>(), TypeId::of::<::std::io::Error>());
    let mut cursor = io::Cursor::new(vec![b'a'; 3]);
    let mut line = String::new();
    cursor.read_line(&mut line).unwrap();
    assert_eq!(line, "aaa");
    let stats = Stats {
        lines: 2,
        ..Stats::default()
    };
    assert_eq!(stats.clone(), stats);
    let text = format!("{stats:?} {:?}", vec![1, 2]);
    println!("{text}");
    assert!(text.ends_with("[1, 2]"));
}

#[test]
fn thousand_sleeping_threads_share_few_os_threads() {
    let started = Instant::now();
    let before = os_threads();
    let handles: Vec<_> = (0..1000)
        .map(|i| {
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(200));
                i
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(50));
    let during = os_threads();
    let sum: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 999 * 1000 / 2);
    assert!(
        during < before + 32,
        "{before} OS threads before, {during} with 1000 sleepers"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn thread_per_connection_server_with_few_os_threads() {
    // Under std's listen backlog (128): all connect at once.
    const CLIENTS: usize = 100;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || serve(listener, CLIENTS, Duration::from_millis(20)));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            thread::spawn(move || {
                let hello = format!("hello client{i}");
                request(addr, &[&hello, "bye"]).unwrap()
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(10));
    let threads = os_threads();
    for (i, client) in clients.into_iter().enumerate() {
        assert_eq!(
            client.join().unwrap(),
            vec![format!("HELLO CLIENT{i}"), "BYE".to_string()]
        );
    }
    let (stats, log) = server.join().unwrap().unwrap();
    assert_eq!(stats.lines, 2 * CLIENTS);
    assert_eq!(stats.words["HELLO"], CLIENTS);
    assert_eq!(log.len(), 2 * CLIENTS);
    assert!(
        threads < 40,
        "{threads} OS threads for {CLIENTS} clients and their handlers"
    );
}

greenstd::patch_all! {
    thread_local! {
        static COUNTER: ::std::cell::Cell<u32> = const { ::std::cell::Cell::new(0) };
    }
}

#[test]
fn wrapped_thread_local_is_per_coroutine() {
    let handles: Vec<_> = (0..50)
        .map(|_| {
            thread::spawn(|| {
                for _ in 0..10 {
                    COUNTER.with(|c| c.set(c.get() + 1));
                    thread::yield_now();
                }
                COUNTER.with(|c| c.get())
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 10);
    }
}

/// Grouped, nested, aliased and `::std` imports, split by the macro.
mod grouped {
    greenstd::patch_all! {
        pub use std::{collections::BTreeMap, io::Read, net::{self as network, TcpStream}, thread as threads};
        pub use ::std::sync::{Arc, Mutex as Lock};
        pub use std::os::unix::{io::AsRawFd, net::UnixStream};
        pub use std::os::unix as unix_module;
    }
}

greenstd::patch_all! {
    /// Paths in expressions and types of wrapped items, `::std` included.
    fn qualified_paths() -> (bool, TypeId, TypeId) {
        let in_coroutine = ::std::thread::spawn(greenstd::green::in_coroutine).join().unwrap();
        (in_coroutine, TypeId::of::<::std::net::UdpSocket>(), TypeId::of::<std::sync::mpsc::Sender<u8>>())
    }
}

#[test]
fn grouped_and_leading_colon_imports_are_split() {
    use grouped::*;
    assert_eq!(
        TypeId::of::<TcpStream>(),
        TypeId::of::<greenstd::net::TcpStream>()
    );
    assert_eq!(
        TypeId::of::<network::TcpListener>(),
        TypeId::of::<greenstd::net::TcpListener>()
    );
    assert_eq!(
        TypeId::of::<Lock<u8>>(),
        TypeId::of::<greenstd::sync::Mutex<u8>>()
    );
    assert_eq!(
        TypeId::of::<Arc<u8>>(),
        TypeId::of::<::std::sync::Arc<u8>>()
    );
    assert_eq!(
        TypeId::of::<UnixStream>(),
        TypeId::of::<greenstd::os::unix::net::UnixStream>()
    );
    assert_eq!(
        TypeId::of::<unix_module::net::UnixStream>(),
        TypeId::of::<greenstd::os::unix::net::UnixStream>()
    );
    assert_ne!(
        TypeId::of::<UnixStream>(),
        TypeId::of::<::std::os::unix::net::UnixStream>()
    );
    // The parts that stay std's.
    assert_eq!(
        TypeId::of::<BTreeMap<u8, u8>>(),
        TypeId::of::<::std::collections::BTreeMap<u8, u8>>()
    );
    fn _is_std_read<R: ::std::io::Read>() {}
    _is_std_read::<&[u8]>();
    let mut text = String::new();
    (&b"abc"[..]).read_to_string(&mut text).unwrap();
    assert_eq!(text, "abc");
    let (a, b) = UnixStream::pair().unwrap();
    assert!(a.as_raw_fd() != b.as_raw_fd());
    assert!(threads::spawn(greenstd::green::in_coroutine)
        .join()
        .unwrap());

    let (in_coroutine, udp, sender) = qualified_paths();
    assert!(in_coroutine);
    assert_eq!(udp, TypeId::of::<greenstd::net::UdpSocket>());
    assert_eq!(sender, TypeId::of::<greenstd::sync::mpsc::Sender<u8>>());
    assert_ne!(sender, TypeId::of::<::std::sync::mpsc::Sender<u8>>());
}
