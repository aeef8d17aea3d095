//! The Rust prelude: std's, with greenstd's `thread_local!`.
//!
//! When `std` names greenstd (the Cargo form or `extern crate greenstd as
//! std;`), the compiler's implicit `use std::prelude::rust_20xx::*;` comes
//! here, so a bare `thread_local!` declares per-coroutine storage like
//! `std::thread_local!` does. Everything else is std's prelude.

/// The first version of the prelude, as std's `prelude::v1`.
pub mod v1 {
    #[doc(no_inline)]
    pub use shim_io::{eprint, eprintln, print, println};
    #[doc(no_inline)]
    pub use shim_thread::thread_local;
    #[doc(no_inline)]
    pub use std::prelude::v1::*;
}

/// The 2015 edition of the prelude.
pub mod rust_2015 {
    #[doc(no_inline)]
    pub use shim_io::{eprint, eprintln, print, println};
    #[doc(no_inline)]
    pub use shim_thread::thread_local;
    #[doc(no_inline)]
    pub use std::prelude::rust_2015::*;
}

/// The 2018 edition of the prelude.
pub mod rust_2018 {
    #[doc(no_inline)]
    pub use shim_io::{eprint, eprintln, print, println};
    #[doc(no_inline)]
    pub use shim_thread::thread_local;
    #[doc(no_inline)]
    pub use std::prelude::rust_2018::*;
}

/// The 2021 edition of the prelude.
pub mod rust_2021 {
    #[doc(no_inline)]
    pub use shim_io::{eprint, eprintln, print, println};
    #[doc(no_inline)]
    pub use shim_thread::thread_local;
    #[doc(no_inline)]
    pub use std::prelude::rust_2021::*;
}

/// The 2024 edition of the prelude.
pub mod rust_2024 {
    #[doc(no_inline)]
    pub use shim_io::{eprint, eprintln, print, println};
    #[doc(no_inline)]
    pub use shim_thread::thread_local;
    #[doc(no_inline)]
    pub use std::prelude::rust_2024::*;
}
