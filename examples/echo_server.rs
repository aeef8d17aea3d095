//! The echo server of the gevent articles: every client gets its own thread,
//! which sends back what it receives, upper-cased.
//!
//! Plain blocking std code; the one greenstd line is the `patch_all!` around
//! the imports, which turns each thread into a coroutine and each blocking
//! socket call into a switch.
//!
//! ```sh
//! cargo run --example echo_server                      # 127.0.0.1:8000, forever
//! cargo run --example echo_server -- 127.0.0.1:0 100   # any port, exit after 100 connections
//! ```
//!
//! The first line printed is `listening on ADDR`. `ECHO_ADDR` and
//! `ECHO_MAX_CONNECTIONS` can be set instead of the arguments.

greenstd::patch_all! {
    use std::env;
    use std::io::{self, Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::thread;
}

fn handler(mut client: TcpStream, addr: SocketAddr, verbose: bool) -> io::Result<()> {
    if verbose {
        println!("New client from {addr}");
    }
    let mut buf = [0u8; 1024];
    loop {
        let n = client.read(&mut buf)?;
        if n == 0 {
            break;
        }
        client.write_all(&buf[..n].to_ascii_uppercase())?;
    }
    if verbose {
        println!("Client {addr} disconnected.");
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let mut args = env::args().skip(1);
    let addr = args
        .next()
        .or_else(|| env::var("ECHO_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:8000".to_string());
    let max: Option<usize> = args
        .next()
        .or_else(|| env::var("ECHO_MAX_CONNECTIONS").ok())
        .map(|n| n.parse().expect("the connection count is a number"));
    let verbose = env::var_os("ECHO_QUIET").is_none();

    let listener = TcpListener::bind(&addr)?;
    println!("listening on {}", listener.local_addr()?);
    let mut handlers = Vec::new();
    for client in listener.incoming().take(max.unwrap_or(usize::MAX)) {
        let client = client?;
        let peer = client.peer_addr()?;
        handlers.push(thread::spawn(move || handler(client, peer, verbose)));
    }
    // Only reached with a connection limit: wait for the last clients.
    let mut failed = 0;
    for handler in handlers {
        if !matches!(handler.join(), Ok(Ok(()))) {
            failed += 1;
        }
    }
    println!("served {} connections, {failed} failed", max.unwrap_or(0));
    Ok(())
}
