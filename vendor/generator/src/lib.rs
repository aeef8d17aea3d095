//! # generator
//!
//! Rust generator library
//!

#![deny(missing_docs)]
// greenstd: vendored upstream code, linted upstream, not by our -D warnings.
#![allow(warnings, clippy::all, rustdoc::all)]
#![allow(deprecated)]

#[macro_use]
extern crate log;

mod detail;
mod gen_impl;
mod reg_context;
mod rt;
mod scope;
mod stack;
/// greenstd patch: coroutine stacks carved from a few large mappings, and
/// their trimming (see the module).
#[cfg(target_os = "linux")]
pub use crate::stack::arena as stack_arena;
#[doc(inline)]
pub use crate::stack::ReservedStack;
mod yield_;

pub use crate::gen_impl::{Generator, Gn, LocalGenerator, DEFAULT_STACK_SIZE};
pub use crate::rt::{get_local_data, is_generator, Error, LOCAL_INLINE_WORDS};
pub use crate::scope::Scope;
/// greenstd patch (see `co_try_yield_with`).
pub use crate::yield_::co_try_yield_with;
pub use crate::yield_::{
    co_get_yield, co_set_para, co_yield_with, done, get_yield, yield_, yield_from, yield_with,
};
