//! Queues between coroutines and threads: gevent's `gevent.queue`.
//!
//! [`Queue`] (first in, first out), [`LifoQueue`] (last in, first out),
//! [`PriorityQueue`] (greatest first, as std's `BinaryHeap`) and
//! [`JoinableQueue`] (a `Queue` that counts unfinished tasks). Each is
//! unbounded ([`new`](Queue::new)) or holds at most a number of items
//! ([`bounded`](Queue::bounded)); `put` blocks while a bounded queue is
//! full and `get` while the queue is empty — cooperatively in a coroutine,
//! for real on a plain OS thread. [`close`](Queue::close) wakes every
//! waiter: later `put`s fail, and `get`s drain what is left and then
//! return `None` (gevent's `StopIteration` sentinel), which also ends a
//! `for item in &queue` loop.
//!
//! Share a queue between threads with an `Arc`.

use std::collections::{BinaryHeap, VecDeque};
use std::error::Error;
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use shim_sync::{Condvar, Mutex};

use crate::event::{deadline_after, lock, wait_until};

/// Where a queue keeps its items: the order is the store's.
trait Store<T>: Default {
    fn push(&mut self, t: T);
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
}

impl<T> Store<T> for VecDeque<T> {
    fn push(&mut self, t: T) {
        self.push_back(t)
    }
    fn pop(&mut self) -> Option<T> {
        self.pop_front()
    }
    fn len(&self) -> usize {
        VecDeque::len(self)
    }
}

impl<T> Store<T> for Vec<T> {
    fn push(&mut self, t: T) {
        Vec::push(self, t)
    }
    fn pop(&mut self) -> Option<T> {
        Vec::pop(self)
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

impl<T: Ord> Store<T> for BinaryHeap<T> {
    fn push(&mut self, t: T) {
        BinaryHeap::push(self, t)
    }
    fn pop(&mut self) -> Option<T> {
        BinaryHeap::pop(self)
    }
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }
}

/// How long a put or get may block.
#[derive(Clone, Copy)]
enum Block {
    No,
    Until(Option<Instant>),
}

struct State<T, S> {
    items: S,
    /// `None`: unbounded. `Some(0)`: a put waits for a waiting getter.
    cap: Option<usize>,
    closed: bool,
    /// Getters blocked in `get` now (a capacity of 0 hands items to them).
    waiting_getters: usize,
    /// Capacity 0: the items of putters blocked in `put`, each under its
    /// putter's ticket, in the order they came; any getter (`try_get`
    /// too, as gevent's `get_nowait`) takes the first, which completes
    /// that put.
    offered: VecDeque<(u64, T)>,
    /// The next putter's ticket.
    next_ticket: u64,
    /// Items put and not yet marked done (`JoinableQueue`).
    unfinished: usize,
}

impl<T, S> State<T, S> {
    /// Takes back the item offered under `ticket`; `None` once a getter
    /// took it (the put succeeded).
    fn withdraw(&mut self, ticket: u64) -> Option<T> {
        let i = self.offered.iter().position(|(t, _)| *t == ticket)?;
        self.offered.remove(i).map(|(_, item)| item)
    }

    fn is_offered(&self, ticket: u64) -> bool {
        self.offered.iter().any(|(t, _)| *t == ticket)
    }

    fn has_room(&self) -> bool
    where
        S: Store<T>,
    {
        match self.cap {
            None => true,
            Some(0) => self.items.len() < self.waiting_getters,
            Some(c) => self.items.len() < c,
        }
    }
}

/// Why a put failed; carries the item back.
enum PutFail<T> {
    Full(T),
    Timeout(T),
    Closed(T),
}

/// Why a get failed.
enum GetFail {
    Empty,
    Timeout,
    Closed,
}

/// Runs a closure when dropped unless defused: undoes a waiter's
/// bookkeeping when its wait unwinds (a cancelled coroutine).
struct OnUnwind<F: FnMut()>(Option<F>);

impl<F: FnMut()> OnUnwind<F> {
    fn defuse(mut self) {
        self.0 = None;
    }
}

impl<F: FnMut()> Drop for OnUnwind<F> {
    fn drop(&mut self) {
        if let Some(f) = &mut self.0 {
            f();
        }
    }
}

/// The queue itself, generic over the store.
struct Chan<T, S> {
    state: Mutex<State<T, S>>,
    not_empty: Condvar,
    not_full: Condvar,
    all_done: Condvar,
    _items: PhantomData<fn(T) -> T>,
}

impl<T, S: Store<T>> Chan<T, S> {
    fn new(cap: Option<usize>) -> Chan<T, S> {
        Chan {
            state: Mutex::new(State {
                items: S::default(),
                cap,
                closed: false,
                waiting_getters: 0,
                offered: VecDeque::new(),
                next_ticket: 0,
                unfinished: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            all_done: Condvar::new(),
            _items: PhantomData,
        }
    }

    #[track_caller]
    fn put(&self, item: T, block: Block) -> Result<(), PutFail<T>> {
        let mut s = lock(&self.state);
        let mut timed_out = false;
        loop {
            if s.closed {
                return Err(PutFail::Closed(item));
            }
            if s.has_room() {
                s.items.push(item);
                s.unfinished += 1;
                drop(s);
                self.not_empty.notify_one();
                return Ok(());
            }
            let deadline = match block {
                Block::No => return Err(PutFail::Full(item)),
                Block::Until(d) => d,
            };
            if timed_out {
                return Err(PutFail::Timeout(item));
            }
            if s.cap == Some(0) {
                return self.offer(s, item, deadline);
            }
            // If this wait unwinds, pass on a wakeup it may have consumed.
            let undo = OnUnwind(Some(|| {
                shim_rt::cancel::defer(|| {
                    let s = lock(&self.state);
                    if s.has_room() || s.closed {
                        self.not_full.notify_one();
                    }
                })
            }));
            (s, timed_out) = wait_until(&self.not_full, s, deadline);
            undo.defuse();
        }
    }

    #[track_caller]
    fn get(&self, block: Block) -> Result<T, GetFail> {
        let mut s = lock(&self.state);
        let mut timed_out = false;
        loop {
            if let Some(t) = s.items.pop() {
                let bounded = s.cap.is_some();
                drop(s);
                if bounded {
                    self.not_full.notify_one();
                }
                return Ok(t);
            }
            if let Some((_, t)) = s.offered.pop_front() {
                s.unfinished += 1;
                drop(s);
                // Putters wait on one condvar, each for its own ticket.
                self.not_full.notify_all();
                return Ok(t);
            }
            if s.closed {
                return Err(GetFail::Closed);
            }
            let deadline = match block {
                Block::No => return Err(GetFail::Empty),
                Block::Until(d) => d,
            };
            if timed_out {
                return Err(GetFail::Timeout);
            }
            s.waiting_getters += 1;
            let undo = OnUnwind(Some(|| {
                shim_rt::cancel::defer(|| {
                    let mut s = lock(&self.state);
                    s.waiting_getters -= 1;
                    if s.items.len() > 0 || s.closed {
                        self.not_empty.notify_one();
                    }
                })
            }));
            (s, timed_out) = wait_until(&self.not_empty, s, deadline);
            undo.defuse();
            s.waiting_getters -= 1;
        }
    }

    /// Capacity 0, no getter waiting: offers `item` to getters and waits
    /// until one takes it, the deadline passes or the queue closes.
    #[track_caller]
    fn offer(
        &self,
        mut s: shim_sync::MutexGuard<'_, State<T, S>>,
        item: T,
        deadline: Option<Instant>,
    ) -> Result<(), PutFail<T>> {
        let ticket = s.next_ticket;
        s.next_ticket += 1;
        s.offered.push_back((ticket, item));
        loop {
            // If this wait unwinds, the offer is withdrawn (the item dropped).
            let undo = OnUnwind(Some(|| {
                shim_rt::cancel::defer(|| drop(lock(&self.state).withdraw(ticket)))
            }));
            let timed_out;
            (s, timed_out) = wait_until(&self.not_full, s, deadline);
            undo.defuse();
            if !s.is_offered(ticket) {
                return Ok(());
            }
            if s.closed || timed_out {
                let closed = s.closed;
                return match s.withdraw(ticket) {
                    None => Ok(()),
                    Some(item) if closed => Err(PutFail::Closed(item)),
                    Some(item) => Err(PutFail::Timeout(item)),
                };
            }
        }
    }

    fn len(&self) -> usize {
        lock(&self.state).items.len()
    }

    fn is_full(&self) -> bool {
        !lock(&self.state).has_room()
    }

    fn capacity(&self) -> Option<usize> {
        lock(&self.state).cap
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut s = lock(&self.state);
        if s.unfinished == 0 {
            return Err(TaskDoneError(()));
        }
        s.unfinished -= 1;
        if s.unfinished == 0 {
            self.all_done.notify_all();
        }
        Ok(())
    }

    fn unfinished(&self) -> usize {
        lock(&self.state).unfinished
    }

    #[track_caller]
    fn join(&self, deadline: Option<Instant>) -> bool {
        let mut s = lock(&self.state);
        loop {
            if s.unfinished == 0 {
                return true;
            }
            let timed_out;
            (s, timed_out) = wait_until(&self.all_done, s, deadline);
            if timed_out {
                return s.unfinished == 0;
            }
        }
    }
}

impl<T, S: Store<T>> fmt::Debug for Chan<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.state);
        f.debug_struct("Queue")
            .field("len", &s.items.len())
            .field("capacity", &s.cap)
            .field("closed", &s.closed)
            .finish_non_exhaustive()
    }
}

/// Generates the methods every queue has, with their documentation.
macro_rules! queue_methods {
    ($Q:ident, [$($bound:tt)*]) => {
        impl<T $($bound)*> $Q<T> {
            #[doc = concat!("Creates an unbounded `", stringify!($Q), "`: `put` never blocks.")]
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::", stringify!($Q), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::new();")]
            /// q.put(1).unwrap();
            /// assert_eq!(q.len(), 1);
            /// ```
            pub fn new() -> $Q<T> {
                $Q { chan: Chan::new(None) }
            }

            #[doc = concat!("Creates a `", stringify!($Q), "` holding at most `capacity` items \
                (gevent: `maxsize`): `put` blocks while it is full.")]
            ///
            /// With a capacity of 0, `put` blocks until a getter takes the
            /// item (gevent's `Channel`): a getter that is waiting, or any
            /// later `get`, `get_timeout` or `try_get`; a getter that times
            /// out after the item was handed to it leaves the item for the
            /// next one.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::", stringify!($Q), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::bounded(1);")]
            /// q.put(1).unwrap();
            /// assert!(q.is_full());
            /// assert!(q.try_put(2).is_err());
            /// ```
            pub fn bounded(capacity: usize) -> $Q<T> {
                $Q { chan: Chan::new(Some(capacity)) }
            }

            /// Adds `item`, blocking while the queue is full (gevent:
            /// `Queue.put`).
            ///
            /// # Errors
            ///
            /// When the queue is closed (also while blocked), the item is
            /// given back in [`PutError`].
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::", stringify!($Q), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::new();")]
            /// q.put(7).unwrap();
            /// q.close();
            /// assert_eq!(q.put(8).unwrap_err().0, 8);
            /// ```
            #[track_caller]
            pub fn put(&self, item: T) -> Result<(), PutError<T>> {
                match self.chan.put(item, Block::Until(None)) {
                    Ok(()) => Ok(()),
                    Err(PutFail::Closed(t) | PutFail::Full(t) | PutFail::Timeout(t)) => {
                        Err(PutError(t))
                    }
                }
            }

            /// Adds `item` if there is room now, without blocking (gevent:
            /// `Queue.put_nowait`).
            ///
            /// # Errors
            ///
            /// [`TryPutError::Full`] or [`TryPutError::Closed`], with the item.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::{", stringify!($Q), ", TryPutError};")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::bounded(1);")]
            /// q.try_put(1).unwrap();
            /// assert!(matches!(q.try_put(2), Err(TryPutError::Full(2))));
            /// ```
            pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
                match self.chan.put(item, Block::No) {
                    Ok(()) => Ok(()),
                    Err(PutFail::Full(t) | PutFail::Timeout(t)) => Err(TryPutError::Full(t)),
                    Err(PutFail::Closed(t)) => Err(TryPutError::Closed(t)),
                }
            }

            /// Adds `item`, blocking at most `dur` while the queue is full
            /// (gevent: `Queue.put(item, timeout=dur)`).
            ///
            /// # Errors
            ///
            /// [`PutTimeoutError::Timeout`] or [`PutTimeoutError::Closed`],
            /// with the item.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::{", stringify!($Q), ", PutTimeoutError};")]
            /// use std::time::Duration;
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::bounded(1);")]
            /// q.put(1).unwrap();
            /// let r = q.put_timeout(2, Duration::from_millis(10));
            /// assert!(matches!(r, Err(PutTimeoutError::Timeout(2))));
            /// ```
            #[track_caller]
            pub fn put_timeout(&self, item: T, dur: Duration) -> Result<(), PutTimeoutError<T>> {
                match self.chan.put(item, Block::Until(deadline_after(dur))) {
                    Ok(()) => Ok(()),
                    Err(PutFail::Full(t) | PutFail::Timeout(t)) => Err(PutTimeoutError::Timeout(t)),
                    Err(PutFail::Closed(t)) => Err(PutTimeoutError::Closed(t)),
                }
            }

            /// Removes and returns the next item, blocking while the queue
            /// is empty (gevent: `Queue.get`); `None` once the queue is
            /// closed and empty.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::", stringify!($Q), ";")]
            /// use shim_thread as thread;
            /// use std::sync::Arc;
            ///
            #[doc = concat!("let q = Arc::new(", stringify!($Q), "::new());")]
            /// let q2 = q.clone();
            /// thread::spawn(move || q2.put(5).unwrap());
            /// assert_eq!(q.get(), Some(5));
            /// q.close();
            /// assert_eq!(q.get(), None);
            /// ```
            #[track_caller]
            pub fn get(&self) -> Option<T> {
                self.chan.get(Block::Until(None)).ok()
            }

            /// Removes and returns the next item if there is one, without
            /// blocking (gevent: `Queue.get_nowait`).
            ///
            /// # Errors
            ///
            /// [`TryGetError::Empty`], or [`TryGetError::Closed`] when the
            /// queue is closed and empty.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::{", stringify!($Q), ", TryGetError};")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::<u8>::new();")]
            /// assert_eq!(q.try_get(), Err(TryGetError::Empty));
            /// q.close();
            /// assert_eq!(q.try_get(), Err(TryGetError::Closed));
            /// ```
            pub fn try_get(&self) -> Result<T, TryGetError> {
                self.chan.get(Block::No).map_err(|e| match e {
                    GetFail::Closed => TryGetError::Closed,
                    GetFail::Empty | GetFail::Timeout => TryGetError::Empty,
                })
            }

            /// Removes and returns the next item, blocking at most `dur`
            /// while the queue is empty (gevent: `Queue.get(timeout=dur)`).
            ///
            /// # Errors
            ///
            /// [`GetTimeoutError::Timeout`], or [`GetTimeoutError::Closed`]
            /// when the queue is closed and empty.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::{", stringify!($Q), ", GetTimeoutError};")]
            /// use std::time::Duration;
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::<u8>::new();")]
            /// assert_eq!(q.get_timeout(Duration::from_millis(10)), Err(GetTimeoutError::Timeout));
            /// ```
            #[track_caller]
            pub fn get_timeout(&self, dur: Duration) -> Result<T, GetTimeoutError> {
                self.chan
                    .get(Block::Until(deadline_after(dur)))
                    .map_err(|e| match e {
                        GetFail::Closed => GetTimeoutError::Closed,
                        GetFail::Empty | GetFail::Timeout => GetTimeoutError::Timeout,
                    })
            }

            /// The number of items in the queue now (gevent: `Queue.qsize`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::", stringify!($Q), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::new();")]
            /// q.put(1).unwrap();
            /// q.put(2).unwrap();
            /// assert_eq!(q.len(), 2);
            /// ```
            pub fn len(&self) -> usize {
                self.chan.len()
            }

            /// `true` when the queue holds no item (gevent: `Queue.empty`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::", stringify!($Q), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::<u8>::new();")]
            /// assert!(q.is_empty());
            /// ```
            pub fn is_empty(&self) -> bool {
                self.chan.len() == 0
            }

            /// `true` when a `put` would block now (gevent: `Queue.full`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::", stringify!($Q), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::bounded(2);")]
            /// q.put(1).unwrap();
            /// assert!(!q.is_full());
            /// q.put(2).unwrap();
            /// assert!(q.is_full());
            /// ```
            pub fn is_full(&self) -> bool {
                self.chan.is_full()
            }

            /// The most items the queue holds; `None` when unbounded
            /// (gevent: `Queue.maxsize`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::", stringify!($Q), ";")]
            ///
            #[doc = concat!("assert_eq!(", stringify!($Q), "::<u8>::bounded(3).capacity(), Some(3));")]
            #[doc = concat!("assert_eq!(", stringify!($Q), "::<u8>::new().capacity(), None);")]
            /// ```
            pub fn capacity(&self) -> Option<usize> {
                self.chan.capacity()
            }

            /// Closes the queue and wakes every waiter: blocked and later
            /// `put`s fail, and `get`s take what is left, then return `None`.
            /// Closing twice does nothing.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::", stringify!($Q), ";")]
            /// use shim_thread as thread;
            /// use std::sync::Arc;
            ///
            #[doc = concat!("let q = Arc::new(", stringify!($Q), "::<u8>::new());")]
            /// let q2 = q.clone();
            /// let getter = thread::spawn(move || q2.get());
            /// q.close();
            /// assert_eq!(getter.join().unwrap(), None);
            /// assert!(q.is_closed());
            /// ```
            pub fn close(&self) {
                self.chan.close()
            }

            /// `true` once [`close`](Self::close) was called.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::", stringify!($Q), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::<u8>::new();")]
            /// assert!(!q.is_closed());
            /// q.close();
            /// assert!(q.is_closed());
            /// ```
            pub fn is_closed(&self) -> bool {
                self.chan.is_closed()
            }

            /// An iterator that [`get`](Self::get)s items, blocking for each,
            /// until the queue is closed and empty (gevent: `for item in queue`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use shim_green::queue::", stringify!($Q), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::new();")]
            /// q.put(1).unwrap();
            /// q.put(1).unwrap();
            /// q.close();
            /// assert_eq!(q.iter().sum::<i32>(), 2);
            /// ```
            #[track_caller]
            pub fn iter(&self) -> Iter<'_, T> {
                Iter { get: self }
            }
        }

        impl<T $($bound)*> Default for $Q<T> {
            #[doc = concat!("An unbounded `", stringify!($Q), "`.")]
            fn default() -> $Q<T> {
                $Q::new()
            }
        }

        impl<T $($bound)*> fmt::Debug for $Q<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.chan.fmt(f)
            }
        }

        impl<T $($bound)*> Getter<T> for $Q<T> {
            fn get_item(&self) -> Option<T> {
                self.get()
            }
        }

        impl<'a, T $($bound)*> IntoIterator for &'a $Q<T> {
            type Item = T;
            type IntoIter = Iter<'a, T>;
            fn into_iter(self) -> Iter<'a, T> {
                self.iter()
            }
        }
    };
}

/// A first-in, first-out queue: gevent's `gevent.queue.Queue`.
///
/// See the [module](self) for what all queues share.
///
/// # Examples
///
/// ```
/// use shim_green::queue::Queue;
/// use shim_thread as thread;
/// use std::sync::Arc;
///
/// let q = Arc::new(Queue::bounded(2));
/// let producer = {
///     let q = q.clone();
///     thread::spawn(move || {
///         for i in 0..5 {
///             q.put(i).unwrap(); // blocks while 2 items wait
///         }
///         q.close();
///     })
/// };
/// let got: Vec<i32> = q.iter().collect();
/// assert_eq!(got, [0, 1, 2, 3, 4]);
/// producer.join().unwrap();
/// ```
pub struct Queue<T> {
    chan: Chan<T, VecDeque<T>>,
}
queue_methods!(Queue, []);

/// A last-in, first-out queue (a stack): gevent's `gevent.queue.LifoQueue`.
///
/// See the [module](self) for what all queues share.
///
/// # Examples
///
/// ```
/// use shim_green::queue::LifoQueue;
///
/// let q = LifoQueue::new();
/// for i in 0..3 {
///     q.put(i).unwrap();
/// }
/// assert_eq!(q.get(), Some(2));
/// assert_eq!(q.get(), Some(1));
/// ```
pub struct LifoQueue<T> {
    chan: Chan<T, Vec<T>>,
}
queue_methods!(LifoQueue, []);

/// A queue that gives the greatest item first, as std's
/// [`BinaryHeap`]: gevent's `gevent.queue.PriorityQueue`, whose order is
/// the reverse (smallest first, Python's `heapq`) — wrap items in
/// [`std::cmp::Reverse`] for gevent's order.
///
/// See the [module](self) for what all queues share.
///
/// # Examples
///
/// ```
/// use shim_green::queue::PriorityQueue;
/// use std::cmp::Reverse;
///
/// let q = PriorityQueue::new();
/// for job in [(2, "low"), (9, "urgent"), (5, "normal")] {
///     q.put(job).unwrap();
/// }
/// assert_eq!(q.get(), Some((9, "urgent")));
///
/// // gevent's order: smallest first.
/// let q = PriorityQueue::new();
/// q.put(Reverse(3)).unwrap();
/// q.put(Reverse(1)).unwrap();
/// assert_eq!(q.get(), Some(Reverse(1)));
/// ```
pub struct PriorityQueue<T> {
    chan: Chan<T, BinaryHeap<T>>,
}
queue_methods!(PriorityQueue, [: Ord]);

/// A first-in, first-out [`Queue`] that counts unfinished tasks: gevent's
/// `gevent.queue.JoinableQueue`.
///
/// Every `put` adds one unfinished task; a consumer calls
/// [`task_done`](JoinableQueue::task_done) once it has finished with an
/// item, and [`join`](JoinableQueue::join) blocks until every item put so
/// far is done.
///
/// # Examples
///
/// ```
/// use shim_green::queue::JoinableQueue;
/// use shim_thread as thread;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
///
/// let jobs = Arc::new(JoinableQueue::new());
/// let total = Arc::new(AtomicU32::new(0));
/// for _ in 0..3 {
///     let (jobs, total) = (jobs.clone(), total.clone());
///     thread::spawn(move || {
///         for n in jobs.iter() {
///             total.fetch_add(n, Ordering::SeqCst);
///             jobs.task_done().unwrap();
///         }
///     });
/// }
/// for n in 1..=10 {
///     jobs.put(n).unwrap();
/// }
/// jobs.join(); // every job done
/// assert_eq!(total.load(Ordering::SeqCst), 55);
/// jobs.close(); // the workers' loops end
/// ```
pub struct JoinableQueue<T> {
    chan: Chan<T, VecDeque<T>>,
}
queue_methods!(JoinableQueue, []);

impl<T> JoinableQueue<T> {
    /// Marks one item taken from the queue as finished (gevent:
    /// `JoinableQueue.task_done`). When every item put so far is finished,
    /// [`join`](JoinableQueue::join) returns.
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] when called more times than items were put
    /// (gevent raises `ValueError`); the count is left unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::queue::JoinableQueue;
    ///
    /// let q = JoinableQueue::new();
    /// q.put("job").unwrap();
    /// let _job = q.get();
    /// assert!(q.task_done().is_ok());
    /// assert!(q.task_done().is_err());
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.chan.task_done()
    }

    /// Blocks until every item put so far has been marked done (gevent:
    /// `JoinableQueue.join`); returns at once when none is unfinished.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::queue::JoinableQueue;
    ///
    /// let q: JoinableQueue<u8> = JoinableQueue::new();
    /// q.join(); // nothing was put
    /// ```
    #[track_caller]
    pub fn join(&self) {
        self.chan.join(None);
    }

    /// As [`join`](JoinableQueue::join), blocking at most `dur`; returns
    /// `true` when every item is done (gevent: `join(timeout=dur)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::queue::JoinableQueue;
    /// use std::time::Duration;
    ///
    /// let q = JoinableQueue::new();
    /// q.put(1).unwrap();
    /// assert!(!q.join_timeout(Duration::from_millis(10)));
    /// ```
    #[track_caller]
    pub fn join_timeout(&self, dur: Duration) -> bool {
        self.chan.join(deadline_after(dur))
    }

    /// The number of items put and not yet marked done (gevent:
    /// `JoinableQueue.unfinished_tasks`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::queue::JoinableQueue;
    ///
    /// let q = JoinableQueue::new();
    /// q.put(1).unwrap();
    /// q.get();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.chan.unfinished()
    }
}

/// A queue an [`Iter`] can take items from.
trait Getter<T> {
    fn get_item(&self) -> Option<T>;
}

/// An iterator over the items of a queue, taking each with a blocking `get`
/// until the queue is closed and empty. Returned by `iter` on each queue.
pub struct Iter<'a, T> {
    get: &'a dyn Getter<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.get.get_item()
    }
}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

/// The error of a `put` on a closed queue; it gives the item back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct PutError<T>(pub T);

/// The error of a `try_put`.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TryPutError<T> {
    /// The queue is full; the item is given back.
    Full(T),
    /// The queue is closed; the item is given back.
    Closed(T),
}

/// The error of a `put_timeout`.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum PutTimeoutError<T> {
    /// The queue stayed full for the whole timeout; the item is given back.
    Timeout(T),
    /// The queue is closed; the item is given back.
    Closed(T),
}

/// The error of a `try_get`.
#[derive(PartialEq, Eq, Clone, Copy, Debug)]
pub enum TryGetError {
    /// The queue is empty.
    Empty,
    /// The queue is closed and empty.
    Closed,
}

/// The error of a `get_timeout`.
#[derive(PartialEq, Eq, Clone, Copy, Debug)]
pub enum GetTimeoutError {
    /// The queue stayed empty for the whole timeout.
    Timeout,
    /// The queue is closed and empty.
    Closed,
}

/// The error of [`JoinableQueue::task_done`] called more often than items
/// were put.
#[derive(PartialEq, Eq, Clone, Copy, Debug)]
pub struct TaskDoneError(());

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("putting on a closed queue")
    }
}

impl<T> Error for PutError<T> {}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("putting on a full queue"),
            TryPutError::Closed(_) => f.write_str("putting on a closed queue"),
        }
    }
}

impl<T> Error for TryPutError<T> {}

impl<T> From<PutError<T>> for TryPutError<T> {
    fn from(e: PutError<T>) -> TryPutError<T> {
        TryPutError::Closed(e.0)
    }
}

impl<T> fmt::Debug for PutTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            PutTimeoutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for PutTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutTimeoutError::Timeout(_) => f.write_str("timed out waiting for room in a queue"),
            PutTimeoutError::Closed(_) => f.write_str("putting on a closed queue"),
        }
    }
}

impl<T> Error for PutTimeoutError<T> {}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("getting from an empty queue"),
            TryGetError::Closed => f.write_str("getting from a closed, empty queue"),
        }
    }
}

impl Error for TryGetError {}

impl fmt::Display for GetTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetTimeoutError::Timeout => f.write_str("timed out waiting for an item in a queue"),
            GetTimeoutError::Closed => f.write_str("getting from a closed, empty queue"),
        }
    }
}

impl Error for GetTimeoutError {}

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called more times than items were put")
    }
}

impl Error for TaskDoneError {}
