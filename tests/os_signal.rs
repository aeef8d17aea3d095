//! `green::signal`: signals received cooperatively, in coroutines and on
//! plain threads; what the process's default actions become; graceful stop
//! of a server on SIGTERM (in a child process, killed for real).
//!
//! Each test uses its own signal where it can (real-time signals are
//! plentiful), so the tests do not see each other's signals when a runner
//! puts them in one process.

mod net_util;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenstd::green::signal::{signal_handler, Signals, SIGHUP, SIGTERM, SIGUSR1, SIGUSR2};
use greenstd::thread;
use net_util::{os_threads, rt, Watchdog};

fn rtsig(n: i32) -> i32 {
    libc::SIGRTMIN() + 4 + n
}

fn raise(sig: i32) {
    // SAFETY: raising a signal; the tests subscribe before they raise, or
    // check the default action in a child process.
    assert_eq!(unsafe { libc::raise(sig) }, 0);
}

/// Sends `sig` to the process from another thread (as `kill` would).
fn kill_self(sig: i32) {
    // SAFETY: a plain syscall.
    assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
}

#[test]
fn a_coroutine_waits_without_blocking_its_worker() {
    rt();
    let _w = Watchdog::new(60);
    let sig = rtsig(0);
    let mut signals = Signals::new([sig]).unwrap();
    thread::spawn(|| ()).join().unwrap(); // the runtime runs
    let before = os_threads();
    let ticks = Arc::new(AtomicUsize::new(0));
    let waiter = thread::spawn(move || signals.recv());
    // Two workers: with the waiter parked, 100 sleepers still tick.
    let t = ticks.clone();
    let tickers: Vec<_> = (0..100)
        .map(|_| {
            let t = t.clone();
            thread::spawn(move || {
                for _ in 0..20 {
                    thread::sleep(Duration::from_millis(5));
                    t.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in tickers {
        h.join().unwrap();
    }
    assert_eq!(ticks.load(Ordering::Relaxed), 2000);
    assert!(!waiter.is_finished());
    assert!(os_threads() <= before + 2);
    kill_self(sig);
    assert_eq!(waiter.join().unwrap(), Ok(sig));
}

#[test]
fn a_plain_thread_waits_in_poll() {
    let _w = Watchdog::new(60);
    let sig = rtsig(1);
    let mut signals = Signals::new([sig]).unwrap();
    let t = std::thread::spawn(move || {
        let start = Instant::now();
        let got = signals.recv();
        (got, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    kill_self(sig);
    let (got, waited) = t.join().unwrap();
    assert_eq!(got, Ok(sig));
    assert!(waited >= Duration::from_millis(90), "{waited:?}");
}

#[test]
fn every_subscriber_gets_every_signal() {
    rt();
    let _w = Watchdog::new(60);
    let sig = rtsig(2);
    let mut coroutines = Vec::new();
    for _ in 0..10 {
        let mut s = Signals::new([sig]).unwrap();
        coroutines.push(thread::spawn(move || s.recv()));
    }
    let mut plain = Signals::new([sig]).unwrap();
    let t = std::thread::spawn(move || plain.recv());
    thread::sleep(Duration::from_millis(50));
    kill_self(sig);
    for c in coroutines {
        assert_eq!(c.join().unwrap(), Ok(sig));
    }
    assert_eq!(t.join().unwrap(), Ok(sig));
}

#[test]
fn pending_deliveries_merge_and_come_lowest_first() {
    let sig_a = rtsig(3);
    let sig_b = rtsig(4);
    let mut s = Signals::new([sig_b, sig_a]).unwrap();
    assert_eq!(s.try_recv(), Err(TryRecvError::Empty));
    raise(sig_b);
    raise(sig_b);
    raise(sig_a);
    raise(sig_b);
    assert_eq!(s.try_iter().collect::<Vec<_>>(), vec![sig_a, sig_b]);
    assert_eq!(s.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        s.recv_timeout(Duration::from_millis(20)),
        Err(RecvTimeoutError::Timeout)
    );
}

#[test]
fn recv_timeout_in_a_coroutine() {
    rt();
    let _w = Watchdog::new(60);
    let sig = rtsig(5);
    let mut s = Signals::new([sig]).unwrap();
    let (got, waited) = thread::spawn(move || {
        let start = Instant::now();
        let got = s.recv_timeout(Duration::from_millis(100));
        (got, start.elapsed())
    })
    .join()
    .unwrap();
    assert_eq!(got, Err(RecvTimeoutError::Timeout));
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
}

#[test]
fn a_handle_closes_the_subscription() {
    rt();
    let _w = Watchdog::new(60);
    let sig = rtsig(6);
    let mut s = Signals::new([sig]).unwrap();
    let handle = s.handle();
    let t = thread::spawn(move || {
        let got: Vec<i32> = s.iter().collect();
        (got, s.recv())
    });
    thread::sleep(Duration::from_millis(30));
    kill_self(sig);
    thread::sleep(Duration::from_millis(30));
    handle.close();
    assert!(handle.is_closed());
    let (got, after) = t.join().unwrap();
    assert_eq!(got, vec![sig]);
    assert_eq!(after, Err(RecvError));
}

#[test]
fn bad_signals_are_invalid_input() {
    for bad in [
        vec![],
        vec![0],
        vec![65],
        vec![-1],
        vec![libc::SIGKILL],
        vec![libc::SIGSTOP],
        vec![libc::SIGSEGV],
        vec![SIGTERM, libc::SIGBUS],
        vec![libc::SIGFPE],
        vec![libc::SIGILL],
    ] {
        let e = Signals::new(bad.clone()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}: {e}");
    }
}

#[test]
fn signal_handler_calls_until_cancelled() {
    rt();
    let _w = Watchdog::new(60);
    let sig = rtsig(7);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let h = signal_handler(sig, move || {
        c.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    assert_eq!(h.signal(), sig);
    for n in 1..=3 {
        kill_self(sig);
        let start = Instant::now();
        while calls.load(Ordering::SeqCst) < n {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "handler not called"
            );
            thread::sleep(Duration::from_millis(1));
        }
    }
    h.cancel();
    // Unsubscribed: the former action (SIG_DFL) is back. For a real-time
    // signal that would terminate the process, so look, do not raise.
    // SAFETY: reading the current action only.
    let action = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old);
        old.sa_sigaction
    };
    assert_eq!(action, libc::SIG_DFL);
}

static PREVIOUS_CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn previous_handler(_: libc::c_int) {
    PREVIOUS_CALLS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_handler_installed_before_is_chained_and_restored() {
    let sig = SIGUSR2;
    // SAFETY: installing a handler that only touches an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = previous_handler as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(sig, &action, std::ptr::null_mut()), 0);
    }
    let mut s = Signals::new([sig]).unwrap();
    raise(sig);
    assert_eq!(s.try_recv(), Ok(sig));
    assert_eq!(PREVIOUS_CALLS.load(Ordering::SeqCst), 1);
    drop(s);
    raise(sig);
    assert_eq!(PREVIOUS_CALLS.load(Ordering::SeqCst), 2);
}

// --- Child processes: the real default actions and a graceful stop. ---

fn is_child() -> bool {
    std::env::var_os("SIGNAL_CHILD").is_some()
}

/// Runs this binary again on test `name` as a child, returning it running
/// with its stdout piped.
fn spawn_child(name: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SIGNAL_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Reads the child's stdout until a line with `prefix`; returns the line
/// from there (libtest may print "test NAME ... " before the first one).
fn wait_line(out: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child ended before {prefix:?}"
        );
        if let Some(at) = line.find(prefix) {
            return line[at..].trim_end().to_string();
        }
    }
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("child did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The child: a thread-per-connection echo server that stops on SIGTERM —
/// stops accepting, lets the open connection finish, and exits 0.
#[test]
#[ignore = "run as a child process by sigterm_stops_a_server_gracefully"]
fn child_server() {
    if !is_child() {
        return;
    }
    rt();
    let mut signals = Signals::new([SIGTERM, SIGHUP]).unwrap();
    let listener = greenstd::net::TcpListener::bind("127.0.0.1:0").unwrap();
    println!("listening {}", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let s2 = served.clone();
    let acceptor = thread::spawn(move || {
        // One connection is enough for the test; then it stops accepting
        // and waits for its handler.
        let (mut stream, _) = listener.accept().unwrap();
        let served = s2.clone();
        thread::spawn(move || {
            let mut buf = Vec::new();
            stream.read_to_end(&mut buf).unwrap();
            stream.write_all(&buf).unwrap();
            served.fetch_add(1, Ordering::SeqCst);
        })
        .join()
        .unwrap();
    });
    let mut hups = 0;
    for sig in signals.iter() {
        if sig == SIGHUP {
            hups += 1;
            println!("hup {hups}");
            continue;
        }
        println!("stopping on {sig}");
        break;
    }
    acceptor.join().unwrap();
    println!(
        "stopped gracefully, served {}",
        served.load(Ordering::SeqCst)
    );
}

#[test]
fn sigterm_stops_a_server_gracefully() {
    if is_child() {
        return;
    }
    let mut child = spawn_child("child_server");
    let pid = child.id() as libc::pid_t;
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let line = wait_line(&mut out, "listening ");
    let addr: std::net::SocketAddr = line["listening ".len()..].parse().unwrap();
    // A client in the middle of its request when the signal comes.
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    client.write_all(b"in flight").unwrap();
    // SIGHUP is handled and does not stop it.
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, SIGHUP) }, 0);
    assert_eq!(wait_line(&mut out, "hup "), "hup 1");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, SIGTERM) }, 0);
    assert_eq!(
        wait_line(&mut out, "stopping "),
        format!("stopping on {SIGTERM}")
    );
    // The server waits for the client to finish.
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited with a client open"
    );
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    client.read_to_end(&mut echoed).unwrap();
    assert_eq!(echoed, b"in flight");
    assert_eq!(
        wait_line(&mut out, "stopped "),
        "stopped gracefully, served 1"
    );
    assert!(wait_exit(&mut child).success());
}

/// The child: subscribes to SIGTERM, unsubscribes, then waits to be killed.
#[test]
#[ignore = "run as a child process by sigterm_kills_again_once_unsubscribed"]
fn child_unsubscribed() {
    if !is_child() {
        return;
    }
    rt();
    let mut s = Signals::new([SIGTERM, SIGUSR1]).unwrap();
    // SAFETY: signalling ourselves a subscribed signal.
    unsafe { libc::raise(SIGTERM) };
    assert_eq!(s.recv(), Ok(SIGTERM));
    drop(s);
    println!("unsubscribed");
    std::thread::sleep(Duration::from_secs(60));
    println!("still alive");
}

#[test]
fn sigterm_kills_again_once_unsubscribed() {
    use std::os::unix::process::ExitStatusExt;
    if is_child() {
        return;
    }
    let mut child = spawn_child("child_unsubscribed");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    wait_line(&mut out, "unsubscribed");
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, SIGTERM) }, 0);
    let status = wait_exit(&mut child);
    assert_eq!(status.signal(), Some(SIGTERM), "{status:?}");
}
