//! TLS with rustls over greenstd's sockets: `rustls::StreamOwned` wraps a
//! `greenstd::net::TcpStream` as it would wrap std's, and 1,000 concurrent
//! TLS sessions (server and client sides in this process, one coroutine
//! each) run on 2 workers with at most 16 OS threads.
//!
//! rustls does blocking I/O through `Read`/`Write` on the stream it is
//! given; greenstd's stream suspends the coroutine instead of the worker.
//! Nothing else is needed. (A self-signed certificate from rcgen.)

mod net_util;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenstd::net::{TcpListener, TcpStream};
use greenstd::sync::Barrier;
use greenstd::thread;
use net_util::{os_threads, rt, Watchdog};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection, StreamOwned,
};

/// Concurrent sessions.
const SESSIONS: usize = 1000;

fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// The server side of one session: answers each line with its upper case.
fn serve(config: Arc<ServerConfig>, tcp: TcpStream) -> io::Result<usize> {
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = BufReader::new(StreamOwned::new(conn, tcp));
    let mut lines = 0;
    loop {
        let mut line = String::new();
        if tls.read_line(&mut line)? == 0 {
            return Ok(lines);
        }
        lines += 1;
        let stream = tls.get_mut();
        stream.write_all(line.to_ascii_uppercase().as_bytes())?;
        stream.flush()?;
    }
}

/// One request/response on a client session.
fn ask(tls: &mut StreamOwned<ClientConnection, TcpStream>, line: &str) -> io::Result<String> {
    tls.write_all(line.as_bytes())?;
    tls.flush()?;
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\n") {
        if tls.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got.push(byte[0]);
    }
    Ok(String::from_utf8(got).unwrap())
}

#[test]
fn thousand_concurrent_tls_sessions_on_two_workers() {
    rt();
    let _w = Watchdog::new(170);
    assert_eq!(greenstd::green::runtime().unwrap().workers, 2);
    let (server_config, client_config) = configs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let acceptor = {
        let served = served.clone();
        thread::spawn(move || {
            let mut handlers = Vec::with_capacity(SESSIONS);
            for _ in 0..SESSIONS {
                let (tcp, _) = listener.accept().unwrap();
                let (config, served) = (server_config.clone(), served.clone());
                handlers.push(thread::spawn(move || {
                    let lines = serve(config, tcp).unwrap();
                    served.fetch_add(lines, Ordering::Relaxed);
                }));
            }
            for h in handlers {
                h.join().unwrap();
            }
        })
    };

    let start = Instant::now();
    let peak = Arc::new(AtomicUsize::new(0));
    // Every session is open and has done one exchange before any goes on:
    // all 1,000 are live at once.
    let all_open = Arc::new(Barrier::new(SESSIONS));
    let clients: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let (config, all_open, peak) = (client_config.clone(), all_open.clone(), peak.clone());
            thread::spawn(move || {
                let tcp = TcpStream::connect(addr).unwrap();
                let name = ServerName::try_from("localhost").unwrap();
                let conn = ClientConnection::new(config, name).unwrap();
                let mut tls = StreamOwned::new(conn, tcp);
                let first = ask(&mut tls, &format!("hello {i}\n")).unwrap();
                assert_eq!(first, format!("HELLO {i}\n"));
                all_open.wait();
                peak.fetch_max(os_threads(), Ordering::Relaxed);
                let second = ask(&mut tls, &format!("bye {i}\n")).unwrap();
                assert_eq!(second, format!("BYE {i}\n"));
                tls.conn.send_close_notify();
                tls.flush().unwrap();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    acceptor.join().unwrap();
    let elapsed = start.elapsed();
    eprintln!(
        "{SESSIONS} TLS sessions in {elapsed:?}, peak {} OS threads",
        peak.load(Ordering::Relaxed)
    );
    assert_eq!(served.load(Ordering::Relaxed), 2 * SESSIONS);
    let peak = peak.load(Ordering::Relaxed);
    assert!(peak <= 16, "{peak} OS threads");
    assert!(elapsed < Duration::from_secs(160));
}
