//! std::net UDP behaviours on greenstd, in coroutines and on plain threads,
//! and many receivers blocked on one socket.

mod net_util;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenstd::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use greenstd::thread;
use net_util::{in_co, is_nonblocking, rt, Watchdog};

fn local() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

#[test]
fn send_to_recv_from_in_coroutines_and_threads() {
    rt();
    let _w = Watchdog::new(30);
    for plain in [false, true] {
        let work = || {
            let a = local();
            let b = local();
            let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
            let recv = thread::spawn(move || {
                let mut buf = [0; 16];
                let (n, from) = b.recv_from(&mut buf).unwrap();
                (buf[..n].to_vec(), from)
            });
            thread::sleep(Duration::from_millis(20));
            assert_eq!(a.send_to(b"datagram", ba).unwrap(), 8);
            let (got, from) = recv.join().unwrap();
            assert_eq!(got, b"datagram");
            assert_eq!(from, aa);
        };
        if plain {
            work()
        } else {
            in_co(work)
        }
    }
}

#[test]
fn peek_connect_send_recv() {
    rt();
    let _w = Watchdog::new(30);
    in_co(|| {
        let a = local();
        let b = local();
        assert_eq!(
            a.peer_addr().unwrap_err().kind(),
            io::ErrorKind::NotConnected
        );
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        a.send(b"one").unwrap();
        let mut buf = [0; 8];
        assert_eq!(b.peek(&mut buf).unwrap(), 3);
        let (n, from) = b.peek_from(&mut buf).unwrap();
        assert_eq!((n, from), (3, a.local_addr().unwrap()));
        assert_eq!(b.recv(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"one");
        // A datagram larger than the buffer is truncated.
        a.send(&[5; 100]).unwrap();
        assert_eq!(b.recv(&mut buf).unwrap(), 8);
    });
}

#[test]
fn recv_timeout_is_would_block() {
    rt();
    let _w = Watchdog::new(30);
    for plain in [false, true] {
        let work = || {
            let s = local();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_millis(200)));
            let t = Instant::now();
            let e = s.recv_from(&mut [0; 8]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
            assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));
            let took = t.elapsed();
            assert!(
                took >= Duration::from_millis(190) && took < Duration::from_secs(10),
                "{took:?}"
            );
            // Shared with clones, like SO_RCVTIMEO.
            let c = s.try_clone().unwrap();
            assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(200)));
            assert_eq!(
                c.recv(&mut [0; 8]).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
            let e = s.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            let e = s.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
            assert_eq!(s.write_timeout().unwrap(), Some(Duration::from_secs(2)));
        };
        if plain {
            work()
        } else {
            in_co(work)
        }
    }
}

#[test]
fn many_receivers_on_one_socket_none_lost() {
    rt();
    let _w = Watchdog::new(60);
    let s = Arc::new(local());
    let addr = s.local_addr().unwrap();
    const CO: usize = 16;
    const PLAIN: usize = 2;
    let mut co: Vec<_> = (0..CO)
        .map(|_| {
            let s = s.clone();
            thread::spawn(move || {
                let mut buf = [0; 8];
                s.recv_from(&mut buf).unwrap();
                buf[0] as usize
            })
        })
        .collect();
    let plain: Vec<_> = (0..PLAIN)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut buf = [0; 8];
                s.recv_from(&mut buf).unwrap();
                buf[0] as usize
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let tx = local();
    for i in 0..(CO + PLAIN) {
        tx.send_to(&[i as u8], addr).unwrap();
        thread::sleep(Duration::from_millis(2));
    }
    let mut got: Vec<usize> = co.drain(..).map(|h| h.join().unwrap()).collect();
    got.extend(plain.into_iter().map(|h| h.join().unwrap()));
    got.sort_unstable();
    assert_eq!(got, (0..CO + PLAIN).collect::<Vec<_>>());
}

#[test]
fn set_nonblocking() {
    rt();
    let _w = Watchdog::new(30);
    in_co(|| {
        let s = local();
        s.set_nonblocking(true).unwrap();
        let t = Instant::now();
        assert_eq!(
            s.recv_from(&mut [0; 8]).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert_eq!(
            s.peek_from(&mut [0; 8]).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert!(t.elapsed() < Duration::from_secs(1));
        s.set_nonblocking(false).unwrap();
        s.send_to(b"x", s.local_addr().unwrap()).unwrap();
        assert_eq!(s.recv_from(&mut [0; 8]).unwrap().0, 1);
    });
}

#[test]
fn options() {
    let s = local();
    s.set_ttl(33).unwrap();
    assert_eq!(s.ttl().unwrap(), 33);
    s.set_broadcast(true).unwrap();
    assert!(s.broadcast().unwrap());
    s.set_multicast_loop_v4(false).unwrap();
    assert!(!s.multicast_loop_v4().unwrap());
    s.set_multicast_ttl_v4(7).unwrap();
    assert_eq!(s.multicast_ttl_v4().unwrap(), 7);
    assert!(s.take_error().unwrap().is_none());
    // Multicast membership needs a multicast-capable interface; when the
    // sandbox has one, join and leave must both work.
    let group = Ipv4Addr::new(239, 255, 0, 77);
    if s.join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED).is_ok() {
        s.leave_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED)
            .unwrap();
    }
    assert_eq!(
        format!("{s:?}"),
        format!(
            "UdpSocket {{ addr: {:?}, fd: {} }}",
            s.local_addr().unwrap(),
            s.as_raw_fd()
        )
    );
}

#[test]
fn ipv6_loopback_and_v6_options() {
    rt();
    let s = match UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipping: no ::1 ({e})");
            return;
        }
    };
    s.set_multicast_loop_v6(false).unwrap();
    assert!(!s.multicast_loop_v6().unwrap());
    let group = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x77);
    if s.join_multicast_v6(&group, 0).is_ok() {
        s.leave_multicast_v6(&group, 0).unwrap();
    }
    let addr = s.local_addr().unwrap();
    in_co(move || {
        let t = UdpSocket::bind("[::1]:0").unwrap();
        t.send_to(b"six", addr).unwrap();
        let mut b = [0; 3];
        let (n, from) = s.recv_from(&mut b).unwrap();
        assert_eq!((n, from, &b), (3, t.local_addr().unwrap(), b"six"));
    });
}

#[test]
fn empty_addresses_and_addr_in_use() {
    rt();
    let none: &[SocketAddr] = &[];
    assert_eq!(
        UdpSocket::bind(none).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    let s = local();
    assert_eq!(
        s.send_to(b"x", none).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        s.connect(none).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    let e = UdpSocket::bind(s.local_addr().unwrap()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    let e = in_co(|| UdpSocket::bind(&[][..] as &[SocketAddr]).unwrap_err());
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn send_to_a_host_name_from_a_coroutine() {
    rt();
    let _w = Watchdog::new(30);
    let r = local();
    let port = r.local_addr().unwrap().port();
    in_co(move || {
        let s = local();
        s.send_to(b"hi", ("localhost", port)).unwrap_or_else(|e| {
            // localhost may resolve to ::1 first on some hosts; 127.0.0.1
            // then is not reachable from a v4 socket bound to it.
            assert!(e.kind() != io::ErrorKind::InvalidInput, "{e:?}");
            s.send_to(b"hi", ("127.0.0.1", port)).unwrap()
        });
        let mut b = [0; 2];
        r.recv_from(&mut b).unwrap();
        assert_eq!(&b, b"hi");
    });
}

#[test]
fn raw_fd_and_std_conversions_keep_the_mode() {
    let s = local();
    let fd = s.into_raw_fd();
    assert!(!is_nonblocking(fd));
    // SAFETY: we own `fd`.
    let s = unsafe { UdpSocket::from_raw_fd(fd) };
    assert!(is_nonblocking(s.as_raw_fd()));
    s.set_nonblocking(true).unwrap();
    let std_s: std::net::UdpSocket = s.into();
    assert!(is_nonblocking(std_s.as_raw_fd()));
    let s = UdpSocket::from(std_s);
    assert_eq!(
        s.recv(&mut [0; 1]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );

    let std_s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    std_s
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let s = UdpSocket::from(std_s);
    assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_millis(100)));
    let t = Instant::now();
    assert_eq!(
        s.recv(&mut [0; 1]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert!(t.elapsed() >= Duration::from_millis(90));
}
