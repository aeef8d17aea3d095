//! greenstd::io::pipe against std's behaviour, and its cooperation.

mod stdio_util;

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::time::{Duration, Instant};

use greenstd::io::{pipe, PipeReader, PipeWriter};
use greenstd::process::{Command, Stdio};
use greenstd::thread;
use stdio_util::{both, in_co, is_nonblocking, rt, Watchdog};

#[test]
fn write_read_and_eof_after_every_writer_is_gone() {
    let _w = Watchdog::new(60);
    both(|| {
        let (mut r, mut w) = pipe().unwrap();
        let w2 = w.try_clone().unwrap();
        w.write_all(b"one ").unwrap();
        (&w2).write_all(b"two").unwrap();
        w.flush().unwrap();
        drop(w);
        let mut buf = [0u8; 7];
        r.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"one two");
        drop(w2);
        // EOF once every copy of the writer is closed.
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        let r2 = r.try_clone().unwrap();
        assert_eq!((&r2).read(&mut buf).unwrap(), 0);
        // Writing into a pipe with no reader: BrokenPipe (SIGPIPE ignored).
        let (r, mut w) = pipe().unwrap();
        drop((r, r2));
        assert_eq!(w.write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
    });
}

#[test]
fn descriptors_are_blocking_cloexec_and_convert_like_std_s() {
    both(|| {
        let (r, w) = pipe().unwrap();
        for fd in [r.as_raw_fd(), w.as_raw_fd()] {
            assert!(!is_nonblocking(fd));
            // SAFETY: F_GETFD only reads the descriptor flags.
            let fdflags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            assert_ne!(fdflags & libc::FD_CLOEXEC, 0);
        }
        assert!(format!("{r:?}").contains("PipeReader"));
        // OwnedFd and raw round trips keep the pipe working.
        let r = PipeReader::from(OwnedFd::from(r));
        let raw = w.into_raw_fd();
        assert!(!is_nonblocking(raw));
        // SAFETY: `raw` was just given up by the writer.
        let mut w = unsafe { PipeWriter::from_raw_fd(raw) };
        w.write_all(b"ok").unwrap();
        drop(w);
        let mut s = String::new();
        (&r).read_to_string(&mut s).unwrap();
        assert_eq!(s, "ok");
        // And to and from std's types.
        let (r, w) = pipe().unwrap();
        let mut std_w: std::io::PipeWriter = w.into();
        std_w.write_all(b"std").unwrap();
        drop(std_w);
        let std_r: std::io::PipeReader = r.into();
        let mut r = PipeReader::from(std_r);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "std");
    });
}

#[test]
fn a_pipe_end_given_to_a_child_is_blocking_and_works() {
    let _w = Watchdog::new(60);
    both(|| {
        let (mut r, w) = pipe().unwrap();
        let mut child = Command::new("sh")
            .args([
                "-c",
                // The child reports its stdout's file status flags.
                "cat /proc/self/fdinfo/1 | grep flags; echo from-child",
            ])
            .stdout(w)
            .spawn()
            .unwrap();
        assert!(child.wait().unwrap().success());
        let mut text = String::new();
        r.read_to_string(&mut text).unwrap();
        assert!(text.ends_with("from-child\n"), "{text}");
        let flags = text.split_whitespace().nth(1).unwrap();
        let flags = u32::from_str_radix(flags, 8).unwrap();
        assert_eq!(flags & libc::O_NONBLOCK as u32, 0, "{text}");
        // The reader side, given as a child's stdin.
        let (r, mut w) = pipe().unwrap();
        let child = Command::new("cat")
            .stdin(r)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        w.write_all(b"to cat").unwrap();
        drop(w);
        assert_eq!(child.wait_with_output().unwrap().stdout, b"to cat");
    });
}

#[test]
fn a_user_non_blocking_pipe_reports_would_block() {
    both(|| {
        let (r, w) = pipe().unwrap();
        let fd = OwnedFd::from(r);
        // SAFETY: F_SETFL on a descriptor we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        let mut r = PipeReader::from(fd);
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        // Set after the fact, through the descriptor: the same.
        let (mut r2, _w2) = pipe().unwrap();
        // SAFETY: as above.
        unsafe { libc::fcntl(r2.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        assert_eq!(r2.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        drop(w);
    });
}

#[test]
fn one_worker_carries_a_writer_and_a_reader_through_a_full_pipe() {
    let _w = Watchdog::new(60);
    rt();
    // A megabyte through a 64 KiB pipe: writer and reader take turns. If a
    // write blocked its worker while the pipe is full, a reader queued on
    // that worker could never drain it; many pairs at once make sure some
    // share a worker.
    let pairs: Vec<_> = (0..20)
        .map(|i| {
            let (mut r, mut w) = pipe().unwrap();
            let writer = thread::spawn(move || {
                w.write_all(&vec![i as u8; 1 << 20]).unwrap();
            });
            let reader = thread::spawn(move || {
                let mut data = Vec::new();
                r.read_to_end(&mut data).unwrap();
                data
            });
            (i, writer, reader)
        })
        .collect();
    for (i, writer, reader) in pairs {
        writer.join().unwrap();
        let data = reader.join().unwrap();
        assert_eq!(data.len(), 1 << 20);
        assert!(data.iter().all(|&b| b == i as u8));
    }
}

#[test]
fn concurrent_readers_of_one_pipe_each_get_distinct_bytes() {
    let _w = Watchdog::new(60);
    rt();
    let (r, mut w) = pipe().unwrap();
    let r = std::sync::Arc::new(r);
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let r = r.clone();
            thread::spawn(move || {
                let mut got = 0;
                let mut buf = [0u8; 100];
                loop {
                    match (&*r).read(&mut buf).unwrap() {
                        0 => return got,
                        n => got += n,
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    in_co(move || {
        for _ in 0..100 {
            w.write_all(&[1u8; 1000]).unwrap();
            thread::sleep(Duration::from_millis(1));
        }
    });
    let total: usize = readers.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 100_000);
    assert!(start.elapsed() < Duration::from_secs(30));
}

/// A blocked pipe read is reported at the caller's line.
#[test]
fn a_blocked_read_reports_the_callers_line() {
    rt();
    let _w = Watchdog::new(60);
    let (mut r, mut w) = pipe().unwrap();
    let line = line!() + 3;
    let reader = thread::Builder::new()
        .name("pipe-reader".into())
        .spawn(move || r.read(&mut [0; 8]).unwrap())
        .unwrap();
    assert_eq!(
        stdio_util::wait_site("pipe-reader"),
        (file!().to_string(), line)
    );
    w.write_all(b"x").unwrap();
    assert_eq!(reader.join().unwrap(), 1);
}
