//! The crate-wide patch took effect everywhere, std's other paths still work.

use std::any::TypeId;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn fully_qualified_spawn_is_a_coroutine() {
    assert!(std::thread::spawn(greenstd::green::in_coroutine)
        .join()
        .unwrap());
    assert!(crate::on_a_thread(greenstd::green::in_coroutine));
    assert!(std::thread::scope(|s| s
        .spawn(greenstd::green::in_coroutine)
        .join()
        .unwrap()));
}

#[test]
fn qualified_and_leading_colon_paths_are_greenstd_s() {
    assert_eq!(
        TypeId::of::<std::thread::JoinHandle<()>>(),
        TypeId::of::<greenstd::thread::JoinHandle<()>>()
    );
    assert_eq!(
        TypeId::of::<::std::thread::JoinHandle<()>>(),
        TypeId::of::<greenstd::thread::JoinHandle<()>>()
    );
}

#[test]
fn every_module_sees_greenstd() {
    assert_eq!(
        TypeId::of::<crate::deep::deeper::Stream>(),
        TypeId::of::<greenstd::net::TcpStream>()
    );
    assert_eq!(
        TypeId::of::<TcpStream>(),
        TypeId::of::<greenstd::net::TcpStream>()
    );
    assert_eq!(
        TypeId::of::<::std::sync::Mutex<u8>>(),
        TypeId::of::<greenstd::sync::Mutex<u8>>()
    );
    assert_eq!(
        TypeId::of::<::std::thread::JoinHandle<()>>(),
        TypeId::of::<greenstd::thread::JoinHandle<()>>()
    );
    assert_eq!(crate::deep::deeper::barrier_count(200), 200);
}

#[test]
fn other_std_paths_are_std_s() {
    let mut map = BTreeMap::new();
    map.insert("k", vec![1u8, 2, 3]);
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
    struct Point {
        x: i32,
    }
    assert_eq!(Point::default().clone(), Point { x: 0 });
    let text = format!("{map:?} {:?}", Point { x: 1 });
    println!("{text}");
    assert_eq!(text, "{\"k\": [1, 2, 3]} Point { x: 1 }");
    let mut out = Vec::new();
    std::io::copy(&mut std::io::Cursor::new(b"abc"), &mut out).unwrap();
    assert_eq!(out, b"abc");
    assert!(std::env::var("PATH").is_ok());
}

#[test]
fn echo_server_many_connections_few_os_threads() {
    // Under std's listen backlog (128): all connect at once.
    const CLIENTS: usize = 100;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let server = std::thread::spawn(move || crate::server::echo_upper(listener, CLIENTS, done_tx));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                let message = format!("client {i} says hi");
                // Held open a while so that all connections are live at once.
                std::thread::sleep(Duration::from_millis(100));
                stream.write_all(message.as_bytes()).unwrap();
                stream.shutdown(Shutdown::Write).unwrap();
                let mut reply = String::new();
                stream.read_to_string(&mut reply).unwrap();
                assert_eq!(reply, message.to_uppercase());
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let threads = os_threads();
    for client in clients {
        client.join().unwrap();
    }
    server.join().unwrap();
    let served: usize = done_rx.iter().take(CLIENTS).sum();
    assert!(served > CLIENTS * 10);
    assert!(
        threads < 40,
        "{threads} OS threads for {CLIENTS} clients and {CLIENTS} handlers"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

std::thread_local! {
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

#[test]
fn qualified_thread_local_is_per_coroutine() {
    let handles: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..5 {
                    DEPTH.with(|d| d.set(d.get() + 1));
                    std::thread::yield_now();
                }
                DEPTH.with(|d| d.get())
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 5);
    }
}
