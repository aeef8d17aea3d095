//! Readiness events, collected on the worker threads themselves.
//!
//! Descriptors are spread over a few selectors (epoll on Linux, kqueue on
//! macOS and FreeBSD: see [`crate::sys`]), the shards (one per worker).
//! Each shard's selector descriptor is itself registered with `may`'s
//! own per-worker event loop, and one coroutine per shard, its poller, waits
//! on it. When any descriptor of the shard becomes ready, `may` wakes the
//! poller on a worker; the poller takes the shard's events without blocking
//! and wakes every waiter of each ready direction — from the worker, so the
//! woken coroutines go straight to that worker's run queue. No extra thread
//! sits between the kernel and the coroutines.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, OnceLock};

use may::io::{CoIo, WaitIo};
use parking_lot::Mutex;

use crate::config;
use crate::io::Registration;
use crate::sys::selector;
use crate::task::{self, Task};

const BATCH: usize = 256;

pub(crate) struct Shard {
    selector: CoIo<OwnedFd>,
    /// Held by the poller while a batch of events, which may name any
    /// registration of the shard, is being handled.
    batch: Mutex<()>,
    /// Registrations removed while a batch was being handled; freed when it
    /// is done.
    graveyard: Mutex<Vec<Arc<Registration>>>,
}

static SHARDS: OnceLock<Vec<&'static Shard>> = OnceLock::new();

use crate::sys::cvt;

fn shards() -> io::Result<&'static [&'static Shard]> {
    if let Some(s) = SHARDS.get() {
        return Ok(s);
    }
    let settings = config::start()?;
    let mut made = Vec::with_capacity(settings.workers);
    for i in 0..settings.workers {
        made.push(Shard::new(i, settings.workers)?);
    }
    let mut fresh = false;
    let shards = SHARDS.get_or_init(|| {
        fresh = true;
        made.into_iter().map(|s| &*Box::leak(Box::new(s))).collect()
    });
    if fresh {
        for (i, shard) in shards.iter().enumerate() {
            let shard: &'static Shard = shard;
            let task = Task::new_internal_coroutine(Some(format!("greenstd-poller-{i}")));
            task::spawn(task, None, Box::new(move || shard.run()))?;
        }
    }
    Ok(shards)
}

/// The shard that keeps `fd`'s events.
pub(crate) fn shard_for(fd: RawFd) -> io::Result<&'static Shard> {
    let shards = shards()?;
    Ok(shards[fd as usize % shards.len()])
}

/// Moves `fd` to a descriptor number `n` with `n % workers == worker`.
///
/// may hands a registered descriptor's events to worker `fd % workers`.
/// Placing shard `i`'s selector descriptor on worker `i` spreads the shards
/// (and the sockets, which go to shard `fd % shards`) evenly over the
/// workers, as may spreads its own sockets; left to chance, two shards
/// could share a worker and leave the other one only stealing.
fn place_on_worker(fd: OwnedFd, worker: usize, workers: usize) -> io::Result<OwnedFd> {
    let raw = fd.as_raw_fd() as usize;
    if raw % workers == worker {
        return Ok(fd);
    }
    let mut want = raw - raw % workers + worker;
    loop {
        if want < raw {
            want += workers;
        }
        let want_fd =
            libc::c_int::try_from(want).map_err(|_| io::Error::other("fd space exhausted"))?;
        // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own; the new
        // descriptor is checked and owned at once.
        let dup = unsafe {
            OwnedFd::from_raw_fd(cvt(libc::fcntl(
                fd.as_raw_fd(),
                libc::F_DUPFD_CLOEXEC,
                want_fd,
            ))?)
        };
        let got = dup.as_raw_fd() as usize;
        if got % workers == worker {
            return Ok(dup);
        }
        // `want` was taken; try the next number in the right class after `got`.
        want = got - got % workers + worker;
        if want <= got {
            want += workers;
        }
    }
}

impl Shard {
    fn new(worker: usize, workers: usize) -> io::Result<Shard> {
        let fd = place_on_worker(selector::new()?, worker, workers)?;
        let selector = CoIo::new(fd).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Shard {
            selector,
            batch: Mutex::new(()),
            graveyard: Mutex::new(Vec::new()),
        })
    }

    /// Adds `fd` for edge-triggered readiness of both directions.
    pub(crate) fn register(&self, fd: RawFd, reg: &Arc<Registration>) -> io::Result<()> {
        // SAFETY: the token, `reg`'s address, stays valid until
        // `deregister` has removed `fd` and no batch in flight can name it
        // any more.
        unsafe { selector::register(self.selector.as_raw_fd(), fd, Arc::as_ptr(reg) as usize) }
    }

    /// Removes `fd`; `reg` is freed as soon as no batch can name it.
    pub(crate) fn deregister(&self, fd: RawFd, reg: Arc<Registration>) {
        selector::deregister(self.selector.as_raw_fd(), fd);
        let mut graveyard = self.graveyard.lock();
        match self.batch.try_lock() {
            // No batch in flight, and later ones cannot see `fd`.
            Some(_idle) => drop(reg),
            None => graveyard.push(reg),
        }
    }

    fn run(&'static self) {
        let mut events: Vec<selector::Event> = Vec::with_capacity(BATCH);
        loop {
            while self.poll_batch(&mut events) == BATCH {}
            self.selector.wait_io();
        }
    }

    /// Takes up to one batch of ready events and wakes their waiters.
    /// Returns how many events there were.
    #[inline(never)]
    fn poll_batch(&self, events: &mut Vec<selector::Event>) -> usize {
        let batch = self.batch.lock();
        let n = selector::poll(self.selector.as_raw_fd(), events);
        for ev in events.drain(..) {
            let (token, flags) = selector::token_and_readiness(&ev);
            // SAFETY: the token is the address of a Registration kept alive
            // by its owner, or by the graveyard until this batch is over.
            let reg = unsafe { &*(token as *const Registration) };
            reg.ready(flags);
        }
        let mut graveyard = self.graveyard.lock();
        let dead = std::mem::take(&mut *graveyard);
        drop(batch);
        drop(graveyard);
        drop(dead);
        n
    }
}
