//! `cargo green audit` (not yet).
use crate::graph::GraphArgs;
use std::ffi::OsString;
use std::io;
use std::process::ExitCode;

pub(crate) fn run(_g: &GraphArgs, _rest: &[OsString]) -> io::Result<ExitCode> {
    Err(io::Error::other("audit: not built yet"))
}
