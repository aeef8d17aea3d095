//! The user's existing server: thread per connection, shared state behind
//! `Arc<Mutex<…>>`, a logger thread fed by an `mpsc` channel, and a
//! `thread::sleep` in the handler (standing in for slow work). Plain std; the
//! first line is the only one greenstd needed.
//!
//! Protocol, one line each way:
//! * `HELLO name` → `WELCOME name <connected now>`
//! * `GET key` → (after 10 ms) `VALUE key <times key was asked>`
//! * `STATS` → `connected=<now> max=<most at once> requests=<GETs> logged=<lines>`
//!
//! Usage: `story-server [ADDR]`; prints `listening on ADDR` first, then runs
//! until killed.

extern crate greenstd as std;

use std::collections::HashMap;
use std::env;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

#[derive(Default)]
struct State {
    connected: usize,
    max_connected: usize,
    requests: u64,
    counts: HashMap<String, u64>,
}

fn handle(
    stream: TcpStream,
    state: Arc<Mutex<State>>,
    log: mpsc::Sender<String>,
    logged: Arc<AtomicU64>,
) -> io::Result<()> {
    let peer = stream.peer_addr()?;
    let mut writer = stream.try_clone()?;
    {
        let mut state = state.lock().unwrap();
        state.connected += 1;
        state.max_connected = state.max_connected.max(state.connected);
    }
    let result = (|| {
        for line in BufReader::new(stream).lines() {
            let line = line?;
            let mut words = line.split_whitespace();
            let reply = match (words.next(), words.next()) {
                (Some("HELLO"), Some(name)) => {
                    format!("WELCOME {name} {}", state.lock().unwrap().connected)
                }
                (Some("GET"), Some(key)) => {
                    thread::sleep(Duration::from_millis(10));
                    let mut state = state.lock().unwrap();
                    state.requests += 1;
                    let count = state.counts.entry(key.to_string()).or_insert(0);
                    *count += 1;
                    format!("VALUE {key} {count}")
                }
                (Some("STATS"), None) => {
                    let state = state.lock().unwrap();
                    format!(
                        "connected={} max={} requests={} logged={}",
                        state.connected,
                        state.max_connected,
                        state.requests,
                        logged.load(Ordering::SeqCst)
                    )
                }
                _ => "ERROR".to_string(),
            };
            log.send(format!("{peer} {line} -> {reply}")).unwrap();
            writeln!(writer, "{reply}")?;
        }
        Ok(())
    })();
    state.lock().unwrap().connected -= 1;
    result
}

fn main() -> io::Result<()> {
    let addr = env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7878".to_string());
    let listener = TcpListener::bind(addr)?;
    println!("listening on {}", listener.local_addr()?);

    let state = Arc::new(Mutex::new(State::default()));
    let logged = Arc::new(AtomicU64::new(0));
    let (log, log_rx) = mpsc::channel::<String>();
    {
        let logged = Arc::clone(&logged);
        let verbose = env::var_os("STORY_VERBOSE").is_some();
        thread::spawn(move || {
            for line in log_rx {
                if verbose {
                    eprintln!("{line}");
                }
                logged.fetch_add(1, Ordering::SeqCst);
            }
        });
    }

    for stream in listener.incoming() {
        let stream = stream?;
        let state = Arc::clone(&state);
        let log = log.clone();
        let logged = Arc::clone(&logged);
        thread::spawn(move || {
            if let Err(e) = handle(stream, state, log, logged) {
                eprintln!("connection failed: {e}");
            }
        });
    }
    Ok(())
}
