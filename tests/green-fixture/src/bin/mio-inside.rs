//! The fixture `cargo green audit` must find nothing to act on in: a
//! blocking call that waits in mio's poller (tokio's reactor), which
//! cargo green's copy of mio makes wait through greenstd.

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::thread;
use std::time::Duration;

/// Connects, sends `ping` and returns the reply, waiting in mio's poller
/// between steps: a blocking API over an event loop, as a client that
/// runs tokio inside has.
fn call(addr: SocketAddr) -> io::Result<Vec<u8>> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(4);
    let mut stream = TcpStream::connect(addr)?;
    poll.registry()
        .register(&mut stream, Token(0), Interest::WRITABLE)?;
    poll.poll(&mut events, Some(Duration::from_secs(10)))?;
    let mut sent = 0;
    let request = b"ping";
    while sent < request.len() {
        match stream.write(&request[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                poll.poll(&mut events, Some(Duration::from_secs(10)))?;
            }
            Err(e) => return Err(e),
        }
    }
    poll.registry()
        .reregister(&mut stream, Token(0), Interest::READABLE)?;
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(n) => return Ok(buf[..n].to_vec()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                poll.poll(&mut events, Some(Duration::from_secs(10)))?;
            }
            Err(e) => return Err(e),
        }
    }
}

fn main() -> io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut buf = [0u8; 4];
                if conn.read_exact(&mut buf).is_ok() {
                    let _ = conn.write_all(b"pong");
                }
            });
        }
    });
    let calls: Vec<_> = (0..4).map(|_| thread::spawn(move || call(addr))).collect();
    for c in calls {
        assert_eq!(c.join().unwrap()?, b"pong");
    }
    println!("4 calls answered");
    Ok(())
}
