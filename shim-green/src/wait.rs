//! Waiting for the first of several things to finish, without polling.
//!
//! Every waitable source (a thread's join handle, an [`Event`], an
//! [`AsyncResult`]) keeps a short list of watchers: callbacks it runs when
//! it becomes ready. A waiter registers one callback on each source, each
//! of which notifies one [`Signal`] — a flag under a cooperative `Mutex`
//! and `Condvar`, so the wait itself goes through the runtime's one wait
//! mechanism like every other blocking call.
//!
//! [`Event`]: crate::Event
//! [`AsyncResult`]: crate::AsyncResult

use std::sync::Arc;
use std::time::{Duration, Instant};

use shim_sync::{Condvar, Mutex};
use shim_thread::__green::Finish;
use shim_thread::{JoinHandle, ScopedJoinHandle};

pub(crate) use shim_thread::__green::Watcher;

/// A "something changed" flag a waiter sleeps on.
pub(crate) struct Signal {
    changed: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    pub(crate) fn new() -> Arc<Signal> {
        Arc::new(Signal {
            changed: Mutex::new(false),
            cv: Condvar::new(),
        })
    }

    /// A watcher that notifies this signal.
    pub(crate) fn watcher(self: &Arc<Self>) -> Watcher {
        let me = self.clone();
        Arc::new(move || me.notify())
    }

    pub(crate) fn notify(&self) {
        let mut c = self.changed.lock().unwrap_or_else(|e| e.into_inner());
        *c = true;
        self.cv.notify_all();
    }

    /// Waits until notified (and consumes the notification) or `deadline`
    /// passes; `false` on timeout.
    #[track_caller]
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut c = self.changed.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if *c {
                *c = false;
                return true;
            }
            match deadline {
                None => c = self.cv.wait(c).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    c = self
                        .cv
                        .wait_timeout(c, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}

/// The watchers of one waitable source.
#[derive(Default)]
pub(crate) struct Watchers {
    list: parking_lot::Mutex<(u64, Vec<(u64, Watcher)>)>,
}

impl Watchers {
    pub(crate) const fn new() -> Watchers {
        Watchers {
            list: parking_lot::Mutex::new((0, Vec::new())),
        }
    }

    pub(crate) fn add(&self, w: Watcher) -> u64 {
        let mut l = self.list.lock();
        l.0 += 1;
        let key = l.0;
        l.1.push((key, w));
        key
    }

    pub(crate) fn remove(&self, key: u64) {
        self.list.lock().1.retain(|(k, _)| *k != key);
    }

    /// Runs every watcher (outside the lock). They stay registered: a
    /// waiter removes its own when it is done waiting.
    pub(crate) fn notify(&self) {
        let ws: Vec<Watcher> = {
            let l = self.list.lock();
            if l.1.is_empty() {
                return;
            }
            l.1.iter().map(|(_, w)| w.clone()).collect()
        };
        // Every watcher must hear of it (a waiter would sleep on):
        // cancellation is deferred to the next wait.
        shim_rt::cancel::defer(|| {
            for w in ws {
                w();
            }
        });
    }
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Something a coroutine or thread can wait for with [`wait_any`]: a
/// thread's [`JoinHandle`] or [`ScopedJoinHandle`] (ready once the thread
/// has finished), an [`Event`](crate::Event) (ready while it is set) or an
/// [`AsyncResult`](crate::AsyncResult) (ready once it holds a value or an
/// error). References to waitables, `Box`es and trait objects
/// (`&dyn Waitable`) are waitable too, so one call can wait for different
/// kinds of things.
///
/// This trait is sealed: it cannot be implemented outside greenstd.
pub trait Waitable: sealed::Sealed {
    /// `true` when a wait for `self` would return at once.
    fn is_ready(&self) -> bool;

    #[doc(hidden)]
    /// Runs `w` (possibly more than once) whenever `self` may have become
    /// ready; `None` when it already is.
    fn __watch(&self, w: Watcher) -> Option<u64>;

    #[doc(hidden)]
    fn __unwatch(&self, key: u64);
}

impl<T> sealed::Sealed for JoinHandle<T> {}
impl<T> Waitable for JoinHandle<T> {
    fn is_ready(&self) -> bool {
        self.is_done()
    }
    fn __watch(&self, w: Watcher) -> Option<u64> {
        self.watch(w)
    }
    fn __unwatch(&self, key: u64) {
        self.unwatch(key)
    }
}

impl<T> sealed::Sealed for ScopedJoinHandle<'_, T> {}
impl<T> Waitable for ScopedJoinHandle<'_, T> {
    fn is_ready(&self) -> bool {
        self.is_done()
    }
    fn __watch(&self, w: Watcher) -> Option<u64> {
        self.watch(w)
    }
    fn __unwatch(&self, key: u64) {
        self.unwatch(key)
    }
}

impl<W: Waitable + ?Sized> sealed::Sealed for &W {}
impl<W: Waitable + ?Sized> Waitable for &W {
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
    fn __watch(&self, w: Watcher) -> Option<u64> {
        (**self).__watch(w)
    }
    fn __unwatch(&self, key: u64) {
        (**self).__unwatch(key)
    }
}

impl<W: Waitable + ?Sized> sealed::Sealed for Box<W> {}
impl<W: Waitable + ?Sized> Waitable for Box<W> {
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
    fn __watch(&self, w: Watcher) -> Option<u64> {
        (**self).__watch(w)
    }
    fn __unwatch(&self, key: u64) {
        (**self).__unwatch(key)
    }
}

impl<W: Waitable + ?Sized> sealed::Sealed for Arc<W> {}
impl<W: Waitable + ?Sized> Waitable for Arc<W> {
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
    fn __watch(&self, w: Watcher) -> Option<u64> {
        (**self).__watch(w)
    }
    fn __unwatch(&self, key: u64) {
        (**self).__unwatch(key)
    }
}

/// Blocks until one of `items` is ready and returns its index (the lowest
/// one if several are); `None` at once when `items` is empty.
///
/// This is gevent's `gevent.wait(objects, count=1)` / the first item of
/// `gevent.iwait`. Nothing polls: each item tells the waiter when it
/// finishes. In a coroutine only the coroutine waits; on a plain OS thread
/// the thread blocks. A [`JoinHandle`] is ready once its thread has
/// finished, so `join` on it then returns at once.
///
/// # Examples
///
/// ```
/// use shim_thread as thread;
/// use std::time::Duration;
///
/// let mut handles = vec![
///     thread::spawn(|| { thread::sleep(Duration::from_secs(10)); "slow" }),
///     thread::spawn(|| "fast"),
/// ];
/// let first = shim_green::wait_any(&handles).unwrap();
/// assert_eq!(handles.swap_remove(first).join().unwrap(), "fast");
/// ```
#[track_caller]
pub fn wait_any<W: Waitable>(items: &[W]) -> Option<usize> {
    wait_any_deadline(items, None)
}

/// Blocks until one of `items` is ready or `dur` has passed; returns the
/// index of a ready item, or `None` on timeout (or when `items` is empty).
///
/// This is gevent's `gevent.wait(objects, timeout=dur, count=1)`.
///
/// # Examples
///
/// ```
/// use shim_green::{wait_any_timeout, Event};
/// use std::time::Duration;
///
/// let (a, b) = (Event::new(), Event::new());
/// assert_eq!(wait_any_timeout(&[&a, &b], Duration::from_millis(10)), None);
/// b.set();
/// assert_eq!(wait_any_timeout(&[&a, &b], Duration::from_millis(10)), Some(1));
/// ```
#[track_caller]
pub fn wait_any_timeout<W: Waitable>(items: &[W], dur: Duration) -> Option<usize> {
    match Instant::now().checked_add(dur) {
        Some(d) => wait_any_deadline(items, Some(d)),
        None => wait_any_deadline(items, None),
    }
}

fn first_ready<W: Waitable>(items: &[W]) -> Option<usize> {
    items.iter().position(|w| w.is_ready())
}

/// Removes the waiter's watchers however the wait ends (a cancelled wait
/// unwinds through here).
struct Registrations<'a, W: Waitable> {
    items: &'a [W],
    keys: Vec<Option<u64>>,
}

impl<W: Waitable> Drop for Registrations<'_, W> {
    fn drop(&mut self) {
        for (w, k) in self.items.iter().zip(&self.keys) {
            if let Some(k) = k {
                w.__unwatch(*k);
            }
        }
    }
}

#[track_caller]
pub(crate) fn wait_any_deadline<W: Waitable>(
    items: &[W],
    deadline: Option<Instant>,
) -> Option<usize> {
    if let Some(i) = first_ready(items) {
        return Some(i);
    }
    if items.is_empty() {
        return None;
    }
    let signal = Signal::new();
    let mut regs = Registrations {
        items,
        keys: Vec::with_capacity(items.len()),
    };
    for w in items {
        let key = w.__watch(signal.watcher());
        regs.keys.push(key);
        if key.is_none() {
            break;
        }
    }
    loop {
        if let Some(i) = first_ready(items) {
            return Some(i);
        }
        if !signal.wait(deadline) {
            return first_ready(items);
        }
    }
}

/// Waits until `item` is ready or `deadline` passes; `true` when ready.
#[track_caller]
pub(crate) fn wait_one<W: Waitable>(item: &W, deadline: Option<Instant>) -> bool {
    wait_any_deadline(std::slice::from_ref(item), deadline).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    fn watchers_of(e: &Event) -> usize {
        e.watchers.list.lock().1.len()
    }

    #[test]
    fn a_wait_leaves_no_watcher_behind_however_it_ends() {
        let (a, b) = (Event::new(), Event::new());
        // Timed out.
        assert_eq!(wait_any_timeout(&[&a, &b], Duration::from_millis(1)), None);
        assert_eq!((watchers_of(&a), watchers_of(&b)), (0, 0));
        // Ready at once: nothing is registered at all.
        b.set();
        assert_eq!(wait_any(&[&a, &b]), Some(1));
        assert_eq!((watchers_of(&a), watchers_of(&b)), (0, 0));
        // Woken by a set from another thread.
        b.clear();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(10));
                a.set();
            });
            assert_eq!(wait_any(&[&a, &b]), Some(0));
        });
        assert_eq!((watchers_of(&a), watchers_of(&b)), (0, 0));
        // Unwound (as a cancelled wait would).
        let r = std::panic::catch_unwind(|| {
            let regs = Registrations {
                items: &[&b][..],
                keys: vec![b.__watch(Arc::new(|| {}))],
            };
            assert_eq!(watchers_of(&b), 1);
            let _keep = regs;
            panic!("unwind");
        });
        assert!(r.is_err());
        assert_eq!(watchers_of(&b), 0);
    }
}
