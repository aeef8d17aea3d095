//! greenstd: std::net shim (in progress).
