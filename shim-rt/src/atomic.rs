//! The atomics of the lock-free state machines that loom model-checks (the
//! thread parker's word, the wait record's seqlock, the coroutine
//! sleeper's word and cell, the I/O readiness slot): loom's under
//! `--cfg loom`, std's otherwise. `RUSTFLAGS="--cfg loom" cargo test -p
//! shim-rt --release loom` runs the models (`loom_models.rs`).

#[cfg(all(test, loom))]
pub(crate) use loom::hint::spin_loop;
#[cfg(all(test, loom))]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
};

#[cfg(not(all(test, loom)))]
pub(crate) use std::hint::spin_loop;
#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
};

#[cfg(all(test, loom))]
pub(crate) use loom::cell::UnsafeCell;

/// std's `UnsafeCell` with loom's interface (`with_mut`), so that loom can
/// check who touches the cell when.
#[cfg(not(all(test, loom)))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(all(test, loom)))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a pointer to the value; the caller makes sure nothing
    /// else touches it meanwhile.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
