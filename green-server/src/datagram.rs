//! [`DatagramServer`]: a coroutine per UDP datagram.

use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use shim_net::{SocketAddr, ToSocketAddrs, UdpSocket};
use socket2::SockRef;

use crate::core::{classify, AfterError, Core, Leave, PAUSE};

type Handle = Arc<dyn Fn(Vec<u8>, SocketAddr, &UdpSocket) + Send + Sync + 'static>;

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65536;

/// A UDP server: receives datagrams and runs a handler for each in a
/// coroutine of its own (gevent's `DatagramServer`).
///
/// The handler is called with the datagram, the sender's address and the
/// server's socket, to reply with [`UdpSocket::send_to`]. At most
/// [`max_handlers`](DatagramServer::max_handlers) run at once (gevent's
/// `spawn=Pool(n)`); while that many run, datagrams wait in the socket's
/// receive buffer (and, as always with UDP, are dropped by the kernel when
/// it is full). [`start`](DatagramServer::start),
/// [`serve_forever`](DatagramServer::serve_forever) and
/// [`stop`](DatagramServer::stop) work as [`StreamServer`]'s.
///
/// [`StreamServer`]: crate::StreamServer
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use green_server::DatagramServer;
///
/// let server = DatagramServer::bind("127.0.0.1:0", |data, peer, socket| {
///     let _ = socket.send_to(&data.to_ascii_uppercase(), peer);
/// })
/// .unwrap();
/// server.start().unwrap();
///
/// let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// client.send_to(b"ping", server.local_addr()).unwrap();
/// let mut buf = [0; 16];
/// let (n, _) = client.recv_from(&mut buf).unwrap();
/// assert_eq!(&buf[..n], b"PING");
/// server.stop(Duration::from_secs(1));
/// ```
pub struct DatagramServer {
    core: Arc<Core>,
    socket: Arc<UdpSocket>,
    local_addr: SocketAddr,
    handler: Handle,
}

impl DatagramServer {
    /// Binds a UDP socket to `addr` and makes a server of it, not started.
    ///
    /// # Errors
    ///
    /// The error of `UdpSocket::bind`.
    pub fn bind<A, F>(addr: A, handler: F) -> io::Result<DatagramServer>
    where
        A: ToSocketAddrs,
        F: Fn(Vec<u8>, SocketAddr, &UdpSocket) + Send + Sync + 'static,
    {
        DatagramServer::new(UdpSocket::bind(addr)?, handler)
    }

    /// Makes a server of a socket bound already, not started.
    ///
    /// # Errors
    ///
    /// When the socket's address cannot be read, or an eventfd (the stop
    /// signal) cannot be created.
    pub fn new<F>(socket: UdpSocket, handler: F) -> io::Result<DatagramServer>
    where
        F: Fn(Vec<u8>, SocketAddr, &UdpSocket) + Send + Sync + 'static,
    {
        let local_addr = socket.local_addr()?;
        Ok(DatagramServer {
            core: Core::new(None)?,
            socket: Arc::new(socket),
            local_addr,
            handler: Arc::new(handler),
        })
    }

    /// Runs at most `n` handlers at once; by default there is no limit.
    /// `n` must be at least 1: with 0, [`start`](DatagramServer::start)
    /// fails with `InvalidInput`.
    pub fn max_handlers(self, n: usize) -> DatagramServer {
        self.core.set_limit(Some(n));
        self
    }

    /// The address the server receives on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's socket, to send from outside a handler. Do not receive
    /// on it: the server's loop does.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// How many handlers are running.
    pub fn handlers(&self) -> usize {
        self.core.running()
    }

    /// `true` once [`start`](DatagramServer::start) (or `serve_forever`) ran.
    pub fn is_started(&self) -> bool {
        self.core.is_started()
    }

    /// `true` once the server stopped.
    pub fn is_stopped(&self) -> bool {
        self.core.is_stopped()
    }

    /// Starts receiving, in a coroutine of the server's, and returns.
    ///
    /// # Errors
    ///
    /// When the server was stopped, or the receive loop's coroutine cannot
    /// be spawned; `InvalidInput` for a
    /// [`max_handlers`](DatagramServer::max_handlers) of 0.
    pub fn start(&self) -> io::Result<()> {
        if !self.core.begin()? {
            return Ok(());
        }
        let (core, socket, handler) =
            (self.core.clone(), self.socket.clone(), self.handler.clone());
        let spawned = shim_thread::Builder::new()
            .name("datagram-server".to_string())
            .spawn(move || {
                let error = receive_loop(&core, &socket, &handler).err();
                core.loop_ended(error);
            });
        if let Err(e) = spawned {
            self.core
                .loop_ended(Some(io::Error::new(e.kind(), e.to_string())));
            return Err(e);
        }
        Ok(())
    }

    /// Starts the server if it is not started, and waits until it stops.
    ///
    /// # Errors
    ///
    /// The error that ended receiving, or the error of
    /// [`start`](DatagramServer::start).
    pub fn serve_forever(&self) -> io::Result<()> {
        self.start()?;
        self.core.wait_stopped()
    }

    /// Stops receiving and waits up to `grace` for the running handlers;
    /// returns how many still run (a handler that calls `stop` is not
    /// counted). Datagrams that arrive later stay unread. The socket itself
    /// closes when the server is dropped.
    ///
    /// There is no connection to end, so handlers left after the grace
    /// period are not interrupted (gevent would kill them).
    pub fn stop(&self, grace: Duration) -> usize {
        self.core.stop(grace)
    }
}

/// Receives until stopped: every waiting datagram, then waits for more.
///
/// The socket stays in the mode the user gave it (handlers send on it):
/// each receive is one non-blocking attempt (`MSG_DONTWAIT`).
fn receive_loop(core: &Arc<Core>, socket: &Arc<UdpSocket>, handler: &Handle) -> io::Result<()> {
    let mut buf = vec![MaybeUninit::<u8>::uninit(); MAX_DATAGRAM];
    loop {
        if !core.wait_slot() {
            return Ok(());
        }
        let received = SockRef::from(&**socket)
            .recv_from_with_flags(&mut buf, libc::MSG_DONTWAIT)
            .and_then(|(n, from)| match from.as_socket() {
                Some(peer) => Ok((n, peer)),
                None => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a datagram from a non-IP address",
                )),
            });
        match received {
            Ok((n, peer)) => {
                // SAFETY: the kernel initialised the first `n` bytes.
                let data: Vec<u8> = buf[..n]
                    .iter()
                    .map(|b| unsafe { b.assume_init() })
                    .collect();
                let id = core.add(None);
                let leave = Leave {
                    core: core.clone(),
                    id,
                };
                let (socket, handler) = (socket.clone(), handler.clone());
                match shim_thread::Builder::new().spawn(move || {
                    let _leave = leave;
                    handler(data, peer, &socket);
                }) {
                    Ok(h) => core.set_thread(id, h.thread().clone()),
                    Err(_) => shim_thread::sleep(PAUSE),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !core.wait_ready(socket.as_fd())? {
                    return Ok(());
                }
            }
            Err(e) => match classify(&e) {
                AfterError::Retry => {}
                AfterError::Pause => shim_thread::sleep(PAUSE),
                AfterError::Fatal => return Err(e),
            },
        }
    }
}

impl fmt::Debug for DatagramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramServer")
            .field("local_addr", &self.local_addr)
            .field("started", &self.is_started())
            .field("stopped", &self.is_stopped())
            .field("handlers", &self.handlers())
            .finish_non_exhaustive()
    }
}
