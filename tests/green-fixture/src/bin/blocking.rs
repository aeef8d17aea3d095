//! The fixture in which `cargo green audit` must name a blocking call that
//! no patch reaches: a sleep through the C library (as any FFI call into C
//! code that waits), made from coroutines.

use std::thread;

/// Sleeps `ms` milliseconds in the C library, blocking the OS thread.
fn c_sleep(ms: u32) {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: i64::from(ms) * 1_000_000,
    };
    // SAFETY: `ts` is a valid timespec; a null remainder is allowed.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

fn main() {
    let handles: Vec<_> = (0..4).map(|_| thread::spawn(|| c_sleep(10))).collect();
    for h in handles {
        h.join().unwrap();
    }
    println!("slept");
}
