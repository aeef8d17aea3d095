//! `green::dump()`: every live coroutine with its state, what it waits on,
//! from which line, since when, and its parent; and the dump signal.

mod child_util;

use std::time::{Duration, Instant};

use greenstd::green::{self, Dump, TaskState, WaitKind};
use greenstd::sync::mpsc::{channel, Sender};
use greenstd::sync::{Arc, Mutex};
use greenstd::thread;

use child_util::Child;

const LIMIT: Duration = Duration::from_secs(60);

fn two_workers() {
    green::Config::new().workers(2).apply().unwrap();
}

/// Takes dumps until `f` holds for one (at most `LIMIT`).
fn dump_until(what: &str, f: impl Fn(&Dump) -> bool) -> Dump {
    let t = Instant::now();
    loop {
        let d = green::dump();
        if f(&d) {
            return d;
        }
        assert!(t.elapsed() < LIMIT, "never saw: {what}\n{d}");
        thread::sleep(Duration::from_millis(5));
    }
}

fn id_of(t: &thread::Thread) -> u64 {
    // ThreadId's number, as std prints it: `ThreadId(5)`.
    let s = format!("{:?}", t.id());
    s.trim_start_matches("ThreadId(")
        .trim_end_matches(')')
        .parse()
        .unwrap()
}

#[test]
fn a_dump_of_1000_parked_coroutines_is_complete_and_fast() {
    two_workers();
    const N: usize = 1000;
    let me = id_of(&thread::current());
    let mut senders: Vec<Sender<()>> = Vec::new();
    let mut handles = Vec::new();
    let mut line = 0;
    for i in 0..N {
        let (tx, rx) = channel::<()>();
        senders.push(tx);
        line = line!() + 1;
        let body = move || rx.recv().is_err();
        let h = thread::Builder::new()
            .name(format!("parked-{i}"))
            .spawn(body)
            .unwrap();
        handles.push(h);
    }
    let ids: Vec<u64> = handles.iter().map(|h| id_of(h.thread())).collect();
    // Only ours: other tests may run in this process (`cargo test`).
    let parked = |d: &Dump| {
        d.tasks()
            .iter()
            .filter(|t| t.name().is_some_and(|n| n.starts_with("parked-")))
            .filter(|t| t.state() == TaskState::Parked)
            .filter(|t| t.wait().is_some_and(|w| w.kind() == WaitKind::Recv))
            .count()
    };

    dump_until("1000 coroutines parked in recv", |d| parked(d) == N);

    let t = Instant::now();
    let dump = green::dump();
    let text = dump.to_string();
    let took = t.elapsed();
    // Generous: a dump of 1000 takes about a millisecond.
    assert!(took < Duration::from_secs(1), "dump took {took:?}");

    assert_eq!(parked(&dump), N);
    for (i, id) in ids.iter().enumerate() {
        let t = dump
            .get(*id)
            .unwrap_or_else(|| panic!("coroutine {id} missing"));
        assert!(t.is_coroutine());
        assert_eq!(t.name(), Some(format!("parked-{i}").as_str()));
        assert_eq!(t.state(), TaskState::Parked);
        assert_eq!(t.parent(), Some(me));
        let w = t.wait().unwrap();
        assert_eq!(w.kind(), WaitKind::Recv);
        assert_eq!(w.location().file(), file!());
        assert_eq!(w.location().line(), line);
        assert!(w.holder().is_none());
        assert!(!w.is_timed());
    }
    let me_info = dump.get(me).unwrap();
    assert!(!me_info.is_coroutine());
    assert_eq!(me_info.state(), TaskState::Running);
    // The table: a header, then one line per task.
    assert!(text.matches("recv on channel").count() >= N, "{text}");
    assert!(text.lines().nth(1).unwrap().starts_with("ID"), "{text}");
    assert!(text.lines().count() >= N + 3);

    drop(senders);
    for h in handles {
        assert!(h.join().unwrap());
    }
    // Finished coroutines leave the dump (a joined one may still be
    // returning from its main function for a moment).
    dump_until("the finished coroutines gone", |d| {
        ids.iter().all(|id| d.get(*id).is_none())
    });
}

#[test]
fn the_dump_names_a_locks_holder_and_a_joined_thread() {
    two_workers();
    let lock = Arc::new(Mutex::new(0));
    let (release, released) = channel::<()>();
    let l1 = lock.clone();
    let holder = thread::Builder::new()
        .name("holder".into())
        .spawn(move || {
            let _g = l1.lock().unwrap();
            released.recv().unwrap();
        })
        .unwrap();
    let holder_id = id_of(holder.thread());
    dump_until("the holder parked", |d| {
        d.get(holder_id)
            .is_some_and(|t| t.state() == TaskState::Parked)
    });
    let l2 = lock.clone();
    let locker = thread::spawn(move || *l2.lock().unwrap() += 1);
    let locker_id = id_of(locker.thread());
    let joiner = thread::spawn(move || holder.join().unwrap());
    let joiner_id = id_of(joiner.thread());
    let d = dump_until("locker and joiner parked", |d| {
        [locker_id, joiner_id]
            .iter()
            .all(|id| d.get(*id).is_some_and(|t| t.state() == TaskState::Parked))
    });
    let w = d.get(locker_id).unwrap().wait().unwrap();
    assert_eq!(w.kind(), WaitKind::Mutex);
    assert_eq!(w.holder(), Some(holder_id), "{d}");
    let w = d.get(joiner_id).unwrap().wait().unwrap();
    assert_eq!(w.kind(), WaitKind::Join);
    assert_eq!(w.holder(), Some(holder_id));
    assert_eq!(w.object() as u64, holder_id);
    let text = d.to_string();
    assert!(text.contains("held by coroutine"), "{text}");
    assert!(text.contains("\"holder\""), "{text}");
    // No cycle here.
    assert!(d.cycles().is_empty());

    release.send(()).unwrap();
    locker.join().unwrap();
    joiner.join().unwrap();
    assert_eq!(*lock.lock().unwrap(), 1);
}

#[test]
fn running_and_sleeping_coroutines_and_timed_waits() {
    two_workers();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let spinner = thread::spawn(move || {
        while !s2.load(std::sync::atomic::Ordering::SeqCst) {
            thread::yield_now();
        }
    });
    let sleeper = thread::spawn(|| thread::sleep(Duration::from_millis(400)));
    let (_tx, rx) = channel::<()>();
    let timed = thread::spawn(move || rx.recv_timeout(Duration::from_millis(400)).is_err());
    let (sp, sl, ti) = (
        id_of(spinner.thread()),
        id_of(sleeper.thread()),
        id_of(timed.thread()),
    );
    let d = dump_until("sleeper and timed waiter parked", |d| {
        [sl, ti]
            .iter()
            .all(|id| d.get(*id).is_some_and(|t| t.state() == TaskState::Parked))
    });
    assert_eq!(d.get(sp).unwrap().state(), TaskState::Running, "{d}");
    assert!(d.get(sp).unwrap().wait().is_none());
    let w = d.get(sl).unwrap().wait().unwrap();
    assert_eq!(w.kind(), WaitKind::Sleep);
    assert!(w.is_timed());
    let w = d.get(ti).unwrap().wait().unwrap();
    assert_eq!(w.kind(), WaitKind::Recv);
    assert!(w.is_timed());
    assert!(w.waited() < LIMIT);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    spinner.join().unwrap();
    sleeper.join().unwrap();
    assert!(timed.join().unwrap());
}

#[test]
fn the_dump_signal_prints_the_table_and_the_program_runs_on() {
    let mut child = Child::start(
        "dump",
        &["--wait"],
        &[
            ("GREENSTD_DUMP_SIGNAL", "SIGUSR1"),
            ("GREENSTD_WORKERS", "2"),
        ],
    );
    assert!(
        child.wait_for(false, "ready: pid", LIMIT),
        "{}",
        child.stderr()
    );
    let pid = child.pid() as libc::pid_t;
    // SAFETY: a plain system call on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR1) }, 0);
    assert!(
        child.wait_for(true, "accept on fd", LIMIT),
        "{}",
        child.stderr()
    );
    let err = child.stderr();
    assert!(err.contains("greenstd: 5 coroutines"), "{err}");
    assert!(err.contains("held by coroutine 2 \"holder\""), "{err}");
    // Again: each signal prints one.
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR1) }, 0);
    let t = Instant::now();
    while child.stderr().matches("greenstd: 5 coroutines").count() < 2 {
        assert!(t.elapsed() < LIMIT, "{}", child.stderr());
        std::thread::sleep(Duration::from_millis(10));
    }
    child.write_stdin("\n");
    let (status, _, out, err) = child.finish(LIMIT);
    assert!(status.success(), "{err}");
    assert!(out.contains("done"), "{out}");
}

#[test]
fn a_bad_dump_signal_is_a_clear_error() {
    let child = Child::start("dump", &[], &[("GREENSTD_DUMP_SIGNAL", "SIGKILL")]);
    let (status, _, _, err) = child.finish(LIMIT);
    assert!(!status.success());
    assert!(err.contains("GREENSTD_DUMP_SIGNAL"), "{err}");
    assert!(err.contains("expected SIGQUIT or SIGUSR1"), "{err}");
}

#[test]
fn a_coroutine_blocked_in_a_raw_system_call_shows_the_thread_it_holds() {
    two_workers();
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let [r, w] = fds;
    let h = thread::Builder::new()
        .name("raw-reader".into())
        .spawn(move || {
            let mut b = 0u8;
            // SAFETY: a raw blocking read of one byte into `b`, a call
            // greenstd cannot see: its worker is handed off.
            unsafe { libc::read(r, (&mut b as *mut u8).cast(), 1) }
        })
        .unwrap();
    let id = id_of(h.thread());
    let d = dump_until("the reader holding its thread", |d| {
        d.tasks()
            .iter()
            .any(|t| t.id() == id && t.blocking_thread().is_some())
    });
    let text = d.to_string();
    let line = text
        .lines()
        .find(|l| l.contains("raw-reader"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("in a blocking call"), "{text}");
    // SAFETY: writes one byte from a live buffer.
    assert_eq!(unsafe { libc::write(w, b"x".as_ptr().cast(), 1) }, 1);
    assert_eq!(h.join().unwrap(), 1);
    // SAFETY: closes the pipe this test made.
    unsafe {
        libc::close(r);
        libc::close(w);
    }
}

/// Every blocking call of `green` reports the caller's line, not
/// greenstd's (its internal waits are `#[track_caller]` all the way).
#[test]
fn green_waits_report_the_callers_line() {
    two_workers();
    let event = Arc::new(green::Event::new());
    let result = Arc::new(green::AsyncResult::<u8, ()>::new());
    let queue = Arc::new(green::queue::Queue::<u8>::new());
    let rendezvous = Arc::new(green::queue::Queue::<u8>::bounded(0));
    let sem = Arc::new(green::Semaphore::new(0));
    let group = Arc::new(green::Group::new());
    let mut lines = Vec::new();
    let mut handles = Vec::new();
    let mut spawn = |name: &str, line: u32, f: Box<dyn FnOnce() + Send>| {
        lines.push((name.to_string(), line));
        handles.push(thread::Builder::new().name(name.into()).spawn(f).unwrap());
    };
    let (e, r, q, s, g) = (
        event.clone(),
        result.clone(),
        queue.clone(),
        sem.clone(),
        group.clone(),
    );
    spawn("event", line!(), Box::new(move || e.wait()));
    spawn("result", line!(), Box::new(move || _ = r.get()));
    spawn("get", line!(), Box::new(move || _ = q.get()));
    let q = rendezvous.clone();
    spawn("put", line!(), Box::new(move || _ = q.put(1)));
    spawn("acquire", line!(), Box::new(move || drop(s.acquire())));
    let ev = event.clone();
    group.spawn(move || ev.wait());
    spawn("join_all", line!(), Box::new(move || g.join_all()));
    let items = [event.clone()];
    let any = move || _ = green::wait_any(&items);
    spawn("wait_any", line!() - 1, Box::new(any));
    let items = [event.clone()];
    let all = move || green::wait_all(&items);
    spawn("wait_all", line!() - 1, Box::new(all));
    let items = [event.clone()];
    let each = move || for _ in green::iwait(&items) {};
    spawn("iwait", line!() - 1, Box::new(each));
    let q = queue.clone();
    spawn("peek", line!(), Box::new(move || _ = q.peek()));
    let g = group.clone();
    spawn("join_n", line!(), Box::new(move || _ = g.join_n(1)));
    for (name, line) in &lines {
        dump_until(&format!("{name} waits at line {line}"), |d| {
            d.tasks().iter().any(|t| {
                t.name() == Some(name.as_str())
                    && t.wait().is_some_and(|w| {
                        w.location().file() == file!() && w.location().line() == *line
                    })
            })
        });
    }
    event.set();
    result.set(1).unwrap();
    sem.add_permits(1);
    queue.close();
    rendezvous.close();
    for h in handles {
        h.join().unwrap();
    }
}

/// The blocking calls of the io, process and os families (pipes, a
/// child's pipe and exit, `wait_readable`, `poll`, `Signals`) record the
/// caller's line, not greenstd's: they are `#[track_caller]` down to the
/// I/O source's wait. (The fs family has no wait to record: its calls run
/// inline.)
#[test]
fn io_process_and_os_waits_report_the_callers_line() {
    use greenstd::io::{Read, Write};
    use greenstd::os::unix::net::UnixStream;
    use greenstd::process::{Command, Stdio};
    use std::os::fd::AsFd;

    two_workers();
    let mut lines: Vec<(&str, WaitKind, u32)> = Vec::new();
    let mut handles = Vec::new();
    let mut spawn = |name: &'static str, kind: WaitKind, line: u32, f: Box<dyn FnOnce() + Send>| {
        lines.push((name, kind, line));
        handles.push(thread::Builder::new().name(name.into()).spawn(f).unwrap());
    };

    let (mut r, empty_w) = greenstd::io::pipe().unwrap();
    let body = move || _ = r.read(&mut [0; 8]);
    spawn("pipe-read", WaitKind::Read, line!() - 1, Box::new(body));

    let (full_r, mut w) = greenstd::io::pipe().unwrap();
    let body = move || while w.write(&[0; 4096]).is_ok() {};
    spawn("pipe-write", WaitKind::Write, line!() - 1, Box::new(body));

    let mut waited = Command::new("sleep").arg("60").spawn().unwrap();
    let mut piped = Command::new("sleep")
        .arg("60")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pids = [waited.id(), piped.id()];
    let body = move || _ = waited.wait();
    spawn("child-wait", WaitKind::Child, line!() - 1, Box::new(body));
    let mut out = piped.stdout.take().unwrap();
    let body = move || _ = out.read(&mut [0; 8]);
    spawn("child-read", WaitKind::Read, line!() - 1, Box::new(body));

    let (mut a, b) = UnixStream::pair().unwrap();
    let body = move || _ = green::wait_readable(&b, None);
    spawn("wait-readable", WaitKind::Read, line!() - 1, Box::new(body));

    let (mut c, d) = UnixStream::pair().unwrap();
    let body = move || {
        _ = green::poll(
            &mut [green::PollFd::new(d.as_fd(), green::PollFlags::POLLIN)],
            None,
        )
    };
    spawn("poll", WaitKind::Poll, line!() - 5, Box::new(body));

    let mut signals = green::signal::Signals::new([green::signal::SIGUSR2]).unwrap();
    let closer = signals.handle();
    let body = move || _ = signals.recv();
    spawn("signals", WaitKind::Read, line!() - 1, Box::new(body));

    for (name, kind, line) in &lines {
        dump_until(&format!("{name} waits in {kind:?} at line {line}"), |d| {
            d.tasks().iter().any(|t| {
                t.name() == Some(*name)
                    && t.wait().is_some_and(|w| {
                        w.kind() == *kind
                            && w.location().file() == file!()
                            && w.location().line() == *line
                    })
            })
        });
    }

    // Let every one of them go.
    drop((empty_w, full_r));
    for pid in pids {
        // SAFETY: plain kill(2) of a child this test spawned and has not
        // reaped (the waiters reap them).
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
    a.write_all(b"x").unwrap();
    c.write_all(b"x").unwrap();
    closer.close();
    for h in handles {
        h.join().unwrap();
    }
    // The piped child is reaped here (its waiter was the reader).
    piped.wait().unwrap();
}
