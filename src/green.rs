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
//! | `gevent.spawn_later` | [`spawn_after`] |
//! | `gevent.wait(objs, count=1)`, `iwait` | [`wait_any`], [`wait_any_timeout`] |
//! | `gevent.event.Event` | [`Event`] |
//! | `gevent.event.AsyncResult` | [`AsyncResult`] |
//! | `gevent.lock.Semaphore`, `BoundedSemaphore` | [`Semaphore`] |
//! | `gevent.queue.Queue`, `LifoQueue`, `PriorityQueue`, `JoinableQueue` | [`queue`] |
//! | `gevent.pool.Group` | [`Group`] |
//! | `gevent.pool.Pool` (`map`, `imap`, `imap_unordered`) | [`Pool`] |
//! | `gevent.get_hub().threadpool.apply` | [`offload`] |

pub use shim_green::*;

pub use shim_rt::config::{Settings, DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};
pub use shim_rt::Config;

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
pub fn offload<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    shim_rt::offload::run(f)
}
