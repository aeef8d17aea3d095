//! std::net TCP behaviours on greenstd: the behaviours std's own tests
//! check, in coroutines and on plain threads, plus the many-waiter cases
//! and cooperation at scale.

mod alone;
mod net_util;

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use greenstd::net::{Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use greenstd::thread;
use net_util::{in_co, is_nonblocking, os_threads, rt, Watchdog};

fn local() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

fn pair() -> (TcpStream, TcpStream) {
    let l = local();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

#[test]
fn smoke_in_coroutines() {
    rt();
    let _w = Watchdog::new(30);
    let l = local();
    let addr = l.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut s, peer) = l.accept().unwrap();
        let mut buf = [0; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
        peer
    });
    let client = thread::spawn(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"hello").unwrap();
        let mut buf = [0; 5];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        c.local_addr().unwrap()
    });
    let me = client.join().unwrap();
    assert_eq!(server.join().unwrap(), me);
}

#[test]
fn smoke_on_plain_threads() {
    let _w = Watchdog::new(30);
    let l = local();
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        assert!(!greenstd::green::in_coroutine());
        let (mut s, _) = l.accept().unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).unwrap();
        v
    });
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(&[99; 100_000]).unwrap();
    drop(c);
    assert_eq!(t.join().unwrap(), vec![99; 100_000]);
}

#[test]
fn read_eof() {
    rt();
    let _w = Watchdog::new(30);
    in_co(|| {
        let (c, mut s) = pair();
        drop(c);
        let mut buf = [0; 16];
        assert_eq!(s.read(&mut buf).unwrap(), 0);
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    });
}

#[test]
fn write_after_close() {
    rt();
    let _w = Watchdog::new(30);
    in_co(|| {
        let (mut c, s) = pair();
        drop(s);
        let deadline = Instant::now() + Duration::from_secs(10);
        let e = loop {
            match c.write(&[0; 1024]) {
                Ok(_) => assert!(Instant::now() < deadline, "writes never failed"),
                Err(e) => break e,
            }
            thread::sleep(Duration::from_millis(1));
        };
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
            ),
            "{e:?}"
        );
    });
}

#[test]
fn serial_connects() {
    rt();
    let _w = Watchdog::new(60);
    let l = local();
    let addr = l.local_addr().unwrap();
    let server = thread::spawn(move || {
        for _ in 0..100 {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0];
            s.read_exact(&mut b).unwrap();
            s.write_all(&[b[0] + 1]).unwrap();
        }
    });
    in_co(move || {
        for i in 0..100u8 {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(&[i]).unwrap();
            let mut b = [0];
            c.read_exact(&mut b).unwrap();
            assert_eq!(b[0], i + 1);
        }
    });
    server.join().unwrap();
}

#[test]
fn interleaved_connects() {
    rt();
    let _w = Watchdog::new(60);
    let l = local();
    let addr = l.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..50 {
            let (mut s, _) = l.accept().unwrap();
            handlers.push(thread::spawn(move || {
                let mut b = [0; 4];
                s.read_exact(&mut b).unwrap();
                s.write_all(&b).unwrap();
            }));
        }
        for h in handlers {
            h.join().unwrap();
        }
    });
    let clients: Vec<_> = (0..50u32)
        .map(|i| {
            thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                thread::sleep(Duration::from_millis(u64::from(i % 7)));
                c.write_all(&i.to_le_bytes()).unwrap();
                let mut b = [0; 4];
                c.read_exact(&mut b).unwrap();
                assert_eq!(u32::from_le_bytes(b), i);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
}

#[test]
fn connect_refused() {
    rt();
    let _w = Watchdog::new(30);
    let addr = local().local_addr().unwrap(); // closed again at once
    let e = in_co(move || TcpStream::connect(addr).unwrap_err());
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    let e = TcpStream::connect(addr).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    let e = in_co(move || TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_err());
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn connect_tries_every_address_in_order() {
    rt();
    let _w = Watchdog::new(30);
    let closed = local().local_addr().unwrap();
    let l = local();
    let good = l.local_addr().unwrap();
    let c = in_co(move || TcpStream::connect(&[closed, good][..]).unwrap());
    assert_eq!(c.peer_addr().unwrap(), good);
    // All fail: the last error.
    let e = in_co(move || TcpStream::connect(&[closed, closed][..]).unwrap_err());
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn connect_timeout_zero_and_success() {
    rt();
    let _w = Watchdog::new(30);
    let l = local();
    let addr = l.local_addr().unwrap();
    in_co(move || {
        let e = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let c = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        assert_eq!(c.peer_addr().unwrap(), addr);
    });
}

/// A listener with a backlog of 0 whose queue is full drops further SYNs,
/// so connects to it hang: a way to see `connect_timeout` expire without a
/// network.
fn full_backlog_listener() -> (OwnedFd, SocketAddr, Vec<std::net::TcpStream>) {
    let sock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: re-listen on our own descriptor with a backlog of 0.
    assert_eq!(unsafe { libc::listen(sock.as_raw_fd(), 0) }, 0);
    let addr = sock.local_addr().unwrap();
    let mut fillers = Vec::new();
    // Fill the accept queue (its length is backlog + 1) with blocking
    // connects bounded by a short timeout.
    for _ in 0..4 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => fillers.push(s),
            Err(_) => break,
        }
    }
    (OwnedFd::from(sock), addr, fillers)
}

#[test]
fn connect_timeout_expires_with_timed_out() {
    rt();
    let _w = Watchdog::new(60);
    let (_l, addr, _fill) = full_backlog_listener();
    for plain in [false, true] {
        let attempt = move || {
            let t = Instant::now();
            let e = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).unwrap_err();
            (e, t.elapsed())
        };
        let (e, took) = if plain { attempt() } else { in_co(attempt) };
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e:?}");
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(took < Duration::from_secs(10), "{took:?}");
    }
}

#[test]
fn read_timeout_in_coroutine_and_on_thread() {
    rt();
    let _w = Watchdog::new(60);
    for plain in [false, true] {
        let (c, _s) = pair();
        let work = move || {
            let mut c = c;
            assert_eq!(c.read_timeout().unwrap(), None);
            c.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(200)));
            let t = Instant::now();
            let e = c.read(&mut [0; 4]).unwrap_err();
            let took = t.elapsed();
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
            assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));
            assert!(took >= Duration::from_millis(190), "{took:?}");
            assert!(took < Duration::from_secs(10), "{took:?}");
            let e = c.peek(&mut [0; 4]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
            c.set_read_timeout(None).unwrap();
            assert_eq!(c.read_timeout().unwrap(), None);
            let e = c.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        };
        if plain {
            work()
        } else {
            in_co(work)
        }
    }
}

#[test]
fn read_with_timeout_gets_data_in_time() {
    rt();
    let _w = Watchdog::new(30);
    in_co(|| {
        let (mut c, mut s) = pair();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let w = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            s.write_all(b"x").unwrap();
            s
        });
        let mut b = [0];
        assert_eq!(c.read(&mut b).unwrap(), 1);
        drop(w.join().unwrap());
    });
}

#[test]
fn write_timeout() {
    rt();
    let _w = Watchdog::new(60);
    in_co(|| {
        let (mut c, _s) = pair();
        c.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert_eq!(c.write_timeout().unwrap(), Some(Duration::from_millis(200)));
        let buf = vec![0; 64 * 1024];
        let t = Instant::now();
        let e = loop {
            match c.write(&buf) {
                Ok(n) => assert!(
                    n > 0 && t.elapsed() < Duration::from_secs(20),
                    "never filled"
                ),
                Err(e) => break e,
            }
        };
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(t.elapsed() >= Duration::from_millis(190));
        let e = c.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn close_read_wakes_up_coroutine_and_clone() {
    rt();
    let _w = Watchdog::new(30);
    in_co(|| {
        let (c, _s) = pair();
        let c = Arc::new(c);
        let clone = c.try_clone().unwrap();
        let r1 = {
            let c = c.clone();
            thread::spawn(move || (&*c).read(&mut [0; 8]).unwrap())
        };
        let r2 = thread::spawn(move || (&clone).read(&mut [0; 8]).unwrap());
        thread::sleep(Duration::from_millis(100));
        c.shutdown(Shutdown::Read).unwrap();
        assert_eq!(r1.join().unwrap(), 0);
        assert_eq!(r2.join().unwrap(), 0);
    });
}

#[test]
fn close_read_wakes_up_plain_thread() {
    rt();
    let _w = Watchdog::new(30);
    let (c, _s) = pair();
    let c = Arc::new(c);
    let c2 = c.clone();
    let t = std::thread::spawn(move || (&*c2).read(&mut [0; 8]).unwrap());
    let waker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        c.shutdown(Shutdown::Read).unwrap();
    });
    waker.join().unwrap();
    assert_eq!(t.join().unwrap(), 0);
}

#[test]
fn clone_while_reading() {
    rt();
    let _w = Watchdog::new(30);
    in_co(|| {
        let (c, mut s) = pair();
        let mut reader = c.try_clone().unwrap();
        let r = thread::spawn(move || {
            let mut b = [0; 3];
            reader.read_exact(&mut b).unwrap();
            b
        });
        thread::sleep(Duration::from_millis(50));
        // Write on the original while the clone is blocked reading.
        let mut w = c;
        w.write_all(b"abc").unwrap();
        let mut b = [0; 3];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"abc");
        s.write_all(b"xyz").unwrap();
        assert_eq!(&r.join().unwrap(), b"xyz");
    });
}

#[test]
fn reader_and_writer_on_one_shared_stream() {
    rt();
    let _w = Watchdog::new(60);
    let (c, s) = pair();
    let c = Arc::new(c);
    const N: usize = 4 << 20;
    // The peer echoes everything back, slowly enough that both directions
    // of `c` block many times.
    let echo = thread::spawn(move || {
        let mut s = s;
        let mut buf = vec![0; 7000];
        let mut total = 0;
        while total < N {
            let n = s.read(&mut buf).unwrap();
            s.write_all(&buf[..n]).unwrap();
            total += n;
        }
    });
    let writer = {
        let c = c.clone();
        thread::spawn(move || {
            let data: Vec<u8> = (0..N).map(|i| (i % 251) as u8).collect();
            (&*c).write_all(&data).unwrap();
        })
    };
    let reader = thread::spawn(move || {
        let mut got = vec![0; N];
        (&*c).read_exact(&mut got).unwrap();
        got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8)
    });
    writer.join().unwrap();
    assert!(reader.join().unwrap());
    echo.join().unwrap();
}

#[test]
fn many_acceptors_on_one_listener() {
    rt();
    let _w = Watchdog::new(60);
    let l = Arc::new(local());
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let mut acceptors: Vec<_> = (0..8)
        .map(|_| {
            let (l, accepted) = (l.clone(), accepted.clone());
            thread::spawn(move || {
                let (mut s, _) = l.accept().unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
                s.write_all(b"!").unwrap();
            })
        })
        .collect();
    // Plain threads wait on the same listener too.
    let plain: Vec<_> = (0..2)
        .map(|_| {
            let (l, accepted) = (l.clone(), accepted.clone());
            std::thread::spawn(move || {
                let (mut s, _) = l.accept().unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
                s.write_all(b"!").unwrap();
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let clients: Vec<_> = (0..10)
        .map(|_| {
            thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                let mut b = [0];
                c.read_exact(&mut b).unwrap();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    for a in acceptors.drain(..) {
        a.join().unwrap();
    }
    for p in plain {
        p.join().unwrap();
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 10);
}

#[test]
fn peek_and_vectored_io() {
    rt();
    let _w = Watchdog::new(30);
    in_co(|| {
        let (mut c, mut s) = pair();
        let n = c
            .write_vectored(&[IoSlice::new(b"hel"), IoSlice::new(b"lo")])
            .unwrap();
        assert_eq!(n, 5);
        let mut b = [0; 5];
        let mut got = 0;
        while got < 5 {
            got = s.peek(&mut b).unwrap();
        }
        assert_eq!(&b, b"hello");
        let (mut x, mut y) = ([0; 2], [0; 3]);
        let n = s
            .read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
            .unwrap();
        assert_eq!(n, 5);
        assert_eq!((&x, &y), (b"he", b"llo"));
        c.flush().unwrap();
    });
}

#[test]
fn ttl_nodelay_take_error_debug() {
    let (c, _s) = pair();
    c.set_ttl(42).unwrap();
    assert_eq!(c.ttl().unwrap(), 42);
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.set_nodelay(false).unwrap();
    assert!(!c.nodelay().unwrap());
    assert!(c.take_error().unwrap().is_none());
    let l = local();
    l.set_ttl(100).unwrap();
    assert_eq!(l.ttl().unwrap(), 100);
    assert!(l.take_error().unwrap().is_none());

    let fd = c.as_raw_fd();
    let dbg = format!("{c:?}");
    let want = format!(
        "TcpStream {{ addr: {:?}, peer: {:?}, fd: {fd} }}",
        c.local_addr().unwrap(),
        c.peer_addr().unwrap()
    );
    assert_eq!(dbg, want);
    let dbg = format!("{l:?}");
    assert_eq!(
        dbg,
        format!(
            "TcpListener {{ addr: {:?}, fd: {} }}",
            l.local_addr().unwrap(),
            l.as_raw_fd()
        )
    );
}

#[test]
fn set_nonblocking_gives_would_block_at_once() {
    rt();
    let _w = Watchdog::new(30);
    for plain in [false, true] {
        let work = || {
            let l = local();
            l.set_nonblocking(true).unwrap();
            assert_eq!(l.accept().unwrap_err().kind(), io::ErrorKind::WouldBlock);
            let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let s = loop {
                match l.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            };
            // Accepted streams are blocking, as std's on Linux.
            let clone = s.try_clone().unwrap();
            c.set_nonblocking(true).unwrap();
            let t = Instant::now();
            assert_eq!(
                c.read(&mut [0; 4]).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
            assert_eq!(
                c.peek(&mut [0; 4]).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
            assert!(t.elapsed() < Duration::from_secs(1));
            // The mode is shared with clones, as O_NONBLOCK is in std.
            let cc = c.try_clone().unwrap();
            c.set_nonblocking(false).unwrap();
            (&clone).write_all(b"z").unwrap();
            let mut b = [0];
            (&cc).read_exact(&mut b).unwrap(); // blocks until the byte is there
            assert_eq!(&b, b"z");
        };
        if plain {
            work()
        } else {
            in_co(work)
        }
    }
}

/// The mode and timeouts are shared with clones made before they were set
/// too (a fresh socket makes its shared state only when first needed).
#[test]
fn settings_made_after_a_clone_reach_it() {
    let (c, mut s) = pair();
    let mut clone = c.try_clone().unwrap();
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    assert!(clone.read_timeout().unwrap().is_some());
    let t = Instant::now();
    assert_eq!(
        clone.read(&mut [0; 1]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert!(t.elapsed() >= Duration::from_millis(50));
    c.set_nonblocking(true).unwrap();
    let t = Instant::now();
    c.set_read_timeout(None).unwrap();
    assert_eq!(
        clone.read(&mut [0; 1]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert!(t.elapsed() < Duration::from_secs(1));
    s.write_all(b"x").unwrap();
}

#[test]
fn into_raw_fd_gives_the_users_mode() {
    let (c, _s) = pair();
    let fd = c.into_raw_fd();
    assert!(!is_nonblocking(fd));
    // SAFETY: we own `fd`.
    let c = unsafe { TcpStream::from_raw_fd(fd) };
    assert!(is_nonblocking(c.as_raw_fd()), "non-blocking underneath");
    c.set_nonblocking(true).unwrap();
    let owned = OwnedFd::from(c);
    assert!(is_nonblocking(owned.as_raw_fd()));
    // A non-blocking descriptor comes back in non-blocking mode.
    let c = TcpStream::from(owned);
    assert_eq!(
        (&c).read(&mut [0; 1]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    let std_stream: std::net::TcpStream = c.into();
    assert!(is_nonblocking(std_stream.as_raw_fd()));

    let l = local();
    let std_l: std::net::TcpListener = l.into();
    assert!(!is_nonblocking(std_l.as_raw_fd()));
}

#[test]
fn std_conversions_both_ways() {
    rt();
    let _w = Watchdog::new(30);
    let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_l.local_addr().unwrap();
    let l = TcpListener::from(std_l);
    let mut std_c = std::net::TcpStream::connect(addr).unwrap();
    std_c
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let (s, _) = in_co(move || l.accept().unwrap());
    // A std stream taken over keeps its timeout.
    let c = TcpStream::from(std_c.try_clone().unwrap());
    assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_secs(3)));
    // Hand our side to code that takes std's type: it blocks as std.
    let mut std_s: std::net::TcpStream = s.into();
    std_s.write_all(b"ok").unwrap();
    let mut b = [0; 2];
    std_c.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"ok");
    drop(c);
}

#[test]
fn ipv6_loopback() {
    rt();
    let _w = Watchdog::new(30);
    let l = match TcpListener::bind((Ipv6Addr::LOCALHOST, 0)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("skipping: no ::1 ({e})");
            return;
        }
    };
    let addr = l.local_addr().unwrap();
    assert!(addr.is_ipv6());
    in_co(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        let (mut s, peer) = l.accept().unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        c.write_all(b"v6").unwrap();
        let mut b = [0; 2];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"v6");
    });
}

#[test]
fn empty_address_list_is_invalid_input() {
    rt();
    let none: &[SocketAddr] = &[];
    let e = TcpStream::connect(none).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let e = TcpListener::bind(none).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let e = in_co(|| TcpStream::connect(&[][..] as &[SocketAddr]).unwrap_err());
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn binding_a_bound_port_is_addr_in_use() {
    let l = local();
    let e = TcpListener::bind(l.local_addr().unwrap()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
}

#[test]
fn host_names_resolve_off_the_worker() {
    rt();
    let _w = Watchdog::new(30);
    let l = TcpListener::bind("localhost:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let ip = l.local_addr().unwrap().ip();
    let c = in_co(move || TcpStream::connect(("localhost", port)).unwrap());
    assert_eq!(c.peer_addr().unwrap().ip(), ip);
    let c = in_co(move || TcpStream::connect(format!("127.0.0.1:{port}")).unwrap());
    assert_eq!(c.peer_addr().unwrap().port(), port);
    let e = in_co(|| TcpStream::connect("no-such-host.invalid:80").unwrap_err());
    assert_ne!(e.kind(), io::ErrorKind::InvalidInput, "{e:?}");
}

#[test]
fn incoming_yields_streams() {
    rt();
    let _w = Watchdog::new(30);
    let l = local();
    let addr = l.local_addr().unwrap();
    let clients = thread::spawn(move || {
        for _ in 0..3 {
            TcpStream::connect(addr).unwrap().write_all(b"i").unwrap();
        }
    });
    in_co(move || {
        for s in l.incoming().take(3) {
            let mut b = [0];
            s.unwrap().read_exact(&mut b).unwrap();
            assert_eq!(&b, b"i");
        }
    });
    clients.join().unwrap();
}

#[test]
fn a_blocked_plain_thread_does_not_stop_coroutines() {
    rt();
    let _w = Watchdog::new(30);
    let (c, mut s) = pair();
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let mut c = c;
        let mut b = [0];
        c.read_exact(&mut b).unwrap();
        tx.send(b[0]).unwrap();
    });
    // Meanwhile coroutines do network work.
    let (a, mut b) = pair();
    in_co(move || {
        let mut a = a;
        for i in 0..100u8 {
            a.write_all(&[i]).unwrap();
        }
    });
    let mut got = [0; 100];
    b.read_exact(&mut got).unwrap();
    assert!(rx.try_recv().is_err());
    s.write_all(&[7]).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 7);
    t.join().unwrap();
}

/// Echo server and 5,000 concurrent client coroutines on two workers,
/// every byte checked, with few OS threads.
#[test]
fn five_thousand_clients_on_two_workers() {
    if !alone::here() {
        return; // it ran, and passed, in a child process
    }
    rt();
    let _w = Watchdog::new(240);
    assert_eq!(greenstd::green::runtime().unwrap().workers, 2);
    const CLIENTS: usize = 5000;
    const ROUNDS: usize = 4;
    let l = local();
    let addr = l.local_addr().unwrap();
    let max_threads = Arc::new(AtomicUsize::new(0));
    let server = thread::spawn(move || {
        for _ in 0..CLIENTS {
            let (mut s, _) = l.accept().unwrap();
            thread::spawn(move || {
                let mut buf = [0; 64];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => s.write_all(&buf[..n]).unwrap(),
                        Err(e) => panic!("server read: {e}"),
                    }
                }
            });
        }
    });
    let connected = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        let (conn, max_threads) = (connected.clone(), max_threads.clone());
        clients.push(thread::spawn(move || {
            let connected = conn;
            let mut c = TcpStream::connect(addr).unwrap();
            connected.fetch_add(1, Ordering::SeqCst);
            // Wait until every client is connected: all are live at once.
            while connected.load(Ordering::SeqCst) < CLIENTS {
                thread::sleep(Duration::from_millis(20));
            }
            max_threads.fetch_max(os_threads(), Ordering::SeqCst);
            for r in 0..ROUNDS {
                let msg: Vec<u8> = (0..64).map(|k| (i * 7 + r * 13 + k) as u8).collect();
                c.write_all(&msg).unwrap();
                let mut back = [0; 64];
                c.read_exact(&mut back).unwrap();
                assert_eq!(&back[..], &msg[..]);
            }
        }));
        // At most 64 connects in flight, so std's listen backlog (128)
        // never overflows: an overflow leaves connections half-open at the
        // server until TCP retransmits (seconds), which is not what this
        // test measures.
        if i >= 64 {
            while connected.load(Ordering::SeqCst) < i - 64 {
                thread::sleep(Duration::from_millis(1));
            }
        }
    }
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
    let most = max_threads.load(Ordering::SeqCst).max(os_threads());
    assert!(most <= 16, "{most} OS threads");
}

/// `socket2::Socket::from(TcpStream)` and back, as with std's types (what
/// a crate rebuilt against greenstd writes, e.g. tungstenite's tests): the
/// descriptor changes hands in the mode the user asked for (blocking by
/// default), and comes back a cooperative stream.
#[test]
fn socket2_conversions_both_ways() {
    rt();
    let _w = Watchdog::new(30);
    in_co(|| {
        let (c, mut s) = pair();
        let sock = socket2::Socket::from(c);
        assert!(!is_nonblocking(sock.as_raw_fd()));
        sock.set_tcp_nodelay(true).unwrap();
        let mut back = TcpStream::from(sock);
        assert!(back.nodelay().unwrap());
        back.write_all(b"ping").unwrap();
        let mut buf = [0; 4];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        // The stream that came back from socket2 waits cooperatively.
        let reader = thread::spawn(move || {
            let mut buf = [0; 4];
            back.read_exact(&mut buf).map(|_| buf)
        });
        thread::sleep(Duration::from_millis(20));
        s.write_all(b"pong").unwrap();
        assert_eq!(&reader.join().unwrap().unwrap(), b"pong");

        let l = local();
        let as_socket2 = socket2::Socket::from(l);
        let l = TcpListener::from(as_socket2);
        assert!(l.local_addr().is_ok());
    });
}

// ---------------------------------------------------------------------------
// The cooperative budget: calls that keep returning at once (an error loop,
// an always-ready socket) still let the other coroutines of a worker run.
// ---------------------------------------------------------------------------

/// Kills and reaps a child process on drop (a failed assertion must not
/// leave it behind).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sets the soft limit of open descriptors (the hard limit stays).
fn set_fd_limit(soft: libc::rlim_t) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit for the call to fill, then to read.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = soft.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

const EMFILE_CLIENTS: usize = 1000;
const EMFILE_LATER: usize = 20;

#[test]
fn the_accept_idiom_recovers_from_emfile_on_one_worker() {
    // The std idiom `for c in listener.incoming() { match c { Err(_) =>
    // continue, … } }` under a limit of 256 descriptors with 1,000 clients:
    // the acceptor meets EMFILE at once, again and again; the handlers
    // that would free descriptors must still get the (only) worker.
    use std::io::BufRead;
    let _w = Watchdog::new(180);
    // Our own 1,020 client sockets.
    set_fd_limit(4096);
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_accept_emfile",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "COOP_EMFILE_CHILD",
            (EMFILE_CLIENTS + EMFILE_LATER).to_string(),
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaped(child);
    let mut lines = std::io::BufReader::new(child.0.stdout.take().unwrap()).lines();
    let addr: std::net::SocketAddr = loop {
        let line = lines
            .next()
            .expect("the child said where it listens")
            .unwrap();
        // libtest may print the test's name on the same line first.
        if let Some(i) = line.find("listening ") {
            break line[i + "listening ".len()..].trim().parse().unwrap();
        }
    };
    let ask = |c: &mut std::net::TcpStream| {
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).map(|()| b[0])
    };
    let mut clients = Vec::new();
    for _ in 0..EMFILE_CLIENTS {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"x").unwrap();
        clients.push(c);
    }
    let t = Instant::now();
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(ask(c).unwrap_or_else(|e| panic!("client {i}: {e}")), b'x');
    }
    // And later requests are served as well.
    for i in 0..EMFILE_LATER {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"y").unwrap();
        assert_eq!(
            ask(&mut c).unwrap_or_else(|e| panic!("later {i}: {e}")),
            b'y'
        );
    }
    let took = t.elapsed();
    drop(clients);
    let served = lines.map_while(Result::ok).find_map(|l| {
        l.find("served ")
            .map(|i| l[i + "served ".len()..].trim().to_owned())
    });
    assert_eq!(
        served.as_deref(),
        Some((EMFILE_CLIENTS + EMFILE_LATER).to_string().as_str())
    );
    assert!(child.0.wait().unwrap().success());
    eprintln!("all {EMFILE_CLIENTS} + {EMFILE_LATER} served in {took:?}");
}

#[test]
#[ignore = "run as a child process by the_accept_idiom_recovers_from_emfile_on_one_worker"]
fn child_accept_emfile() {
    let Ok(n) = std::env::var("COOP_EMFILE_CHILD") else {
        return;
    };
    let n: usize = n.parse().unwrap();
    greenstd::green::Config::new()
        .workers(1)
        .max_threads(1)
        .apply()
        .unwrap();
    let listener = greenstd::green::bind_with_backlog("127.0.0.1:0", 2048).unwrap();
    // The runtime's own descriptors are open by now.
    thread::spawn(|| ()).join().unwrap();
    set_fd_limit(256);
    println!("listening {}", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let s = served.clone();
    thread::spawn(move || {
        for c in listener.incoming() {
            match c {
                Err(_) => continue,
                Ok(mut c) => {
                    let s = s.clone();
                    thread::spawn(move || {
                        let mut b = [0u8; 1];
                        if c.read_exact(&mut b).is_ok() && c.write_all(&b).is_ok() {
                            s.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                }
            }
        }
    });
    let t = Instant::now();
    while served.load(Ordering::SeqCst) < n {
        assert!(
            t.elapsed() < Duration::from_secs(150),
            "served {} of {n}",
            served.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("served {n}");
    std::process::exit(0);
}

/// Ticks of `n` coroutines that sleep `period` in a loop, counted over
/// `window`, on the runtime as it is.
fn ticks_of(n: usize, period: Duration, window: Duration) -> usize {
    let ticks = Arc::new(AtomicUsize::new(0));
    let counting = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let tickers: Vec<_> = (0..n)
        .map(|_| {
            let (t, c) = (ticks.clone(), counting.clone());
            thread::spawn(move || {
                while c.load(Ordering::SeqCst) {
                    thread::sleep(period);
                    t.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    std::thread::sleep(window);
    let n = ticks.load(Ordering::SeqCst);
    counting.store(false, Ordering::SeqCst);
    for t in tickers {
        t.join().unwrap();
    }
    n
}

#[test]
fn a_hot_reader_leaves_a_thousand_tickers_on_its_worker_their_ticks() {
    if !alone::here() {
        return; // it ran, and passed, in a child process
    }
    // A reader whose socket is always ready never waits; on one worker,
    // beside 1,000 coroutines that tick every 20 ms, it must leave them
    // at least half the ticks they make on their own.
    let _w = Watchdog::new(120);
    // No hand-off either (one thread in all): a worker held for 10 ms
    // would otherwise leave the hot coroutine its thread and move the
    // rest to another, which hides what the budget does.
    greenstd::green::Config::new()
        .workers(1)
        .max_threads(1)
        .apply()
        .unwrap();
    assert_eq!(greenstd::green::runtime().unwrap().workers, 1);
    const TICKERS: usize = 1000;
    const PERIOD: Duration = Duration::from_millis(20);
    const WINDOW: Duration = Duration::from_millis(1500);
    let alone = ticks_of(TICKERS, PERIOD, WINDOW);

    // The source: an OS thread writes 1 MiB and closes. Read 16 bytes at
    // a time, the data, then the end of the stream, are always there: no
    // read ever waits.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let writer = std::thread::spawn(move || {
        let (mut s, _) = std_listener.accept().unwrap();
        s.write_all(&vec![7u8; 1 << 20]).unwrap();
    });
    let reading = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let r = reading.clone();
    let reader = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut b = [0u8; 16];
        let (mut reads, mut bytes) = (0u64, 0u64);
        while r.load(Ordering::Relaxed) {
            bytes += s.read(&mut b).unwrap() as u64;
            reads += 1;
        }
        (reads, bytes)
    });
    // Let it get going.
    std::thread::sleep(Duration::from_millis(100));
    let beside = ticks_of(TICKERS, PERIOD, WINDOW);
    reading.store(false, Ordering::SeqCst);
    let (reads, bytes) = reader.join().unwrap();
    writer.join().unwrap();
    eprintln!(
        "ticks alone {alone}, beside the reader {beside}; the reader: {reads} reads, {bytes} bytes"
    );
    assert!(reads > 1000, "the reader hardly ran: {reads}");
    assert!(
        beside * 2 >= alone,
        "the reader took the worker: {beside} ticks beside it, {alone} alone"
    );
}
