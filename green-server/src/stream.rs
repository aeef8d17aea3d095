//! [`StreamServer`] and the [`Listener`]s it serves.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use shim_net::unix::{UnixListener, UnixStream};
use shim_net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use shim_sync::Mutex;

use crate::core::{classify, AfterError, Core, Leave, PAUSE};

/// A listening socket a [`StreamServer`] can serve: greenstd's
/// [`TcpListener`] and [`UnixListener`], or a type of one's own (a listener
/// that wraps one of them, say).
///
/// The server puts the listener in non-blocking mode and calls
/// [`accept`](Listener::accept) until it would block, then waits for the
/// descriptor to become readable.
pub trait Listener: AsFd + Send + 'static {
    /// The connection an accept gives.
    type Stream: AsFd + Send + 'static;
    /// The peer's address.
    type Addr: Clone + fmt::Debug + Send + Sync + 'static;

    /// Accepts one connection (non-blocking once
    /// [`set_nonblocking`](Listener::set_nonblocking) was called).
    fn accept(&self) -> io::Result<(Self::Stream, Self::Addr)>;

    /// Moves the listener into or out of non-blocking mode.
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()>;

    /// The address the listener is bound to.
    fn local_addr(&self) -> io::Result<Self::Addr>;
}

impl Listener for TcpListener {
    type Stream = TcpStream;
    type Addr = SocketAddr;

    fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        TcpListener::accept(self)
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        TcpListener::set_nonblocking(self, nonblocking)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpListener::local_addr(self)
    }
}

impl Listener for UnixListener {
    type Stream = UnixStream;
    type Addr = shim_net::unix::SocketAddr;

    fn accept(&self) -> io::Result<(UnixStream, shim_net::unix::SocketAddr)> {
        UnixListener::accept(self)
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        UnixListener::set_nonblocking(self, nonblocking)
    }

    fn local_addr(&self) -> io::Result<shim_net::unix::SocketAddr> {
        UnixListener::local_addr(self)
    }
}

type Handle<L> =
    Arc<dyn Fn(<L as Listener>::Stream, <L as Listener>::Addr) + Send + Sync + 'static>;

/// A generic TCP (or Unix socket) server: accepts connections and runs a
/// handler for each in a coroutine of its own (gevent's `StreamServer`).
///
/// The handler is called with the connection and the peer's address; the
/// connection is closed when the handler drops it. At most
/// [`max_connections`](StreamServer::max_connections) handlers run at once
/// (gevent's `spawn=Pool(n)`): while that many run, the server accepts
/// nothing and new connections wait in the listen queue. The accept loop is
/// a coroutine too; it accepts every connection that is waiting each time
/// it wakes up.
///
/// [`start`](StreamServer::start) starts serving and returns;
/// [`serve_forever`](StreamServer::serve_forever) starts and waits until
/// the server is stopped; [`stop`](StreamServer::stop) stops accepting,
/// closes the listener, gives the running handlers a grace period and then
/// ends their connections. A `StreamServer` is shared by reference (put it
/// in an `Arc` to stop it from another coroutine, or a signal handler).
///
/// # Examples
///
/// A line-echo server, stopped from the main thread once a client asked:
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use green_server::StreamServer;
/// use shim_net::TcpStream;
///
/// let asked = Arc::new(AtomicBool::new(false));
/// let a = asked.clone();
/// let server = StreamServer::bind("127.0.0.1:0", move |conn: TcpStream, _peer| {
///     let mut lines = BufReader::new(&conn);
///     let mut line = String::new();
///     while lines.read_line(&mut line).unwrap_or(0) > 0 {
///         if line.trim() == "stop" {
///             a.store(true, Ordering::SeqCst);
///         }
///         let _ = (&conn).write_all(line.as_bytes());
///         line.clear();
///     }
/// })
/// .unwrap();
/// let addr = server.local_addr();
/// let server = Arc::new(server);
/// let s = server.clone();
/// let forever = shim_thread::spawn(move || s.serve_forever());
///
/// let mut client = std::net::TcpStream::connect(addr).unwrap();
/// client.write_all(b"stop\n").unwrap();
/// while !asked.load(Ordering::SeqCst) {
///     std::thread::sleep(Duration::from_millis(1));
/// }
/// // The client still holds its connection: after the grace period the
/// // server ends it, and its handler returns.
/// assert_eq!(server.stop(Duration::from_millis(100)), 0);
/// forever.join().unwrap().unwrap();
/// ```
pub struct StreamServer<L: Listener> {
    core: Arc<Core>,
    /// The listener until `start` hands it to the accept loop.
    listener: Mutex<Option<L>>,
    local_addr: L::Addr,
    handler: Handle<L>,
}

impl StreamServer<TcpListener> {
    /// Binds a TCP listener to `addr` (as `TcpListener::bind`, with
    /// greenstd's listen backlog) and makes a server of it, not started.
    ///
    /// # Errors
    ///
    /// The error of `TcpListener::bind`.
    ///
    /// # Examples
    ///
    /// ```
    /// use green_server::StreamServer;
    ///
    /// let server = StreamServer::bind("127.0.0.1:0", |conn: shim_net::TcpStream, peer| {
    ///     let _ = (conn, peer);
    /// })
    /// .unwrap();
    /// assert_ne!(server.local_addr().port(), 0);
    /// ```
    pub fn bind<A, F>(addr: A, handler: F) -> io::Result<StreamServer<TcpListener>>
    where
        A: ToSocketAddrs,
        F: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
    {
        StreamServer::new(TcpListener::bind(addr)?, handler)
    }
}

impl StreamServer<UnixListener> {
    /// Binds a Unix socket listener to `path` (as `UnixListener::bind`) and
    /// makes a server of it, not started. The socket file is left in place
    /// when the server stops, as std leaves it.
    ///
    /// # Errors
    ///
    /// The error of `UnixListener::bind`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::time::Duration;
    /// use green_server::StreamServer;
    ///
    /// let dir = std::env::temp_dir().join(format!("green-server-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("hello.sock");
    /// let server = StreamServer::bind_unix(&path, |mut conn: shim_net::unix::UnixStream, _| {
    ///     let _ = conn.write_all(b"hello\n");
    /// })
    /// .unwrap();
    /// server.start().unwrap();
    /// let mut reply = String::new();
    /// std::os::unix::net::UnixStream::connect(&path)
    ///     .unwrap()
    ///     .read_to_string(&mut reply)
    ///     .unwrap();
    /// assert_eq!(reply, "hello\n");
    /// server.stop(Duration::from_secs(1));
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn bind_unix<P, F>(path: P, handler: F) -> io::Result<StreamServer<UnixListener>>
    where
        P: AsRef<Path>,
        F: Fn(UnixStream, shim_net::unix::SocketAddr) + Send + Sync + 'static,
    {
        StreamServer::new(UnixListener::bind(path)?, handler)
    }
}

impl<L: Listener> StreamServer<L> {
    /// Makes a server of a listener bound already, not started.
    ///
    /// # Errors
    ///
    /// When the listener's address cannot be read, or an eventfd (the stop
    /// signal) cannot be created.
    ///
    /// # Examples
    ///
    /// A listener with a backlog of its own, at most 100 connections at once:
    ///
    /// ```
    /// use green_server::StreamServer;
    ///
    /// let listener = green_os::bind_with_backlog("127.0.0.1:0", 64).unwrap();
    /// let server = StreamServer::new(listener, |conn: shim_net::TcpStream, peer| {
    ///     let _ = (conn, peer);
    /// })
    /// .unwrap()
    /// .max_connections(100);
    /// assert!(!server.is_started());
    /// ```
    pub fn new<F>(listener: L, handler: F) -> io::Result<StreamServer<L>>
    where
        F: Fn(L::Stream, L::Addr) + Send + Sync + 'static,
    {
        let local_addr = listener.local_addr()?;
        Ok(StreamServer {
            core: Core::new(None)?,
            listener: Mutex::new(Some(listener)),
            local_addr,
            handler: Arc::new(handler),
        })
    }

    /// Runs at most `n` handlers at once (gevent's `spawn=Pool(n)`); by
    /// default there is no limit. While `n` run, connections wait in the
    /// listen queue. `n` must be at least 1: with 0,
    /// [`start`](StreamServer::start) fails with `InvalidInput`.
    pub fn max_connections(self, n: usize) -> StreamServer<L> {
        self.core.set_limit(Some(n));
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> L::Addr {
        self.local_addr.clone()
    }

    /// How many handlers are running.
    pub fn connections(&self) -> usize {
        self.core.running()
    }

    /// `true` once [`start`](StreamServer::start) (or `serve_forever`) ran.
    pub fn is_started(&self) -> bool {
        self.core.is_started()
    }

    /// `true` once the server stopped: [`stop`](StreamServer::stop)
    /// returned, or accepting failed for good.
    pub fn is_stopped(&self) -> bool {
        self.core.is_stopped()
    }

    /// Starts accepting connections, in a coroutine of the server's, and
    /// returns. Starting a started server does nothing.
    ///
    /// # Errors
    ///
    /// When the server was stopped, or the accept loop's coroutine cannot
    /// be spawned; `InvalidInput` for a
    /// [`max_connections`](StreamServer::max_connections) of 0.
    pub fn start(&self) -> io::Result<()> {
        if !self.core.begin()? {
            return Ok(());
        }
        let Some(listener) = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return Ok(());
        };
        let (core, handler) = (self.core.clone(), self.handler.clone());
        let spawned = shim_thread::Builder::new()
            .name("stream-server".to_string())
            .spawn(move || {
                let error = accept_loop(&core, &listener, &handler).err();
                drop(listener); // closed before the loop reports its end
                core.loop_ended(error);
            });
        if let Err(e) = spawned {
            self.core
                .loop_ended(Some(io::Error::new(e.kind(), e.to_string())));
            return Err(e);
        }
        Ok(())
    }

    /// Pauses accepting (gevent: `stop_accepting`): once it returns, no
    /// new connections are taken until [`start_accepting`](Self::start_accepting);
    /// the listener stays bound, and connections arriving meanwhile wait in the listener's backlog
    /// (up to its limit), to be served on resume. Running handlers go on.
    /// What a server does under overload or during a reload. Calling it
    /// before [`start`](Self::start) makes the server start paused.
    ///
    /// # Examples
    ///
    /// ```
    /// use green_server::StreamServer;
    /// use std::io::Read;
    /// use std::time::Duration;
    ///
    /// let server = StreamServer::bind("127.0.0.1:0", |mut conn: shim_net::TcpStream, _| {
    ///     let _ = std::io::Write::write_all(&mut conn, b"hi");
    /// })
    /// .unwrap();
    /// server.start().unwrap();
    /// server.stop_accepting();
    /// // Connects (the backlog holds it), but is not served while paused.
    /// let mut client = std::net::TcpStream::connect(server.local_addr()).unwrap();
    /// client.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    /// let mut buf = [0; 2];
    /// assert!(client.read_exact(&mut buf).is_err());
    /// server.start_accepting();
    /// client.set_read_timeout(None).unwrap();
    /// client.read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"hi");
    /// server.stop(Duration::from_secs(5));
    /// ```
    pub fn stop_accepting(&self) {
        self.core.pause()
    }

    /// Resumes accepting after [`stop_accepting`](Self::stop_accepting)
    /// (gevent: `start_accepting`); does nothing otherwise. It does not
    /// [`start`](Self::start) a server that was not started.
    ///
    /// # Examples
    ///
    /// See [`stop_accepting`](Self::stop_accepting).
    pub fn start_accepting(&self) {
        self.core.resume()
    }

    /// `false` from [`stop_accepting`](Self::stop_accepting) until
    /// [`start_accepting`](Self::start_accepting).
    ///
    /// # Examples
    ///
    /// ```
    /// use green_server::StreamServer;
    ///
    /// let server = StreamServer::bind("127.0.0.1:0", |_, _| {}).unwrap();
    /// assert!(server.is_accepting());
    /// server.stop_accepting();
    /// assert!(!server.is_accepting());
    /// ```
    pub fn is_accepting(&self) -> bool {
        !self.core.is_paused()
    }

    /// Starts the server if it is not started, and waits until it stops
    /// (gevent's `serve_forever`): until [`stop`](StreamServer::stop) is
    /// called from elsewhere — another coroutine, a signal handler, a
    /// handler — and has finished.
    ///
    /// # Errors
    ///
    /// The error that ended accepting (the listener became unusable), or
    /// the error of [`start`](StreamServer::start).
    pub fn serve_forever(&self) -> io::Result<()> {
        self.start()?;
        self.core.wait_stopped()
    }

    /// Stops the server gracefully (gevent's `stop(timeout)`), and returns
    /// how many handlers were still running when it gave up (0 when all
    /// finished).
    ///
    /// 1. Stops accepting and closes the listener (connections still in its
    ///    queue are refused).
    /// 2. Waits up to `grace` for the running handlers to return.
    /// 3. Cancels the handlers still running (gevent kills them: each
    ///    unwinds from the call it is blocked in, see
    ///    `greenstd::green::JoinHandleExt::cancel`) and ends their
    ///    connections (`shutdown` of both directions, for a handler that
    ///    catches the cancellation); and waits for them up to `grace` again.
    ///
    /// A handler that calls `stop` is not waited for. `serve_forever`
    /// returns once `stop` has returned.
    ///
    /// To end a connection in step 3 the server keeps a duplicate of each
    /// (one more descriptor per connection, closed when its handler
    /// returns).
    ///
    /// A handler that computes without ever blocking is reached only at its
    /// next wait (or `checkpoint`), and is counted in the result until then.
    pub fn stop(&self, grace: Duration) -> usize {
        // Never started: the listener closes here.
        drop(
            self.listener
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        self.core.stop(grace)
    }
}

/// Accepts until stopped: every waiting connection, then waits for more.
fn accept_loop<L: Listener>(core: &Arc<Core>, listener: &L, handler: &Handle<L>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    loop {
        if !core.wait_slot() {
            return Ok(());
        }
        match listener.accept() {
            Ok((stream, addr)) => spawn_handler::<L>(core, handler, stream, addr),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !core.wait_ready(listener.as_fd())? {
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

fn spawn_handler<L: Listener>(
    core: &Arc<Core>,
    handler: &Handle<L>,
    stream: L::Stream,
    addr: L::Addr,
) {
    // A duplicate of the connection, to end it if a stop's grace runs out
    // (without one, when descriptors run short, the handler is only waited for).
    let conn = dup(stream.as_fd());
    let id = core.add(conn);
    let leave = Leave {
        core: core.clone(),
        id,
    };
    let handler = handler.clone();
    // One tuple, so that the connection is closed before the books are left
    // however the closure ends — dropped unrun (cancelled before it
    // started, or never spawned) or run: a tuple drops its fields in order,
    // a closure's captures in no order one should rely on. `stop` counts a
    // handler gone once it left the books, and its connection must be
    // closed by then.
    let job = (stream, addr, leave);
    let spawned = shim_thread::Builder::new().spawn(move || {
        let (stream, addr, _leave) = job;
        handler(stream, addr);
    });
    match spawned {
        Ok(h) => core.set_thread(id, h.thread().clone()),
        // The closure, dropped, closed the connection and left the books.
        // Out of memory for a stack: pause as for a lack of descriptors.
        Err(_) => shim_thread::sleep(PAUSE),
    }
}

fn dup(fd: BorrowedFd<'_>) -> Option<std::os::fd::OwnedFd> {
    fd.try_clone_to_owned().ok()
}

impl<L: Listener> fmt::Debug for StreamServer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamServer")
            .field("local_addr", &self.local_addr)
            .field("started", &self.is_started())
            .field("stopped", &self.is_stopped())
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}
