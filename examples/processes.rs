//! gevent's subprocess example, as a plain blocking Rust program: many
//! commands run at once, each by its own thread, which reads the command's
//! output and waits for it; a heartbeat thread shows the program stays
//! responsive meanwhile. The only greenstd line is `patch_all!`.
//!
//! ```sh
//! cargo run --example processes               # 50 jobs: `sh -c 'sleep 0.5; uname …'`
//! cargo run --example processes -- 200 0.2    # 200 jobs of 0.2 s each
//! ```
//!
//! With std threads and processes this is the usual fan-out; patched, the
//! threads are coroutines on a few workers, and waiting for a child or
//! reading its pipe suspends only the coroutine that waits.

greenstd::patch_all! {
    use std::env;
    use std::io::{self, BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, Instant};
}

/// Runs job `i`: a shell that sleeps, then prints two lines on stdout and
/// one on stderr. Returns the first stdout line and the stderr text.
fn job(i: usize, seconds: &str) -> io::Result<(String, String)> {
    let script =
        format!("sleep {seconds}; echo job {i}: $(uname -s); echo done; echo note {i} >&2");
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut first = String::new();
    let mut lines = stdout.lines();
    if let Some(line) = lines.next() {
        first = line?;
    }
    for line in lines {
        line?;
    }
    let mut note = String::new();
    stderr.read_to_string(&mut note)?;
    let status = child.wait()?;
    if !status.success() {
        return Err(io::Error::other(format!("job {i}: {status}")));
    }
    Ok((first, note.trim().to_string()))
}

fn main() -> io::Result<()> {
    let mut args = env::args().skip(1);
    let jobs: usize = args
        .next()
        .map_or(Ok(50), |a| a.parse())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("jobs: {e}")))?;
    let seconds = args.next().unwrap_or_else(|| "0.5".to_string());
    seconds
        .parse::<f64>()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("seconds: {e}")))?;

    // A heartbeat every 10 ms; its worst lateness shows whether waiting for
    // the children ever held up the rest of the program.
    let stop = Arc::new(AtomicBool::new(false));
    let beats = Arc::new(AtomicUsize::new(0));
    let heartbeat = {
        let (stop, beats) = (stop.clone(), beats.clone());
        thread::spawn(move || {
            let mut worst = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let before = Instant::now();
                thread::sleep(Duration::from_millis(10));
                worst = worst.max(before.elapsed());
                beats.fetch_add(1, Ordering::Relaxed);
            }
            worst
        })
    };

    let start = Instant::now();
    let handles: Vec<_> = (0..jobs)
        .map(|i| {
            let seconds = seconds.clone();
            thread::spawn(move || job(i, &seconds))
        })
        .collect();
    let mut failed = 0;
    for handle in handles {
        match handle.join().expect("job thread panicked") {
            Ok((first, note)) => println!("{first} ({note})"),
            Err(e) => {
                failed += 1;
                eprintln!("{e}");
            }
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let worst = heartbeat.join().expect("heartbeat panicked");
    println!(
        "{jobs} jobs of {seconds} s in {:.2} s, {failed} failed; heartbeat: {} beats, longest gap {} ms",
        elapsed.as_secs_f64(),
        beats.load(Ordering::Relaxed),
        worst.as_millis()
    );
    if failed > 0 {
        return Err(io::Error::other(format!("{failed} jobs failed")));
    }
    Ok(())
}
