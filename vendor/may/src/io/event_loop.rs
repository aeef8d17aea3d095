use std::io;

use super::sys::{Selector, SysEvent};
use crate::scheduler::{get_scheduler, WORKER_ID};

const IO_POLLS_MAX: usize = 1024;

/// Single threaded IO event loop.
pub struct EventLoop {
    selector: Selector,
}

impl EventLoop {
    pub fn new(io_workers: usize) -> io::Result<EventLoop> {
        Selector::new(io_workers).map(|selector| EventLoop { selector })
    }

    /// Keep spinning the event loop indefinitely, and notify the handler whenever
    /// any of the registered handles are ready.
    pub fn run(&self, id: usize) {
        WORKER_ID.set(id);
        // greenstd patch: the monitor signals a stuck worker by its pthread_t.
        #[cfg(unix)]
        get_scheduler().worker_state[id].thread.store(
            // SAFETY: pthread_self has no preconditions.
            unsafe { libc::pthread_self() } as u64,
            std::sync::atomic::Ordering::Release,
        );

        let mut events_buf: [SysEvent; IO_POLLS_MAX] = unsafe { std::mem::zeroed() };
        let mut next_expire = None;
        let selector = &self.selector;
        let scheduler = get_scheduler();

        loop {
            // greenstd patch: an idle worker sleeps until it is woken
            // (an event, a wake-up, or its next io timer) instead of
            // waking every poll timeout (10 ms) to look for work: wake-ups
            // now reach sleeping workers, and the monitor moves the work of
            // a stuck worker.
            next_expire = match selector.select(scheduler, id, &mut events_buf, next_expire) {
                Ok(t) => t,
                Err(e) => {
                    error!("select error = {e:?}");
                    Some(1_000_000)
                }
            }
        }
    }

    // get the internal selector
    #[inline]
    pub fn get_selector(&self) -> &Selector {
        &self.selector
    }
}
