//! Integration tests are patched too: they share the crate's dependencies,
//! so `std` here is greenstd as well.

use patch_cargo::{client, serve, Store};
use std::any::TypeId;
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn std_is_greenstd_in_integration_tests() {
    assert!(thread::spawn(std::green::in_coroutine).join().unwrap());
    assert!(::std::thread::spawn(std::green::in_coroutine)
        .join()
        .unwrap());
    assert_eq!(
        TypeId::of::<std::net::TcpStream>(),
        TypeId::of::<::std::net::TcpStream>()
    );
    // std's untouched parts: collections, vec!, format!, derives.
    #[derive(Debug, PartialEq, Clone)]
    struct Pair(u8, String);
    let v = vec![Pair(1, format!("{}", 2))];
    assert_eq!(v.clone(), v);
    println!("{v:?}");
}

#[test]
fn store_serves_many_clients_on_few_os_threads() {
    // Under std's listen backlog (128): all connect at once.
    const CLIENTS: usize = 100;
    let listener = TcpListener::bind("localhost:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let store = Store::default();
    let server = thread::spawn(move || serve(listener, store, CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            thread::spawn(move || {
                let commands = [
                    format!("SET k{i} v{i}"),
                    format!("GET k{i}"),
                    "GET nothing".to_string(),
                ];
                thread::sleep(Duration::from_millis(50));
                client(addr, &commands).unwrap()
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    let threads = os_threads();
    for (i, c) in clients.into_iter().enumerate() {
        assert_eq!(
            c.join().unwrap(),
            vec!["OK".to_string(), format!("v{i}"), "NIL".to_string()]
        );
    }
    server.join().unwrap().unwrap();
    assert!(threads < 40, "{threads} OS threads for {CLIENTS} clients");
}

// A bare `thread_local!`, as existing code writes it: under the Cargo form
// the implicit prelude is greenstd's, so it is per coroutine.
thread_local!(static BARE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });

#[test]
fn bare_thread_local_is_per_coroutine() {
    fn key_type<T: 'static>(_: &'static T) -> TypeId {
        TypeId::of::<T>()
    }
    // `std::thread::LocalKey` is greenstd's here, and BARE is one of them.
    assert_eq!(key_type(&BARE), TypeId::of::<greenstd_local_key::Key>());
    let hs: Vec<_> = (1..=50u32)
        .map(|i| {
            thread::spawn(move || {
                BARE.set(i);
                thread::sleep(Duration::from_millis(2));
                BARE.get()
            })
        })
        .collect();
    for (i, h) in (1..=50u32).zip(hs) {
        assert_eq!(h.join().unwrap(), i);
    }
}

mod greenstd_local_key {
    /// The type a bare `thread_local!` declares here.
    pub type Key = std::thread::LocalKey<std::cell::Cell<u32>>;
}
