//! A thread-per-connection upper-casing echo server, plain std.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;

/// Accepts `connections` connections and echoes each upper-cased until the
/// peer closes; sends the bytes served per connection on `done`.
pub fn echo_upper(listener: TcpListener, connections: usize, done: mpsc::Sender<usize>) {
    for stream in listener.incoming().take(connections) {
        let stream = stream.expect("accept");
        let done = done.clone();
        thread::spawn(move || done.send(handle(stream)).unwrap());
    }
}

fn handle(mut stream: TcpStream) -> usize {
    let mut buf = [0u8; 1024];
    let mut total = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return total,
            Ok(n) => {
                total += n;
                if stream.write_all(&buf[..n].to_ascii_uppercase()).is_err() {
                    return total;
                }
            }
        }
    }
}
