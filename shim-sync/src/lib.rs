//! greenstd: std::sync shim (in progress).
