//! TCP echo server: ordinary blocking std code, one thread per connection.
//!
//! This one file is built twice: unpatched (`bench-std`, real OS threads)
//! and patched with greenstd through Cargo.toml alone (`bench-greenstd`,
//! `std = { package = "greenstd", … }`). Not a line differs.
//!
//! Usage: `echo ADDR` (default `127.0.0.1:7000`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

fn handle(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".to_string());
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
