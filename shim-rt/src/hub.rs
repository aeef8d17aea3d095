//! The hub: one background thread that keeps the coroutines' timers and
//! waits for readiness events on the registered file descriptors.
//!
//! It never runs a coroutine. When a timer expires or a descriptor becomes
//! ready it *wakes* the waiting coroutines, which `may` puts on a worker's
//! run queue. So no coroutine's progress depends on this thread being free.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::io::Registration;
use crate::park::Waker;

const WAKE_TOKEN: u64 = 0;

/// Identifies one pending timer, to cancel it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey(Instant, u64);

struct Timers {
    pending: BTreeMap<TimerKey, Waker>,
    next_id: u64,
    /// While the hub sleeps in `epoll_wait`: `Some(deadline it sleeps until)`
    /// (`Some(None)` = no timeout). `None` while it is awake.
    sleeping_until: Option<Option<Instant>>,
}

pub(crate) struct Hub {
    epoll: OwnedFd,
    wakeup: OwnedFd,
    timers: Mutex<Timers>,
    /// Registrations removed from epoll, freed only after the hub has
    /// finished handling the batch of events that may still name them.
    graveyard: Mutex<Vec<Arc<Registration>>>,
}

static HUB: OnceLock<&'static Hub> = OnceLock::new();

pub(crate) fn hub() -> &'static Hub {
    HUB.get_or_init(|| {
        let hub = Hub::new().unwrap_or_else(|e| {
            // Without epoll/eventfd no coroutine could ever wait: this is an
            // environment failure, not bad user input.
            panic!("greenstd: cannot create the hub's epoll instance: {e}")
        });
        let hub: &'static Hub = Box::leak(Box::new(hub));
        std::thread::Builder::new()
            .name("greenstd-hub".into())
            .spawn(move || hub.run())
            .unwrap_or_else(|e| panic!("greenstd: cannot start the hub thread: {e}"));
        hub
    })
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Hub {
    fn new() -> io::Result<Hub> {
        // SAFETY: plain syscalls; the returned descriptors are checked and
        // immediately owned.
        let epoll = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        // SAFETY: as above.
        let wakeup = unsafe {
            OwnedFd::from_raw_fd(cvt(libc::eventfd(
                0,
                libc::EFD_CLOEXEC | libc::EFD_NONBLOCK,
            ))?)
        };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: WAKE_TOKEN,
        };
        // SAFETY: both descriptors are valid and `ev` lives across the call.
        cvt(unsafe {
            libc::epoll_ctl(
                epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                wakeup.as_raw_fd(),
                &mut ev,
            )
        })?;
        Ok(Hub {
            epoll,
            wakeup,
            timers: Mutex::new(Timers {
                pending: BTreeMap::new(),
                next_id: 0,
                sleeping_until: None,
            }),
            graveyard: Mutex::new(Vec::new()),
        })
    }

    fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd. A full
        // counter (EAGAIN) already means the hub will wake.
        unsafe {
            libc::write(
                self.wakeup.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            );
        }
    }

    fn drain_wakeup(&self) {
        let mut buf: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64.
        unsafe {
            libc::read(
                self.wakeup.as_raw_fd(),
                (&mut buf as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            );
        }
    }

    /// Registers `reg` for edge-triggered readiness of both directions.
    pub(crate) fn register(&self, fd: RawFd, reg: &Arc<Registration>) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN
                | libc::EPOLLOUT
                | libc::EPOLLRDHUP
                | libc::EPOLLPRI
                | libc::EPOLLET) as u32,
            u64: Arc::as_ptr(reg) as u64,
        };
        // SAFETY: `ev` lives across the call; the pointer it carries stays
        // valid until `deregister` has moved the Arc to the graveyard and the
        // hub has finished the batch in flight.
        cvt(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    /// Removes `fd` from epoll; `reg` is freed once no event can name it.
    pub(crate) fn deregister(&self, fd: RawFd, reg: Arc<Registration>) {
        // SAFETY: a plain syscall; failure (fd already closed) is harmless.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            );
        }
        self.graveyard.lock().push(reg);
    }

    fn add_timer(&self, deadline: Instant, waker: Waker) -> TimerKey {
        let mut t = self.timers.lock();
        t.next_id += 1;
        let key = TimerKey(deadline, t.next_id);
        t.pending.insert(key, waker);
        if let Some(sleep) = t.sleeping_until {
            if sleep.is_none_or(|until| deadline < until) {
                t.sleeping_until = Some(Some(deadline));
                drop(t);
                self.notify();
            }
        }
        key
    }

    fn cancel_timer(&self, key: TimerKey) {
        self.timers.lock().pending.remove(&key);
    }

    fn run(&self) -> ! {
        const MAX_EVENTS: usize = 1024;
        let mut events: Vec<libc::epoll_event> = Vec::with_capacity(MAX_EVENTS);
        let mut expired: Vec<Waker> = Vec::new();
        loop {
            let dead = std::mem::take(&mut *self.graveyard.lock());
            drop(dead);

            let timeout_ms = {
                let now = Instant::now();
                let mut t = self.timers.lock();
                while let Some(entry) = t.pending.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    expired.push(entry.remove());
                }
                let next = t.pending.first_key_value().map(|(k, _)| k.0);
                t.sleeping_until = if expired.is_empty() { Some(next) } else { None };
                match next {
                    _ if !expired.is_empty() => 0,
                    None => -1,
                    Some(d) => ms_ceil(d - now),
                }
            };
            for w in expired.drain(..) {
                w.wake();
            }

            // SAFETY: `events` has capacity for MAX_EVENTS entries; the
            // kernel writes at most that many and we set the length to what
            // it reports.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    MAX_EVENTS as libc::c_int,
                    timeout_ms,
                )
            };
            self.timers.lock().sleeping_until = None;
            if n < 0 {
                continue; // EINTR
            }
            // SAFETY: the kernel initialised the first `n` entries.
            unsafe { events.set_len(n as usize) };
            for ev in events.drain(..) {
                let (flags, token) = (ev.events, ev.u64);
                if token == WAKE_TOKEN {
                    self.drain_wakeup();
                    continue;
                }
                // SAFETY: the token is the address of a Registration that is
                // kept alive (by its owner or the graveyard) at least until
                // this batch is done: see `deregister`.
                let reg = unsafe { &*(token as *const Registration) };
                reg.ready(flags);
            }
        }
    }
}

fn ms_ceil(d: Duration) -> libc::c_int {
    let ms = d.as_nanos().div_ceil(1_000_000);
    ms.min(libc::c_int::MAX as u128) as libc::c_int
}

pub(crate) fn add_timer(deadline: Instant, waker: Waker) -> TimerKey {
    hub().add_timer(deadline, waker)
}

pub(crate) fn cancel_timer(key: TimerKey) {
    hub().cancel_timer(key)
}
