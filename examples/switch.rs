//! gevent's first example: two tasks that hand the CPU to each other.
//!
//! `thread::yield_now()` plays `gevent.sleep(0)` (so does
//! `thread::sleep(Duration::ZERO)`): the running coroutine steps aside and
//! the other one runs.
//!
//! ```sh
//! GREENSTD_WORKERS=1 cargo run --example switch
//! ```
//!
//! prints, as gevent does:
//!
//! ```text
//! Running in foo
//! Explicit context to bar
//! Explicit context switch to foo again
//! Implicit context switch back to bar
//! ```
//!
//! With one worker the order is gevent's; with more, foo and bar may also
//! run at the same time on two workers (they are threads after all).

greenstd::patch_all! {
    use std::thread;
}

fn foo() {
    println!("Running in foo");
    thread::yield_now();
    println!("Explicit context switch to foo again");
}

fn bar() {
    println!("Explicit context to bar");
    thread::yield_now();
    println!("Implicit context switch back to bar");
}

fn main() {
    // gevent.joinall([gevent.spawn(foo), gevent.spawn(bar)]), from a task
    // of its own so that both start when it waits.
    thread::spawn(|| {
        let tasks = [thread::spawn(foo), thread::spawn(bar)];
        for task in tasks {
            task.join().unwrap();
        }
    })
    .join()
    .unwrap();
}
