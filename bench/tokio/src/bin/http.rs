//! Minimal HTTP/1.1 keep-alive server on tokio, the same loop as
//! `bench/plain/http.rs`.
//!
//! Usage: `tokio-http ADDR`.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

fn find_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

async fn handle(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    let mut len = 0;
    loop {
        let n = match stream.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        len += n;
        let mut start = 0;
        while let Some(end) = find_end(&buf[start..len]) {
            if stream.write_all(RESPONSE).await.is_err() {
                return;
            }
            start += end + 4;
        }
        buf.copy_within(start..len, 0);
        len -= start;
        if len == buf.len() {
            return;
        }
    }
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let listener = TcpListener::bind(&addr).await.expect("bind");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(handle(stream));
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}
