//! An existing blocking program — a thread-per-connection line server with a
//! logger thread — patched by wrapping its `use` lines in
//! `greenstd::patch_all!`. Nothing else differs from plain std code.

greenstd::patch_all! {
    use std::collections::HashMap;
    use std::io::{self, BufRead, BufReader, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::{mpsc, Arc, Mutex};
    use std::thread;
    use std::time::Duration;
}

/// What the server counts: lines per peer word.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Stats {
    /// How many times each (upper-cased) word was seen.
    pub words: HashMap<String, usize>,
    /// Lines served.
    pub lines: usize,
}

/// Serves `connections` connections from `listener`, one thread each: every
/// line is answered upper-cased, after `delay`. Each line is logged through
/// a channel to a logger thread. Returns the stats and the log.
pub fn serve(
    listener: TcpListener,
    connections: usize,
    delay: Duration,
) -> io::Result<(Stats, Vec<String>)> {
    let stats = Arc::new(Mutex::new(Stats::default()));
    let (log_tx, log_rx) = mpsc::channel::<String>();
    let logger = thread::spawn(move || log_rx.iter().collect::<Vec<_>>());
    let mut handlers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (stream, peer) = listener.accept()?;
        let stats = Arc::clone(&stats);
        let log = log_tx.clone();
        handlers.push(thread::spawn(move || {
            handle(stream, peer, &stats, &log, delay)
        }));
    }
    drop(log_tx);
    for handler in handlers {
        handler.join().expect("handler panicked")?;
    }
    let log = logger.join().expect("logger panicked");
    let stats = stats.lock().unwrap().clone();
    Ok((stats, log))
}

fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    stats: &Mutex<Stats>,
    log: &mpsc::Sender<String>,
    delay: Duration,
) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        let upper = line?.to_uppercase();
        thread::sleep(delay);
        {
            let mut stats = stats.lock().unwrap();
            stats.lines += 1;
            for word in upper.split_whitespace() {
                *stats.words.entry(word.to_string()).or_default() += 1;
            }
        }
        log.send(format!("{peer}: {upper}")).unwrap();
        writeln!(writer, "{upper}")?;
    }
    Ok(())
}

/// Sends `lines` to the server at `addr` and returns its answers.
pub fn request(addr: SocketAddr, lines: &[&str]) -> io::Result<Vec<String>> {
    let stream = TcpStream::connect(addr)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut answers = Vec::with_capacity(lines.len());
    for line in lines {
        writeln!(writer, "{line}")?;
        let mut answer = String::new();
        reader.read_line(&mut answer)?;
        answers.push(answer.trim_end().to_string());
    }
    Ok(answers)
}

#[cfg(test)]
mod tests;
