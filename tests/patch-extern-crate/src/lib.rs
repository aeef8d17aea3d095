//! An existing blocking program patched crate-wide by one line at its root.
//! Every module below, and every fully qualified `std::…` path, resolves to
//! greenstd; the modules themselves are plain std code.

extern crate greenstd as std;

pub mod server;

/// Runs `f` on a new thread, written with a fully qualified path.
pub fn on_a_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().unwrap()
}

/// A module two levels deep: the patch reaches it too.
pub mod deep {
    /// Still deeper.
    pub mod deeper {
        /// The type of `std::net::TcpStream` as this module sees it.
        pub type Stream = std::net::TcpStream;

        /// Counts to `n` on `n` threads that meet at a barrier.
        pub fn barrier_count(n: usize) -> usize {
            use std::sync::{atomic::AtomicUsize, atomic::Ordering, Arc, Barrier};
            let barrier = Arc::new(Barrier::new(n));
            let count = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    let barrier = Arc::clone(&barrier);
                    let count = Arc::clone(&count);
                    std::thread::spawn(move || {
                        count.fetch_add(1, Ordering::SeqCst);
                        barrier.wait();
                        count.load(Ordering::SeqCst)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .min()
                .unwrap()
        }
    }
}

#[cfg(test)]
mod tests;
