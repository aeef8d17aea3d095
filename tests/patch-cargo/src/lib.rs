//! An existing blocking program, plain std: a worker pool fed by a channel,
//! a key-value store behind an `RwLock`, and a TCP front end. Its
//! Cargo.toml's `std = { package = "greenstd", … }` is the whole patch.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread;

/// A shared key-value store.
#[derive(Clone, Default)]
pub struct Store {
    map: Arc<RwLock<HashMap<String, String>>>,
}

impl Store {
    /// Answers one command line: `SET k v`, `GET k`.
    pub fn command(&self, line: &str) -> String {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("SET"), Some(k), Some(v)) => {
                self.map
                    .write()
                    .unwrap()
                    .insert(k.to_string(), v.to_string());
                "OK".to_string()
            }
            (Some("GET"), Some(k), None) => self
                .map
                .read()
                .unwrap()
                .get(k)
                .cloned()
                .unwrap_or_else(|| "NIL".to_string()),
            _ => "ERR".to_string(),
        }
    }
}

/// Serves `connections` connections, one thread each, then returns.
pub fn serve(listener: TcpListener, store: Store, connections: usize) -> io::Result<()> {
    let handles: Vec<_> = listener
        .incoming()
        .take(connections)
        .map(|stream| {
            let store = store.clone();
            stream.map(|stream| thread::spawn(move || handle(stream, &store)))
        })
        .collect::<io::Result<_>>()?;
    for handle in handles {
        handle.join().expect("handler panicked")?;
    }
    Ok(())
}

fn handle(stream: TcpStream, store: &Store) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        writeln!(writer, "{}", store.command(&line?))?;
    }
    Ok(())
}

/// Sends `commands` to the server at `addr`, returns the answers.
pub fn client(addr: impl ToSocketAddrs, commands: &[String]) -> io::Result<Vec<String>> {
    let stream = TcpStream::connect(addr)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    commands
        .iter()
        .map(|command| {
            writeln!(writer, "{command}")?;
            let mut answer = String::new();
            reader.read_line(&mut answer)?;
            Ok(answer.trim_end().to_string())
        })
        .collect()
}

/// A countdown latch built from a `Mutex` and a `Condvar`.
#[derive(Default)]
pub struct Latch {
    count: Mutex<usize>,
    zero: Condvar,
}

impl Latch {
    /// A latch that opens after `n` calls to `count_down`.
    pub fn new(n: usize) -> Latch {
        Latch {
            count: Mutex::new(n),
            zero: Condvar::new(),
        }
    }

    /// Counts down once.
    pub fn count_down(&self) {
        let mut count = self.count.lock().unwrap();
        *count -= 1;
        if *count == 0 {
            self.zero.notify_all();
        }
    }

    /// Waits until the count reaches zero.
    pub fn wait(&self) {
        let count = self.count.lock().unwrap();
        drop(self.zero.wait_while(count, |c| *c > 0).unwrap());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn threads_are_coroutines() {
        // `std` is greenstd here, so its own API is reachable as `std::green`.
        assert!(thread::spawn(std::green::in_coroutine).join().unwrap());
        assert!(!std::green::in_coroutine());
    }

    #[test]
    fn latch_with_many_waiters() {
        let latch = Arc::new(Latch::new(100));
        let waiters: Vec<_> = (0..500)
            .map(|_| {
                let latch = Arc::clone(&latch);
                thread::spawn(move || latch.wait())
            })
            .collect();
        for _ in 0..100 {
            let latch = Arc::clone(&latch);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(10));
                latch.count_down();
            });
        }
        for w in waiters {
            w.join().unwrap();
        }
    }
}
