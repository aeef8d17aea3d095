//! A thread-per-connection HTTP/1.1 "Hello, World!" server with keep-alive,
//! in plain blocking std code; `extern crate greenstd as std;` is the patch.
//!
//! ```sh
//! cargo run --example http_hello                      # 127.0.0.1:8080, forever
//! cargo run --example http_hello -- 127.0.0.1:0 10    # any port, exit after 10 connections
//! curl -v http://127.0.0.1:8080/
//! ```
//!
//! The first line printed is `listening on ADDR`.

extern crate greenstd as std;

use std::env;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

const BODY: &str = "Hello, World!";

/// Serves the requests of one connection until the client closes it or asks
/// to (`Connection: close`, or HTTP/1.0 without keep-alive).
fn serve(stream: TcpStream) -> io::Result<usize> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut served = 0;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(served);
        }
        let http10 = request_line.trim_end().ends_with("HTTP/1.0");
        let mut keep_alive = !http10;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(served);
            }
            let header = header.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(value) = header.strip_prefix("connection:") {
                match value.trim() {
                    "close" => keep_alive = false,
                    "keep-alive" => keep_alive = true,
                    _ => {}
                }
            }
        }
        let (status, body) =
            if request_line.starts_with("GET ") || request_line.starts_with("HEAD ") {
                ("200 OK", BODY)
            } else {
                ("405 Method Not Allowed", "")
            };
        let connection = if keep_alive { "keep-alive" } else { "close" };
        // HEAD: the length of the body, without the body.
        let length = body.len();
        let body = if request_line.starts_with("HEAD ") {
            ""
        } else {
            body
        };
        write!(
            writer,
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{body}",
            length,
        )?;
        served += 1;
        if !keep_alive {
            return Ok(served);
        }
    }
}

fn main() -> io::Result<()> {
    let mut args = env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let max: Option<usize> = args.next().map(|n| n.parse().expect("a connection count"));

    let listener = TcpListener::bind(&addr)?;
    println!("listening on {}", listener.local_addr()?);
    let mut connections = Vec::new();
    for stream in listener.incoming().take(max.unwrap_or(usize::MAX)) {
        let stream = stream?;
        connections.push(thread::spawn(move || serve(stream)));
    }
    let requests: usize = connections
        .into_iter()
        .filter_map(|c| c.join().ok()?.ok())
        .sum();
    println!("served {requests} requests");
    Ok(())
}
