use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::io::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use std::{io, ptr};

#[cfg(feature = "io_timeout")]
use super::{timeout_handler, TimerList};
use super::{EventData, IoData};
use crate::scheduler::Scheduler;
#[cfg(feature = "io_timeout")]
use crate::timeout_list::now;

use may_queue::mpsc::Queue;
use smallvec::SmallVec;

pub type SysEvent = libc::kevent;

/// greenstd patch: how many events `poll_now` takes at once.
const POLL_NOW_EVENTS: usize = 32;

/// greenstd patch: what a kevent reports, as `embed`'s readiness flags.
/// A hang-up is `EV_EOF` on the direction's filter; an error wakes both.
fn readiness(ev: &SysEvent) -> u32 {
    use crate::embed::{CLOSED, READABLE, WRITABLE};
    let mut r = if ev.filter == libc::EVFILT_WRITE {
        WRITABLE
    } else {
        READABLE
    };
    if ev.flags & libc::EV_ERROR != 0 {
        r |= READABLE | WRITABLE | CLOSED;
    } else if ev.flags & libc::EV_EOF != 0 {
        r |= CLOSED;
    }
    r
}

/// greenstd patch: an event with every field zero, for event buffers.
pub(crate) fn empty_event() -> SysEvent {
    // SAFETY: `kevent` is a plain C struct of integers and a pointer, for
    // which all zeroes is a valid value.
    unsafe { std::mem::zeroed() }
}

/// greenstd patch: a `kevent` built field by field from zero, because its
/// fields differ between the BSDs (FreeBSD 12+ has `ext`, NetBSD's `udata`
/// is an integer) and a struct literal names them all.
fn new_kevent(
    ident: libc::uintptr_t,
    filter: i16,
    flags: u16,
    fflags: u32,
    udata: *const EventData,
) -> SysEvent {
    let mut kev = empty_event();
    kev.ident = ident;
    kev.filter = filter as _;
    kev.flags = flags as _;
    kev.fflags = fflags as _;
    kev.udata = udata as _;
    kev
}

// used for notify wakeup
const NOTIFY_IDENT: usize = 42;

macro_rules! kevent {
    ($id:expr, $filter:expr, $flags:expr, $data:expr) => {
        new_kevent(
            $id as libc::uintptr_t,
            $filter as _,
            $flags as _,
            0,
            $data as _,
        )
    };
}

macro_rules! syscall {
    ($fn: ident ( $($arg: expr),* $(,)* ) ) => {{
        #[allow(unused_unsafe)]
        let res = unsafe { libc::$fn($($arg, )*) };
        if res < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

struct SingleSelector {
    kqfd: OwnedFd,
    #[cfg(feature = "io_timeout")]
    timer_list: TimerList,
    free_ev: Queue<Arc<EventData>>,
    /// greenstd patch: tokens of the embedder's registrations removed from
    /// this selector, released (`IoHook::release`) with `free_ev`.
    retired: Queue<usize>,
    /// greenstd patch: held while this selector's events are taken and
    /// dispatched, and while its dead event data is freed, by its worker —
    /// or by the monitor rescuing the events of a stuck worker.
    poll_lock: parking_lot::Mutex<()>,
}

impl AsRawFd for SingleSelector {
    fn as_raw_fd(&self) -> RawFd {
        self.kqfd.as_raw_fd()
    }
}

impl SingleSelector {
    pub fn new() -> io::Result<Self> {
        let kqfd = unsafe { OwnedFd::from_raw_fd(libc::kqueue()) };
        syscall!(fcntl(kqfd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC))?;

        let mut kev = new_kevent(
            NOTIFY_IDENT,
            libc::EVFILT_USER as _,
            (libc::EV_ADD | libc::EV_CLEAR | libc::EV_RECEIPT) as _,
            0,
            ptr::null(),
        );

        syscall!(kevent(kqfd.as_raw_fd(), &kev, 1, &mut kev, 1, ptr::null()))?;
        if kev.flags & libc::EV_ERROR != 0 && kev.data != 0 {
            return Err(io::Error::from_raw_os_error(kev.data as i32));
        }

        Ok(SingleSelector {
            kqfd,
            free_ev: Queue::new(),
            retired: Queue::new(),
            poll_lock: parking_lot::Mutex::new(()),
            #[cfg(feature = "io_timeout")]
            timer_list: TimerList::new(),
        })
    }
}

pub(crate) struct Selector {
    // 128 should be fine for max io threads
    vec: SmallVec<[SingleSelector; 128]>,
}

impl Selector {
    pub fn new(io_workers: usize) -> io::Result<Self> {
        let mut s = Selector {
            vec: SmallVec::new(),
        };

        for _ in 0..io_workers {
            let ss = SingleSelector::new()?;
            s.vec.push(ss);
        }

        Ok(s)
    }

    #[inline]
    pub fn select(
        &self,
        scheduler: &Scheduler,
        id: usize,
        events: &mut [SysEvent],
        _timeout: Option<u64>,
    ) -> io::Result<Option<u64>> {
        assert!(id < self.vec.len());
        // greenstd patch: sleep at most until the slot's next timer (this
        // records the plan, so that an earlier timer added meanwhile wakes
        // the worker).
        let _timeout = scheduler.plan_sleep(id, _timeout);
        // greenstd patch: the timeout (the slot's next timer, or io
        // timeout) with or without `io_timeout`.
        let timeout_spec = _timeout.map(|to| {
            let dur = Duration::from_nanos(to);
            libc::timespec {
                tv_sec: dur.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                tv_nsec: dur.subsec_nanos() as libc::c_long,
            }
        });
        let timeout = timeout_spec
            .as_ref()
            .map(|s| s as *const _)
            .unwrap_or(ptr::null());
        // debug!("select; timeout={:?}", timeout_spec);

        let single_selector = &self.vec[id];

        let guard = single_selector.poll_lock.lock();
        // greenstd patch: a worker about to block says so first (and stays
        // awake if work arrived meanwhile), so that wake-ups go to sleepers.
        const ZERO: libc::timespec = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let polls = _timeout == Some(0);
        let sleeps = !polls && scheduler.prepare_sleep(id);
        let timeout: *const libc::timespec = if sleeps { timeout } else { &ZERO };
        // Wait for kqueue events for at most timeout_ms milliseconds
        let kqfd = single_selector.as_raw_fd();
        let n = syscall!(kevent(
            kqfd,
            ptr::null(),
            0,
            events.as_mut_ptr(),
            events.len() as libc::c_int,
            timeout,
        ));
        if sleeps {
            scheduler.wake_from_sleep(id);
        }
        let n = n? as usize;

        self.dispatch(scheduler, id, true, &events[..n], |co| {
            #[cfg(feature = "work_steal")]
            scheduler.schedule_with_id(co, id);
            #[cfg(not(feature = "work_steal"))]
            crate::coroutine_impl::run_coroutine(co);
        });
        drop(guard);

        // greenstd patch: the slot's expired timers, before its tasks run.
        scheduler.woke(id);

        // run all the local tasks
        scheduler.run_queued_tasks(id);

        // free the unused event_data
        {
            let _guard = single_selector.poll_lock.lock();
            self.free_unused_event_data(id);
        }

        // deal with the timer list
        #[cfg(feature = "io_timeout")]
        let next_expire = single_selector
            .timer_list
            .schedule_timer(now(), &timeout_handler);
        #[cfg(not(feature = "io_timeout"))]
        let next_expire = None;
        Ok(next_expire)
    }

    /// greenstd patch: hands the coroutines of `events`, taken from
    /// selector `id`, to `run` (split out of `select` for `rescue`).
    fn dispatch(
        &self,
        scheduler: &Scheduler,
        id: usize,
        owner: bool,
        events: &[SysEvent],
        mut run: impl FnMut(crate::coroutine_impl::CoroutineImpl),
    ) {
        let large = owner && events.len() >= crate::scheduler::LARGE_POLL;
        if large {
            crate::scheduler::set_large_poll(true);
        }
        for event in events {
            if event.ident == NOTIFY_IDENT && event.filter == libc::EVFILT_USER {
                // A wake-up (EV_CLEAR resets it): only the worker itself
                // takes from its queue, not a rescuing monitor.
                if owner {
                    scheduler.collect_global(id);
                }
                continue;
            }
            // greenstd patch: an odd token is the embedder's registration.
            if event.udata as usize & 1 != 0 {
                let token = event.udata as usize & !1;
                (crate::embed::io_hook().ready)(token, readiness(event));
                continue;
            }
            // SAFETY: every other event was registered by `add_fd`/`mod_fd`
            // with the `EventData` of an `IoData` that outlives its
            // registration (`del_fd` defers the free to this selector).
            let data = unsafe { &mut *(event.udata as *mut EventData) };
            // info!("select got event, data={:p}", data);
            data.io_flag
                .fetch_or(event.flags as usize, Ordering::Release);

            // first check the atomic co, this may be grab by the worker first
            let co = match data.co.take() {
                None => continue,
                Some(co) => co,
            };

            // it's safe to remove the timer since we are running the timer_list in the same thread
            #[cfg(feature = "io_timeout")]
            data.timer.borrow_mut().take().map(|h| {
                unsafe {
                    // tell the timer handler not to cancel the io
                    // it's not always true that you can really remove the timer entry
                    h.with_mut_data(|value| value.data.event_data = ptr::null_mut());
                }
                h.remove()
            });

            run(co);
        }
        if large {
            crate::scheduler::set_large_poll(false);
        }
    }

    /// greenstd patch: takes the ready events of worker `id`'s selector
    /// from another thread (the monitor, while that worker is stuck in a
    /// coroutine) and puts their coroutines on the shared injector. Does
    /// nothing if the worker itself is handling them. Returns how many
    /// coroutines were moved. (The selector's io-timeout timer list stays
    /// with its worker.)
    pub(crate) fn rescue(
        &self,
        scheduler: &Scheduler,
        id: usize,
        events: &mut [SysEvent],
    ) -> usize {
        let single_selector = &self.vec[id];
        let Some(_guard) = single_selector.poll_lock.try_lock() else {
            return 0;
        };
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let n = match syscall!(kevent(
            single_selector.as_raw_fd(),
            ptr::null(),
            0,
            events.as_mut_ptr(),
            events.len() as libc::c_int,
            &zero,
        )) {
            Ok(n) => n as usize,
            Err(_) => return 0,
        };
        let mut moved = 0;
        self.dispatch(scheduler, id, false, &events[..n], |co| {
            moved += 1;
            scheduler.schedule_global(co);
        });
        self.free_unused_event_data(id);
        moved
    }

    // this will post an os event so that we can wakeup the event loop
    #[inline]
    pub fn wakeup(&self, id: usize) {
        let selector = &self.vec[id];
        let kqfd = selector.as_raw_fd();
        let mut kev = new_kevent(
            NOTIFY_IDENT,
            libc::EVFILT_USER as _,
            (libc::EV_ADD | libc::EV_RECEIPT) as _,
            libc::NOTE_TRIGGER as _,
            ptr::null(),
        );

        syscall!(kevent(kqfd, &kev, 1, &mut kev, 1, ptr::null())).unwrap();
        assert!(kev.flags & libc::EV_ERROR == 0 || kev.data == 0);

        trace!("wakeup id={:?}", id);
    }

    // register io event to the selector
    #[inline]
    pub fn add_fd(&self, io_data: IoData) -> io::Result<IoData> {
        let fd = io_data.fd;
        let id = fd as usize % self.vec.len();
        let kqfd = self.vec[id].as_raw_fd();

        let flags = libc::EV_ADD | libc::EV_CLEAR | libc::EV_RECEIPT;
        let udata = io_data.as_ref() as *const _;
        let mut changes = [
            kevent!(fd, libc::EVFILT_READ, flags, udata),
            kevent!(fd, libc::EVFILT_WRITE, flags, udata),
        ];

        syscall!(kevent(
            kqfd,
            changes.as_ptr(),
            changes.len() as libc::c_int,
            changes.as_mut_ptr(),
            changes.len() as libc::c_int,
            ptr::null(),
        ))?;

        debug!("add fd to kqueue select, fd={:?}", fd);
        Ok(io_data)
    }

    #[inline]
    pub fn mod_fd(&self, io_data: &IoData, is_read: bool) -> io::Result<()> {
        let fd = io_data.fd;
        let id = fd as usize % self.vec.len();
        let kqfd = self.vec[id].as_raw_fd();

        let flags = libc::EV_CLEAR | libc::EV_RECEIPT;
        let udata = io_data.as_ref() as *const _;
        let mut changes = if is_read {
            [
                kevent!(fd, libc::EVFILT_WRITE, flags | libc::EV_DELETE, udata),
                kevent!(fd, libc::EVFILT_READ, flags | libc::EV_ADD, udata),
            ]
        } else {
            [
                kevent!(fd, libc::EVFILT_WRITE, flags | libc::EV_ADD, udata),
                kevent!(fd, libc::EVFILT_READ, flags | libc::EV_DELETE, udata),
            ]
        };

        syscall!(kevent(
            kqfd,
            changes.as_ptr(),
            changes.len() as libc::c_int,
            changes.as_mut_ptr(),
            changes.len() as libc::c_int,
            ptr::null(),
        ))?;

        debug!("modify fd to kqueue select, fd={:?}", fd);
        Ok(())
    }

    #[inline]
    pub fn del_fd(&self, io_data: &IoData) {
        #[cfg(feature = "io_timeout")]
        if let Some(h) = io_data.timer.borrow_mut().take() {
            unsafe {
                // mark the timer as removed if any, this only happened
                // when cancel an IO. what if the timer expired at the same time?
                // because we run this func in the user space, so the timer handler
                // will not got the coroutine
                h.with_mut_data(|value| value.data.event_data = ptr::null_mut());
            }
        }

        let fd = io_data.fd;
        let id = fd as usize % self.vec.len();
        let single_selector = &self.vec[id];
        let kqfd = single_selector.as_raw_fd();

        let filter = libc::EV_DELETE | libc::EV_RECEIPT;
        let mut changes = [
            kevent!(fd, libc::EVFILT_READ, filter, ptr::null_mut()),
            kevent!(fd, libc::EVFILT_WRITE, filter, ptr::null_mut()),
        ];

        // ignore the error, the fd may already closed
        syscall!(kevent(
            kqfd,
            changes.as_ptr(),
            changes.len() as libc::c_int,
            changes.as_mut_ptr(),
            changes.len() as libc::c_int,
            ptr::null(),
        ))
        .ok();

        debug!("del fd from kqueue select, fd={:?}", fd);
        // after EpollCtlDel push the unused event data
        single_selector.free_ev.push((*io_data).clone());
    }

    // we can't free the event data directly in the worker thread
    // must free them before the next epoll_wait
    #[inline]
    fn free_unused_event_data(&self, id: usize) {
        let free_ev = &self.vec[id].free_ev;
        // greenstd patch: a look first (`bulk_pop` moves a 32-slot
        // `SmallVec` even when empty; this runs every 61 coroutines now).
        while !free_ev.is_empty() && !free_ev.bulk_pop().is_empty() {}
        // greenstd patch: and the embedder's retired registrations.
        let retired = &self.vec[id].retired;
        while let Some(token) = retired.pop() {
            (crate::embed::io_hook().release)(token);
        }
    }

    /// greenstd patch: applies `changes` to `kqfd`, each with `EV_RECEIPT`
    /// so that every result comes back; the first error is returned.
    fn apply(kqfd: RawFd, changes: &mut [SysEvent]) -> io::Result<()> {
        syscall!(kevent(
            kqfd,
            changes.as_ptr(),
            changes.len() as libc::c_int,
            changes.as_mut_ptr(),
            changes.len() as libc::c_int,
            ptr::null(),
        ))?;
        for c in changes.iter() {
            if c.flags & libc::EV_ERROR != 0 && c.data != 0 {
                return Err(io::Error::from_raw_os_error(c.data as i32));
            }
        }
        Ok(())
    }

    /// greenstd patch: adds an embedder's registration (`embed::register_io`):
    /// both filters, edge-triggered (`EV_CLEAR`), tagged with an odd token.
    pub(crate) fn add_embedder_fd(&self, fd: RawFd, token: usize) -> io::Result<()> {
        let kqfd = self.vec[fd as usize % self.vec.len()].as_raw_fd();
        let flags = libc::EV_ADD | libc::EV_CLEAR | libc::EV_RECEIPT;
        let udata = (token | 1) as *const EventData;
        let mut changes = [
            kevent!(fd, libc::EVFILT_READ, flags, udata),
            kevent!(fd, libc::EVFILT_WRITE, flags, udata),
        ];
        Self::apply(kqfd, &mut changes)
    }

    /// greenstd patch: removes an embedder's registration
    /// (`embed::deregister_io`); its token is released as in `epoll.rs`.
    pub(crate) fn del_embedder_fd(&self, fd: RawFd, token: usize) {
        let single_selector = &self.vec[fd as usize % self.vec.len()];
        let flags = libc::EV_DELETE | libc::EV_RECEIPT;
        let mut changes = [
            kevent!(fd, libc::EVFILT_READ, flags, ptr::null_mut::<EventData>()),
            kevent!(fd, libc::EVFILT_WRITE, flags, ptr::null_mut::<EventData>()),
        ];
        // Failure (`fd` already closed, which removes it) is harmless.
        Self::apply(single_selector.as_raw_fd(), &mut changes).ok();
        single_selector.retired.push(token);
    }

    /// greenstd patch: takes worker `id`'s ready events without blocking
    /// and hands them out as `select` does, unless another thread holds
    /// them (the scheduler's look at I/O every few coroutines).
    pub(crate) fn poll_now(&self, scheduler: &Scheduler, id: usize) {
        let single_selector = &self.vec[id];
        let Some(_guard) = single_selector.poll_lock.try_lock() else {
            return;
        };
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut events = [empty_event(); POLL_NOW_EVENTS];
        let n = match syscall!(kevent(
            single_selector.as_raw_fd(),
            ptr::null(),
            0,
            events.as_mut_ptr(),
            events.len() as libc::c_int,
            &zero,
        )) {
            Ok(n) => n as usize,
            Err(_) => return,
        };
        self.dispatch(scheduler, id, true, &events[..n], |co| {
            scheduler.schedule_with_id(co, id);
        });
        self.free_unused_event_data(id);
    }

    // register the io request to the timeout list
    #[inline]
    #[cfg(feature = "io_timeout")]
    pub fn add_io_timer(&self, io: &IoData, timeout: Duration) {
        let id = io.fd as usize % self.vec.len();
        // info!("io timeout = {:?}", dur);
        let (h, b_new) = self.vec[id].timer_list.add_timer(timeout, io.timer_data());
        if b_new {
            // wakeup the event loop thread to recall the next wait timeout
            self.wakeup(id);
        }
        io.timer.borrow_mut().replace(h);
    }
}
