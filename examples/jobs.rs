//! A job system with gevent's tools: a `JoinableQueue` of jobs, a `Group`
//! of workers, a deadline per job (`with_timeout`) and, at the end,
//! `cancel_all` for the workers still waiting for work.
//!
//! ```sh
//! cargo run --example jobs                 # 100 jobs, 8 workers, 300 ms per job
//! cargo run --example jobs -- 500 20 100   # 500 jobs, 20 workers, 100 ms per job
//! ```
//!
//! Each job asks a small local server for a result over TCP. Every tenth
//! job hits a server that never answers: its read blocks until the job's
//! deadline unwinds it, and the worker moves on to the next job.

greenstd::patch_all! {
    use std::env;
    use std::io::{self, BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, Instant};
}
use greenstd::green::queue::JoinableQueue;
use greenstd::green::{self, Cancelled, Group};

/// A job: ask `server` to square `n`.
struct Job {
    id: usize,
    n: u64,
    server: String,
}

/// What became of the jobs.
#[derive(Default)]
struct Tally {
    done: AtomicUsize,
    timed_out: AtomicUsize,
    failed: AtomicUsize,
}

/// Runs one job: connect, send `n`, read the answer line.
fn run(job: &Job) -> io::Result<u64> {
    let mut s = TcpStream::connect(&job.server)?;
    writeln!(s, "{}", job.n)?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    line.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e}")))
}

/// Answers `n` with `n * n`, one thread per connection.
fn squarer(listener: TcpListener) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        thread::spawn(move || -> io::Result<()> {
            let mut w = stream.try_clone()?;
            let mut line = String::new();
            BufReader::new(stream).read_line(&mut line)?;
            let n: u64 = line.trim().parse().unwrap_or(0);
            thread::sleep(Duration::from_millis(n % 7));
            writeln!(w, "{}", n * n)
        });
    }
}

/// Accepts connections and never answers (holds them open).
fn black_hole(listener: TcpListener) {
    // Keeps every connection open, unanswered, until accept fails.
    let held: Vec<TcpStream> = listener.incoming().map_while(Result::ok).collect();
    drop(held);
}

fn main() -> io::Result<()> {
    let arg = |i: usize, default: u64| -> io::Result<u64> {
        env::args().nth(i).map_or(Ok(default), |a| {
            a.parse().map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("argument {i}: {e}"))
            })
        })
    };
    let jobs = arg(1, 100)? as usize;
    let workers = arg(2, 8)? as usize;
    let limit = Duration::from_millis(arg(3, 300)?);

    let fast = TcpListener::bind("127.0.0.1:0")?;
    let slow = TcpListener::bind("127.0.0.1:0")?;
    let (fast_addr, slow_addr) = (
        fast.local_addr()?.to_string(),
        slow.local_addr()?.to_string(),
    );
    thread::spawn(move || squarer(fast));
    thread::spawn(move || black_hole(slow));

    let start = Instant::now();
    let queue: Arc<JoinableQueue<Job>> = Arc::new(JoinableQueue::new());
    let tally = Arc::new(Tally::default());
    let group = Group::new();
    let mut handles = Vec::new();
    for w in 0..workers {
        let (queue, tally) = (queue.clone(), tally.clone());
        handles.push(group.spawn(move || {
            // Runs until cancelled: `get` blocks for the next job.
            while let Some(job) = queue.get() {
                match green::with_timeout(limit, || run(&job)) {
                    Ok(Ok(square)) if square == job.n * job.n => {
                        tally.done.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(Ok(wrong)) => {
                        eprintln!("worker {w}: job {}: wrong answer {wrong}", job.id);
                        tally.failed.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(Err(e)) => {
                        eprintln!("worker {w}: job {}: {e}", job.id);
                        tally.failed.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_elapsed) => {
                        println!("job {} timed out after {limit:?}", job.id);
                        tally.timed_out.fetch_add(1, Ordering::SeqCst);
                    }
                }
                queue.task_done().expect("one task_done per job");
            }
        }));
    }
    for id in 0..jobs {
        let server = if id % 10 == 9 { &slow_addr } else { &fast_addr };
        queue
            .put(Job {
                id,
                n: id as u64,
                server: server.clone(),
            })
            .expect("the queue is never closed");
    }
    queue.join();
    println!(
        "{jobs} jobs: {} done, {} timed out, {} failed, in {} ms",
        tally.done.load(Ordering::SeqCst),
        tally.timed_out.load(Ordering::SeqCst),
        tally.failed.load(Ordering::SeqCst),
        start.elapsed().as_millis()
    );
    // The workers wait for work that will never come: cancel them.
    let t = Instant::now();
    let cancelled = group.cancel_all();
    group.join_all();
    let stopped = handles
        .into_iter()
        .map(|h| h.join())
        .filter(|r| r.as_ref().is_err_and(|p| p.is::<Cancelled>()))
        .count();
    println!(
        "{cancelled} idle workers cancelled, {stopped} stopped with Cancelled, in {} ms",
        t.elapsed().as_millis()
    );
    if tally.failed.load(Ordering::SeqCst) > 0 {
        std::process::exit(1);
    }
    Ok(())
}
