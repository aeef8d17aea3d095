//! Added to tiny_http's tests by greenstd's tests/third_party/run.sh: shows
//! that the crate was rebuilt on greenstd (its `std` is greenstd) and that
//! its server threads are coroutines. (tiny_http is edition 2018: no
//! inline format arguments.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;

#[test]
fn std_is_greenstd() {
    assert!(thread::spawn(std::green::in_coroutine).join().unwrap());
}

#[test]
fn server_threads_are_coroutines_and_many_clients_share_few_os_threads() {
    let server = std::sync::Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let addr = server.server_addr().to_ip().unwrap();
    const CLIENTS: usize = 100;
    let handler = {
        let server = server.clone();
        thread::spawn(move || {
            for _ in 0..CLIENTS {
                let request = server.recv().unwrap();
                let body = format!("coroutine={}", std::green::in_coroutine());
                request.respond(tiny_http::Response::from_string(body)).unwrap();
            }
        })
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                write!(stream, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
                let mut response = String::new();
                stream.read_to_string(&mut response).unwrap();
                response
            })
        })
        .collect();
    let os_threads = std::fs::read_dir("/proc/self/task").unwrap().count();
    for client in clients {
        let response = client.join().unwrap();
        assert!(response.ends_with("coroutine=true"), "{}", response);
    }
    handler.join().unwrap();
    assert!(os_threads < 40, "{} OS threads", os_threads);
}
