//! The user's story: the existing server (src/main.rs), compiled with one
//! patch line, serves 5,000 concurrent clients on at most 16 OS threads.
//!
//! The clients are coroutines too (this file is patched the same way), so
//! the test process stays small. The server's OS threads are counted from
//! outside, in `/proc/<pid>/task`, all along the run.

extern crate greenstd as std;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const CLIENTS: usize = 5_000;
const MAX_OS_THREADS: usize = 16;
/// Clients between connecting and being answered at once: std's listen
/// backlog is 128, and a full accept queue drops connections.
const CONNECTING_AT_ONCE: usize = 64;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A counting semaphore, std style.
struct Semaphore {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Semaphore {
    fn acquire(&self) {
        let mut free = self
            .freed
            .wait_while(self.free.lock().unwrap(), |f| *f == 0)
            .unwrap();
        *free -= 1;
    }

    fn release(&self) {
        *self.free.lock().unwrap() += 1;
        self.freed.notify_one();
    }
}

fn os_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// Sends one line, reads one line.
fn ask(writer: &mut TcpStream, reader: &mut BufReader<TcpStream>, line: &str) -> String {
    writeln!(writer, "{line}").unwrap();
    let mut answer = String::new();
    reader.read_line(&mut answer).unwrap();
    answer.trim_end().to_string()
}

#[test]
fn five_thousand_clients_on_at_most_sixteen_os_threads() {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_story-server"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = Server(child);
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();

    // Count the server's OS threads all along.
    let most_threads = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (most_threads, done) = (Arc::clone(&most_threads), Arc::clone(&done));
        thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                most_threads.fetch_max(os_threads(pid), Ordering::SeqCst);
                thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let connecting = Arc::new(Semaphore {
        free: Mutex::new(CONNECTING_AT_ONCE),
        freed: Condvar::new(),
    });
    // Everyone connected, then the test's STATS, then everyone goes on.
    let all_connected = Arc::new(Barrier::new(CLIENTS + 1));
    let stats_taken = Arc::new(Barrier::new(CLIENTS + 1));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (addr, connecting) = (addr.clone(), Arc::clone(&connecting));
            let (all_connected, stats_taken) =
                (Arc::clone(&all_connected), Arc::clone(&stats_taken));
            thread::spawn(move || {
                connecting.acquire();
                let stream = TcpStream::connect(&addr).unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let welcome = ask(&mut writer, &mut reader, &format!("HELLO client{i}"));
                connecting.release();
                assert!(
                    welcome.starts_with(&format!("WELCOME client{i} ")),
                    "{welcome}"
                );
                all_connected.wait();
                stats_taken.wait();
                let key = format!("key{}", i % 10);
                for _ in 0..2 {
                    let value = ask(&mut writer, &mut reader, &format!("GET {key}"));
                    assert!(value.starts_with(&format!("VALUE {key} ")), "{value}");
                }
            })
        })
        .collect();

    all_connected.wait();
    let connected_at = started.elapsed();
    let stats_stream = TcpStream::connect(&addr).unwrap();
    let mut stats_writer = stats_stream.try_clone().unwrap();
    let mut stats_reader = BufReader::new(stats_stream);
    let during = ask(&mut stats_writer, &mut stats_reader, "STATS");
    let threads_with_all_connected = os_threads(pid);
    stats_taken.wait();

    for client in clients {
        client.join().unwrap();
    }
    let after = ask(&mut stats_writer, &mut stats_reader, "STATS");
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    drop(server);

    let most = most_threads.load(Ordering::SeqCst);
    eprintln!(
        "all {CLIENTS} connected after {connected_at:?}: {during}; done after {:?}: {after}; \
         server OS threads: {threads_with_all_connected} with all connected, at most {most}",
        started.elapsed()
    );
    assert!(
        during.starts_with(&format!("connected={} ", CLIENTS + 1)),
        "{during}"
    );
    assert!(
        after.contains(&format!("requests={}", 2 * CLIENTS)),
        "{after}"
    );
    assert!(after.contains(&format!("max={} ", CLIENTS + 1)), "{after}");
    assert!(
        most > 0 && most <= MAX_OS_THREADS,
        "the server had {most} OS threads"
    );
    assert!(threads_with_all_connected <= MAX_OS_THREADS);
}
