use std::io;
use std::os::fd::AsFd;
use std::os::fd::BorrowedFd;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
#[cfg(feature = "io_timeout")]
use std::time::Duration;

use super::{from_nix_error, EventData, IoData};
#[cfg(feature = "io_timeout")]
use super::{timeout_handler, TimerList};
use crate::scheduler::Scheduler;
#[cfg(feature = "io_timeout")]
use crate::timeout_list::now;

use may_queue::mpsc::Queue;
use nix::sys::epoll::*;
use nix::sys::eventfd::*;
use nix::unistd::{read, write};

pub type SysEvent = EpollEvent;

/// greenstd patch: how many events `poll_now` takes at once.
const POLL_NOW_EVENTS: usize = 32;

/// greenstd patch: what an epoll event reports, as `embed`'s readiness
/// flags (an error or a hang-up wakes both directions).
#[inline]
fn readiness(event: &SysEvent) -> u32 {
    use crate::embed::{CLOSED, READABLE, WRITABLE};
    // The raw flags: `EpollEvent::events` is an out-of-line call that
    // panics on a flag nix does not name.
    // SAFETY: `EpollEvent` is a `repr(transparent)` `epoll_event`.
    let raw = unsafe { &*(event as *const SysEvent).cast::<libc::epoll_event>() };
    let flags = EpollFlags::from_bits_retain(raw.events as libc::c_int);
    let err = EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP;
    let mut r = 0;
    if flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLPRI | err) {
        r |= READABLE;
    }
    if flags.intersects(EpollFlags::EPOLLOUT | err) {
        r |= WRITABLE;
    }
    if flags.intersects(EpollFlags::EPOLLRDHUP | err) {
        r |= CLOSED;
    }
    r
}

/// greenstd patch: an empty event, for event buffers.
/// greenstd patch: `epoll_wait` as a plain system call (`epoll_pwait`
/// with no signal mask, the call glibc's wrapper makes), without the
/// wrapper's thread-cancellation bookkeeping around it (two calls, about
/// 30 instructions per wait; Rust never cancels threads).
fn epoll_wait(epoll: &Epoll, events: &mut [SysEvent], timeout: EpollTimeout) -> nix::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: the buffer holds `events.len()` events (`EpollEvent` is a
    // transparent `epoll_event`) and lives across the call; with no signal
    // mask the kernel ignores the mask's size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait,
            epoll.0.as_raw_fd(),
            events.as_mut_ptr().cast::<libc::epoll_event>(),
            events.len().min(libc::c_int::MAX as usize) as libc::c_int,
            libc::c_int::from(timeout),
            std::ptr::null::<libc::sigset_t>(),
            std::mem::size_of::<libc::sigset_t>(),
        )
    };
    nix::errno::Errno::result(r).map(|n| n as usize)
}

pub(crate) fn empty_event() -> SysEvent {
    EpollEvent::empty()
}

struct SingleSelector {
    epoll: Epoll,
    evfd: EventFd,
    #[cfg(feature = "io_timeout")]
    timer_list: TimerList,
    free_ev: Queue<Arc<EventData>>,
    /// greenstd patch: tokens of the embedder's registrations removed from
    /// this selector, released (`IoHook::release`) with `free_ev`.
    retired: Queue<usize>,
    /// greenstd patch: set after a push to `free_ev` or `retired`, cleared
    /// by the look that empties them: one load a round when nothing was
    /// retired, where looking at both queues took ~35 instructions.
    retired_any: AtomicBool,
    /// greenstd patch: held while this selector's events are taken and
    /// dispatched, and while its dead event data is freed, by its worker —
    /// or by the monitor rescuing the events of a stuck worker.
    poll_lock: parking_lot::Mutex<()>,
}

impl SingleSelector {
    pub fn new() -> io::Result<Self> {
        // wakeup data is 0
        let info = EpollEvent::new(EpollFlags::EPOLLIN, 0);

        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let evfd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)?;

        // add the eventfd to the epfd
        epoll.add(evfd.as_fd(), info)?;

        Ok(SingleSelector {
            epoll,
            evfd,
            free_ev: Queue::new(),
            retired: Queue::new(),
            retired_any: AtomicBool::new(false),
            poll_lock: parking_lot::Mutex::new(()),
            #[cfg(feature = "io_timeout")]
            timer_list: TimerList::new(),
        })
    }
}

pub(crate) struct Selector {
    // greenstd patch: a boxed slice, not a `SmallVec` of 128 inline: an
    // index is a bounds check, without the inline-or-heap test (the worker
    // loop indexes it several times a round).
    vec: Box<[SingleSelector]>,
}

impl Selector {
    pub fn new(io_workers: usize) -> io::Result<Self> {
        let vec = (0..io_workers)
            .map(|_| SingleSelector::new())
            .collect::<io::Result<Box<[_]>>>()?;
        Ok(Selector { vec })
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
        // timeout) with or without `io_timeout`, in whole milliseconds
        // rounded up (a timer never fires early), at most i32::MAX.
        let timeout_ms = _timeout
            .map(|to| {
                let ms = to.div_ceil(1_000_000).min(i32::MAX as u64);
                EpollTimeout::try_from(ms).unwrap_or(EpollTimeout::NONE)
            })
            .unwrap_or(EpollTimeout::NONE);
        // info!("select; timeout={:?}", timeout_ms);

        let single_selector = &self.vec[id];
        let epoll = &single_selector.epoll;

        let guard = single_selector.poll_lock.lock();
        // greenstd patch: a thread whose slot was handed off (in the
        // moment between its last coroutine and here) leaves it alone.
        // SAFETY: called by the event loop, on a runner's own thread.
        if unsafe { (*crate::scheduler::WORKER.get()).lost() } {
            return Ok(None);
        }
        // free the unused event_data; greenstd patch: here, under the lock
        // this round holds for its `epoll_wait` anyway (what the last
        // round's coroutines retired), not under a second lock of its own
        // at the end of each round.
        self.free_unused_event_data(id);
        // greenstd patch: a worker about to block says so first (and stays
        // awake if work arrived meanwhile), so that wake-ups go to sleepers.
        let mut timeout_ms = timeout_ms;
        let sleeps = timeout_ms != EpollTimeout::ZERO && scheduler.prepare_sleep(id);
        if !sleeps {
            timeout_ms = EpollTimeout::ZERO;
        }
        // Wait for epoll events for at most timeout_ms milliseconds
        let n = epoll_wait(epoll, events, timeout_ms);
        if sleeps {
            scheduler.wake_from_sleep(id);
        }
        let n = n?;
        // println!("epoll_wait = {}", n);

        self.dispatch(scheduler, id, true, &events[..n], |co| {
            scheduler.schedule_with_id(co, id);
        });
        drop(guard);

        // greenstd patch: the slot's expired timers, before its tasks run.
        scheduler.woke(id);

        // run all the local tasks; greenstd patch: and nothing more of
        // this slot's once it was handed to another thread.
        if !scheduler.run_queued_tasks(id) {
            return Ok(None);
        }

        // deal with the timer list
        #[cfg(feature = "io_timeout")]
        // greenstd patch: no clock read when no io timeout is pending
        // (greenstd's sockets never add one; a read is ~90 instructions).
        let next_expire = if single_selector.timer_list.is_empty() {
            None
        } else {
            single_selector
                .timer_list
                .schedule_timer(now(), &timeout_handler)
        };
        #[cfg(not(feature = "io_timeout"))]
        let next_expire = None;
        Ok(next_expire)
    }

    /// Hands the coroutines of `events`, taken from selector `id`, to `run`.
    ///
    /// greenstd patch: an embedder's event (greenstd's sockets: the common
    /// one) is handled in the loop; a wake-up and may's own registrations
    /// out of line (`dispatch_other`), so that the loop needs no frame for
    /// them.
    #[inline]
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
            // An odd token is the embedder's registration.
            if event.data() & 1 != 0 {
                let token = (event.data() & !1) as usize;
                (crate::embed::io_hook().ready)(token, readiness(event));
            } else {
                self.dispatch_other(scheduler, id, owner, event, &mut run);
            }
        }
        if large {
            crate::scheduler::set_large_poll(false);
        }
    }

    /// greenstd patch: [`dispatch`](Self::dispatch) of a wake-up (token 0)
    /// or one of may's own registrations.
    #[inline(never)]
    fn dispatch_other(
        &self,
        scheduler: &Scheduler,
        id: usize,
        owner: bool,
        event: &SysEvent,
        run: &mut impl FnMut(crate::coroutine_impl::CoroutineImpl),
    ) {
        let single_selector = &self.vec[id];
        if event.data() == 0 {
            // this is just a wakeup event, ignore it
            let mut buf = [0u8; 8];
            // clear the eventfd, ignore the result
            read(single_selector.evfd.as_fd(), &mut buf).ok();
            // info!("got wakeup event in select, id={}", id);
            if owner {
                scheduler.collect_global(id);
            }
            return;
        }
        // SAFETY: an even, non-zero token is the address of may's own
        // `EventData`, registered with this selector and freed only through
        // the retired list, under the poll lock the caller holds.
        let data = unsafe { &mut *(event.data() as *mut EventData) };
        let events = event.events().bits() as usize;
        // info!("select got event, data={:p}, events={}", data, events);
        data.io_flag.fetch_or(events, Ordering::Release);

        // first check the atomic co, this may be grab by the worker first
        let co = match data.co.take() {
            Some(co) => co,
            None => return,
        };

        // it's safe to remove the timer since we are running the timer_list in the same thread
        #[cfg(feature = "io_timeout")]
        data.timer.borrow_mut().take().map(|h| {
            // SAFETY: the timer list is this selector's, run only by the
            // thread holding its poll lock (the caller).
            unsafe {
                // tell the timer handler not to cancel the io
                // it's not always true that you can really remove the timer entry
                h.with_mut_data(|value| value.data.event_data = std::ptr::null_mut());
            }
            h.remove()
        });

        run(co);
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
        let n = match epoll_wait(&single_selector.epoll, events, EpollTimeout::ZERO) {
            Ok(n) => n,
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

    // this will post an os event so that we can wake up the event loop
    #[inline]
    pub fn wakeup(&self, id: usize) {
        let buf = 1u64.to_le_bytes();
        let ret = write(&self.vec[id].evfd, &buf);
        trace!("wakeup id={:?}, ret={:?}", id, ret);
    }

    // register io event to the selector
    #[inline]
    pub fn add_fd(&self, io_data: IoData) -> io::Result<IoData> {
        let info = EpollEvent::new(
            EpollFlags::EPOLLIN
                | EpollFlags::EPOLLOUT
                | EpollFlags::EPOLLRDHUP
                | EpollFlags::EPOLLET,
            io_data.as_ref() as *const _ as _,
        );

        let fd = io_data.fd;
        let id = fd as usize % self.vec.len();
        let single_selector = &self.vec[id];
        let epoll = &single_selector.epoll;
        info!("add fd to epoll select, fd={:?}", fd);
        epoll
            .add(unsafe { BorrowedFd::borrow_raw(fd) }, info)
            .map_err(from_nix_error)
            .map(|_| io_data)
    }

    #[inline]
    pub fn mod_fd(&self, io_data: &IoData, is_read: bool) -> io::Result<()> {
        let mut info = if is_read {
            EpollEvent::new(
                EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLET,
                io_data.as_ref() as *const _ as _,
            )
        } else {
            EpollEvent::new(
                EpollFlags::EPOLLOUT | EpollFlags::EPOLLHUP | EpollFlags::EPOLLET,
                io_data.as_ref() as *const _ as _,
            )
        };

        let fd = io_data.fd;
        let id = fd as usize % self.vec.len();
        let single_selector = &self.vec[id];
        let epoll = &single_selector.epoll;
        info!("mod fd to epoll select, fd={:?}, is_read={}", fd, is_read);
        epoll
            .modify(unsafe { BorrowedFd::borrow_raw(fd) }, &mut info)
            .map_err(from_nix_error)
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
                h.with_mut_data(|value| value.data.event_data = std::ptr::null_mut());
            }
        }

        let fd = io_data.fd;
        let id = fd as usize % self.vec.len();
        let single_selector = &self.vec[id];
        let epoll = &single_selector.epoll;
        info!("del fd from epoll select, fd={:?}", fd);
        epoll.delete(unsafe { BorrowedFd::borrow_raw(fd) }).ok();

        // after EpollCtlDel push the unused event data
        single_selector.free_ev.push((*io_data).clone());
        single_selector.retired_any.store(true, Ordering::Release);
    }

    // we can't free the event data directly in the worker thread
    // must free them before the next epoll_wait
    #[inline]
    fn free_unused_event_data(&self, id: usize) {
        let single_selector = &self.vec[id];
        // greenstd patch: nothing retired since the last look, no look. A
        // push after the swap sets the flag again (it is stored after the
        // push); one the look below sees early only makes a later look
        // find nothing.
        if !single_selector.retired_any.load(Ordering::Relaxed)
            || !single_selector.retired_any.swap(false, Ordering::Acquire)
        {
            return;
        }
        let free_ev = &single_selector.free_ev;
        // greenstd patch: a look first (`bulk_pop` moves a 32-slot
        // `SmallVec` even when empty; this runs every 61 coroutines now).
        while !free_ev.is_empty() && !free_ev.bulk_pop().is_empty() {}
        // greenstd patch: and the embedder's retired registrations (a look
        // first: `pop` on an empty queue costs more). Under the poll lock
        // only: the monitor pops too (`rescue`), and a look races with
        // a pop that frees the block it reads.
        let retired = &single_selector.retired;
        while !retired.is_empty() {
            let Some(token) = retired.pop() else { break };
            (crate::embed::io_hook().release)(token);
        }
    }

    /// greenstd patch: adds an embedder's registration (`embed::register_io`).
    pub(crate) fn add_embedder_fd(&self, fd: RawFd, token: usize) -> io::Result<()> {
        let info = EpollEvent::new(
            EpollFlags::EPOLLIN
                | EpollFlags::EPOLLOUT
                | EpollFlags::EPOLLRDHUP
                | EpollFlags::EPOLLPRI
                | EpollFlags::EPOLLET,
            (token | 1) as u64,
        );
        let single_selector = &self.vec[fd as usize % self.vec.len()];
        // SAFETY: the caller's open descriptor, only borrowed for the call.
        single_selector
            .epoll
            .add(unsafe { BorrowedFd::borrow_raw(fd) }, info)
            .map_err(from_nix_error)
    }

    /// greenstd patch: removes an embedder's registration
    /// (`embed::deregister_io`). Its token is released after every event
    /// that may name it has been handled: by the worker after its current
    /// batch (events are taken and handled under `poll_lock`, and retired
    /// tokens released under it after them), before its next `epoll_wait`.
    pub(crate) fn del_embedder_fd(&self, fd: RawFd, token: usize) {
        let single_selector = &self.vec[fd as usize % self.vec.len()];
        // Failure (`fd` already closed, which removes it) is harmless.
        // SAFETY: only borrowed for the call.
        single_selector
            .epoll
            .delete(unsafe { BorrowedFd::borrow_raw(fd) })
            .ok();
        single_selector.retired.push(token);
        single_selector.retired_any.store(true, Ordering::Release);
    }

    /// greenstd patch: takes worker `id`'s ready events without blocking
    /// and hands them out as `select` does, unless another thread holds
    /// them (the scheduler's look at I/O every few coroutines).
    pub(crate) fn poll_now(&self, scheduler: &Scheduler, id: usize) {
        let single_selector = &self.vec[id];
        let Some(_guard) = single_selector.poll_lock.try_lock() else {
            return;
        };
        let mut events = [EpollEvent::empty(); POLL_NOW_EVENTS];
        let n = match epoll_wait(&single_selector.epoll, &mut events, EpollTimeout::ZERO) {
            Ok(n) => n,
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
            // wake up the event loop thread to recall the next wait timeout
            self.wakeup(id);
        }
        io.timer.borrow_mut().replace(h);
    }
}
