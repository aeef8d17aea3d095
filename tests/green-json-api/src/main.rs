//! A small JSON API on tiny_http, a blocking HTTP server from crates.io that
//! runs each connection on a thread of its own. Built with `cargo green
//! build`, tiny_http is rebuilt against greenstd, so its threads are
//! coroutines: thousands of keep-alive clients are served on a few OS
//! threads.
//!
//! `green-json-api [ADDR]` (default `127.0.0.1:0`) prints the bound address
//! on stdout, then serves:
//!
//! * `GET /counter` → `{"count":N}`
//! * `POST /counter` → increments, `{"count":N}` (the new value)
//! * `GET /slow?ms=N` → prints `slow: started` on stdout, answers
//!   `{"slept_ms":N}` after N ms (N ≤ 10,000): a request that is in flight
//!   when the server is told to stop
//! * anything else → 404 `{"error":"not found"}`
//!
//! On SIGTERM or SIGINT it stops taking requests, lets those in flight
//! finish and answers those already read, stops accepting, and exits 0.

use std::green::signal::{Signals, SIGINT, SIGTERM};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use tiny_http::{Header, Method, Request, Response, Server};

/// Threads taking requests from tiny_http's queue (tiny_http reads them on
/// a thread per connection).
const HANDLERS: usize = 8;

struct State {
    count: Mutex<u64>,
}

fn json(status: u16, body: String) -> Response<std::io::Cursor<Vec<u8>>> {
    let content_type =
        Header::from_bytes("Content-Type", "application/json").expect("a valid header");
    Response::from_string(body)
        .with_status_code(status)
        .with_header(content_type)
}

fn handle(state: &State, request: Request) {
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let response = match (request.method(), path) {
        (Method::Get, "/counter") => {
            let n = *state.count.lock().unwrap_or_else(|e| e.into_inner());
            json(200, format!("{{\"count\":{n}}}"))
        }
        (Method::Post, "/counter") => {
            let mut count = state.count.lock().unwrap_or_else(|e| e.into_inner());
            *count += 1;
            json(200, format!("{{\"count\":{count}}}"))
        }
        (Method::Get, "/slow") => {
            let ms = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("ms="))
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|&ms| ms <= 10_000);
            match ms {
                Some(ms) => {
                    println!("slow: started");
                    let _ = std::io::stdout().flush();
                    thread::sleep(Duration::from_millis(ms));
                    json(200, format!("{{\"slept_ms\":{ms}}}"))
                }
                None => json(400, "{\"error\":\"ms: 0 to 10000\"}".into()),
            }
        }
        _ => json(404, "{\"error\":\"not found\"}".into()),
    };
    // A client that went away: nothing to answer.
    let _ = request.respond(response);
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    // Subscribed before serving: from here on SIGTERM no longer kills us.
    let mut signals = Signals::new([SIGTERM, SIGINT]).expect("cannot subscribe to signals");
    let server = Arc::new(Server::http(&addr).unwrap_or_else(|e| {
        eprintln!("green-json-api: cannot listen on {addr}: {e}");
        std::process::exit(2)
    }));
    let bound = server
        .server_addr()
        .to_ip()
        .expect("listening on an IP address");
    println!("{bound}");
    let _ = std::io::stdout().flush();

    let state = Arc::new(State {
        count: Mutex::new(0),
    });
    let stopping = Arc::new(AtomicBool::new(false));
    let handlers: Vec<_> = (0..HANDLERS)
        .map(|_| {
            let (server, state, stopping) = (server.clone(), state.clone(), stopping.clone());
            thread::spawn(move || {
                // A short timeout to notice the stop (tiny_http's `unblock`
                // wakes one waiter, whichever takes its token first).
                while !stopping.load(Ordering::Acquire) {
                    // An error is an accept error: tiny_http goes on.
                    if let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(100)) {
                        handle(&state, request);
                    }
                }
                // Answer what tiny_http had already read.
                while let Ok(Some(request)) = server.try_recv() {
                    handle(&state, request);
                }
            })
        })
        .collect();

    let sig = signals.recv().expect("signal subscription closed");
    eprintln!("green-json-api: signal {sig}, stopping");
    stopping.store(true, Ordering::Release);
    for h in handlers {
        if h.join().is_err() {
            std::process::exit(1);
        }
    }
    // The last reference: tiny_http stops accepting. Idle keep-alive
    // connections are closed as the process exits.
    drop(server);
    eprintln!("green-json-api: stopped");
}
