//! The deadlock report: the classic deadlocks end within 2 s with a report
//! naming every party, what it waits on and the user's line, and a
//! non-zero exit; programs that only look stuck run to completion without
//! a report. Each program is examples/deadlock.rs, run as a child process.

mod child_util;

use std::time::Duration;

use child_util::{line_of, Child};

/// Bound on a deadlocked program's life (the issue's).
const DEADLINE: Duration = Duration::from_secs(2);
/// Generous bound for the programs that finish by themselves.
const LIMIT: Duration = Duration::from_secs(60);

fn at(marker: &str) -> String {
    format!("examples/deadlock.rs:{}:", line_of("deadlock.rs", marker))
}

/// Runs a deadlocking scenario: it must abort within 2 s with the report.
fn deadlocked(scenario: &str, workers: &str) -> String {
    let child = Child::start("deadlock", &[scenario], &[("GREENSTD_WORKERS", workers)]);
    let (status, elapsed, _out, err) = child.finish(LIMIT);
    assert!(!status.success(), "{scenario}: exit {status:?}\n{err}");
    assert!(
        elapsed < DEADLINE,
        "{scenario}: took {elapsed:?} to end\n{err}"
    );
    assert!(
        err.contains("greenstd: deadlock: every thread and coroutine is blocked"),
        "{err}"
    );
    assert!(
        err.contains("fatal error: all threads and coroutines are asleep - deadlock!"),
        "{err}"
    );
    err
}

/// The report line of `who` (a `coroutine 2 "left"` / `thread 1 "main"`
/// prefix): it must name the wait and the user's line.
fn line_about<'a>(report: &'a str, who: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.trim_start().starts_with(who) || l.contains(&format!(" {who} waits")))
        .unwrap_or_else(|| panic!("no line about {who}:\n{report}"))
}

fn party<'a>(report: &'a str, name: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.contains(&format!("\"{name}\" waits in")))
        .unwrap_or_else(|| panic!("no line about {name:?}:\n{report}"))
}

#[test]
fn two_mutexes_locked_in_opposite_order() {
    let r = deadlocked("mutexes", "2");
    let left = party(&r, "left");
    assert!(left.contains("Mutex::lock"), "{left}");
    assert!(left.contains("held by coroutine"), "{left}");
    assert!(left.contains("\"right\""), "{left}");
    assert!(left.contains(&at("[left waits]")), "{left}");
    let right = party(&r, "right");
    assert!(right.contains("Mutex::lock"), "{right}");
    assert!(right.contains("\"left\""), "{right}");
    assert!(right.contains(&at("[right waits]")), "{right}");
    let main = party(&r, "main");
    assert!(main.contains("join coroutine"), "{main}");
    assert!(main.contains(&at("[main joins left]")), "{main}");
    let cycle = line_about(&r, "wait-for cycle:");
    assert!(
        cycle.contains("\"left\"") && cycle.contains("\"right\""),
        "{cycle}"
    );
}

#[test]
fn everybody_waits_on_a_channel_nobody_sends_to() {
    let r = deadlocked("channel", "2");
    let consumer = party(&r, "consumer");
    assert!(consumer.contains("recv on channel"), "{consumer}");
    assert!(consumer.contains(&at("[consumer waits]")), "{consumer}");
    let main = party(&r, "main");
    assert!(main.contains("join coroutine"), "{main}");
    assert!(main.contains("\"consumer\""), "{main}");
    assert!(main.contains(&at("[main joins consumer]")), "{main}");
}

#[test]
fn a_thread_joins_a_thread_that_waits_for_it() {
    let r = deadlocked("join", "2");
    let child = party(&r, "child");
    assert!(child.contains("Mutex::lock"), "{child}");
    assert!(child.contains("held by thread 1 \"main\""), "{child}");
    assert!(child.contains(&at("[child waits]")), "{child}");
    let main = party(&r, "main");
    assert!(main.contains("\"child\""), "{main}");
    assert!(main.contains(&at("[main joins child]")), "{main}");
    let cycle = line_about(&r, "wait-for cycle:");
    assert!(
        cycle.contains("\"main\"") && cycle.contains("\"child\""),
        "{cycle}"
    );
}

#[test]
fn a_condvar_nobody_notifies() {
    let r = deadlocked("condvar", "1");
    let waiter = party(&r, "waiter");
    assert!(waiter.contains("Condvar::wait"), "{waiter}");
    assert!(waiter.contains(&at("[waiter waits]")), "{waiter}");
    let main = party(&r, "main");
    assert!(main.contains(&at("[main joins waiter]")), "{main}");
}

/// Runs a scenario that must finish by itself, without a report.
fn no_report(child: Child, scenario: &str) {
    let (status, _elapsed, out, err) = child.finish(LIMIT);
    assert!(status.success(), "{scenario}: {status:?}\n{err}");
    assert!(out.contains("done"), "{scenario}: {out}");
    assert!(!err.contains("deadlock"), "{scenario}: false alarm:\n{err}");
}

#[test]
fn sleepers_are_not_a_deadlock() {
    no_report(
        Child::start("deadlock", &["sleepers"], &[("GREENSTD_WORKERS", "2")]),
        "sleepers",
    );
}

#[test]
fn coroutines_waiting_on_a_plain_thread_that_computes_and_sleeps_are_not_a_deadlock() {
    no_report(
        Child::start("deadlock", &["plain-thread"], &[("GREENSTD_WORKERS", "2")]),
        "plain-thread",
    );
}

#[test]
fn a_server_idle_in_accept_is_not_a_deadlock() {
    let child = Child::start("deadlock", &["accept"], &[("GREENSTD_WORKERS", "2")]);
    assert!(child.wait_for(false, "listening on ", LIMIT));
    let out = child.stdout();
    let addr = out
        .lines()
        .find_map(|l| l.strip_prefix("listening on "))
        .unwrap()
        .trim()
        .to_string();
    // Idle for a while: well past the detector's grace and confirmation.
    std::thread::sleep(Duration::from_millis(1500));
    drop(std::net::TcpStream::connect(addr).unwrap());
    no_report(child, "accept");
}

#[test]
fn a_coroutine_waiting_on_stdin_is_not_a_deadlock() {
    let mut child = Child::start("deadlock", &["stdin"], &[("GREENSTD_WORKERS", "2")]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.running(), "{}", child.stderr());
    child.write_stdin("hello\n");
    no_report(child, "stdin");
}

#[test]
fn report_mode_reports_once_and_lets_the_process_hang() {
    let mut child = Child::start(
        "deadlock",
        &["channel"],
        &[("GREENSTD_WORKERS", "2"), ("GREENSTD_DEADLOCK", "report")],
    );
    assert!(
        child.wait_for(true, "GREENSTD_DEADLOCK=report", LIMIT),
        "{}",
        child.stderr()
    );
    std::thread::sleep(Duration::from_millis(800));
    assert!(child.running());
    let err = child.stderr();
    assert_eq!(err.matches("greenstd: deadlock:").count(), 1, "{err}");
    assert!(!err.contains("fatal error"), "{err}");
    assert!(err.contains("\"consumer\" waits in recv"), "{err}");
}

#[test]
fn off_mode_never_reports() {
    let mut child = Child::start(
        "deadlock",
        &["mutexes"],
        &[("GREENSTD_WORKERS", "2"), ("GREENSTD_DEADLOCK", "off")],
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.running());
    assert!(!child.stderr().contains("deadlock"), "{}", child.stderr());
}

#[test]
fn a_bad_mode_is_a_clear_error() {
    let child = Child::start(
        "deadlock",
        &["sleepers"],
        &[("GREENSTD_DEADLOCK", "sometimes")],
    );
    let (status, _, _, err) = child.finish(LIMIT);
    assert!(!status.success());
    assert!(err.contains("GREENSTD_DEADLOCK"), "{err}");
    assert!(err.contains("expected abort, report or off"), "{err}");
}
