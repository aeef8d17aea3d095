//! TCP echo server on raw may: `may::net` and one `go!` coroutine per
//! connection, the same loop as `bench/plain/echo.rs`.
//!
//! Usage: `may-echo ADDR`. Worker pinning is off, as in greenstd; everything
//! else is may's default.

use std::io::{Read, Write};

use may::go;
use may::net::{TcpListener, TcpStream};

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
    may::config().set_worker_pin(false);
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let listener = TcpListener::bind(&addr).expect("bind");
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                go!(move || handle(stream));
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}
