//! greenstd patch: a worker's run queue is crossbeam's work-stealing deque
//! (FIFO flavour) — upstream's `crossbeam_queue_steal` feature, now the
//! only queue. may_queue's `spmc` queue it replaces took a compare-and-swap
//! and a fetch-and-sub per pop and allocated (`posix_memalign`) and freed a
//! block every 32 pushes; crossbeam's pop is one fetch-and-add and its
//! ring buffer is allocated again only when it grows or shrinks.

use std::mem::ManuallyDrop;

use crossbeam::deque::{Stealer, Worker};

/// The queue holds its values as `ManuallyDrop`: a value has no drop glue
/// while the queue has it, so a push (whose buffer may grow) needs no
/// unwinding landing pad, which cost the scheduler's push a frame of six
/// saved registers. [`Local`]'s `Drop` drops what is left.
pub struct Local<T>(Worker<ManuallyDrop<T>>);
impl<T> Local<T> {
    #[inline]
    pub fn pop(&self) -> Option<T> {
        self.0.pop().map(ManuallyDrop::into_inner)
    }

    #[inline]
    pub fn push_back(&self, value: T) {
        self.0.push(ManuallyDrop::new(value));
    }

    #[inline]
    pub fn has_tasks(&self) -> bool {
        !self.0.is_empty()
    }
}

impl<T> Drop for Local<T> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

pub struct Steal<T>(Stealer<ManuallyDrop<T>>);

impl<T> Clone for Steal<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Steal<T> {
    /// Moves about half of the queue's coroutines to `target` and returns
    /// one of them; `None` if the queue is empty.
    #[inline]
    pub fn steal_into(&self, target: &Local<T>) -> Option<T> {
        // Two loads, where a steal pins crossbeam's epoch first (an idle
        // worker looks at every other worker's queue before it sleeps).
        if self.0.is_empty() {
            return None;
        }
        loop {
            match self.0.steal_batch_and_pop(&target.0) {
                crossbeam::deque::Steal::Empty => return None,
                crossbeam::deque::Steal::Success(v) => return Some(ManuallyDrop::into_inner(v)),
                crossbeam::deque::Steal::Retry => {}
            }
        }
    }
}

pub fn local<T: 'static>() -> (Steal<T>, Local<T>) {
    let worker = Worker::new_fifo();
    let stealer = Steal(worker.stealer());
    (stealer, Local(worker))
}
