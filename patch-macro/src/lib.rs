//! patch_all! (in progress).
