//! A path dependency whose std::thread::sleep must become greenstd's.

/// Sleeps a millisecond.
pub fn nap() {
    std::thread::sleep(std::time::Duration::from_millis(1));
}

/// Whether this crate was built against greenstd.
pub fn patched() -> bool {
    std::any::type_name::<std::thread::Thread>().contains("shim_thread")
}

#[cfg(test)]
mod tests {
    /// Run by cargo-green/tests/fixture.rs with `cargo green test`.
    #[test]
    fn built_against_greenstd() {
        assert!(super::patched());
    }
}
