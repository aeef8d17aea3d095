//! greenstd's own API: what std has no name for.
//!
//! The runtime's configuration, and gevent's own API shaped as std would
//! shape it. Everything here works the same from coroutines and from plain
//! OS threads.
//!
//! | gevent | greenstd |
//! |---|---|
//! | `gevent.spawn`, `Greenlet` | [`thread::spawn`](crate::thread::spawn), [`thread::JoinHandle`](crate::thread::JoinHandle) (std's names) |
//! | `Greenlet.join(timeout)` | [`JoinHandleExt::join_timeout`] |
//! | `Greenlet.kill`, `GreenletExit` | [`JoinHandleExt::cancel`], [`Cancelled`] |
//! | `gevent.Timeout`, `gevent.with_timeout` | [`with_timeout`], [`with_deadline`], [`Elapsed`] |
//! | (holding off `GreenletExit` by hand) | [`shield`], [`defer_cancel`], [`checkpoint`] |
//! | `gevent.spawn_later` | [`spawn_after`] |
//! | `gevent.wait(objs, count=1)`, `iwait` | [`wait_any`], [`wait_any_timeout`] |
//! | `gevent.event.Event` | [`Event`] |
//! | `gevent.event.AsyncResult` | [`AsyncResult`] |
//! | `gevent.lock.Semaphore`, `BoundedSemaphore` | [`Semaphore`] |
//! | `gevent.queue.Queue`, `LifoQueue`, `PriorityQueue`, `JoinableQueue` | [`queue`] |
//! | `gevent.pool.Group` (`spawn`, `join`, `kill`) | [`Group`] (`spawn`, `join_all`, `cancel_all`) |
//! | `gevent.pool.Pool` (`map`, `imap`, `imap_unordered`, `kill`) | [`Pool`] (`map`, `map_unordered`, `cancel_all`) |
//! | `gevent.get_hub().threadpool.apply` | [`offload`] |
//! | (awaiting a future from blocking code) | [`block_on`] |
//!
//! OS-level waits (gevent's `wait_read`/`wait_write`, `select.poll`,
//! `signal_handler`) and listeners with an explicit backlog come from the
//! `green-os` crate: [`wait_readable`], [`wait_writable`], [`poll()`],
//! [`signal`], [`bind_with_backlog`], [`listen_backlog`]; gevent's servers
//! from `green-server`: [`server`].

pub use shim_green::*;

pub use shim_rt::config::{
    Settings, DEFAULT_MAX_THREADS, DEFAULT_STACK_SIZE, MAX_LISTEN_BACKLOG, MAX_STACK_SIZE,
    MIN_STACK_SIZE,
};
pub use shim_rt::Config;

/// gevent's servers: [`StreamServer`](server::StreamServer) (TCP and Unix
/// sockets) and [`DatagramServer`](server::DatagramServer) (UDP), a
/// coroutine per connection or datagram.
pub mod server {
    pub use green_server::*;
}

pub use green_os::{
    bind_unix_with_backlog, bind_with_backlog, listen_backlog, poll, signal, wait_readable,
    wait_writable, PollFd, PollFlags,
};

pub use shim_net::set_test_resolver;

/// The settings of the running runtime, starting it if it is not running.
///
/// # Errors
///
/// When `GREENSTD_WORKERS`, `GREENSTD_STACK_SIZE` or
/// `GREENSTD_OFFLOAD_THREADS` holds a bad value.
pub fn runtime() -> std::io::Result<Settings> {
    shim_rt::config::start()
}

/// `true` when the caller runs in a greenstd coroutine.
pub fn in_coroutine() -> bool {
    shim_rt::in_coroutine()
}

/// Runs blocking work that cannot be made cooperative — `std::fs`, a C
/// library call, a long computation — without blocking the coroutine's
/// worker: `f` runs on greenstd's bounded offload pool
/// (`GREENSTD_OFFLOAD_THREADS`, default 4) while the calling coroutine waits
/// cooperatively. A panic in `f` is resumed in the caller. Called from a
/// plain OS thread, `f` simply runs there. (gevent: `threadpool.apply`.)
///
/// # Examples
///
/// ```
/// use greenstd::thread;
///
/// let h = thread::spawn(|| greenstd::green::offload(|| std::fs::read_to_string("Cargo.toml")));
/// assert!(h.join().unwrap().is_ok());
/// ```
#[track_caller]
pub fn offload<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    shim_rt::offload::run(f)
}

pub use shim_rt::inspect::{Dump, TaskInfo, TaskState, WaitInfo};
pub use shim_rt::wait::WaitKind;

/// A snapshot of every live coroutine, and of every OS thread that has used
/// greenstd: id, name, state (running / runnable / parked), what it waits
/// on — the operation, the object, a lock's holder — since when, from which
/// line of the user's code, and which task spawned it. `Display` prints it
/// as a table, like a Go or Java thread dump.
///
/// Nothing is stopped while the snapshot is taken; each task's line is
/// consistent in itself. With `GREENSTD_DUMP_SIGNAL=SIGQUIT` (or
/// `SIGUSR1`) in the environment, the process prints one to stderr each
/// time it receives that signal, and runs on.
///
/// # Examples
///
/// ```
/// use greenstd::sync::mpsc::channel;
/// use greenstd::thread;
/// use greenstd::green::{self, TaskState, WaitKind};
///
/// let (tx, rx) = channel::<()>();
/// let h = thread::Builder::new()
///     .name("waiter".into())
///     .spawn(move || rx.recv())
///     .unwrap();
/// // Wait until it blocks in recv.
/// let dump = loop {
///     let d = green::dump();
///     if d.tasks().iter().any(|t| t.name() == Some("waiter") && t.state() == TaskState::Parked) {
///         break d;
///     }
///     thread::sleep(std::time::Duration::from_millis(1));
/// };
/// let waiter = dump.tasks().iter().find(|t| t.name() == Some("waiter")).unwrap();
/// assert_eq!(waiter.wait().unwrap().kind(), WaitKind::Recv);
/// println!("{dump}");
/// drop(tx);
/// assert!(h.join().unwrap().is_err());
/// ```
pub fn dump() -> Dump {
    shim_rt::inspect::dump()
}
