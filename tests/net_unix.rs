//! std::os::unix::net behaviours on greenstd, in coroutines and on plain
//! threads, and many waiters on one socket.

mod net_util;

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::os::linux::net::SocketAddrExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenstd::net::Shutdown;
use greenstd::os::unix::net::{SocketAddr, UnixDatagram, UnixListener, UnixStream};
use greenstd::thread;
use net_util::{in_co, is_nonblocking, rt, sock_path, Watchdog};

#[test]
fn stream_smoke_in_coroutines_and_threads() {
    rt();
    let _w = Watchdog::new(30);
    for plain in [false, true] {
        let path = sock_path(if plain { "smoke-plain" } else { "smoke-co" });
        let work = move || {
            let l = UnixListener::bind(&path).unwrap();
            assert_eq!(l.local_addr().unwrap().as_pathname(), Some(path.as_path()));
            let p = path.clone();
            let client = thread::spawn(move || {
                let mut c = UnixStream::connect(&p).unwrap();
                c.write_all(b"hello").unwrap();
                let mut v = String::new();
                c.read_to_string(&mut v).unwrap();
                v
            });
            let (mut s, addr) = l.accept().unwrap();
            assert!(addr.is_unnamed());
            let mut b = [0; 5];
            s.read_exact(&mut b).unwrap();
            s.write_all(&b).unwrap();
            drop(s);
            assert_eq!(client.join().unwrap(), "hello");
            std::fs::remove_file(&path).unwrap();
        };
        if plain {
            work()
        } else {
            in_co(work)
        }
    }
}

#[test]
fn pair_eof_and_shutdown_wakes_reader() {
    rt();
    let _w = Watchdog::new(30);
    in_co(|| {
        let (a, mut b) = UnixStream::pair().unwrap();
        drop(a);
        assert_eq!(b.read(&mut [0; 4]).unwrap(), 0);

        let (a, _b) = UnixStream::pair().unwrap();
        let a = Arc::new(a);
        let clone = a.try_clone().unwrap();
        let r1 = {
            let a = a.clone();
            thread::spawn(move || (&*a).read(&mut [0; 4]).unwrap())
        };
        let r2 = std::thread::spawn(move || (&clone).read(&mut [0; 4]).unwrap());
        thread::sleep(Duration::from_millis(100));
        a.shutdown(Shutdown::Read).unwrap();
        assert_eq!(r1.join().unwrap(), 0);
        assert_eq!(r2.join().unwrap(), 0);
    });
}

#[test]
fn abstract_names_and_connect_addr() {
    rt();
    let _w = Watchdog::new(30);
    in_co(|| {
        let name = format!("greenstd-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let l = UnixListener::bind_addr(&addr).unwrap();
        assert_eq!(
            l.local_addr().unwrap().as_abstract_name(),
            Some(name.as_bytes())
        );
        let mut c = UnixStream::connect_addr(&addr).unwrap();
        let (mut s, _) = l.accept().unwrap();
        assert_eq!(
            c.peer_addr().unwrap().as_abstract_name(),
            Some(name.as_bytes())
        );
        c.write_all(b"abs").unwrap();
        let mut b = [0; 3];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"abs");
    });
}

#[test]
fn connect_errors_like_std() {
    rt();
    let path = sock_path("missing");
    let e = in_co(move || UnixStream::connect(&path).unwrap_err());
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    let e = UnixStream::connect("bad\0path").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let long = "x".repeat(200);
    let e = UnixStream::connect(&long).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let path = sock_path("inuse");
    let _l = UnixListener::bind(&path).unwrap();
    assert_eq!(
        UnixListener::bind(&path).unwrap_err().kind(),
        io::ErrorKind::AddrInUse
    );
}

#[test]
fn timeouts_are_would_block() {
    rt();
    let _w = Watchdog::new(30);
    for plain in [false, true] {
        let work = || {
            let (mut a, _b) = UnixStream::pair().unwrap();
            a.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            assert_eq!(a.read_timeout().unwrap(), Some(Duration::from_millis(200)));
            let t = Instant::now();
            let e = a.read(&mut [0; 4]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
            assert!(t.elapsed() >= Duration::from_millis(190));
            assert_eq!(
                a.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
            a.set_write_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let t = Instant::now();
            let e = loop {
                if let Err(e) = a.write(&[0; 65536]) {
                    break e;
                }
                assert!(t.elapsed() < Duration::from_secs(20));
            };
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);

            let (d, _e) = UnixDatagram::pair().unwrap();
            d.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            assert_eq!(
                d.recv(&mut [0; 4]).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
            assert_eq!(
                d.recv_from(&mut [0; 4]).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
        };
        if plain {
            work()
        } else {
            in_co(work)
        }
    }
}

#[test]
fn many_acceptors_and_backlog_overflow() {
    rt();
    let _w = Watchdog::new(60);
    let path = sock_path("acceptors");
    let l = UnixListener::bind(&path).unwrap();
    // A small backlog, so that most connects find it full and must wait
    // for room (std's blocking connect waits; ours retries cooperatively).
    // SAFETY: `listen` again on our own listening socket changes its backlog.
    assert_eq!(unsafe { libc::listen(l.as_raw_fd(), 4) }, 0);
    let l = Arc::new(l);
    const N: usize = 300;
    let clients: Vec<_> = (0..N)
        .map(|i| {
            let p = path.clone();
            thread::spawn(move || {
                let mut c = UnixStream::connect(&p).unwrap();
                c.write_all(&(i as u32).to_le_bytes()).unwrap();
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(200));
    let seen = Arc::new(AtomicUsize::new(0));
    let acceptors: Vec<_> = (0..6)
        .map(|_| {
            let (l, seen) = (l.clone(), seen.clone());
            thread::spawn(move || {
                let mut sum = 0usize;
                while seen.fetch_add(1, Ordering::SeqCst) < N {
                    let (mut s, _) = l.accept().unwrap();
                    let mut b = [0; 4];
                    s.read_exact(&mut b).unwrap();
                    sum += u32::from_le_bytes(b) as usize;
                }
                sum
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let total: usize = acceptors.into_iter().map(|a| a.join().unwrap()).sum();
    assert_eq!(total, (0..N).sum::<usize>());
}

#[test]
fn incoming_and_into_iterator() {
    rt();
    let _w = Watchdog::new(30);
    let path = sock_path("incoming");
    let l = UnixListener::bind(&path).unwrap();
    let p = path.clone();
    let c = thread::spawn(move || {
        for _ in 0..2 {
            UnixStream::connect(&p).unwrap().write_all(b"k").unwrap();
        }
    });
    in_co(move || {
        for s in (&l).into_iter().take(2) {
            let mut b = [0];
            s.unwrap().read_exact(&mut b).unwrap();
            assert_eq!(&b, b"k");
        }
    });
    c.join().unwrap();
}

#[test]
fn datagrams_by_path_and_pair() {
    rt();
    let _w = Watchdog::new(30);
    in_co(|| {
        let rp = sock_path("dgram-r");
        let r = UnixDatagram::bind(&rp).unwrap();
        let sp = sock_path("dgram-s");
        let s = UnixDatagram::bind(&sp).unwrap();
        assert_eq!(s.send_to(b"to path", &rp).unwrap(), 7);
        let mut b = [0; 16];
        let (n, from) = r.recv_from(&mut b).unwrap();
        assert_eq!(
            (&b[..n], from.as_pathname()),
            (&b"to path"[..], Some(sp.as_path()))
        );
        s.send_to_addr(b"addr", &r.local_addr().unwrap()).unwrap();
        assert_eq!(r.recv(&mut b).unwrap(), 4);

        let u = UnixDatagram::unbound().unwrap();
        assert!(u.local_addr().unwrap().is_unnamed());
        u.connect(&rp).unwrap();
        assert_eq!(u.peer_addr().unwrap().as_pathname(), Some(rp.as_path()));
        u.send(b"c").unwrap();
        assert_eq!(r.recv(&mut b).unwrap(), 1);

        let (x, y) = UnixDatagram::pair().unwrap();
        x.send(b"pair").unwrap();
        assert_eq!(y.recv(&mut b).unwrap(), 4);
        assert!(x.take_error().unwrap().is_none());
        x.shutdown(Shutdown::Both).unwrap();
    });
}

#[test]
fn many_datagram_receivers_none_lost() {
    rt();
    let _w = Watchdog::new(30);
    let (tx, rx) = UnixDatagram::pair().unwrap();
    let rx = Arc::new(rx);
    const N: usize = 12;
    let hs: Vec<_> = (0..N)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || {
                let mut b = [0; 1];
                rx.recv(&mut b).unwrap();
                b[0] as usize
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    for i in 0..N {
        tx.send(&[i as u8]).unwrap();
    }
    let mut got: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

#[test]
fn nonblocking_mode_and_conversions() {
    rt();
    let _w = Watchdog::new(30);
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    assert_eq!(
        (&a).read(&mut [0; 1]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    let std_a: std::os::unix::net::UnixStream = a.into();
    assert!(is_nonblocking(std_a.as_raw_fd()));
    let fd = b.into_raw_fd();
    assert!(!is_nonblocking(fd));
    // SAFETY: we own `fd`.
    let b = unsafe { UnixStream::from_raw_fd(fd) };
    let a = UnixStream::from(std_a);
    assert_eq!(
        (&a).read(&mut [0; 1]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    // `b` came in blocking: reads wait (cooperatively) for data.
    let r = thread::spawn(move || {
        let mut b = b;
        let mut x = [0];
        b.read_exact(&mut x).unwrap();
        x[0]
    });
    thread::sleep(Duration::from_millis(50));
    (&a).write_all(&[9]).unwrap();
    assert_eq!(r.join().unwrap(), 9);
    assert!(format!("{a:?}").starts_with("UnixStream { fd: "));

    let path = sock_path("nb-listener");
    let l = UnixListener::bind(&path).unwrap();
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), io::ErrorKind::WouldBlock);
    assert!(format!("{l:?}").starts_with("UnixListener { fd: "));
    let d = UnixDatagram::unbound().unwrap();
    d.set_nonblocking(true).unwrap();
    assert_eq!(
        d.recv_from(&mut [0; 1]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    let std_d: std::os::unix::net::UnixDatagram = d.into();
    assert!(is_nonblocking(std_d.as_raw_fd()));
}
