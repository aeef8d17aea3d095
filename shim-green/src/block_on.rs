//! `block_on`: runs a future to completion on the calling coroutine.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Wakes the task that waits in [`block_on`] by unparking it.
struct Unparker(shim_thread::Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on the calling coroutine or thread and
/// returns its output (gevent has no name for it: `asyncio.run` from a
/// greenlet, as `futures::executor::block_on`).
///
/// The future is polled here; between polls the caller parks
/// ([`thread::park`](shim_thread::park)) until the future's waker fires, so
/// a coroutine waiting on a future suspends only itself, never its worker.
/// Any executor-agnostic future works: channels, timers and locks of
/// `futures`, `async-channel`, `event-listener`, futures woken by another
/// thread or coroutine. The waker may be called from anywhere (any
/// coroutine, any OS thread, a signal-free callback) and any number of
/// times.
///
/// A future that needs a runtime's reactor or timer — tokio's
/// `TcpStream`, `tokio::time::sleep`, most of hyper — must run inside that
/// runtime: build a `tokio::runtime::Runtime` (current-thread is enough)
/// and call its own `block_on`. Under `cargo green`, tokio and mio are
/// rebuilt against greenstd, so that call too parks the coroutine (mio's
/// selector waits for its epoll descriptor through greenstd).
///
/// # Panics
///
/// When `future` panics (the panic is resumed here).
///
/// # Examples
///
/// ```
/// use shim_green::block_on;
/// use shim_sync::mpsc;
/// use shim_thread as thread;
/// use std::future::poll_fn;
/// use std::task::Poll;
///
/// assert_eq!(block_on(async { 1 + 2 }), 3);
///
/// // A future woken by another coroutine.
/// let (tx, rx) = mpsc::channel::<std::task::Waker>();
/// let h = thread::spawn(move || rx.recv().unwrap().wake());
/// let mut polled = false;
/// block_on(poll_fn(|cx| {
///     if polled {
///         return Poll::Ready(());
///     }
///     polled = true;
///     tx.send(cx.waker().clone()).unwrap();
///     Poll::Pending
/// }));
/// h.join().unwrap();
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unparker(shim_thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        // An unpark between the poll and here leaves the token: no wake-up
        // is lost; a spurious return only polls once more.
        shim_thread::park();
    }
}
