//! Support code for greenstd's side-by-side benchmarks: the latency
//! histogram shared by the load generator and its tests.
//!
//! The binaries are `loadgen` (the client) and `bench` (the runner that
//! builds every variant, runs them and writes BENCHMARKS.md).

#![warn(missing_docs)]

pub mod hist;
