use std::io;

use super::sys::{Selector, SysEvent};
use crate::scheduler::{get_scheduler, WORKER};

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
    ///
    /// greenstd patch: runs on the thread serving worker slot `id`, until
    /// the slot is handed to another thread (see `handoff`).
    pub fn run(&self, id: usize) {
        let mut events_buf: [SysEvent; IO_POLLS_MAX] = unsafe { std::mem::zeroed() };
        let mut next_expire = None;
        let selector = &self.selector;
        let scheduler = get_scheduler();
        // SAFETY: the calling thread's own runner, set by `run_thread`.
        let runner = unsafe { &*WORKER.get() };

        while !runner.lost() {
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
