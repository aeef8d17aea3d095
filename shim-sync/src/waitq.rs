//! The one wait queue every blocking primitive of this crate is built on.
//!
//! A [`Waiter`] is a [`Waker`] plus a `notified` flag. Waiters are queued in
//! FIFO order in a [`WaitList`], which is always accessed under some lock: the
//! list's own ([`WaitQueue`]) or the primitive's (the channels keep theirs
//! under the channel's lock). A notifier removes the waiter from the list and
//! sets its flag *under that lock*, then wakes it after releasing the lock. A
//! waiter whose deadline passes takes the lock and removes itself, unless it
//! was notified first — so a notification always reaches a waiter that is
//! still waiting, and one that races with a timeout is reported as a
//! notification, never lost.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use shim_rt::park;
use shim_rt::Waker;

/// One blocked coroutine or thread.
#[derive(Debug)]
pub(crate) struct Waiter {
    waker: Waker,
    notified: AtomicBool,
    tag: u64,
}

impl Waiter {
    /// `true` once a notifier has taken this waiter off its list.
    #[inline]
    pub(crate) fn is_notified(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    /// Wakes the waiter (call after releasing the list's lock).
    #[inline]
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }
}

/// A FIFO list of waiters. Not synchronised: keep it under a lock.
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    q: VecDeque<Arc<Waiter>>,
}

impl WaitList {
    pub(crate) const fn new() -> WaitList {
        WaitList { q: VecDeque::new() }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.q.len()
    }

    /// Queues the caller, with a primitive-defined `tag`.
    pub(crate) fn push(&mut self, tag: u64) -> Arc<Waiter> {
        let w = Arc::new(Waiter {
            waker: Waker::current(),
            notified: AtomicBool::new(false),
            tag,
        });
        self.q.push_back(w.clone());
        w
    }

    /// Removes `w` if it is still queued; `false` if it was notified.
    pub(crate) fn remove(&mut self, w: &Arc<Waiter>) -> bool {
        match self.q.iter().position(|x| Arc::ptr_eq(x, w)) {
            Some(i) => {
                self.q.remove(i);
                true
            }
            None => false,
        }
    }

    /// The tag of the first waiter.
    #[inline]
    pub(crate) fn front_tag(&self) -> Option<u64> {
        self.q.front().map(|w| w.tag)
    }

    /// Takes the first waiter off the list and marks it notified. The caller
    /// must [`Waiter::wake`] it after releasing the lock.
    pub(crate) fn notify_one(&mut self) -> Option<Arc<Waiter>> {
        let w = self.q.pop_front()?;
        w.notified.store(true, Ordering::Release);
        Some(w)
    }

    /// Takes every waiter off the list and marks them notified. The caller
    /// must wake them after releasing the lock.
    pub(crate) fn notify_all(&mut self) -> VecDeque<Arc<Waiter>> {
        let all = std::mem::take(&mut self.q);
        for w in &all {
            w.notified.store(true, Ordering::Release);
        }
        all
    }
}

/// Blocks until `w` is notified or `deadline` passes; returns `true` when
/// notified. On timeout, `cancel` must take the list's lock and remove `w`
/// (returning what [`WaitList::remove`] returned); if it was already removed
/// by a notifier the wait counts as notified.
pub(crate) fn block(w: &Waiter, deadline: Option<Instant>, cancel: impl FnOnce() -> bool) -> bool {
    loop {
        if w.is_notified() {
            return true;
        }
        if park::park_deadline(deadline) {
            return w.is_notified() || !cancel();
        }
    }
}

/// How a [`WaitQueue::wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A notifier woke us.
    Notified,
    /// `validate` returned `false`: we never slept.
    Invalid,
    /// The deadline passed first.
    TimedOut,
}

/// A [`WaitList`] under its own lock, with a lock-free "anyone waiting?" count
/// so that releasing an uncontended primitive costs no lock.
#[derive(Debug, Default)]
pub(crate) struct WaitQueue {
    list: parking_lot::Mutex<WaitList>,
    len: AtomicUsize,
}

impl WaitQueue {
    pub(crate) const fn new() -> WaitQueue {
        WaitQueue {
            list: parking_lot::Mutex::new(WaitList::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// Number of queued waiters (a hint: may be stale by the time it is read).
    #[inline]
    pub(crate) fn waiters(&self) -> usize {
        self.len.load(Ordering::SeqCst)
    }

    /// Queues the caller with `tag` if `validate()` (called under the queue's
    /// lock) returns `true`, runs `before_sleep` after releasing the lock,
    /// and blocks until notified or `deadline` passes.
    pub(crate) fn wait(
        &self,
        tag: u64,
        deadline: Option<Instant>,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
    ) -> Wait {
        let w = {
            let mut l = self.list.lock();
            if !validate() {
                return Wait::Invalid;
            }
            let w = l.push(tag);
            self.len.store(l.len(), Ordering::SeqCst);
            w
        };
        before_sleep();
        let notified = block(&w, deadline, || {
            let mut l = self.list.lock();
            let removed = l.remove(&w);
            self.len.store(l.len(), Ordering::SeqCst);
            removed
        });
        if notified {
            Wait::Notified
        } else {
            Wait::TimedOut
        }
    }

    /// Wakes the first waiter; `false` if there was none.
    pub(crate) fn notify_one(&self) -> bool {
        let w = {
            let mut l = self.list.lock();
            let w = l.notify_one();
            self.len.store(l.len(), Ordering::SeqCst);
            w
        };
        match w {
            Some(w) => {
                w.wake();
                true
            }
            None => false,
        }
    }

    /// Wakes every waiter; returns how many.
    pub(crate) fn notify_all(&self) -> usize {
        let all = {
            let mut l = self.list.lock();
            let all = l.notify_all();
            self.len.store(0, Ordering::SeqCst);
            all
        };
        for w in &all {
            w.wake();
        }
        all.len()
    }

    /// Runs `f` under the queue's lock; `f` picks the waiters to notify
    /// (through [`Notifier`]), which are woken after the lock is released.
    pub(crate) fn notify_with<R>(&self, f: impl FnOnce(&mut Notifier<'_>) -> R) -> R {
        let mut woken = Vec::new();
        let r = {
            let mut l = self.list.lock();
            let mut n = Notifier {
                list: &mut l,
                woken: &mut woken,
            };
            let r = f(&mut n);
            self.len.store(l.len(), Ordering::SeqCst);
            r
        };
        for w in &woken {
            w.wake();
        }
        r
    }
}

/// The view of a locked [`WaitQueue`] given to [`WaitQueue::notify_with`].
pub(crate) struct Notifier<'a> {
    list: &'a mut WaitList,
    woken: &'a mut Vec<Arc<Waiter>>,
}

impl Notifier<'_> {
    /// The tag of the first waiter, if any.
    #[inline]
    pub(crate) fn front_tag(&self) -> Option<u64> {
        self.list.front_tag()
    }

    /// `true` when nobody (else) is waiting.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Notifies the first waiter.
    pub(crate) fn notify_one(&mut self) -> bool {
        match self.list.notify_one() {
            Some(w) => {
                self.woken.push(w);
                true
            }
            None => false,
        }
    }
}
