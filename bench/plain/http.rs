//! Minimal HTTP/1.1 keep-alive server: ordinary blocking std code, one
//! thread per connection. Each request (read up to its `\r\n\r\n`; bodies
//! are not supported) gets a fixed `Hello, World!` with a Content-Length.
//!
//! Built twice, like `echo.rs`: unpatched and patched with greenstd.
//!
//! Usage: `http ADDR` (default `127.0.0.1:8080`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

fn find_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

fn handle(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    let mut len = 0;
    loop {
        let n = match stream.read(&mut buf[len..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        len += n;
        let mut start = 0;
        while let Some(end) = find_end(&buf[start..len]) {
            if stream.write_all(RESPONSE).is_err() {
                return;
            }
            start += end + 4;
        }
        buf.copy_within(start..len, 0);
        len -= start;
        if len == buf.len() {
            return; // request head larger than the buffer
        }
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let listener = TcpListener::bind(&addr).expect("bind");
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                thread::spawn(move || handle(stream));
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}
