//! `green::server::DatagramServer`: a coroutine per UDP datagram, replies
//! on the server's socket, the handler limit, stop(grace).

mod net_util;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenstd::green::server::DatagramServer;
use greenstd::net::UdpSocket;
use greenstd::thread;
use net_util::{os_threads, rt, Watchdog};

#[test]
fn many_clients_get_their_replies_on_few_threads() {
    rt();
    let _w = Watchdog::new(60);
    let peak = Arc::new(AtomicUsize::new(0));
    let p = peak.clone();
    let server = DatagramServer::bind("127.0.0.1:0", move |data, peer, socket| {
        // A slow reply: the handlers overlap.
        thread::sleep(Duration::from_millis(20));
        p.fetch_max(os_threads(), Ordering::Relaxed);
        socket.send_to(&data.to_ascii_uppercase(), peer).unwrap();
    })
    .unwrap();
    server.start().unwrap();
    let addr = server.local_addr();
    let clients: Vec<_> = (0..300)
        .map(|i| {
            thread::spawn(move || {
                let c = UdpSocket::bind("127.0.0.1:0").unwrap();
                c.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                let msg = format!("hello {i}");
                let mut buf = [0; 64];
                // UDP may drop: ask again until answered.
                for _ in 0..20 {
                    c.send_to(msg.as_bytes(), addr).unwrap();
                    if let Ok((n, from)) = c.recv_from(&mut buf) {
                        assert_eq!(from, addr);
                        return String::from_utf8(buf[..n].to_vec()).unwrap();
                    }
                }
                panic!("no reply to {msg}");
            })
        })
        .collect();
    let replies: HashSet<String> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(replies.len(), 300);
    assert!(replies.contains("HELLO 299"));
    let peak = peak.load(Ordering::Relaxed);
    assert!(peak <= 16, "{peak} OS threads");
    assert_eq!(server.stop(Duration::from_secs(5)), 0);
}

#[test]
fn max_handlers_bounds_the_running_handlers() {
    rt();
    let _w = Watchdog::new(60);
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (r, m, d) = (running.clone(), most.clone(), done.clone());
    let server = DatagramServer::bind("127.0.0.1:0", move |_data, _peer, _socket| {
        let now = r.fetch_add(1, Ordering::SeqCst) + 1;
        m.fetch_max(now, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(20));
        r.fetch_sub(1, Ordering::SeqCst);
        d.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap()
    .max_handlers(3);
    server.start().unwrap();
    let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..30 {
        c.send_to(b"x", server.local_addr()).unwrap();
    }
    let start = Instant::now();
    while done.load(Ordering::SeqCst) < 30 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} done",
            done.load(Ordering::SeqCst)
        );
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(most.load(Ordering::SeqCst), 3);
    assert_eq!(server.stop(Duration::from_secs(5)), 0);
}

#[test]
fn stop_waits_for_handlers_then_receives_no_more() {
    rt();
    let _w = Watchdog::new(60);
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let server = Arc::new(
        DatagramServer::bind("127.0.0.1:0", move |data, _peer, _socket| {
            if data == b"slow" {
                thread::sleep(Duration::from_millis(200));
            }
            if data == b"stuck" {
                thread::sleep(Duration::from_secs(3));
            }
            h.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap(),
    );
    let s = server.clone();
    let forever = thread::spawn(move || s.serve_forever());
    let addr = server.local_addr();
    let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    c.send_to(b"slow", addr).unwrap();
    let start = Instant::now();
    while server.handlers() == 0 {
        assert!(start.elapsed() < Duration::from_secs(10));
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(server.stop(Duration::from_secs(5)), 0);
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    forever.join().unwrap().unwrap();
    assert!(server.is_stopped());
    // Stopped: later datagrams are not handled.
    c.send_to(b"late", addr).unwrap();
    thread::sleep(Duration::from_millis(100));
    assert_eq!(handled.load(Ordering::SeqCst), 1);
}

#[test]
fn handlers_left_after_grace_are_cancelled_and_reported_until_they_end() {
    rt();
    let _w = Watchdog::new(60);
    // One handler sleeps (cancelled at its sleep after the grace period);
    // one computes without a wait (reached only at its next wait: still
    // running when stop gives up, so reported).
    let server = DatagramServer::bind("127.0.0.1:0", |data, _peer, _socket| {
        if data == b"s" {
            thread::sleep(Duration::from_secs(30));
        } else {
            let end = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < end {
                std::hint::spin_loop();
            }
        }
    })
    .unwrap();
    server.start().unwrap();
    let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    c.send_to(b"s", server.local_addr()).unwrap();
    c.send_to(b"c", server.local_addr()).unwrap();
    let start = Instant::now();
    while server.handlers() < 2 {
        assert!(start.elapsed() < Duration::from_secs(10));
        thread::sleep(Duration::from_millis(1));
    }
    let t = Instant::now();
    assert_eq!(server.stop(Duration::from_millis(100)), 1);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn the_socket_keeps_its_blocking_mode() {
    rt();
    let _w = Watchdog::new(60);
    let server = DatagramServer::bind("127.0.0.1:0", |data, peer, socket| {
        socket.send_to(&data, peer).unwrap();
    })
    .unwrap();
    server.start().unwrap();
    let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.send_to(b"a", server.local_addr()).unwrap();
    let mut buf = [0; 4];
    assert_eq!(c.recv(&mut buf).unwrap(), 1);
    server.stop(Duration::from_secs(1));
    // The server received with MSG_DONTWAIT and left the user's mode
    // alone: a receive on its socket still blocks, here until its timeout
    // (in non-blocking mode it would fail at once).
    let sock = server.socket();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t = Instant::now();
    let e = sock.recv_from(&mut buf).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    assert!(
        t.elapsed() >= Duration::from_millis(90),
        "{:?}",
        t.elapsed()
    );
}

/// The datagram server's pause: datagrams sent while paused wait in the
/// socket's buffer and are handled on resume.
#[test]
fn stop_accepting_holds_datagrams_until_start_accepting() {
    rt();
    let _dog = Watchdog::new(60);
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let server = DatagramServer::bind("127.0.0.1:0", move |data, peer, socket| {
        h.fetch_add(1, Ordering::SeqCst);
        socket.send_to(&data, peer).unwrap();
    })
    .unwrap();
    server.stop_accepting(); // before start: starts paused
    server.start().unwrap();
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..10u8 {
        client.send_to(&[i], server.local_addr()).unwrap();
    }
    thread::sleep(Duration::from_millis(100));
    assert_eq!(handled.load(Ordering::SeqCst), 0);
    server.start_accepting();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = HashSet::new();
    for _ in 0..10 {
        let mut buf = [0; 1];
        client.recv(&mut buf).unwrap();
        got.insert(buf[0]);
    }
    assert_eq!(got.len(), 10);
    assert_eq!(handled.load(Ordering::SeqCst), 10);
    assert_eq!(server.stop(Duration::from_secs(10)), 0);
}
