//! Name resolution never runs on a worker: every path that resolves a host
//! name (`to_socket_addrs` called directly, `connect`, `bind`, `send_to`)
//! parks the coroutine while the lookup runs on the resolver pool, a pool of
//! its own. A test resolver stands in for the system's (no test may query
//! the machine's real DNS): `slow.test` takes 1 s to answer.

mod alone;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use greenstd::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use greenstd::thread;

const SLOW: Duration = Duration::from_secs(1);

/// The port every `slow.test` lookup answers with (set before lookups start).
static PORT: AtomicUsize = AtomicUsize::new(9);
/// Names of the threads the test resolver ran on, and the hosts it saw.
static SEEN: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

fn resolver(host: &str) -> Option<std::io::Result<Vec<SocketAddr>>> {
    let me = std::thread::current().name().unwrap_or("").to_owned();
    SEEN.lock().unwrap().push((me, host.to_owned()));
    match host {
        "slow.test" => {
            // A real blocking wait, as getaddrinfo's on a silent server.
            std::thread::sleep(SLOW);
            let port = PORT.load(Ordering::Relaxed) as u16;
            Some(Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]))
        }
        "fast.test" => Some(Ok(vec![SocketAddr::from(([127, 0, 0, 1], 7))])),
        "any.test" => Some(Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0))])),
        _ => Some(Err(std::io::Error::other("test resolver: unknown host"))),
    }
}

fn setup() {
    let _ = greenstd::green::Config::new().workers(2).apply();
    greenstd::green::set_test_resolver(resolver);
}

#[test]
fn lookups_run_on_the_resolver_pool_and_leave_tickers_alone() {
    if !alone::here() {
        return;
    }
    setup();
    let stop = Arc::new(AtomicBool::new(false));
    let ticks = Arc::new(AtomicU64::new(0));
    let worst_us = Arc::new(AtomicU64::new(0));
    let tickers: Vec<_> = (0..1000)
        .map(|_| {
            let (stop, ticks, worst_us) = (stop.clone(), ticks.clone(), worst_us.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    thread::sleep(Duration::from_millis(10));
                    let late = t0.elapsed().saturating_sub(Duration::from_millis(10));
                    worst_us.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(200));
    ticks.store(0, Ordering::Relaxed);
    worst_us.store(0, Ordering::Relaxed);

    // 20 lookups stuck at once, called directly as blocking code does.
    let started = Instant::now();
    let lookups: Vec<_> = (0..20)
        .map(|_| thread::spawn(|| "slow.test:80".to_socket_addrs().map(|a| a.count())))
        .collect();
    for l in lookups {
        assert_eq!(l.join().unwrap().unwrap(), 1);
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in tickers {
        t.join().unwrap();
    }
    let ticks = ticks.load(Ordering::Relaxed);
    let ideal = 1000.0 * took.as_secs_f64() / 0.010;
    eprintln!(
        "20 lookups took {took:?}; tickers: {ticks} ticks ({:.0}% of ideal), worst delay {} ms",
        ticks as f64 / ideal * 100.0,
        worst_us.load(Ordering::Relaxed) / 1000
    );
    // Ten resolver threads: two rounds of one second, not twenty (on a
    // worker) or five (on the offload pool of four).
    assert!(
        took >= 2 * SLOW,
        "20 lookups of 1 s on 10 threads took {took:?}"
    );
    assert!(
        took < 4 * SLOW,
        "20 lookups of 1 s on 10 threads took {took:?}"
    );
    assert!(
        ticks as f64 >= 0.5 * ideal,
        "tickers got {ticks} ticks of an ideal {ideal:.0} while lookups were stuck"
    );
    // Every lookup ran on a resolver thread, none on a worker.
    let seen = SEEN.lock().unwrap();
    let slow: Vec<_> = seen.iter().filter(|(_, h)| h == "slow.test").collect();
    assert_eq!(slow.len(), 20);
    assert!(
        slow.iter().all(|(t, _)| t == "greenstd-resolver"),
        "lookups ran on {slow:?}"
    );
}

#[test]
fn every_resolving_call_takes_the_detour() {
    if !alone::here() {
        return;
    }
    setup();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    PORT.store(port as usize, Ordering::Relaxed);
    let accepted = std::thread::spawn(move || listener.accept().map(|_| ()));
    thread::spawn(move || {
        // connect with a (host, port) pair and with a String.
        TcpStream::connect(("slow.test", port)).unwrap();
        // bind and send_to with host names.
        let udp = UdpSocket::bind("any.test:0").unwrap();
        udp.send_to(b"x", String::from("slow.test:9")).unwrap();
        // String and (String, u16) called directly.
        assert_eq!(
            String::from("fast.test:1")
                .to_socket_addrs()
                .unwrap()
                .count(),
            1
        );
        assert_eq!(
            (String::from("fast.test"), 1)
                .to_socket_addrs()
                .unwrap()
                .count(),
            1
        );
        // An unknown host is the resolver's error.
        assert!("nowhere.test:1".to_socket_addrs().is_err());
    })
    .join()
    .unwrap();
    accepted.join().unwrap().unwrap();
    let seen = SEEN.lock().unwrap();
    let hosts: Vec<&str> = seen.iter().map(|(_, h)| h.as_str()).collect();
    for h in ["slow.test", "any.test", "fast.test", "nowhere.test"] {
        assert!(hosts.contains(&h), "{h} was not looked up: {hosts:?}");
    }
    assert!(
        seen.iter().all(|(t, _)| t == "greenstd-resolver"),
        "lookups ran on {seen:?}"
    );
}

#[test]
fn literals_and_localhost_take_no_detour_and_plain_threads_resolve_inline() {
    if !alone::here() {
        return;
    }
    setup();
    thread::spawn(|| {
        for a in ["127.0.0.1:80", "[::1]:80"] {
            assert_eq!(a.to_socket_addrs().unwrap().count(), 1);
        }
        assert_eq!(("127.1.2.3", 80).to_socket_addrs().unwrap().count(), 1);
        assert_eq!(("::1", 80).to_socket_addrs().unwrap().count(), 1);
        // localhost comes from /etc/hosts, inline.
        assert!("localhost:80".to_socket_addrs().unwrap().count() >= 1);
    })
    .join()
    .unwrap();
    // On a plain thread: std's behaviour, inline.
    assert_eq!("fast.test:5".to_socket_addrs().unwrap().count(), 1);
    let seen = SEEN.lock().unwrap();
    assert!(
        seen.iter()
            .all(|(_, h)| h != "127.0.0.1" && h != "::1" && h != "127.1.2.3"),
        "a literal went to the resolver: {seen:?}"
    );
    let main = std::thread::current().name().unwrap_or("").to_owned();
    assert!(
        seen.iter()
            .any(|(t, h)| h == "fast.test" && *t == main && t != "greenstd-resolver"),
        "the plain thread's lookup did not run inline: {seen:?}"
    );
}

#[test]
fn lookups_do_not_queue_behind_offload_work() {
    if !alone::here() {
        return;
    }
    setup();
    // Fill the general offload pool (4 threads) with 8 jobs of 1 s.
    let busy: Vec<_> = (0..8)
        .map(|_| {
            thread::spawn(|| {
                greenstd::green::offload(|| std::thread::sleep(Duration::from_secs(1)))
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    let n = thread::spawn(|| "fast.test:1".to_socket_addrs().unwrap().count())
        .join()
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(n, 1);
    assert!(
        took < Duration::from_millis(500),
        "a lookup waited {took:?} behind offload work"
    );
    for b in busy {
        b.join().unwrap();
    }
}

/// A crate's own address type, implementing the (patched) trait by
/// delegating to a host lookup, as such types do.
struct Named(&'static str, u16);

impl ToSocketAddrs for Named {
    type Iter = std::vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> std::io::Result<Self::Iter> {
        (self.0, self.1).to_socket_addrs()
    }
}

#[test]
fn a_custom_address_type_resolves_off_the_workers() {
    if !alone::here() {
        return;
    }
    setup();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    PORT.store(
        listener.local_addr().unwrap().port() as usize,
        Ordering::Relaxed,
    );
    let t0 = Instant::now();
    // Four slow lookups on two workers: on the workers they would take 2 s.
    let conns: Vec<_> = (0..4)
        .map(|_| thread::spawn(|| TcpStream::connect(Named("slow.test", 0)).map(|_| ())))
        .collect();
    // Meanwhile the workers stay free: a coroutine runs at once.
    thread::sleep(Duration::from_millis(100));
    let quick = Instant::now();
    thread::spawn(|| ()).join().unwrap();
    assert!(
        quick.elapsed() < Duration::from_millis(300),
        "{:?}",
        quick.elapsed()
    );
    for c in conns {
        c.join().unwrap().unwrap();
    }
    let took = t0.elapsed();
    assert!(took < 2 * SLOW, "4 lookups of 1 s took {took:?}");
    drop(listener);
}
