//! greenstd: std::thread shim (in progress).
