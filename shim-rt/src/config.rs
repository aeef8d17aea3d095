//! Runtime configuration, and the one entry that starts the runtime lazily
//! ([`start`]; the start-up itself is `start.rs`, below which this sits).
//!
//! The runtime starts on first use (the first coroutine spawned). Before that
//! it can be configured by environment variables or by [`Config::apply`]; a
//! value given to [`Config::apply`] wins over the environment. Once the
//! runtime runs, a configuration that differs from the running one is
//! rejected with an error instead of being silently ignored.
//!
//! | setting | environment | default |
//! |---|---|---|
//! | worker threads | `GREENSTD_WORKERS` | `std::thread::available_parallelism()` |
//! | default coroutine stack, bytes | `GREENSTD_STACK_SIZE`, else std's `RUST_MIN_STACK` | [`DEFAULT_STACK_SIZE`] (2 MiB, std's) |
//! | stacks from the stack arena (Linux 6.13+), `0` for a mapping per stack | `GREENSTD_STACK_ARENA` | on where the kernel has guard regions |
//! | offload pool threads | `GREENSTD_OFFLOAD_THREADS` | 4 |
//! | name-resolver threads | `GREENSTD_RESOLVER_THREADS` | 10 |
//! | report a coroutine that holds its worker longer than, ms | `GREENSTD_MAX_BLOCKING_TIME` | off |
//! | most OS threads the scheduler runs (workers, and threads held by blocking calls; Go's `SetMaxThreads`) | `GREENSTD_MAX_THREADS` | [`DEFAULT_MAX_THREADS`] (10,000) |
//! | listen backlog of `TcpListener::bind` / `UnixListener::bind` | `GREENSTD_LISTEN_BACKLOG` | the kernel's `net.core.somaxconn` (std's TCP listeners: 128) |
//!
//! The listen backlog is not a setting of the scheduler: it may be changed
//! at any time and applies to the listeners bound afterwards (see
//! [`listen_backlog`]).

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

/// Default stack size of a coroutine, in bytes: 2 MiB, std's for a spawned
/// thread.
///
/// `RUST_MIN_STACK` changes it as it changes std's (below; a value std
/// would not parse is ignored, as std ignores it). Only touched pages use
/// memory, and on Linux 6.13+ a stack is a slot of greenstd's stack arena,
/// not a mapping of its own (see `may::stack_arena`): its size costs
/// address space only, so code that runs on std threads does not overflow
/// because it was rebuilt. Pages a parked coroutine no longer uses go back
/// to the kernel (the monitor's trim).
pub const DEFAULT_STACK_SIZE: usize = 2 * 1024 * 1024;

/// Smallest stack a coroutine gets, in bytes (std's `PTHREAD_STACK_MIN` is 16 KiB).
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// Largest stack a coroutine may ask for, in bytes.
pub const MAX_STACK_SIZE: usize = 1 << 30;

const DEFAULT_OFFLOAD_THREADS: usize = 4;

/// Default size of the name-resolver pool: gevent's resolver thread pool
/// has 10 threads too. Lookups wait on the network, not on a CPU, so a
/// pool of its own keeps a slow resolver from queueing behind (or holding
/// up) the general offload work.
pub(crate) const DEFAULT_RESOLVER_THREADS: usize = 10;

/// Default bound on the scheduler's OS threads, as Go's `SetMaxThreads`:
/// the workers plus the threads a blocking call holds after its worker
/// was handed to another thread (see [`crate::monitor`]).
pub const DEFAULT_MAX_THREADS: usize = may::monitor::DEFAULT_MAX_THREADS;

/// The settings the runtime runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Number of worker threads that run coroutines.
    pub workers: usize,
    /// Default coroutine stack size in bytes (a multiple of the page size).
    pub stack_size: usize,
    /// Most threads the offload pool runs at once.
    pub offload_threads: usize,
    /// Most threads that resolve host names at once.
    pub resolver_threads: usize,
    /// Report a coroutine that holds its worker without switching for
    /// longer than this (`None`: no reports).
    pub max_blocking_time: Option<std::time::Duration>,
    /// Most OS threads the scheduler runs at once: the workers, and the
    /// threads held by coroutines blocked in calls greenstd cannot see.
    pub max_threads: usize,
}

/// Configuration of the greenstd runtime, applied before it starts.
///
/// # Examples
///
/// ```
/// shim_rt::Config::new().workers(2).apply().unwrap();
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    workers: Option<usize>,
    stack_size: Option<usize>,
    offload_threads: Option<usize>,
    resolver_threads: Option<usize>,
    max_blocking_time: Option<Option<std::time::Duration>>,
    max_threads: Option<usize>,
    listen_backlog: Option<u32>,
}

static REQUESTED: Mutex<Config> = Mutex::new(Config::new());
/// The listen backlog given to [`Config::apply`], if any; `u32::MAX` for none.
static LISTEN_BACKLOG: AtomicU32 = AtomicU32::new(u32::MAX);
static STARTED: OnceLock<Result<Settings, (io::ErrorKind, String)>> = OnceLock::new();

impl Config {
    /// A configuration that changes nothing: every setting comes from the
    /// environment or its default.
    pub const fn new() -> Config {
        Config {
            workers: None,
            stack_size: None,
            offload_threads: None,
            resolver_threads: None,
            max_blocking_time: None,
            max_threads: None,
            listen_backlog: None,
        }
    }

    /// Sets the number of worker threads (at least 1).
    pub fn workers(mut self, n: usize) -> Config {
        self.workers = Some(n);
        self
    }

    /// Sets the default coroutine stack size, in bytes as `std::thread::Builder::stack_size`.
    pub fn stack_size(mut self, bytes: usize) -> Config {
        self.stack_size = Some(bytes);
        self
    }

    /// Sets the most threads the offload pool (spawning processes, FFI) may run at once.
    pub fn offload_threads(mut self, n: usize) -> Config {
        self.offload_threads = Some(n);
        self
    }

    /// Sets the most threads that resolve host names at once (their own
    /// pool, apart from the offload pool).
    pub fn resolver_threads(mut self, n: usize) -> Config {
        self.resolver_threads = Some(n);
        self
    }

    /// Reports (to stderr) every coroutine that holds its worker without
    /// switching for longer than `limit`, with a backtrace of where it is;
    /// `None` turns the reports off (gevent's `max_blocking_time`). A zero
    /// `limit` is refused by [`apply`](Config::apply), as a
    /// `GREENSTD_MAX_BLOCKING_TIME` of 0.
    pub fn max_blocking_time(mut self, limit: Option<std::time::Duration>) -> Config {
        self.max_blocking_time = Some(limit);
        self
    }

    /// Sets the most OS threads the scheduler runs at once (at least the
    /// workers): the workers, and the threads coroutines blocked in calls
    /// greenstd cannot see keep after their worker was handed to another
    /// thread (Go's `debug.SetMaxThreads`).
    pub fn max_threads(mut self, n: usize) -> Config {
        self.max_threads = Some(n);
        self
    }

    /// Sets the listen backlog of the listeners that `TcpListener::bind` and
    /// `UnixListener::bind` create from now on (at most
    /// [`MAX_LISTEN_BACKLOG`]; the kernel caps it at `net.core.somaxconn`).
    ///
    /// By default it is `net.core.somaxconn` (4096 on current kernels), a
    /// deliberate difference from std's TCP listeners, which use 128: a
    /// thread-per-connection server on coroutines shares its workers
    /// between the accept loop and every handler, so under load the accept
    /// loop runs less often than std's dedicated thread would, and a burst
    /// of connects would overflow a queue of 128 (the kernel then drops the
    /// handshakes: clients retry a second or more later, or are reset).
    /// std's Unix listeners already use `somaxconn` on Linux.
    ///
    /// Unlike the other settings this one may be changed while the runtime
    /// runs; it never conflicts.
    ///
    /// # Examples
    ///
    /// ```
    /// shim_rt::Config::new().listen_backlog(1024).apply().unwrap();
    /// assert_eq!(shim_rt::config::listen_backlog().unwrap(), 1024);
    /// ```
    pub fn listen_backlog(mut self, backlog: u32) -> Config {
        self.listen_backlog = Some(backlog);
        self
    }

    /// Applies the configuration.
    ///
    /// Before the runtime has started this records the settings (they win
    /// over the environment). After it has started, a configuration that
    /// agrees with the running one is accepted and one that conflicts is an
    /// error. The listen backlog is applied in either case.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a value out of range (0 workers, a stack below
    /// [`MIN_STACK_SIZE`] or above [`MAX_STACK_SIZE`], a backlog above
    /// [`MAX_LISTEN_BACKLOG`], a `max_blocking_time` of zero — as the
    /// environment variables); `Other` when the runtime is already running
    /// with different settings.
    pub fn apply(self) -> io::Result<()> {
        if let Some(w) = self.workers {
            check_workers(w, "workers")?;
        }
        if let Some(s) = self.stack_size {
            check_stack(s, "stack_size")?;
        }
        if let Some(n) = self.offload_threads {
            check_offload(n, "offload_threads")?;
        }
        if let Some(n) = self.resolver_threads {
            check_offload(n, "resolver_threads")?;
        }
        if let Some(n) = self.max_threads {
            check_max_threads(n, "max_threads")?;
        }
        if let Some(b) = self.listen_backlog {
            check_backlog(b as usize, "listen_backlog")?;
        }
        if let Some(Some(t)) = self.max_blocking_time {
            check_blocking_time(t)?;
        }
        let mut req = REQUESTED.lock();
        if let Some(started) = STARTED.get() {
            let running = match started {
                Ok(s) => *s,
                Err((kind, msg)) => return Err(io::Error::new(*kind, msg.clone())),
            };
            let conflict = self.workers.is_some_and(|w| w != running.workers)
                || self
                    .stack_size
                    .is_some_and(|s| round_stack(s) != running.stack_size)
                || self
                    .offload_threads
                    .is_some_and(|n| n != running.offload_threads)
                || self
                    .resolver_threads
                    .is_some_and(|n| n != running.resolver_threads)
                || self
                    .max_blocking_time
                    .is_some_and(|t| t != running.max_blocking_time)
                || self.max_threads.is_some_and(|n| n != running.max_threads);
            if conflict {
                return Err(io::Error::other(format!(
                    "greenstd runtime already started with workers={}, stack_size={}, \
                     offload_threads={}, resolver_threads={}, max_blocking_time={:?}, \
                     max_threads={}; configure it before the first spawn",
                    running.workers,
                    running.stack_size,
                    running.offload_threads,
                    running.resolver_threads,
                    running.max_blocking_time,
                    running.max_threads
                )));
            }
            self.apply_backlog();
            return Ok(());
        }
        req.workers = self.workers.or(req.workers);
        req.stack_size = self.stack_size.or(req.stack_size);
        req.offload_threads = self.offload_threads.or(req.offload_threads);
        req.resolver_threads = self.resolver_threads.or(req.resolver_threads);
        req.max_blocking_time = self.max_blocking_time.or(req.max_blocking_time);
        req.max_threads = self.max_threads.or(req.max_threads);
        self.apply_backlog();
        Ok(())
    }

    fn apply_backlog(&self) {
        if let Some(b) = self.listen_backlog {
            LISTEN_BACKLOG.store(b, Ordering::Relaxed);
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn check_workers(w: usize, what: &str) -> io::Result<usize> {
    if w == 0 || w > 4096 {
        return Err(invalid(format!(
            "{what}={w}: workers must be between 1 and 4096"
        )));
    }
    Ok(w)
}

fn check_stack(s: usize, what: &str) -> io::Result<usize> {
    if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&s) {
        return Err(invalid(format!(
            "{what}={s}: the stack size must be between {MIN_STACK_SIZE} and {MAX_STACK_SIZE} bytes"
        )));
    }
    Ok(s)
}

fn check_offload(n: usize, what: &str) -> io::Result<usize> {
    if n == 0 || n > 1024 {
        return Err(invalid(format!(
            "{what}={n}: the offload pool needs between 1 and 1024 threads"
        )));
    }
    Ok(n)
}

fn check_max_threads(n: usize, what: &str) -> io::Result<usize> {
    if n == 0 || n > 1_000_000 {
        return Err(invalid(format!(
            "{what}={n}: the scheduler's thread bound must be between 1 and 1000000"
        )));
    }
    Ok(n)
}

fn check_millis(n: usize, what: &str) -> io::Result<usize> {
    if n == 0 {
        return Err(invalid(format!(
            "{what}={n}: give a time in milliseconds above 0, or leave it unset"
        )));
    }
    Ok(n)
}

fn check_blocking_time(t: std::time::Duration) -> io::Result<()> {
    if t.is_zero() {
        return Err(invalid(
            "max_blocking_time=Some(0s): give a time above 0, or None to turn the reports off"
                .to_string(),
        ));
    }
    Ok(())
}

/// Checks a listen backlog given to a function (`bind_with_backlog`) by
/// the rule [`Config::listen_backlog`] and `GREENSTD_LISTEN_BACKLOG`
/// follow: at most [`MAX_LISTEN_BACKLOG`].
///
/// # Errors
///
/// `InvalidInput` above [`MAX_LISTEN_BACKLOG`].
pub fn check_listen_backlog(backlog: u32) -> io::Result<u32> {
    check_backlog(backlog as usize, "backlog").map(|_| backlog)
}

fn check_backlog(n: usize, what: &str) -> io::Result<usize> {
    if n > MAX_LISTEN_BACKLOG as usize {
        return Err(invalid(format!(
            "{what}={n}: the listen backlog must be at most {MAX_LISTEN_BACKLOG}"
        )));
    }
    Ok(n)
}

/// The largest listen backlog [`Config::listen_backlog`] accepts (`listen(2)`
/// takes an `int`; the kernel caps the queue at `net.core.somaxconn`).
pub const MAX_LISTEN_BACKLOG: u32 = i32::MAX as u32;

/// The listen backlog for new listeners: the value given to
/// [`Config::listen_backlog`], else `GREENSTD_LISTEN_BACKLOG`, else the
/// kernel's `net.core.somaxconn` (`/proc/sys/net/core/somaxconn`; where it
/// cannot be read, `SOMAXCONN`, 4096). Never starts the runtime.
///
/// # Errors
///
/// `InvalidInput` when `GREENSTD_LISTEN_BACKLOG` holds a bad value.
pub fn listen_backlog() -> io::Result<u32> {
    let set = LISTEN_BACKLOG.load(Ordering::Relaxed);
    if set != u32::MAX {
        return Ok(set);
    }
    if let Some(b) = from_env("GREENSTD_LISTEN_BACKLOG", check_backlog)? {
        return Ok(b as u32);
    }
    static SOMAXCONN: OnceLock<u32> = OnceLock::new();
    Ok(*SOMAXCONN.get_or_init(|| {
        crate::sys::listen_backlog_max()
            .filter(|&n| n > 0 && n <= MAX_LISTEN_BACKLOG)
            .unwrap_or(libc::SOMAXCONN as u32)
    }))
}

fn from_env(name: &str, check: fn(usize, &str) -> io::Result<usize>) -> io::Result<Option<usize>> {
    match std::env::var(name) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(invalid(format!(
            "{name} is not valid unicode: expected a positive integer"
        ))),
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) => check(n, name).map(Some),
            Err(_) => Err(invalid(format!(
                "{name}={v:?}: expected a positive integer"
            ))),
        },
    }
}

/// Rounds a stack size in bytes up to whole pages.
pub(crate) fn round_stack(bytes: usize) -> usize {
    let bytes = bytes.clamp(MIN_STACK_SIZE, MAX_STACK_SIZE);
    bytes.div_ceil(4096) * 4096
}

/// The size in `may`'s unit (8-byte words) for a stack of `bytes` bytes.
///
/// The word count is kept even: `may`'s generator fills a stack with an odd
/// word count completely to measure it, touching every page.
pub(crate) fn stack_words(bytes: usize) -> usize {
    let words = round_stack(bytes) / std::mem::size_of::<usize>();
    words & !1
}

/// `RUST_MIN_STACK` read as std reads it (`std::thread`'s `min_stack`): a
/// byte count, anything else ignored. Clamped to the sizes greenstd
/// supports ([`MIN_STACK_SIZE`], [`MAX_STACK_SIZE`]), as a thread's size is
/// rounded up to `PTHREAD_STACK_MIN`.
fn rust_min_stack() -> Option<usize> {
    std::env::var_os("RUST_MIN_STACK")
        .and_then(|s| s.to_str().and_then(|s| s.parse::<usize>().ok()))
        .map(|s| s.clamp(MIN_STACK_SIZE, MAX_STACK_SIZE))
}

fn resolve() -> io::Result<Settings> {
    let req = *REQUESTED.lock();
    let workers = match req.workers {
        Some(w) => w,
        None => match from_env("GREENSTD_WORKERS", check_workers)? {
            Some(w) => w,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
    };
    let stack = match req.stack_size {
        Some(s) => s,
        None => match from_env("GREENSTD_STACK_SIZE", check_stack)? {
            Some(s) => s,
            None => rust_min_stack().unwrap_or(DEFAULT_STACK_SIZE),
        },
    };
    let offload_threads = match req.offload_threads {
        Some(n) => n,
        None => {
            from_env("GREENSTD_OFFLOAD_THREADS", check_offload)?.unwrap_or(DEFAULT_OFFLOAD_THREADS)
        }
    };
    let resolver_threads = match req.resolver_threads {
        Some(n) => n,
        None => from_env("GREENSTD_RESOLVER_THREADS", check_offload)?
            .unwrap_or(DEFAULT_RESOLVER_THREADS),
    };
    let max_blocking_time = match req.max_blocking_time {
        Some(t) => t,
        None => from_env("GREENSTD_MAX_BLOCKING_TIME", check_millis)?
            .map(|ms| std::time::Duration::from_millis(ms as u64)),
    };
    let max_threads = match req.max_threads {
        Some(n) => check_max_threads(n, "max_threads")?,
        None => from_env("GREENSTD_MAX_THREADS", check_max_threads)?.unwrap_or(DEFAULT_MAX_THREADS),
    };
    if max_threads < workers {
        return Err(invalid(format!(
            "max_threads={max_threads} is below workers={workers}: the bound counts the workers too"
        )));
    }
    Ok(Settings {
        workers,
        max_threads,
        stack_size: round_stack(stack),
        offload_threads,
        resolver_threads,
        max_blocking_time,
    })
}

/// Starts the runtime if it is not running and returns its settings.
///
/// Called by every operation that needs the scheduler (spawning a coroutine
/// above all). Idempotent and cheap once started.
///
/// # Errors
///
/// `InvalidInput` when an environment variable holds a bad value; the same
/// error is returned by every later call.
pub fn start() -> io::Result<Settings> {
    let r = STARTED.get_or_init(|| {
        let err = |e: io::Error| (e.kind(), e.to_string());
        let settings = resolve().map_err(err)?;
        // The start-up itself (`start.rs`: the scheduler, then the
        // observers), bound in the crate root: nothing here names a layer
        // above.
        (crate::START)(&settings).map_err(err)?;
        Ok(settings)
    });
    match r {
        Ok(s) => Ok(*s),
        Err((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
    }
}

/// The settings of the running runtime, if it has started.
pub fn running() -> Option<Settings> {
    STARTED.get().and_then(|r| r.as_ref().ok().copied())
}
