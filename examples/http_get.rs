//! A blocking HTTP/1.1 GET client, as in the gevent articles: each URL is
//! fetched by its own thread, which reads the response to the end.
//!
//! ```sh
//! cargo run --example http_get                                 # against a server it starts itself
//! cargo run --example http_get -- http://127.0.0.1:8080/ http://127.0.0.1:8080/x
//! ```
//!
//! Only `http://host[:port][/path]` URLs. With no URL the program serves a
//! page on a loopback port itself and fetches it ten times at once.

greenstd::patch_all! {
    use std::env;
    use std::io::{self, BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::thread;
}

/// `(host:port, path)` of an `http://` URL.
fn split_url(url: &str) -> io::Result<(String, String)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not an http:// URL: {url}"),
        )
    })?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path.to_string()
    };
    Ok((host, path))
}

/// GETs `url` and returns the status line and the body.
fn get(url: &str) -> io::Result<(String, Vec<u8>)> {
    let (host, path) = split_url(url)?;
    let mut socket = TcpStream::connect(&host)?;
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    socket.read_to_end(&mut response)?;
    let header_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of headers"))?;
    let head = String::from_utf8_lossy(&response[..header_end]);
    let status = head.lines().next().unwrap_or_default().to_string();
    Ok((status, response[header_end + 4..].to_vec()))
}

/// Serves `connections` requests with a small page, one thread each.
fn serve_page(listener: TcpListener, connections: usize) {
    for stream in listener.incoming().take(connections) {
        let stream = stream.expect("accept");
        thread::spawn(move || {
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let body = "<html><body>hello from a greenstd thread</body></html>";
            let _ = write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        });
    }
}

fn main() -> io::Result<()> {
    let mut urls: Vec<String> = env::args().skip(1).collect();
    if urls.is_empty() {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        urls = (0..10).map(|i| format!("http://{addr}/page/{i}")).collect();
        let count = urls.len();
        thread::spawn(move || serve_page(listener, count));
    }
    let fetches: Vec<_> = urls
        .into_iter()
        .map(|url| thread::spawn(move || (get(&url), url)))
        .collect();
    let mut failed = false;
    for fetch in fetches {
        match fetch.join().expect("fetch thread panicked") {
            (Ok((status, body)), url) => println!("{url}: {status}, {} bytes", body.len()),
            (Err(e), url) => {
                eprintln!("{url}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
