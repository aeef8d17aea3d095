//! Readiness of raw descriptors: `green::wait_readable`, `wait_writable`
//! and `green::poll` — in coroutines without blocking the worker, with any
//! number of waiters per descriptor, on descriptors greenstd already
//! watches, and with `poll(2)`'s exact results (checked against `poll(2)`
//! itself) on plain threads and in coroutines.

mod net_util;

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenstd::green::{poll, wait_readable, wait_writable, PollFd, PollFlags};
use greenstd::sync::Barrier;
use greenstd::thread;
use net_util::{in_co, os_threads, rt, Watchdog};

const LONG: Option<Duration> = Some(Duration::from_secs(30));

/// A coroutine that counts ticks of 1 ms until stopped: it only advances
/// while the workers are free.
struct Ticker {
    ticks: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Ticker {
    fn start() -> Ticker {
        let ticks = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (ticks.clone(), stop.clone());
        let handle = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(1));
                t.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ticker {
            ticks,
            stop,
            handle: Some(handle),
        }
    }

    fn ticks(&self) -> usize {
        self.ticks.load(Ordering::Relaxed)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
    }
}

#[test]
fn many_coroutines_wait_on_std_sockets_without_blocking_the_workers() {
    rt();
    let _w = Watchdog::new(60);
    let ticker = Ticker::start();
    let before = os_threads();
    let pairs: Vec<(UnixStream, UnixStream)> =
        (0..200).map(|_| UnixStream::pair().unwrap()).collect();
    let woken = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    let mut handles = Vec::new();
    for (a, mut b) in pairs {
        let woken = woken.clone();
        // std's blocking socket: read_exact after the wait finds data, so
        // it does not block.
        handles.push(thread::spawn(move || {
            wait_readable(&b, LONG).unwrap();
            woken.fetch_add(1, Ordering::Relaxed);
            let mut buf = [0; 1];
            b.read_exact(&mut buf).unwrap();
            buf[0]
        }));
        writers.push(a);
    }
    let t0 = ticker.ticks();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        woken.load(Ordering::Relaxed),
        0,
        "woken with nothing to read"
    );
    assert!(
        ticker.ticks() > t0 + 20,
        "the workers were blocked: {} ticks in 300 ms",
        ticker.ticks() - t0
    );
    // Pollers that held their workers would each be handed off: hundreds of
    // threads. A busy machine may see a few hand-offs of workers that wait
    // for a preempted lock holder (7 -> 11 seen at load 10).
    assert!(
        os_threads() <= before + 10,
        "threads grew: {before} -> {}",
        os_threads()
    );
    for (i, w) in writers.iter_mut().enumerate() {
        w.write_all(&[i as u8]).unwrap();
    }
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), i as u8);
    }
}

#[test]
fn any_number_of_waiters_on_one_descriptor() {
    rt();
    let _w = Watchdog::new(60);
    let (mut a, b) = UnixStream::pair().unwrap();
    let b = Arc::new(b);
    // More than the kernel lets register one file with epoll instances
    // (500-1000 paths): the waiters share one registration.
    const WAITERS: usize = 1500;
    let start = Arc::new(Barrier::new(1 + WAITERS + 3));
    let mut waiters = Vec::new();
    for _ in 0..WAITERS {
        let (b, start) = (b.clone(), start.clone());
        waiters.push(thread::spawn(move || {
            start.wait();
            wait_readable(&*b, LONG)
        }));
    }
    let mut plain = Vec::new();
    for _ in 0..3 {
        let (b, start) = (b.clone(), start.clone());
        plain.push(std::thread::spawn(move || {
            start.wait();
            wait_readable(&*b, LONG)
        }));
    }
    start.wait();
    std::thread::sleep(Duration::from_millis(100));
    a.write_all(b"x").unwrap();
    for w in waiters {
        w.join().unwrap().unwrap();
    }
    for p in plain {
        p.join().unwrap().unwrap();
    }
}

#[test]
fn timeouts_in_coroutines_and_on_plain_threads() {
    rt();
    let _w = Watchdog::new(60);
    let (_a, b) = UnixStream::pair().unwrap();
    let b = Arc::new(b);
    let check = |b: &UnixStream| {
        let t = Instant::now();
        let e = wait_readable(b, Some(Duration::from_millis(100))).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        // A zero timeout only checks.
        let e = wait_readable(b, Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        // Writable at once.
        wait_writable(b, Some(Duration::ZERO)).unwrap();
    };
    check(&b);
    let b2 = b.clone();
    in_co(move || check(&b2));
}

#[test]
fn a_descriptor_that_is_not_open_is_ebadf() {
    rt();
    let _w = Watchdog::new(60);
    let check = || {
        // Far above any limit on open files: never open.
        // SAFETY: only polled; poll(2) reports POLLNVAL and touches nothing.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(1 << 28) };
        for r in [
            wait_readable(fd, Some(Duration::from_secs(5))),
            wait_writable(fd, None),
            wait_readable(fd, Some(Duration::ZERO)),
        ] {
            assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
        }
    };
    check();
    in_co(check);
}

/// Fills the send buffer of a non-blocking socket.
fn fill(s: &UnixStream) -> usize {
    s.set_nonblocking(true).unwrap();
    let chunk = [0u8; 65536];
    let mut total = 0;
    loop {
        match (&*s).write(&chunk) {
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn wait_writable_waits_for_room() {
    rt();
    let _w = Watchdog::new(60);
    in_co(|| {
        let (a, mut b) = UnixStream::pair().unwrap();
        let filled = fill(&a);
        let e = wait_writable(&a, Some(Duration::from_millis(50))).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let reader = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            let mut buf = vec![0; filled];
            b.read_exact(&mut buf).unwrap();
            b
        });
        wait_writable(&a, LONG).unwrap();
        let _b = reader.join().unwrap();
    });
}

#[test]
fn waiting_on_a_greenstd_socket_leaves_its_own_waits_working() {
    rt();
    let _w = Watchdog::new(60);
    in_co(|| {
        // greenstd's socket registers its descriptor with the pollers; the
        // raw wait must not disturb that registration.
        let l = greenstd::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = greenstd::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let s = Arc::new(s);
        let mut buf = [0; 4];
        for round in 0..3u8 {
            // Both wait at once, each through its own registration; the
            // reader takes half of the bytes, so the data is still there
            // when the raw waiter looks.
            let s2 = s.clone();
            let reader = thread::spawn(move || {
                let mut buf = [0; 2];
                (&*s2).read_exact(&mut buf).unwrap();
                buf
            });
            let s3 = s.clone();
            let raw_waiter = thread::spawn(move || wait_readable(&*s3, LONG));
            thread::sleep(Duration::from_millis(20));
            c.write_all(&[round; 4]).unwrap();
            assert_eq!(reader.join().unwrap(), [round; 2]);
            raw_waiter.join().unwrap().unwrap();
            (&*s).read_exact(&mut buf[..2]).unwrap();
        }
        c.write_all(b"last").unwrap();
        (&*s).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"last");
    });
}

#[test]
fn regular_files_are_always_ready() {
    rt();
    let _w = Watchdog::new(30);
    in_co(|| {
        let f = std::fs::File::open("Cargo.toml").unwrap();
        wait_readable(&f, LONG).unwrap();
        wait_writable(&f, LONG).unwrap();
        let mut fds = [PollFd::new(
            f.as_fd(),
            PollFlags::POLLIN | PollFlags::POLLOUT,
        )];
        assert_eq!(poll(&mut fds, LONG).unwrap(), 1);
    });
}

/// `poll(2)` itself with a zero timeout, for comparison.
fn sys_poll(fds: &[(i32, i16)]) -> Vec<i16> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, events)| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    // SAFETY: a valid array of pollfd for the call.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 0) };
    assert!(r >= 0);
    pfds.iter().map(|p| p.revents).collect()
}

#[test]
fn poll_results_are_exactly_those_of_poll_2() {
    rt();
    let _w = Watchdog::new(60);
    let check = || {
        let (mut a, b) = UnixStream::pair().unwrap(); // b readable
        a.write_all(b"data").unwrap();
        let (c, d) = UnixStream::pair().unwrap(); // d: peer gone
        drop(c);
        let (_e, f) = UnixStream::pair().unwrap(); // f: nothing to read
        let (g, _h) = UnixStream::pair().unwrap(); // g: writable
        let (i, _j) = UnixStream::pair().unwrap(); // i: full, not writable
        fill(&i);
        let all = PollFlags::POLLIN | PollFlags::POLLPRI | PollFlags::POLLRDHUP;
        let mut fds = [
            PollFd::new(b.as_fd(), all),
            PollFd::new(d.as_fd(), all),
            PollFd::new(f.as_fd(), all),
            PollFd::new(g.as_fd(), PollFlags::POLLOUT),
            PollFd::new(i.as_fd(), PollFlags::POLLOUT),
            // The same descriptor twice, asked different things.
            PollFd::new(b.as_fd(), PollFlags::POLLOUT),
            // Asked nothing: only ERR/HUP/NVAL count.
            PollFd::new(d.as_fd(), PollFlags::empty()),
        ];
        let expected = sys_poll(
            &fds.iter()
                .map(|p| (p.as_fd().as_raw_fd(), p.events().bits()))
                .collect::<Vec<_>>(),
        );
        let n = poll(&mut fds, LONG).unwrap();
        let got: Vec<i16> = fds.iter().map(|p| p.revents().bits()).collect();
        assert_eq!(got, expected, "{fds:?}");
        assert_eq!(n, expected.iter().filter(|&&r| r != 0).count());
        assert!(fds[1].revents().contains(PollFlags::POLLHUP), "{fds:?}");
        assert!(fds[2].revents().is_empty());
        assert!(fds[4].revents().is_empty());
        assert!(fds[6].revents().contains(PollFlags::POLLHUP));
    };
    check();
    in_co(check);
}

#[test]
fn poll_waits_for_one_of_many_and_reports_only_it() {
    rt();
    let _w = Watchdog::new(60);
    let pairs: Vec<(UnixStream, UnixStream)> =
        (0..100).map(|_| UnixStream::pair().unwrap()).collect();
    let (writers, readers): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
    let readers = Arc::new(readers);
    let r = readers.clone();
    let poller = thread::spawn(move || {
        let mut fds: Vec<PollFd> = r
            .iter()
            .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
            .collect();
        let n = poll(&mut fds, LONG).unwrap();
        let ready: Vec<usize> = fds
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.revents().is_empty())
            .map(|(i, _)| i)
            .collect();
        (n, ready, fds[57].revents())
    });
    std::thread::sleep(Duration::from_millis(100));
    (&writers[57]).write_all(b"!").unwrap();
    let (n, ready, revents) = poller.join().unwrap();
    assert_eq!(n, 1);
    assert_eq!(ready, vec![57]);
    assert_eq!(revents, PollFlags::POLLIN);
}

#[test]
fn poll_timeout_and_empty_set() {
    rt();
    let _w = Watchdog::new(60);
    let check = || {
        let (_a, b) = UnixStream::pair().unwrap();
        let mut fds = [PollFd::new(b.as_fd(), PollFlags::POLLIN)];
        let t = Instant::now();
        assert_eq!(poll(&mut fds, Some(Duration::from_millis(100))).unwrap(), 0);
        assert!(
            t.elapsed() >= Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        assert!(fds[0].revents().is_empty());
        assert_eq!(poll(&mut fds, Some(Duration::ZERO)).unwrap(), 0);
        // No descriptor at all: a sleep.
        let t = Instant::now();
        assert_eq!(poll(&mut [], Some(Duration::from_millis(50))).unwrap(), 0);
        assert!(
            t.elapsed() >= Duration::from_millis(50),
            "{:?}",
            t.elapsed()
        );
    };
    check();
    in_co(check);
}

#[test]
fn many_pollers_on_few_workers_all_wake_and_the_workers_stay_free() {
    rt();
    let _w = Watchdog::new(60);
    let ticker = Ticker::start();
    let before = os_threads();
    let (mut a, b) = UnixStream::pair().unwrap();
    let b = Arc::new(b);
    let (mut c, d) = UnixStream::pair().unwrap();
    let d = Arc::new(d);
    let pollers: Vec<_> = (0..300)
        .map(|i| {
            let (b, d) = (b.clone(), d.clone());
            thread::spawn(move || {
                let mut fds = [
                    PollFd::new(b.as_fd(), PollFlags::POLLIN),
                    PollFd::new(d.as_fd(), PollFlags::POLLIN),
                ];
                // Half of them poll in a loop with short timeouts.
                let timeout = if i % 2 == 0 {
                    Some(Duration::from_millis(7))
                } else {
                    LONG
                };
                loop {
                    let n = poll(&mut fds, timeout).unwrap();
                    if n > 0 {
                        return (fds[0].revents(), fds[1].revents());
                    }
                }
            })
        })
        .collect();
    let t0 = ticker.ticks();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        ticker.ticks() > t0 + 20,
        "workers blocked: {} ticks",
        ticker.ticks() - t0
    );
    // Pollers that held their workers would each be handed off: hundreds of
    // threads. A busy machine may see a few hand-offs of workers that wait
    // for a preempted lock holder (7 -> 11 seen at load 10).
    assert!(
        os_threads() <= before + 10,
        "threads grew: {before} -> {}",
        os_threads()
    );
    c.write_all(b"1").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    a.write_all(b"2").unwrap();
    for p in pollers {
        let (rb, rd) = p.join().unwrap();
        // `d` was readable first and stays readable; `b` may be by then.
        assert_eq!(rd, PollFlags::POLLIN);
        assert!(rb.is_empty() || rb == PollFlags::POLLIN);
    }
}
