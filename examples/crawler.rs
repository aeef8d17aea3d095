//! The crawler of the gevent articles: a `Pool` of 20 fetching 200 URLs,
//! printing each page as soon as it arrives (gevent's `pool.imap_unordered`).
//!
//! ```sh
//! cargo run --example crawler                    # 200 pages from a server it starts itself
//! cargo run --example crawler -- 500 50          # 500 pages, a pool of 50
//! ```
//!
//! The server runs in the same program on a loopback port; each page takes
//! it a few milliseconds (a different delay per page), so pages finish out
//! of order. It counts how many requests it serves at once: never more than
//! the pool's size.

greenstd::patch_all! {
    use std::env;
    use std::io::{self, BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, Instant};
}
use greenstd::green::Pool;

/// GETs `http://{host}{path}` and returns the status line and the body length.
fn fetch(host: &str, path: &str) -> io::Result<(String, usize)> {
    let mut socket = TcpStream::connect(host)?;
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    socket.read_to_end(&mut response)?;
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of headers"))?;
    let head = String::from_utf8_lossy(&response[..end]);
    let status = head.lines().next().unwrap_or_default().to_string();
    Ok((status, response.len() - end - 4))
}

/// How many requests the server is handling now, and the most at once.
#[derive(Default)]
struct Load {
    now: AtomicUsize,
    most: AtomicUsize,
}

/// Serves `/page/N` with a delay of a few milliseconds that depends on N,
/// one thread per connection, for `requests` requests.
fn serve(listener: TcpListener, requests: usize, load: Arc<Load>) {
    for stream in listener.incoming().take(requests) {
        let Ok(stream) = stream else { continue };
        let load = load.clone();
        thread::spawn(move || {
            let mut writer = stream.try_clone()?;
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            reader.read_line(&mut request)?;
            let mut line = String::new();
            while reader.read_line(&mut line)? > 2 {
                line.clear();
            }
            let now = load.now.fetch_add(1, Ordering::SeqCst) + 1;
            load.most.fetch_max(now, Ordering::SeqCst);
            let page: u64 = request
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.strip_prefix("/page/"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            thread::sleep(Duration::from_millis(page * 37 % 50));
            let body = format!("<html><body>page {page}</body></html>");
            let sent = write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            load.now.fetch_sub(1, Ordering::SeqCst);
            sent
        });
    }
}

fn main() -> io::Result<()> {
    let mut args = env::args().skip(1);
    let pages: usize = args
        .next()
        .map_or(Ok(200), |a| a.parse())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("page count: {e}")))?;
    let size: usize = args
        .next()
        .map_or(Ok(20), |a| a.parse())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("pool size: {e}")))?;
    if size == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pool size must be at least 1",
        ));
    }

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let host = listener.local_addr()?.to_string();
    let load = Arc::new(Load::default());
    let server = {
        let load = load.clone();
        thread::spawn(move || serve(listener, pages, load))
    };

    let start = Instant::now();
    let pool = Pool::new(size);
    let urls = (0..pages).map(|i| (host.clone(), format!("/page/{i}")));
    let mut failed = 0;
    let mut fetched = 0;
    for result in pool.map_unordered(urls, |(host, path)| {
        let r = fetch(&host, &path);
        (format!("http://{host}{path}"), r)
    }) {
        match result {
            Ok((url, Ok((status, bytes)))) => {
                fetched += 1;
                println!("{url}: {status}, {bytes} bytes");
            }
            Ok((url, Err(e))) => {
                failed += 1;
                eprintln!("{url}: {e}");
            }
            Err(_) => failed += 1, // the fetch panicked; its message is on stderr
        }
    }
    server.join().expect("server thread panicked");
    println!(
        "fetched {fetched} pages, {failed} failed, at most {} at once, in {} ms",
        load.most.load(Ordering::SeqCst),
        start.elapsed().as_millis()
    );
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
