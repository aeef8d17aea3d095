//! 500 threads, each talking to the echo server (`echo_server`) and checking
//! that every reply is its message upper-cased.
//!
//! ```sh
//! cargo run --example echo_server &
//! cargo run --example echo_clients                     # 127.0.0.1:8000, 500 clients
//! cargo run --example echo_clients -- 127.0.0.1:8000 2000 5
//! ```
//!
//! Arguments: server address, number of clients, round trips per client.
//! The clients start over half a second (the server's listen backlog is
//! std's 128), and all stay connected until every one has connected.

greenstd::patch_all! {
    use std::env;
    use std::io::{self, Read, Write};
    use std::net::TcpStream;
    use std::sync::{Arc, Barrier};
    use std::thread;
    use std::time::{Duration, Instant};
}

fn client(addr: &str, id: usize, round_trips: usize, all_connected: &Barrier) -> io::Result<()> {
    let stream = TcpStream::connect(addr);
    // Everyone waits, connected or not, so that a failure cannot hang the others.
    all_connected.wait();
    let mut stream = stream?;
    for round in 0..round_trips {
        let message = format!("hello from client {id}, round {round}");
        stream.write_all(message.as_bytes())?;
        let mut reply = vec![0u8; message.len()];
        stream.read_exact(&mut reply)?;
        if reply != message.to_uppercase().as_bytes() {
            return Err(io::Error::other(format!(
                "client {id}: bad reply {:?}",
                String::from_utf8_lossy(&reply)
            )));
        }
    }
    Ok(())
}

fn main() {
    let mut args = env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8000".to_string());
    let clients: usize = args
        .next()
        .map_or(500, |n| n.parse().expect("a client count"));
    let round_trips: usize = args
        .next()
        .map_or(3, |n| n.parse().expect("a round-trip count"));

    let started = Instant::now();
    let all_connected = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|id| {
            let addr = addr.clone();
            let all_connected = Arc::clone(&all_connected);
            thread::spawn(move || {
                thread::sleep(Duration::from_micros(1000 * id as u64 / 2));
                client(&addr, id, round_trips, &all_connected)
            })
        })
        .collect();
    let mut failed = 0;
    for handle in handles {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("{e}");
                failed += 1;
            }
            Err(_) => failed += 1,
        }
    }
    println!(
        "{} clients, {} replies verified, {failed} failed, in {:?}",
        clients,
        (clients - failed) * round_trips,
        started.elapsed()
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
