//! `Pool`: a group that runs at most `n` members at once.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::iter::Peekable;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use shim_sync::mpsc::{channel, Receiver, Sender};
use shim_thread::{Builder, JoinHandle};

use crate::event::deadline_after;
use crate::group::Group;
use crate::semaphore::Semaphore;

/// A [`Group`] that runs at most a fixed number of members at once:
/// gevent's `gevent.pool.Pool`.
///
/// [`spawn`](Pool::spawn) blocks — cooperatively in a coroutine — while
/// `capacity` members are running, and starts the new one as soon as one
/// of them finishes. [`map`](Pool::map) and
/// [`map_unordered`](Pool::map_unordered) run a function over the items
/// of an iterator in the pool, returning iterators over the results.
/// A member holds its slot until its function returns or unwinds.
///
/// # Examples
///
/// The crawler of the gevent articles, with a pool of 20 (here the
/// "fetch" is a short sleep):
///
/// ```
/// use shim_green::Pool;
/// use shim_thread as thread;
/// use std::time::Duration;
///
/// let pool = Pool::new(20);
/// let urls = (0..100).map(|i| format!("http://127.0.0.1/{i}"));
/// let fetched = pool
///     .map_unordered(urls, |url| {
///         thread::sleep(Duration::from_millis(1));
///         url.len()
///     })
///     .filter(|r| r.is_ok())
///     .count();
/// assert_eq!(fetched, 100);
/// ```
pub struct Pool {
    group: Group,
    slots: Arc<Semaphore>,
    capacity: usize,
}

impl Pool {
    /// Creates a pool that runs at most `capacity` members at once
    /// (gevent: `Pool(size)`).
    ///
    /// # Panics
    ///
    /// If `capacity` is 0 (a pool that could never run anything), as
    /// std panics on `chunks(0)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    ///
    /// let pool = Pool::new(10);
    /// assert_eq!(pool.capacity(), 10);
    /// assert_eq!(pool.free_count(), 10);
    /// ```
    pub fn new(capacity: usize) -> Pool {
        assert!(capacity != 0, "greenstd: Pool capacity must be at least 1");
        Pool {
            group: Group::new(),
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// The most members the pool runs at once (gevent: `Pool.size`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    ///
    /// assert_eq!(Pool::new(3).capacity(), 3);
    /// ```
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Spawns `f` in the pool, first blocking until a slot is free
    /// (gevent: `Pool.spawn`), and returns its [`JoinHandle`].
    ///
    /// # Panics
    ///
    /// As `thread::spawn`: if the runtime cannot start or no stack can be
    /// mapped; use [`spawn_with`](Pool::spawn_with) to get an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    ///
    /// let pool = Pool::new(2);
    /// let handles: Vec<_> = (0..5).map(|i| pool.spawn(move || i * i)).collect();
    /// let squares: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    /// assert_eq!(squares, [0, 1, 4, 9, 16]);
    /// ```
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_with(Builder::new(), f)
            .expect("failed to spawn thread")
    }

    /// As [`spawn`](Pool::spawn), with the name and stack size set on
    /// `builder`.
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`]; the slot is given back.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    /// use shim_thread as thread;
    ///
    /// let pool = Pool::new(1);
    /// let h = pool.spawn_with(thread::Builder::new().name("w".into()), || 1).unwrap();
    /// assert_eq!(h.join().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn spawn_with<F, T>(&self, builder: Builder, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.slots.clone().acquire_owned();
        self.group
            .spawn_member(builder, Some(permit), move |membership| {
                let _membership = membership;
                f()
            })
    }

    /// Spawns `f` if a slot is free now, without blocking; gives `f` back
    /// when the pool is full.
    ///
    /// # Errors
    ///
    /// `Err(f)` when every slot is taken.
    ///
    /// # Panics
    ///
    /// As [`spawn`](Pool::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(1);
    /// let busy = pool.spawn(|| thread::sleep(Duration::from_millis(100)));
    /// assert!(pool.try_spawn(|| ()).is_err());
    /// busy.join().unwrap();
    /// ```
    #[track_caller]
    pub fn try_spawn<F, T>(&self, f: F) -> Result<JoinHandle<T>, F>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.slots.clone().try_acquire_owned() {
            Some(permit) => Ok(self
                .group
                .spawn_member(Builder::new(), Some(permit), move |membership| {
                    let _membership = membership;
                    f()
                })
                .expect("failed to spawn thread")),
            None => Err(f),
        }
    }

    /// Cancels every running member (gevent: `Pool.kill(block=False)`);
    /// see [`Group::cancel_all`]. Their slots come free as they unwind.
    /// Returns how many were cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(4);
    /// for _ in 0..4 {
    ///     pool.spawn(|| thread::sleep(Duration::from_secs(3600)));
    /// }
    /// assert_eq!(pool.cancel_all(), 4);
    /// pool.join_all();
    /// assert_eq!(pool.free_count(), 4);
    /// ```
    pub fn cancel_all(&self) -> usize {
        self.group.cancel_all()
    }

    /// The number of free slots now (gevent: `Pool.free_count`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(4);
    /// let h = pool.spawn(|| thread::sleep(Duration::from_millis(50)));
    /// assert_eq!(pool.free_count(), 3);
    /// h.join().unwrap();
    /// ```
    pub fn free_count(&self) -> usize {
        self.slots.available_permits()
    }

    /// `true` when every slot is taken: a `spawn` would block (gevent:
    /// `Pool.full`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    ///
    /// assert!(!Pool::new(1).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.free_count() == 0
    }

    /// Blocks until a slot is free, without taking it (gevent:
    /// `Pool.wait_available()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(1);
    /// pool.spawn(|| thread::sleep(Duration::from_millis(10)));
    /// pool.wait_available();
    /// assert_eq!(pool.free_count(), 1);
    /// ```
    #[track_caller]
    pub fn wait_available(&self) {
        self.slots.wait_free(None);
    }

    /// As [`wait_available`](Pool::wait_available), blocking at most `dur`;
    /// returns `true` when a slot is free (gevent:
    /// `Pool.wait_available(timeout=dur)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(1);
    /// let h = pool.spawn(|| thread::sleep(Duration::from_millis(200)));
    /// assert!(!pool.wait_available_timeout(Duration::from_millis(10)));
    /// h.join().unwrap();
    /// assert!(pool.wait_available_timeout(Duration::from_millis(10)));
    /// ```
    #[track_caller]
    pub fn wait_available_timeout(&self, dur: Duration) -> bool {
        self.slots.wait_free(deadline_after(dur))
    }

    /// The number of members running (gevent: `len(pool)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    ///
    /// let pool = Pool::new(2);
    /// pool.join_all();
    /// assert_eq!(pool.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.group.len()
    }

    /// `true` when no member is running.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    ///
    /// assert!(Pool::new(2).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.group.is_empty()
    }

    /// Blocks until every member has finished (gevent: `Pool.join()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    ///
    /// let pool = Pool::new(2);
    /// for _ in 0..4 {
    ///     pool.spawn(|| ());
    /// }
    /// pool.join_all();
    /// assert!(pool.is_empty());
    /// ```
    #[track_caller]
    pub fn join_all(&self) {
        self.group.join_all()
    }

    /// As [`join_all`](Pool::join_all), blocking at most `dur`; `true` when
    /// every member has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    /// use std::time::Duration;
    ///
    /// assert!(Pool::new(2).join_all_timeout(Duration::from_millis(1)));
    /// ```
    #[track_caller]
    pub fn join_all_timeout(&self, dur: Duration) -> bool {
        self.group.join_all_timeout(dur)
    }

    /// Runs `f` on every item of `items` in the pool and returns an
    /// iterator over the results *in the order of the items* (gevent:
    /// `Pool.imap`; collect it for `Pool.map`).
    ///
    /// Items are taken from `items` lazily, as slots free up, by the
    /// thread iterating; at most twice the pool's capacity of results are
    /// running or waiting to be yielded at once. Each result is a
    /// [`std::thread::Result`]: `Err` holds the payload when `f` panicked
    /// for that item. Dropping the iterator starts no more items; those
    /// already running finish on their own.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(4);
    /// let lengths: Vec<usize> = pool
    ///     .map(["a", "bbb", "cc"], |s| {
    ///         thread::sleep(Duration::from_millis(10 * s.len() as u64));
    ///         s.len()
    ///     })
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(lengths, [1, 3, 2]);
    /// ```
    #[track_caller]
    pub fn map<I, F, R>(&self, items: I, f: F) -> Map<'_, I::IntoIter, R>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        Map {
            feed: Feed::new(self, items.into_iter(), f),
            next_out: 0,
            ready: BTreeMap::new(),
        }
    }

    /// Runs `f` on every item of `items` in the pool and returns an
    /// iterator over the results *as they finish* (gevent:
    /// `Pool.imap_unordered`).
    ///
    /// As [`map`](Pool::map) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Pool;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(3);
    /// let order: Vec<u64> = pool
    ///     .map_unordered([30, 10, 20], |ms| {
    ///         thread::sleep(Duration::from_millis(ms * 5));
    ///         ms
    ///     })
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(order, [10, 20, 30]);
    /// ```
    #[track_caller]
    pub fn map_unordered<I, F, R>(&self, items: I, f: F) -> MapUnordered<'_, I::IntoIter, R>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        MapUnordered {
            feed: Feed::new(self, items.into_iter(), f),
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .field("free_count", &self.free_count())
            .finish_non_exhaustive()
    }
}

type Job<T, R> = Arc<dyn Fn(T) -> R + Send + Sync>;

/// Starts the items of a map in the pool and collects their results.
struct Feed<'p, I: Iterator, R> {
    pool: &'p Pool,
    items: Peekable<I>,
    f: Job<I::Item, R>,
    tx: Sender<(usize, std::thread::Result<R>)>,
    rx: Receiver<(usize, std::thread::Result<R>)>,
    /// Index of the next item to start.
    next_in: usize,
    /// Started and not yet yielded.
    in_flight: usize,
}

impl<'p, I, R> Feed<'p, I, R>
where
    I: Iterator,
    I::Item: Send + 'static,
    R: Send + 'static,
{
    fn new<F>(pool: &'p Pool, items: I, f: F) -> Feed<'p, I, R>
    where
        F: Fn(I::Item) -> R + Send + Sync + 'static,
    {
        let (tx, rx) = channel();
        Feed {
            pool,
            items: items.peekable(),
            f: Arc::new(f),
            tx,
            rx,
            next_in: 0,
            in_flight: 0,
        }
    }

    /// Starts items while slots are free (blocking for one when nothing of
    /// ours is running), up to twice the pool's capacity in flight.
    #[track_caller]
    fn top_up(&mut self) {
        while self.in_flight < 2 * self.pool.capacity && self.items.peek().is_some() {
            let permit = if self.in_flight == 0 {
                self.pool.slots.clone().acquire_owned()
            } else {
                match self.pool.slots.clone().try_acquire_owned() {
                    Some(p) => p,
                    None => return,
                }
            };
            let Some(item) = self.items.next() else {
                return;
            };
            let (f, tx, index) = (self.f.clone(), self.tx.clone(), self.next_in);
            self.pool
                .group
                .spawn_member(Builder::new(), Some(permit), move |membership| {
                    let r = catch_unwind(AssertUnwindSafe(|| f(item)));
                    // Leave (and free the slot) before reporting, so the
                    // consumer can start the next item at once. Not cut
                    // short by a cancellation: the consumer counts on
                    // hearing of every item (a cancelled one reports `Err`).
                    shim_rt::cancel::defer(move || {
                        drop(membership);
                        let _ = tx.send((index, r));
                    });
                })
                .expect("failed to spawn thread");
            self.next_in += 1;
            self.in_flight += 1;
        }
    }

    /// The next result to arrive; `None` when nothing is in flight.
    #[track_caller]
    fn next_done(&mut self) -> Option<(usize, std::thread::Result<R>)> {
        self.top_up();
        if self.in_flight == 0 {
            return None;
        }
        // We hold a sender: this never reports a disconnection.
        self.rx.recv().ok()
    }
}

/// An iterator over the results of [`Pool::map`], in the order of the
/// items.
pub struct Map<'p, I: Iterator, R> {
    feed: Feed<'p, I, R>,
    next_out: usize,
    ready: BTreeMap<usize, std::thread::Result<R>>,
}

impl<I, R> Iterator for Map<'_, I, R>
where
    I: Iterator,
    I::Item: Send + 'static,
    R: Send + 'static,
{
    type Item = std::thread::Result<R>;

    #[track_caller]
    fn next(&mut self) -> Option<std::thread::Result<R>> {
        loop {
            if let Some(r) = self.ready.remove(&self.next_out) {
                self.next_out += 1;
                self.feed.in_flight -= 1;
                return Some(r);
            }
            let (index, r) = self.feed.next_done()?;
            self.ready.insert(index, r);
        }
    }
}

impl<I: Iterator, R> fmt::Debug for Map<'_, I, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("in_flight", &self.feed.in_flight)
            .finish_non_exhaustive()
    }
}

/// An iterator over the results of [`Pool::map_unordered`], as they finish.
pub struct MapUnordered<'p, I: Iterator, R> {
    feed: Feed<'p, I, R>,
}

impl<I, R> Iterator for MapUnordered<'_, I, R>
where
    I: Iterator,
    I::Item: Send + 'static,
    R: Send + 'static,
{
    type Item = std::thread::Result<R>;

    #[track_caller]
    fn next(&mut self) -> Option<std::thread::Result<R>> {
        let (_, r) = self.feed.next_done()?;
        self.feed.in_flight -= 1;
        Some(r)
    }
}

impl<I: Iterator, R> fmt::Debug for MapUnordered<'_, I, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapUnordered")
            .field("in_flight", &self.feed.in_flight)
            .finish_non_exhaustive()
    }
}
