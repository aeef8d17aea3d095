//! The fixture in which `cargo green audit` must name, first, a client
//! that waits in a poller of its own (`poll-client`, as `postgres` runs
//! tokio inside): 4 coroutines each make a call to a local server.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::thread;

fn main() -> std::io::Result<()> {
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
    let calls: Vec<_> = (0..4)
        .map(|_| thread::spawn(move || poll_client::Client::connect(addr)?.call(b"ping")))
        .collect();
    for c in calls {
        assert_eq!(c.join().unwrap()?, b"pong");
    }
    println!("4 calls answered");
    Ok(())
}
