//! Signals, received cooperatively: wait for or iterate over `SIGTERM`,
//! `SIGINT`, `SIGHUP`, … in a coroutine without blocking its worker, so a
//! server can stop gracefully (gevent's `signal_handler`).
//!
//! * [`Signals`] subscribes to a set of signals and receives them like an
//!   `mpsc::Receiver`: [`recv`](Signals::recv),
//!   [`recv_timeout`](Signals::recv_timeout),
//!   [`try_recv`](Signals::try_recv), [`iter`](Signals::iter).
//! * [`signal_handler`] runs a function in a coroutine of its own each time
//!   a signal arrives, until [`SignalHandler::cancel`].
//!
//! # How it works
//!
//! The first subscription to a signal installs a small handler
//! (`sigaction`, `SA_RESTART`). When the signal arrives, on whichever thread
//! the kernel picks, the handler marks it pending for each subscriber and
//! writes a byte to the subscriber's pipe (the self-pipe trick: `write(2)`
//! and atomics are all it does, both async-signal-safe). A subscriber
//! waits for its pipe to become readable like any socket: cooperatively in
//! a coroutine, in `poll(2)` on a plain thread. Deliveries of one signal
//! that arrive before the subscriber looks are merged into one, as the
//! kernel merges pending signals.
//!
//! # What changes for the rest of the program
//!
//! * **While a signal has a subscriber, its default action is off**: a
//!   subscribed `SIGTERM` or `SIGINT` no longer terminates the process — the
//!   program decides what to do (stop accepting, let handlers finish,
//!   return from `main`). When the last subscriber of a signal is dropped,
//!   the disposition it had before the first subscription is restored (the
//!   default action, for most programs).
//! * A handler that was installed before (by a library, say) keeps being
//!   called, after ours.
//! * **Plain threads** see what std's threads see when a process has a
//!   signal handler: the signal interrupts the thread it lands on for the
//!   time of a few atomic operations; system calls are restarted
//!   (`SA_RESTART`), and the few that cannot be (`poll`, `epoll_wait`,
//!   `nanosleep`, …) fail with `EINTR`, which std and greenstd retry. A
//!   plain thread that waits in [`Signals::recv`] blocks in `poll(2)` and
//!   wakes up with the signal. No thread needs the signal blocked, unlike
//!   with `signalfd`, so threads greenstd does not create (std's, a C
//!   library's) need no care.
//! * Synchronous fault signals (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`) and
//!   the uncatchable `SIGKILL` and `SIGSTOP` cannot be subscribed to.
//!
//! # Examples
//!
//! A server that stops gracefully on `SIGTERM` or `SIGINT`:
//!
//! ```no_run
//! use green_os::signal::{Signals, SIGINT, SIGTERM};
//!
//! let mut signals = Signals::new([SIGTERM, SIGINT]).unwrap();
//! shim_thread::spawn(|| {
//!     // ... serve ...
//! });
//! let sig = signals.recv().unwrap();
//! eprintln!("got signal {sig}, stopping");
//! // ... stop accepting, let running requests finish, return ...
//! ```

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use shim_rt::io::{Interest, IoSource};
use shim_rt::wait::{pause, WaitKind, WaitOn};

use crate::cvt;

/// Hangup of the controlling terminal, or "reload the configuration".
pub const SIGHUP: i32 = libc::SIGHUP;
/// Interrupt from the keyboard (Ctrl-C).
pub const SIGINT: i32 = libc::SIGINT;
/// Quit from the keyboard (Ctrl-\\).
pub const SIGQUIT: i32 = libc::SIGQUIT;
/// Termination request: what service managers and `kill` send to stop a
/// process.
pub const SIGTERM: i32 = libc::SIGTERM;
/// User-defined signal 1.
pub const SIGUSR1: i32 = libc::SIGUSR1;
/// User-defined signal 2.
pub const SIGUSR2: i32 = libc::SIGUSR2;
/// A child process stopped or terminated.
pub const SIGCHLD: i32 = libc::SIGCHLD;
/// Timer expired (`alarm`).
pub const SIGALRM: i32 = libc::SIGALRM;
/// Write to a pipe with no reader (Rust programs ignore it by default).
pub const SIGPIPE: i32 = libc::SIGPIPE;
/// The terminal window changed size.
pub const SIGWINCH: i32 = libc::SIGWINCH;

/// Most subscribers ([`Signals`] alive at once).
const SLOTS: usize = 64;
/// Highest signal number (Linux: `SIGRTMAX` is 64).
const MAX_SIGNAL: i32 = 64;

/// Per slot: the signals it wants (bit `n - 1` for signal `n`), those
/// pending for it, and its pipe's ends (-1 until created). The pipes are
/// never closed, so the handler can never write to a descriptor number
/// that was reused for something else.
static MASKS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static PENDING: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static WRITE_FDS: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];
static READ_FDS: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];

/// Per signal: the handler that was installed before ours (`sa_sigaction`,
/// `SIG_DFL` = 0 for none) and whether it takes `siginfo`, for chaining.
static PREVIOUS: [AtomicUsize; MAX_SIGNAL as usize + 1] =
    [const { AtomicUsize::new(libc::SIG_DFL) }; MAX_SIGNAL as usize + 1];
static PREVIOUS_SIGINFO: [AtomicBool; MAX_SIGNAL as usize + 1] =
    [const { AtomicBool::new(false) }; MAX_SIGNAL as usize + 1];

/// Who uses what, changed under a lock (never touched by the handler).
struct Registry {
    slot_used: [bool; SLOTS],
    /// Per signal: subscribers, and the action to restore after the last.
    installed: Vec<Option<(usize, libc::sigaction)>>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn bit(signal: i32) -> u64 {
    1u64 << (signal - 1)
}

extern "C" fn on_signal(signal: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: errno is thread-local; reading and restoring it keeps the
    // interrupted code's value.
    let saved_errno = unsafe { *shim_rt::sys::errno_location() };
    if (1..=MAX_SIGNAL).contains(&signal) {
        let b = bit(signal);
        for slot in 0..SLOTS {
            if MASKS[slot].load(Ordering::Acquire) & b != 0 {
                PENDING[slot].fetch_or(b, Ordering::AcqRel);
                let fd = WRITE_FDS[slot].load(Ordering::Acquire);
                if fd >= 0 {
                    // SAFETY: write(2) is async-signal-safe; the pipe is
                    // never closed. A full pipe (EAGAIN) already wakes.
                    unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
                }
            }
        }
        let previous = PREVIOUS[signal as usize].load(Ordering::Acquire);
        if previous != libc::SIG_DFL && previous != libc::SIG_IGN {
            if PREVIOUS_SIGINFO[signal as usize].load(Ordering::Acquire) {
                // SAFETY: a handler installed with SA_SIGINFO has this type.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(previous) };
                f(signal, info, ctx);
            } else {
                // SAFETY: a handler installed without SA_SIGINFO has this type.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(previous) };
                f(signal);
            }
        }
    }
    // SAFETY: as above.
    unsafe { *shim_rt::sys::errno_location() = saved_errno };
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Checks that `signal` may be subscribed to.
fn check(signal: i32) -> io::Result<()> {
    if !(1..=MAX_SIGNAL).contains(&signal) {
        return Err(invalid(format!(
            "signal {signal} is out of range: signals are numbered 1 to {MAX_SIGNAL}"
        )));
    }
    match signal {
        libc::SIGKILL | libc::SIGSTOP => Err(invalid(format!(
            "signal {signal} (SIGKILL or SIGSTOP) cannot be caught"
        ))),
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE => Err(invalid(format!(
            "signal {signal} is a synchronous fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE): \
             it cannot be received as an event"
        ))),
        _ => Ok(()),
    }
}

/// Installs our handler for `signal` and returns the action it replaced.
fn install(signal: i32) -> io::Result<libc::sigaction> {
    // SAFETY: zeroed sigaction values are valid; ours gets a handler, flags
    // and an empty mask before it is installed.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        cvt(libc::sigaction(signal, std::ptr::null(), &mut old))?;
        // Chain to a handler that was there (a function, not DFL/IGN);
        // recorded before ours can run.
        PREVIOUS[signal as usize].store(old.sa_sigaction, Ordering::Release);
        PREVIOUS_SIGINFO[signal as usize]
            .store(old.sa_flags & libc::SA_SIGINFO != 0, Ordering::Release);
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        if let Err(e) = cvt(libc::sigaction(signal, &action, std::ptr::null_mut())) {
            PREVIOUS[signal as usize].store(libc::SIG_DFL, Ordering::Release);
            return Err(e);
        }
        Ok(old)
    }
}

/// Puts back the action `old` for `signal`.
fn restore(signal: i32, old: &libc::sigaction) {
    // SAFETY: `old` is an action sigaction gave us for this signal.
    unsafe { libc::sigaction(signal, old, std::ptr::null_mut()) };
    PREVIOUS[signal as usize].store(libc::SIG_DFL, Ordering::Release);
}

/// Creates the slot's pipe if it has none yet, and empties it.
fn slot_pipe(slot: usize) -> io::Result<RawFd> {
    let mut read = READ_FDS[slot].load(Ordering::Acquire);
    if read < 0 {
        let (r, w) = shim_rt::sys::pipe_cloexec()?;
        for fd in [&r, &w] {
            // SAFETY: plain fcntl on a descriptor we own.
            cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) })?;
        }
        // Kept open for the life of the process (the handler writes to it).
        let fds = [r.into_raw_fd(), w.into_raw_fd()];
        read = fds[0];
        READ_FDS[slot].store(fds[0], Ordering::Release);
        WRITE_FDS[slot].store(fds[1], Ordering::Release);
    }
    drain(read);
    Ok(read)
}

/// Reads the pipe until it is empty.
fn drain(fd: RawFd) {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
    }
}

/// Takes a slot, installs the handler for each signal of `mask` and
/// publishes the slot's mask.
fn subscribe(mask: u64) -> io::Result<usize> {
    let mut guard = REGISTRY.lock();
    let reg = guard.get_or_insert_with(|| Registry {
        slot_used: [false; SLOTS],
        installed: (0..=MAX_SIGNAL).map(|_| None).collect(),
    });
    let slot = reg.slot_used.iter().position(|used| !used).ok_or_else(|| {
        io::Error::other(format!(
            "too many signal subscriptions: at most {SLOTS} `Signals` may be alive at once"
        ))
    })?;
    slot_pipe(slot)?;
    PENDING[slot].store(0, Ordering::Release);
    let mut done = Vec::new();
    for signal in 1..=MAX_SIGNAL {
        if mask & bit(signal) == 0 {
            continue;
        }
        let entry = &mut reg.installed[signal as usize];
        match entry {
            Some((users, _)) => *users += 1,
            None => match install(signal) {
                Ok(old) => *entry = Some((1, old)),
                Err(e) => {
                    for s in done {
                        release(reg, s);
                    }
                    return Err(e);
                }
            },
        }
        done.push(signal);
    }
    reg.slot_used[slot] = true;
    MASKS[slot].store(mask, Ordering::Release);
    Ok(slot)
}

/// One subscriber fewer for `signal`; the last one restores the old action.
fn release(reg: &mut Registry, signal: i32) {
    let entry = &mut reg.installed[signal as usize];
    if let Some((users, old)) = entry {
        *users -= 1;
        if *users == 0 {
            restore(signal, old);
            *entry = None;
        }
    }
}

fn unsubscribe(slot: usize, mask: u64) {
    let mut guard = REGISTRY.lock();
    MASKS[slot].store(0, Ordering::Release);
    if let Some(reg) = guard.as_mut() {
        for signal in 1..=MAX_SIGNAL {
            if mask & bit(signal) != 0 {
                release(reg, signal);
            }
        }
        reg.slot_used[slot] = false;
    }
}

/// A subscription to a set of signals, received like an
/// [`mpsc::Receiver`](std::sync::mpsc::Receiver): the sender is the
/// operating system, and a [`Handle`] can close it.
///
/// Created by [`Signals::new`]; the signals' default actions are off while
/// it (or another subscription to them) lives, see the
/// [module documentation](self). Receiving takes `&mut self`: one receiver
/// per subscription; create several `Signals` to receive in several
/// places (each gets every signal). At most 64 may exist at once.
///
/// # Examples
///
/// ```
/// use green_os::signal::{Signals, SIGUSR1};
///
/// let mut signals = Signals::new([SIGUSR1]).unwrap();
/// let waiter = shim_thread::spawn(move || signals.recv().unwrap());
/// // SAFETY: raising a signal the process handles.
/// unsafe { libc::raise(SIGUSR1) };
/// assert_eq!(waiter.join().unwrap(), SIGUSR1);
/// ```
pub struct Signals {
    slot: usize,
    mask: u64,
    /// Signals taken from the slot but not returned yet.
    taken: u64,
    closed: Arc<AtomicBool>,
    /// A duplicate of the slot's read end (which stays open for the life of
    /// the process), owned by this subscription for its waits.
    source: IoSource,
}

/// Closes a [`Signals`] from elsewhere: its receiver then gets
/// [`RecvError`] (or `Disconnected`) once the signals already pending are
/// received, and its iterator ends.
///
/// # Examples
///
/// ```
/// use green_os::signal::{Signals, SIGUSR2};
///
/// let mut signals = Signals::new([SIGUSR2]).unwrap();
/// let handle = signals.handle();
/// let t = shim_thread::spawn(move || signals.iter().count());
/// handle.close();
/// assert_eq!(t.join().unwrap(), 0);
/// ```
#[derive(Clone)]
pub struct Handle {
    slot: usize,
    closed: Arc<AtomicBool>,
}

impl Signals {
    /// Subscribes to `signals` (`SIGTERM`, `SIGINT`, …; see the constants
    /// of this module, or `libc`'s).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an empty set, a number out of range, a signal that
    /// cannot be caught (`SIGKILL`, `SIGSTOP`) or a synchronous fault
    /// (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`); the OS error when the
    /// handler cannot be installed (the real-time signals glibc keeps for
    /// itself) or a pipe cannot be created; `Other` when 64 subscriptions
    /// exist already.
    ///
    /// # Examples
    ///
    /// ```
    /// use green_os::signal::{Signals, SIGHUP, SIGTERM};
    ///
    /// let signals = Signals::new([SIGTERM, SIGHUP]).unwrap();
    /// assert!(Signals::new([libc::SIGKILL]).is_err());
    /// ```
    pub fn new<I: IntoIterator<Item = i32>>(signals: I) -> io::Result<Signals> {
        let mut mask = 0;
        for signal in signals {
            check(signal)?;
            mask |= bit(signal);
        }
        if mask == 0 {
            return Err(invalid("no signal to subscribe to".to_string()));
        }
        let slot = subscribe(mask)?;
        let read = READ_FDS[slot].load(Ordering::Acquire);
        let source = match shim_rt::sys::dup_cloexec(read) {
            Ok(fd) => IoSource::new(fd),
            Err(e) => {
                unsubscribe(slot, mask);
                return Err(e);
            }
        };
        Ok(Signals {
            slot,
            mask,
            taken: 0,
            closed: Arc::new(AtomicBool::new(false)),
            source,
        })
    }

    /// A handle that can close this subscription from another coroutine or
    /// thread.
    pub fn handle(&self) -> Handle {
        Handle {
            slot: self.slot,
            closed: self.closed.clone(),
        }
    }

    /// The lowest pending signal, if any.
    fn take(&mut self) -> Option<i32> {
        self.taken |= PENDING[self.slot].swap(0, Ordering::AcqRel) & self.mask;
        if self.taken == 0 {
            return None;
        }
        let n = self.taken.trailing_zeros();
        self.taken &= !(1 << n);
        Some(n as i32 + 1)
    }

    #[track_caller]
    fn next(&mut self, deadline: Option<Instant>) -> Result<i32, RecvTimeoutError> {
        let fd = READ_FDS[self.slot].load(Ordering::Acquire);
        loop {
            if let Some(sig) = self.take() {
                return Ok(sig);
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(RecvTimeoutError::Disconnected);
            }
            // Empty the pipe, then look again: a signal whose byte we just
            // read is seen now; one that comes later writes a new byte.
            drain(fd);
            if let Some(sig) = self.take() {
                return Ok(sig);
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(RecvTimeoutError::Disconnected);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(RecvTimeoutError::Timeout);
            }
            match self.source.wait(Interest::Read, WaitKind::Read, deadline) {
                Ok(_) => {}
                // The pipe could not be waited on (out of memory for the
                // registration): look again every 10 ms instead.
                Err(_) => {
                    let step = Instant::now() + Duration::from_millis(10);
                    let on = WaitOn::new(WaitKind::Read, fd as usize);
                    pause(Some(deadline.map_or(step, |d| d.min(step))), on);
                }
            }
        }
    }

    /// Waits for a signal and returns its number.
    ///
    /// Signals that arrived before the call are returned at once, lowest
    /// number first; several deliveries of one signal not yet received
    /// count as one. In a coroutine only the coroutine waits.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the subscription was closed with a [`Handle`] and
    /// no signal is pending.
    ///
    /// # Examples
    ///
    /// ```
    /// use green_os::signal::{Signals, SIGUSR1};
    ///
    /// let mut signals = Signals::new([SIGUSR1]).unwrap();
    /// let raiser = std::thread::spawn(|| {
    ///     std::thread::sleep(std::time::Duration::from_millis(20));
    ///     // SAFETY: raising a signal the process handles.
    ///     unsafe { libc::kill(libc::getpid(), SIGUSR1) };
    /// });
    /// assert_eq!(signals.recv(), Ok(SIGUSR1));
    /// raiser.join().unwrap();
    /// ```
    #[track_caller]
    pub fn recv(&mut self) -> Result<i32, RecvError> {
        self.next(None).map_err(|_| RecvError)
    }

    /// Waits for a signal at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] when none arrived in time,
    /// [`RecvTimeoutError::Disconnected`] when the subscription was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc::RecvTimeoutError;
    /// use std::time::Duration;
    /// use green_os::signal::{Signals, SIGHUP};
    ///
    /// let mut signals = Signals::new([SIGHUP]).unwrap();
    /// assert_eq!(
    ///     signals.recv_timeout(Duration::from_millis(10)),
    ///     Err(RecvTimeoutError::Timeout)
    /// );
    /// ```
    #[track_caller]
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<i32, RecvTimeoutError> {
        let deadline = Instant::now().checked_add(timeout);
        self.next(deadline)
    }

    /// Returns a pending signal without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when none is pending,
    /// [`TryRecvError::Disconnected`] when the subscription was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc::TryRecvError;
    /// use green_os::signal::{Signals, SIGUSR2};
    ///
    /// let mut signals = Signals::new([SIGUSR2]).unwrap();
    /// assert_eq!(signals.try_recv(), Err(TryRecvError::Empty));
    /// // SAFETY: raising a signal the process handles.
    /// unsafe { libc::raise(SIGUSR2) };
    /// assert_eq!(signals.try_recv(), Ok(SIGUSR2));
    /// signals.handle().close();
    /// assert_eq!(signals.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&mut self) -> Result<i32, TryRecvError> {
        match self.take() {
            Some(sig) => Ok(sig),
            None if self.closed.load(Ordering::Acquire) => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// An iterator that waits for each signal in turn; it ends when the
    /// subscription is closed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use green_os::signal::{Signals, SIGHUP, SIGTERM};
    ///
    /// let mut signals = Signals::new([SIGHUP, SIGTERM]).unwrap();
    /// for sig in signals.iter() {
    ///     match sig {
    ///         SIGHUP => eprintln!("reloading the configuration"),
    ///         _ => break,
    ///     }
    /// }
    /// ```
    pub fn iter(&mut self) -> Iter<'_> {
        Iter { signals: self }
    }

    /// An iterator over the signals pending now; it never waits.
    pub fn try_iter(&mut self) -> TryIter<'_> {
        TryIter { signals: self }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        unsubscribe(self.slot, self.mask);
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signals: Vec<i32> = (1..=MAX_SIGNAL)
            .filter(|&s| self.mask & bit(s) != 0)
            .collect();
        f.debug_struct("Signals")
            .field("signals", &signals)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// Closes the subscription: a receiver waiting in
    /// [`recv`](Signals::recv) wakes up with an error (after the signals
    /// already pending), and [`iter`](Signals::iter) ends. The signals stay
    /// subscribed until the [`Signals`] is dropped.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            let fd = WRITE_FDS[self.slot].load(Ordering::Acquire);
            // SAFETY: the slot's pipe is never closed. If the `Signals` is
            // gone and the slot reused, its new owner sees one spurious
            // wake-up and goes back to waiting.
            unsafe { libc::write(fd, [0u8].as_ptr().cast(), 1) };
        }
    }

    /// `true` once [`close`](Handle::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// The iterator of [`Signals::iter`].
#[derive(Debug)]
pub struct Iter<'a> {
    signals: &'a mut Signals,
}

impl Iterator for Iter<'_> {
    type Item = i32;
    #[track_caller]
    fn next(&mut self) -> Option<i32> {
        self.signals.recv().ok()
    }
}

/// The iterator of [`Signals::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a> {
    signals: &'a mut Signals,
}

impl Iterator for TryIter<'_> {
    type Item = i32;
    fn next(&mut self) -> Option<i32> {
        self.signals.try_recv().ok()
    }
}

impl<'a> IntoIterator for &'a mut Signals {
    type Item = i32;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Runs `handler` in a coroutine of its own each time `signal` arrives
/// (gevent's `signal_handler`), until [`SignalHandler::cancel`].
///
/// While the handler is installed the signal's default action is off (see
/// the [module documentation](self)). Deliveries that arrive while
/// `handler` runs are merged into one more call. Dropping the returned
/// value leaves the handler running for the rest of the process.
///
/// # Errors
///
/// As [`Signals::new`], or the error of spawning the coroutine.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use green_os::signal::{signal_handler, SIGWINCH};
///
/// let calls = Arc::new(AtomicUsize::new(0));
/// let c = calls.clone();
/// let h = signal_handler(SIGWINCH, move || {
///     c.fetch_add(1, Ordering::SeqCst);
/// })
/// .unwrap();
/// // SAFETY: raising a signal the process handles.
/// unsafe { libc::raise(SIGWINCH) };
/// while calls.load(Ordering::SeqCst) == 0 {
///     shim_thread::sleep(std::time::Duration::from_millis(1));
/// }
/// h.cancel();
/// ```
pub fn signal_handler<F>(signal: i32, mut handler: F) -> io::Result<SignalHandler>
where
    F: FnMut() + Send + 'static,
{
    let mut signals = Signals::new([signal])?;
    let handle = signals.handle();
    let join = shim_thread::Builder::new()
        .name(format!("signal-handler-{signal}"))
        .spawn(move || {
            for _ in signals.iter() {
                handler();
            }
        })?;
    Ok(SignalHandler {
        signal,
        handle,
        join,
    })
}

/// A handler installed by [`signal_handler`].
#[derive(Debug)]
pub struct SignalHandler {
    signal: i32,
    handle: Handle,
    join: shim_thread::JoinHandle<()>,
}

impl SignalHandler {
    /// The signal it handles.
    pub fn signal(&self) -> i32 {
        self.signal
    }

    /// Stops handling the signal (gevent's `cancel`): waits for a call of
    /// the handler in progress to return, then unsubscribes, which restores
    /// the signal's former action if nothing else subscribes to it.
    ///
    /// Do not call it from the handler itself: it would wait for itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use green_os::signal::{signal_handler, SIGHUP};
    ///
    /// let reload = signal_handler(SIGHUP, || eprintln!("reloading")).unwrap();
    /// assert_eq!(reload.signal(), SIGHUP);
    /// reload.cancel(); // SIGHUP has its former action again
    /// ```
    pub fn cancel(self) {
        self.handle.close();
        let _ = self.join.join();
    }
}
