//! What both servers share: the state of a server (started, accepting,
//! stopping), its running handlers, the limit on them, the stop signal that
//! wakes the accept (or receive) loop, and the graceful stop.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use green_os::{PollFd, PollFlags};
use shim_sync::{Condvar, Mutex, MutexGuard};
use shim_thread::{Thread, ThreadId};

/// A running handler.
struct Handler {
    /// Its coroutine, once spawned (a handler that calls `stop` is not
    /// waited for by that call; one still running after the grace is
    /// cancelled).
    thread: Option<Thread>,
    /// A duplicate of its connection, shut down by a stop whose grace ran
    /// out (`None` for datagram handlers, or when it could not be made).
    conn: Option<OwnedFd>,
}

#[derive(Default)]
struct State {
    started: bool,
    /// The accept (receive) loop runs.
    accepting: bool,
    /// `stop_accepting` was called (and no `start_accepting` since).
    paused: bool,
    /// The loop has seen `paused` and accepts nothing until it is cleared.
    loop_paused: bool,
    stop_requested: bool,
    /// `stop` has finished, or the loop failed: `serve_forever` returns.
    stopped: bool,
    /// The error that ended the loop.
    error: Option<(io::ErrorKind, String)>,
    limit: Option<usize>,
    handlers: HashMap<u64, Handler>,
    next_id: u64,
}

pub(crate) struct Core {
    state: Mutex<State>,
    changed: Condvar,
    /// Becomes readable when a stop is requested.
    wake: shim_rt::sys::WakeFd,
}

/// What the loop should do after a failed accept or receive.
pub(crate) enum AfterError {
    /// Try again at once (the peer went away, a signal interrupted).
    Retry,
    /// Out of descriptors or memory: pause, then try again. The pending
    /// connections wait in the listen queue meanwhile.
    Pause,
    /// The socket is unusable: the loop ends with this error.
    Fatal,
}

pub(crate) fn classify(e: &io::Error) -> AfterError {
    match e.raw_os_error() {
        Some(libc::EINTR | libc::ECONNABORTED | libc::ECONNRESET | libc::EPROTO | libc::EPERM) => {
            AfterError::Retry
        }
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => AfterError::Pause,
        // A UDP socket reports an earlier send's ICMP error on a receive.
        Some(libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH) => AfterError::Retry,
        _ if e.kind() == io::ErrorKind::Interrupted => AfterError::Retry,
        _ => AfterError::Fatal,
    }
}

/// How long the loop pauses after [`AfterError::Pause`].
pub(crate) const PAUSE: Duration = Duration::from_millis(50);

impl Core {
    pub(crate) fn new(limit: Option<usize>) -> io::Result<Arc<Core>> {
        let wake = shim_rt::sys::WakeFd::new()?;
        Ok(Arc::new(Core {
            state: Mutex::new(State {
                limit,
                ..State::default()
            }),
            changed: Condvar::new(),
            wake,
        }))
    }

    /// The state, whatever a panicking holder left (no invariant spans a
    /// panic: every change is a single assignment).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_limit(&self, limit: Option<usize>) {
        self.lock().limit = limit;
        self.changed.notify_all();
    }

    /// Marks the server started; `Ok(false)` when it had been already.
    pub(crate) fn begin(&self) -> io::Result<bool> {
        let mut s = self.lock();
        if s.stop_requested || s.stopped {
            return Err(io::Error::other(
                "the server was stopped: it cannot start again",
            ));
        }
        if s.started {
            return Ok(false);
        }
        if s.limit == Some(0) {
            // A server that may run no handler would never serve.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a handler limit of 0: the server could never serve; \
                 give at least 1, or no limit",
            ));
        }
        s.started = true;
        s.accepting = true;
        Ok(true)
    }

    pub(crate) fn is_started(&self) -> bool {
        self.lock().started
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    pub(crate) fn running(&self) -> usize {
        self.lock().handlers.len()
    }

    /// Waits until the limit lets one more handler run. `false` when a stop
    /// was requested meanwhile.
    pub(crate) fn wait_slot(&self) -> bool {
        let mut s = self.lock();
        loop {
            if s.stop_requested {
                return false;
            }
            if s.paused {
                if !s.loop_paused {
                    s.loop_paused = true;
                    self.changed.notify_all();
                }
            } else {
                s.loop_paused = false;
                if s.limit.is_none_or(|max| s.handlers.len() < max) {
                    return true;
                }
            }
            s = self.wait(s);
        }
    }

    /// Pauses the loop: once this returns, nothing more is accepted (or
    /// received) until [`Core::resume`].
    pub(crate) fn pause(&self) {
        let mut s = self.lock();
        s.paused = true;
        self.wake.wake();
        // Wait for the loop to see it, if it runs.
        while s.accepting && !s.loop_paused && !s.stop_requested {
            s = self.wait(s);
        }
    }

    pub(crate) fn resume(&self) {
        self.lock().paused = false;
        self.changed.notify_all();
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.lock().paused
    }

    /// Waits until `fd` is readable (`true`) or a stop is requested
    /// (`false`).
    pub(crate) fn wait_ready(&self, fd: BorrowedFd<'_>) -> io::Result<bool> {
        let mut fds = [
            PollFd::new(fd, PollFlags::POLLIN),
            PollFd::new(self.wake.as_fd(), PollFlags::POLLIN),
        ];
        loop {
            green_os::poll(&mut fds, None)?;
            if self.lock().stop_requested {
                return Ok(false);
            }
            if !fds[1].revents().is_empty() {
                // A pause: take the wakeup, and let the loop look again.
                let mut buf = 0u64;
                let fd = self.wake.as_fd().as_raw_fd();
                // SAFETY: reading at most 8 bytes into a live u64 from our
                // wake descriptor (an eventfd, or a pipe on the BSDs;
                // non-blocking: EAGAIN when another took it).
                unsafe { libc::read(fd, (&mut buf as *mut u64).cast(), 8) };
                return Ok(true);
            }
            if !fds[0].revents().is_empty() {
                return Ok(true);
            }
        }
    }

    /// Records a handler about to be spawned; returns its key.
    pub(crate) fn add(&self, conn: Option<OwnedFd>) -> u64 {
        let mut s = self.lock();
        let id = s.next_id;
        s.next_id += 1;
        s.handlers.insert(id, Handler { thread: None, conn });
        id
    }

    pub(crate) fn set_thread(&self, id: u64, thread: Thread) {
        if let Some(h) = self.lock().handlers.get_mut(&id) {
            h.thread = Some(thread);
        }
    }

    /// A handler finished (or could not be spawned).
    pub(crate) fn remove(&self, id: u64) {
        let gone = self.lock().handlers.remove(&id);
        // Its duplicate closes outside the lock, and before the waiters
        // hear of it: `stop` counts the handler gone once told.
        drop(gone);
        self.changed.notify_all();
    }

    /// The accept (receive) loop ended, with the error that ended it.
    pub(crate) fn loop_ended(&self, error: Option<io::Error>) {
        let mut s = self.lock();
        s.accepting = false;
        if let Some(e) = error {
            s.error = Some((e.kind(), e.to_string()));
            s.stopped = true;
        }
        drop(s);
        self.changed.notify_all();
    }

    /// Waits until the server is stopped; the error that ended its loop.
    pub(crate) fn wait_stopped(&self) -> io::Result<()> {
        let mut s = self.lock();
        while !s.stopped {
            s = self.wait(s);
        }
        match &s.error {
            Some((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
            None => Ok(()),
        }
    }

    /// Handlers still running, not counting the caller's own.
    fn others(s: &State, me: ThreadId) -> usize {
        s.handlers
            .values()
            .filter(|h| h.thread.as_ref().map(Thread::id) != Some(me))
            .count()
    }

    /// Waits until no handler but the caller's runs, or `deadline`;
    /// returns how many still run.
    fn wait_handlers(&self, me: ThreadId, deadline: Instant) -> usize {
        let mut s = self.lock();
        loop {
            let n = Core::others(&s, me);
            let now = Instant::now();
            if n == 0 || now >= deadline {
                return n;
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// The graceful stop; see `StreamServer::stop`. Returns how many
    /// handlers (other than the caller) were still running at the end.
    pub(crate) fn stop(&self, grace: Duration) -> usize {
        let me = shim_thread::current().id();
        {
            let mut s = self.lock();
            s.stop_requested = true;
        }
        self.changed.notify_all();
        // Wake the loop out of its wait for readiness.
        self.wake.wake();
        {
            let mut s = self.lock();
            while s.accepting {
                s = self.wait(s);
            }
        }
        let far = |d: Duration| {
            Instant::now()
                .checked_add(d)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86400 * 365))
        };
        let mut left = self.wait_handlers(me, far(grace));
        if left > 0 {
            // Grace is over: cancel the handlers still running (gevent
            // kills them), and end their connections, so that their
            // blocked reads see the end of the stream and their writes fail
            // even if they catch the cancellation.
            let s = self.lock();
            for h in s.handlers.values() {
                let Some(thread) = &h.thread else { continue };
                if thread.id() == me {
                    continue;
                }
                shim_rt::cancel::cancel(shim_thread::__green::task(thread));
                if let Some(conn) = &h.conn {
                    // SAFETY: shutdown on our own duplicate of the
                    // connection; it cannot fail in a harmful way.
                    unsafe { libc::shutdown(conn.as_raw_fd(), libc::SHUT_RDWR) };
                }
            }
            drop(s);
            left = self.wait_handlers(me, far(grace));
        }
        self.lock().stopped = true;
        self.changed.notify_all();
        left
    }
}

/// Removes a handler from the server's books when its coroutine ends,
/// however it ends.
pub(crate) struct Leave {
    pub(crate) core: Arc<Core>,
    pub(crate) id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        // Deferred: a handler that returns on its own after a stop has
        // cancelled it (its connection was shut down) would otherwise take
        // the cancellation at this lock — contended while the stop walks
        // the handlers — and unwind out of here with its entry, and the
        // duplicate of its connection, left on the books for good.
        shim_rt::cancel::defer(|| self.core.remove(self.id));
    }
}
