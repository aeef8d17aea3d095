//! The fixture `cargo green audit` must find nothing in: threads, sleep,
//! a lock, a channel and a loopback TCP round trip by address (no name
//! resolution), all greenstd's under this crate's `std`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let addr = listener.local_addr()?;
    let server = thread::spawn(move || -> std::io::Result<()> {
        let (mut conn, _) = listener.accept()?;
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf)?;
        conn.write_all(&buf)
    });
    let total = Arc::new(Mutex::new(0));
    let (tx, rx) = mpsc::channel();
    for i in 0..10 {
        let (total, tx) = (Arc::clone(&total), tx.clone());
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(1));
            *total.lock().unwrap() += i;
            tx.send(i).unwrap();
        });
    }
    drop(tx);
    let received: i32 = rx.iter().sum();
    let mut conn = TcpStream::connect(addr)?;
    conn.write_all(b"ping")?;
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf)?;
    server.join().unwrap()?;
    println!(
        "sum={} received={received} echo={}",
        *total.lock().unwrap(),
        String::from_utf8_lossy(&buf)
    );
    Ok(())
}
