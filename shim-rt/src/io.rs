//! Readiness waiting on file descriptors, behind [`IoSource`], the one
//! owner of a descriptor greenstd waits on.
//!
//! Sockets are non-blocking underneath. An operation is tried; when it would
//! block, the caller waits for readiness and tries again:
//!
//! * in a coroutine, through the pollers (edge-triggered epoll or kqueue, see
//!   `poller`), with any number of waiters per direction — every waiter of a
//!   direction is woken by each readiness edge and retries, so none is lost;
//! * on a plain OS thread, with `poll(2)`: a real blocking call, as std's.

use std::io;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use std::panic::Location;

use crate::atomic::{AtomicPtr, AtomicU64};
use crate::park::{self, in_coroutine};
use crate::poller;
use crate::sys;
use crate::task::{self, Task};
use crate::wait::{WaitKind, WaitOn, WaitQueue, WaitResult};

#[cfg(all(test, loom))]
mod loom_model;
mod source;
pub use source::{IoSource, View};

/// The direction an operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    /// Readable: data, a connection to accept, end of stream or an error.
    Read,
    /// Writable: buffer space, a finished connect, or an error.
    Write,
}

impl Interest {
    /// The wait a plain read or write on this direction is recorded as.
    pub fn kind(self) -> WaitKind {
        match self {
            Interest::Read => WaitKind::Read,
            Interest::Write => WaitKind::Write,
        }
    }
}

/// The waiters of one direction: a broadcast per readiness edge.
///
/// The usual case — one coroutine reading, one writing — takes a fast
/// path: the waiter puts its task in `slot` (one reference, given to the
/// slot) and parks; an edge takes it out and wakes it. No lock, no list, no
/// allocation, as may's own sockets do. Only a second waiter at the same
/// time (two coroutines reading one socket) queues in `more`, made on first
/// use.
struct Direction {
    /// Bumped by [`EDGE`] by every readiness edge, before the waiters are
    /// woken. Its lowest bit, [`SEQ_CLOSED`], is set for good by the first edge
    /// that reports end of stream, hang-up or an error (before that edge's
    /// bump): a transfer may then return at once (0, or the error) whatever
    /// the buffer held, so the direction is never taken as drained again.
    seq: AtomicU64,
    /// The `seq` before a stream transfer that moved some but not all of
    /// its bytes: the kernel's buffer was drained (read) or full (write)
    /// then, so until the next edge another try would fail with `EAGAIN`
    /// (see `IoSource::stream_io`). `NOT_DRAINED` otherwise.
    drained: AtomicU64,
    /// The one fast-path waiter: an `Arc<Task>` turned into a raw pointer
    /// (the slot owns that reference), or null.
    slot: AtomicPtr<Task>,
    /// Waiters beyond the first, woken by the same edges: a boxed
    /// [`WaitQueue`] made on first use, or null. (Four words in all: a
    /// socket's two directions are 64 bytes of every connection.)
    more: AtomicPtr<WaitQueue>,
}

const NOT_DRAINED: u64 = u64::MAX;
/// What an edge adds to [`Direction::seq`].
const EDGE: u64 = 2;
/// [`Direction::seq`]'s bit for "end of stream, hang-up or error seen".
const SEQ_CLOSED: u64 = 1;

impl Default for Direction {
    fn default() -> Direction {
        Direction {
            seq: AtomicU64::new(0),
            drained: AtomicU64::new(NOT_DRAINED),
            slot: AtomicPtr::new(ptr::null_mut()),
            more: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

impl Drop for Direction {
    fn drop(&mut self) {
        let p = self.slot.load(Ordering::Relaxed);
        if !p.is_null() {
            // SAFETY: a non-null slot holds one reference made by `Arc::into_raw`.
            drop(unsafe { Arc::from_raw(p) });
        }
        let q = self.more.load(Ordering::Relaxed);
        if !q.is_null() {
            // SAFETY: made by `Box::into_raw` in `more_queue`, freed only here.
            drop(unsafe { Box::from_raw(q) });
        }
    }
}

impl Direction {
    fn wake_all(&self) {
        // The SeqCst bump, then the SeqCst looks at the slot and the
        // queue's count: either a waiter sees the new `seq` before it
        // parks, or we see the waiter (see `wait`).
        self.seq.fetch_add(EDGE, Ordering::SeqCst);
        if !self.slot.load(Ordering::SeqCst).is_null() {
            let p = self.slot.swap(ptr::null_mut(), Ordering::SeqCst);
            if !p.is_null() {
                // SAFETY: the slot's reference, now ours.
                let task = unsafe { Arc::from_raw(p) };
                task.wake();
            }
        }
        // SAFETY: a non-null `more` lives as long as the direction.
        if let Some(more) = unsafe { self.more.load(Ordering::Acquire).as_ref() } {
            if more.has_waiters() {
                more.notify_all();
            }
        }
    }

    /// Waits for the next edge after `seq`. `false` when `deadline` passed
    /// first. Only a coroutine waits here (a thread polls the descriptor).
    fn wait(&self, me: &Arc<Task>, seq: u64, deadline: Option<Instant>, on: WaitOn) -> bool {
        let r = {
            let mine = Arc::into_raw(Arc::clone(me)).cast_mut();
            match self.slot.compare_exchange(
                ptr::null_mut(),
                mine,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => self.wait_in_slot(me, mine, seq, deadline, &on),
                Err(_) => {
                    // SAFETY: the reference made just above, not given away.
                    drop(unsafe { Arc::from_raw(mine) });
                    self.more_queue().wait_as(
                        me,
                        on,
                        0,
                        deadline,
                        || self.seq.load(Ordering::SeqCst) == seq,
                        || {},
                    )
                }
            }
        };
        if r == WaitResult::Interrupted {
            // Off the queue: a due cancellation or deadline unwinds from
            // here; otherwise like an edge (the caller tries again).
            crate::cancel::interrupted();
        }
        r != WaitResult::TimedOut
    }

    /// The queue of waiters beyond the first, made on first use.
    fn more_queue(&self) -> &WaitQueue {
        let mut q = self.more.load(Ordering::Acquire);
        if q.is_null() {
            let fresh = Box::into_raw(Box::new(WaitQueue::new()));
            q = match self.more.compare_exchange(
                ptr::null_mut(),
                fresh,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => fresh,
                Err(theirs) => {
                    // SAFETY: ours, never shared: another waiter made one first.
                    drop(unsafe { Box::from_raw(fresh) });
                    theirs
                }
            };
        }
        // SAFETY: non-null from here on, freed only when the direction drops.
        unsafe { &*q }
    }

    /// The fast path: `me` is in the slot (as `mine`); park until an edge
    /// after `seq`, the deadline or an interrupt.
    fn wait_in_slot(
        &self,
        me: &Arc<Task>,
        mine: *mut Task,
        seq: u64,
        deadline: Option<Instant>,
        on: &WaitOn,
    ) -> WaitResult {
        let r = crate::wait::suspend(
            me,
            on,
            deadline,
            park::Token::Wake,
            crate::wait::Recorded::Begin,
            || self.seq.load(Ordering::SeqCst) != seq,
        );
        // Still in the slot (no edge took it): take our reference back.
        if self
            .slot
            .compare_exchange(mine, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: the slot's reference to `me`, made in `wait`.
            drop(unsafe { Arc::from_raw(mine) });
        }
        r
    }
}

/// The readiness state of one registered file descriptor.
pub(crate) struct Registration {
    read: Direction,
    write: Direction,
}

impl poller::Ready for Registration {
    fn ready(&self, events: u32) {
        Registration::ready(self, events);
    }
}

impl Registration {
    fn dir(&self, interest: Interest) -> &Direction {
        match interest {
            Interest::Read => &self.read,
            Interest::Write => &self.write,
        }
    }

    /// `flags`: the selector's [`sys::READABLE`], [`sys::WRITABLE`],
    /// [`sys::CLOSED`].
    fn ready(&self, flags: u32) {
        if flags & sys::CLOSED != 0 {
            // Before the bumps below: see `Direction::seq`.
            self.read.seq.fetch_or(SEQ_CLOSED, Ordering::SeqCst);
            self.write.seq.fetch_or(SEQ_CLOSED, Ordering::SeqCst);
        }
        if flags & sys::READABLE != 0 {
            self.read.wake_all();
        }
        if flags & sys::WRITABLE != 0 {
            self.write.wake_all();
        }
    }
}

/// The readiness side of one file descriptor, owned by its
/// [`IoSource`], which calls [`Readiness::deregister`] before the
/// descriptor is closed.
#[derive(Default)]
pub(crate) struct Readiness {
    /// The registration, or the OS error that refused it (kept: the
    /// descriptor cannot be waited on cooperatively).
    reg: OnceLock<Result<Arc<Registration>, i32>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("registered", &matches!(self.reg.get(), Some(Ok(_))))
            .finish()
    }
}

/// The error std returns when a socket timeout expires on Linux
/// (`SO_RCVTIMEO`/`SO_SNDTIMEO`): `EAGAIN`, of kind `WouldBlock`.
pub(crate) fn timeout_error() -> io::Error {
    io::Error::from_raw_os_error(libc::EAGAIN)
}

impl Readiness {
    /// Readiness for a descriptor not yet registered anywhere.
    pub(crate) const fn new() -> Readiness {
        Readiness {
            reg: OnceLock::new(),
        }
    }

    fn registration(&self, fd: RawFd) -> io::Result<&Arc<Registration>> {
        let r = self.reg.get_or_init(|| {
            let reg = Arc::new(Registration {
                read: Direction::default(),
                write: Direction::default(),
            });
            match poller::register(fd, &reg) {
                Ok(()) => Ok(reg),
                Err(e) => Err(e.raw_os_error().unwrap_or(libc::EINVAL)),
            }
        });
        r.as_ref()
            .map_err(|&code| io::Error::from_raw_os_error(code))
    }

    /// The registration, if the descriptor was registered.
    #[inline]
    fn registered(&self) -> Option<&Arc<Registration>> {
        match self.reg.get() {
            Some(Ok(reg)) => Some(reg),
            _ => None,
        }
    }

    /// The one retry loop of greenstd's blocking I/O: runs the
    /// non-blocking attempt `op` until it does not fail with `WouldBlock`,
    /// waiting for `interest` between tries, until `deadline` (then
    /// [`timeout_error`]); the waits are recorded as `kind` at `location`.
    /// `EINTR` is retried.
    ///
    /// In a coroutine the descriptor is registered on the first wait (and
    /// tried once more after that: an edge from before the registration is
    /// not seen). A result for which `short` holds (a stream transfer that
    /// moved some but not all of its bytes: the kernel's buffer was
    /// drained or full) marks the direction drained: until the next edge
    /// the next try waits instead of making a syscall certain to fail (see
    /// `IoSource::stream_io`). On a plain thread the waits are `poll(2)`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn retry<R>(
        &self,
        fd: RawFd,
        interest: Interest,
        kind: WaitKind,
        deadline: Option<Instant>,
        location: &'static Location<'static>,
        short: impl Fn(&R) -> bool,
        op: &mut impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        // One look at the context per operation: the task found here is
        // the one that waits.
        let r = task::with_current_coroutine(|me| {
            self.retry_as(Some(me), fd, interest, kind, deadline, location, &short, op)
        });
        match r {
            Some(r) => r,
            None => self.retry_as(None, fd, interest, kind, deadline, location, &short, op),
        }
    }

    /// [`Readiness::retry`] as the coroutine `me`, or on a plain thread.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn retry_as<R>(
        &self,
        me: Option<&Arc<Task>>,
        fd: RawFd,
        interest: Interest,
        kind: WaitKind,
        deadline: Option<Instant>,
        location: &'static Location<'static>,
        short: &impl Fn(&R) -> bool,
        op: &mut impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        let mut dir = me.and_then(|_| self.registered()).map(|r| r.dir(interest));
        loop {
            let seq = dir.map_or(0, |d| d.seq.load(Ordering::Acquire));
            let drained = dir
                .is_some_and(|d| d.drained.load(Ordering::Relaxed) == seq && seq & SEQ_CLOSED == 0);
            if !drained {
                match attempt(op) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Ok(r) => {
                        if let Some(d) = dir {
                            if short(&r) {
                                d.drained.store(seq, Ordering::Relaxed);
                            }
                        }
                        return Ok(r);
                    }
                    r => return r,
                }
            }
            let on = WaitOn::at(kind, fd as usize, location);
            let ready = match (me, dir) {
                (Some(me), Some(d)) => {
                    let ready = d.wait(me, seq, deadline, on);
                    if ready && d.seq.load(Ordering::Acquire) == seq {
                        // Woken without an edge (interrupted): try the syscall.
                        d.drained.store(NOT_DRAINED, Ordering::Relaxed);
                    }
                    ready
                }
                (Some(_), None) => {
                    dir = Some(self.registration(fd)?.dir(interest));
                    continue;
                }
                // A plain thread really blocks, recorded for `green::dump()`.
                (None, _) => crate::wait::recorded(on, || poll_fd(fd, interest, deadline))?,
            };
            if !ready {
                return Err(timeout_error());
            }
        }
    }

    /// Waits once until `fd` is ready for `interest` or `deadline` passes,
    /// recorded as `on`; `Ok(false)` on timeout. Readiness may be spurious:
    /// check with a syscall.
    pub(crate) fn wait_once(
        &self,
        fd: RawFd,
        interest: Interest,
        on: WaitOn,
        deadline: Option<Instant>,
    ) -> io::Result<bool> {
        if in_coroutine() {
            let reg = self.registration(fd)?;
            let dir = reg.dir(interest);
            let seq = dir.seq.load(Ordering::Acquire);
            // An edge may have come before we looked: ask the kernel first.
            if poll_fd(fd, interest, Some(Instant::now()))? {
                return Ok(true);
            }
            Ok(task::with_current(|me| dir.wait(me, seq, deadline, on)))
        } else {
            crate::wait::recorded(on, || poll_fd(fd, interest, deadline))
        }
    }

    /// Removes the descriptor from its poller. Call it before closing `fd`.
    pub(crate) fn deregister(&mut self, fd: RawFd) {
        if let Some(Ok(reg)) = self.reg.take() {
            poller::deregister(fd, reg);
        }
    }
}

/// Runs one non-blocking attempt in a frame of its own, as
/// the I/O source's retry loop runs each try.
///
/// `op` reads `errno` through `__errno_location`, which the optimiser may
/// treat as a `const` function of the thread: inlined into a retry loop
/// that also suspends the coroutine — which may resume on another OS thread
/// — the address could be computed once and a later error read from the
/// previous thread's `errno` (seen as a stray `EINPROGRESS` from `recv`
/// under load). Never inlined, it is computed afresh on every try. Use it
/// for any retry loop of one's own that blocks between tries.
#[inline(never)]
pub fn attempt<R>(op: &mut impl FnMut() -> io::Result<R>) -> io::Result<R> {
    let r = op();
    // Done without waiting (a result, or an error such as `EMFILE`): one
    // unit of the cooperative budget.
    if !matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
        crate::coop::spend();
    }
    r
}

/// Blocks the calling OS thread in `poll(2)` until `fd` is ready for
/// `interest` or `deadline` passes. `Ok(false)` on timeout; `EBADF` when
/// `fd` is not an open descriptor (`poll`'s `POLLNVAL`).
pub fn poll_fd(fd: RawFd, interest: Interest, deadline: Option<Instant>) -> io::Result<bool> {
    let events = match interest {
        Interest::Read => sys::POLL_READ,
        Interest::Write => libc::POLLOUT,
    };
    loop {
        let timeout = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                left.as_nanos()
                    .div_ceil(1_000_000)
                    .min(libc::c_int::MAX as u128) as libc::c_int
            }
        };
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd that lives across the call.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r > 0 {
            if pfd.revents & libc::POLLNVAL != 0 {
                // Not an open descriptor: the error a read or write on it gives.
                return Err(io::Error::from_raw_os_error(libc::EBADF));
            }
            return Ok(true);
        }
        if timeout == 0 || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The races of [`Direction`]'s fast path (one waiter in the slot) and
    //! its queue of further waiters, on coroutines.

    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::test_util::{coroutine, SLACK};

    fn on() -> WaitOn {
        WaitOn::new(WaitKind::Read, 0)
    }

    /// Waits until `n` waiters are parked on `dir` (slot and queue).
    fn until_waiting(dir: &Direction, n: usize) {
        let t = Instant::now();
        loop {
            let slot = usize::from(!dir.slot.load(Ordering::SeqCst).is_null());
            // SAFETY: a non-null `more` lives as long as the direction.
            let more =
                unsafe { dir.more.load(Ordering::SeqCst).as_ref() }.map_or(0, |q| q.waiters());
            if slot + more == n {
                return;
            }
            assert!(t.elapsed() < SLACK, "{} waiters, expected {n}", slot + more);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn an_edge_wakes_the_slot_waiter_and_empties_the_slot() {
        let dir = Arc::new(Direction::default());
        let d = dir.clone();
        let rx = coroutine(move || d.wait(&task::current(), 0, None, on()));
        until_waiting(&dir, 1);
        dir.wake_all();
        assert_eq!(rx.recv_timeout(SLACK), Ok(true));
        assert!(dir.slot.load(Ordering::SeqCst).is_null());
    }

    #[test]
    fn an_edge_before_the_wait_returns_at_once() {
        let dir = Direction::default();
        dir.wake_all();
        let dir = Arc::new(dir);
        let d = dir.clone();
        let rx = coroutine(move || d.wait(&task::current(), 0, None, on()));
        assert_eq!(rx.recv_timeout(SLACK), Ok(true));
        assert!(dir.slot.load(Ordering::SeqCst).is_null());
    }

    #[test]
    fn every_waiter_of_a_direction_is_woken_by_one_edge() {
        let dir = Arc::new(Direction::default());
        let rxs: Vec<_> = (0..3)
            .map(|_| {
                let d = dir.clone();
                coroutine(move || d.wait(&task::current(), 0, None, on()))
            })
            .collect();
        until_waiting(&dir, 3);
        dir.wake_all();
        for rx in rxs {
            assert_eq!(rx.recv_timeout(SLACK), Ok(true));
        }
        until_waiting(&dir, 0);
    }

    #[test]
    fn a_deadline_ends_the_wait_and_empties_the_slot() {
        let dir = Arc::new(Direction::default());
        let d = dir.clone();
        let rx = coroutine(move || {
            let t = Instant::now();
            let r = d.wait(
                &task::current(),
                0,
                Some(Instant::now() + Duration::from_millis(30)),
                on(),
            );
            (r, t.elapsed())
        });
        let (r, took) = rx.recv_timeout(SLACK).unwrap();
        assert!(!r, "no edge came: timed out");
        assert!(took >= Duration::from_millis(30), "{took:?}");
        assert!(dir.slot.load(Ordering::SeqCst).is_null());
    }

    #[test]
    fn an_interrupt_ends_a_slot_wait_like_an_edge() {
        let dir = Arc::new(Direction::default());
        let d = dir.clone();
        let (tx, task_rx) = mpsc::channel();
        let rx = coroutine(move || {
            tx.send(task::current()).unwrap();
            d.wait(&task::current(), 0, None, on())
        });
        let t = task_rx.recv_timeout(SLACK).unwrap();
        until_waiting(&dir, 1);
        t.interrupt();
        assert_eq!(rx.recv_timeout(SLACK), Ok(true));
        assert!(dir.slot.load(Ordering::SeqCst).is_null());
        assert_eq!(dir.seq.load(Ordering::SeqCst), 0, "no edge was made up");
    }

    /// Two coroutines hand a turn back and forth through two directions,
    /// each edge racing with the other side's way into the slot: a lost
    /// wake-up would hang the game.
    #[test]
    fn ping_pong_through_the_slot_loses_no_edge() {
        const ROUNDS: u64 = 20_000;
        let dirs = Arc::new([Direction::default(), Direction::default()]);
        let turn = Arc::new(AtomicU64::new(0));
        let player = |me: usize| {
            let (dirs, turn) = (dirs.clone(), turn.clone());
            coroutine(move || {
                for round in 0..ROUNDS {
                    let mine = 2 * round + me as u64;
                    loop {
                        let seq = dirs[me].seq.load(Ordering::SeqCst);
                        if turn.load(Ordering::SeqCst) == mine {
                            break;
                        }
                        dirs[me].wait(&task::current(), seq, Some(Instant::now() + SLACK), on());
                    }
                    turn.store(mine + 1, Ordering::SeqCst);
                    dirs[1 - me].wake_all();
                }
            })
        };
        let (a, b) = (player(0), player(1));
        a.recv_timeout(SLACK * 3).expect("player 0 finished");
        b.recv_timeout(SLACK * 3).expect("player 1 finished");
        assert_eq!(turn.load(Ordering::SeqCst), 2 * ROUNDS);
    }
}
