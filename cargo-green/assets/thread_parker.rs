//! Written by `cargo green` over parking_lot_core's own thread parker (the
//! futex one): parks through `std::thread::park`, which in a crate rebuilt
//! against greenstd suspends the calling coroutine instead of its worker
//! thread (and on a plain OS thread parks the thread, as std does). Every
//! `parking_lot` / `lock_api` lock and condition variable of the program
//! then waits cooperatively.
//!
//! The parker belongs to the `ThreadData` of one thread (under greenstd:
//! one coroutine, its `thread_local!` being per coroutine), so the handle to
//! wake is taken once, when it is created.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, Thread};
use std::time::Instant;

pub struct ThreadParker {
    parked: AtomicBool,
    thread: Thread,
}

impl super::ThreadParkerT for ThreadParker {
    type UnparkHandle = UnparkHandle;

    // Taking the thread handle costs a reference count: keep one per
    // thread-local ThreadData rather than one per wait.
    const IS_CHEAP_TO_CONSTRUCT: bool = false;

    fn new() -> ThreadParker {
        ThreadParker {
            parked: AtomicBool::new(false),
            thread: thread::current(),
        }
    }

    unsafe fn prepare_park(&self) {
        self.parked.store(true, Ordering::Relaxed);
    }

    unsafe fn timed_out(&self) -> bool {
        self.parked.load(Ordering::Relaxed)
    }

    unsafe fn park(&self) {
        while self.parked.load(Ordering::Acquire) {
            thread::park();
        }
    }

    unsafe fn park_until(&self, timeout: Instant) -> bool {
        while self.parked.load(Ordering::Acquire) {
            let now = Instant::now();
            if timeout <= now {
                return false;
            }
            thread::park_timeout(timeout - now);
        }
        true
    }

    unsafe fn unpark_lock(&self) -> UnparkHandle {
        // The handle is cloned before the flag is cleared: once it is, the
        // parked thread may return and drop this parker.
        let thread = self.thread.clone();
        self.parked.store(false, Ordering::Release);
        UnparkHandle { thread }
    }
}

pub struct UnparkHandle {
    thread: Thread,
}

impl super::UnparkHandleT for UnparkHandle {
    unsafe fn unpark(self) {
        self.thread.unpark();
    }
}

pub fn thread_yield() {
    thread::yield_now();
}
