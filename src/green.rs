//! greenstd's own API: what std has no name for.
//!
//! The runtime's configuration lives here; gevent's extras (joinall,
//! timeouts, events, pools) will join it.

pub use shim_rt::config::{Settings, DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};
pub use shim_rt::Config;

/// The settings of the running runtime, starting it if it is not running.
///
/// # Errors
///
/// When `GREENSTD_WORKERS`, `GREENSTD_STACK_SIZE` or
/// `GREENSTD_OFFLOAD_THREADS` holds a bad value.
pub fn runtime() -> std::io::Result<Settings> {
    shim_rt::config::start()
}

/// `true` when the caller runs in a greenstd coroutine.
pub fn in_coroutine() -> bool {
    shim_rt::in_coroutine()
}
