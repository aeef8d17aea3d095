//! The atomics of the lock-free state machines that loom model-checks (the
//! thread parker's word, the wait record's seqlock): loom's under
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
