//! TLS with rustls on greenstd: a thread-per-connection TLS echo server and
//! its clients, in plain blocking std code; `extern crate greenstd as std;`
//! is the patch. rustls's `StreamOwned` wraps the (patched)
//! `std::net::TcpStream` as usual; its blocking reads and writes suspend
//! the coroutine instead of the worker.
//!
//! ```sh
//! cargo run --example tls_echo               # 100 concurrent sessions
//! cargo run --example tls_echo -- 1000       # 1,000 concurrent sessions
//! GREENSTD_WORKERS=2 cargo run --release --example tls_echo -- 1000
//! ```
//!
//! The certificate is self-signed, made at start by rcgen. The last line
//! printed is `N sessions ok in T, at most K OS threads`.

extern crate greenstd as std;

use std::env;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection, StreamOwned,
};

/// A server and a client configuration trusting the same self-signed
/// certificate for `localhost`.
fn configs() -> Result<(Arc<ServerConfig>, Arc<ClientConfig>), Box<dyn std::error::Error>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)?;
    let mut roots = RootCertStore::empty();
    roots.add(cert)?;
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((Arc::new(server), Arc::new(client)))
}

/// Serves one connection: echoes each line back until the client closes.
fn handle(config: Arc<ServerConfig>, tcp: TcpStream) -> io::Result<()> {
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = BufReader::new(StreamOwned::new(conn, tcp));
    loop {
        let mut line = String::new();
        if tls.read_line(&mut line)? == 0 {
            return Ok(());
        }
        tls.get_mut().write_all(line.as_bytes())?;
        tls.get_mut().flush()?;
    }
}

type Session = BufReader<StreamOwned<ClientConnection, TcpStream>>;

/// One exchange: sends a line, checks the echo.
fn exchange(tls: &mut Session, line: &str) -> io::Result<()> {
    tls.get_mut().write_all(line.as_bytes())?;
    tls.get_mut().flush()?;
    let mut got = String::new();
    tls.read_line(&mut got)?;
    if got != line {
        return Err(io::Error::other(format!("sent {line:?}, got {got:?}")));
    }
    Ok(())
}

/// A client's first half: connects and says hello.
fn hello(config: Arc<ClientConfig>, addr: std::net::SocketAddr, id: usize) -> io::Result<Session> {
    let tcp = TcpStream::connect(addr)?;
    let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
    let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    let mut tls = BufReader::new(StreamOwned::new(conn, tcp));
    exchange(&mut tls, &format!("hello from {id}\n"))?;
    Ok(tls)
}

/// Its second half: says goodbye and closes.
fn goodbye(mut tls: Session, id: usize) -> io::Result<()> {
    exchange(&mut tls, &format!("goodbye from {id}\n"))?;
    tls.get_mut().conn.send_close_notify();
    tls.get_mut().flush()
}

fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sessions: usize = match env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 100,
    };
    let (server_config, client_config) = configs()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("listening on {addr}");

    thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let config = server_config.clone();
            thread::spawn(move || {
                if let Err(e) = handle(config, tcp) {
                    eprintln!("server: {e}");
                }
            });
        }
    });

    let start = Instant::now();
    let all_connected = Arc::new(Barrier::new(sessions));
    let peak = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..sessions)
        .map(|id| {
            let (config, all_connected, peak) =
                (client_config.clone(), all_connected.clone(), peak.clone());
            thread::spawn(move || {
                let session = hello(config, addr, id);
                // Every session is open at this point.
                all_connected.wait();
                peak.fetch_max(os_threads(), Ordering::Relaxed);
                goodbye(session?, id)
            })
        })
        .collect();
    let mut failed = 0;
    for c in clients {
        if let Err(e) = c.join().expect("client panicked") {
            eprintln!("client: {e}");
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {sessions} sessions failed").into());
    }
    println!(
        "{sessions} sessions ok in {:.2?}, at most {} OS threads",
        start.elapsed(),
        peak.load(Ordering::Relaxed)
    );
    Ok(())
}
