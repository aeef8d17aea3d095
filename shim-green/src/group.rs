//! `Group`: a set of spawned threads to wait for (and cancel) together.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use shim_sync::{Condvar, Mutex};
use shim_thread::__green::{task, Finish};
use shim_thread::{Builder, JoinHandle, Thread};

use crate::cancel::Cancelled;

use crate::event::{deadline_after, lock, panic_message, wait_until};
use crate::semaphore::OwnedSemaphorePermit;

/// A set of threads spawned together, to wait for as one: gevent's
/// `gevent.pool.Group`.
///
/// [`spawn`](Group::spawn) starts a thread (a coroutine) in the group and
/// returns its [`JoinHandle`] as `thread::spawn` does; the group keeps
/// track of it until it finishes. [`join_all`](Group::join_all) waits
/// until every member has finished (gevent: `Group.join`). A member leaves
/// the group when its function returns or unwinds, whether or not anyone
/// joins its handle. Share a group between threads with an `Arc`.
///
/// # Examples
///
/// ```
/// use shim_green::Group;
/// use shim_thread as thread;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let group = Group::new();
/// let done = Arc::new(AtomicUsize::new(0));
/// for i in 0..10 {
///     let done = done.clone();
///     group.spawn(move || {
///         thread::sleep(Duration::from_millis(i));
///         done.fetch_add(1, Ordering::SeqCst);
///     });
/// }
/// group.join_all();
/// assert_eq!(done.load(Ordering::SeqCst), 10);
/// assert!(group.is_empty());
/// ```
pub struct Group {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Notified whenever a member leaves or fails.
    changed: Condvar,
}

/// One member of a group.
struct Member {
    /// `None` while being spawned.
    thread: Option<Thread>,
    /// A pool's slot, held and never read: given back when the member
    /// leaves, so a pool never counts more members than slots.
    _slot: Option<OwnedSemaphorePermit>,
}

struct State {
    next_key: u64,
    members: HashMap<u64, Member>,
    /// Bumped by every `cancel_all`: a member still being spawned when it
    /// ran is cancelled as soon as its thread is known.
    cancel_epoch: u64,
    /// Cancel the others when a member panics.
    cancel_on_panic: bool,
    /// Members that have finished (not those discarded), ever.
    finished: u64,
    /// How many of those `join_n` has reported.
    counted: u64,
    /// The first panic or cancellation of a member not yet reported by
    /// `try_join_all`.
    failure: Option<MemberFailed>,
}

/// A member's registration, dropped when its function ends (or unwinds),
/// or with the function if the spawn fails.
pub(crate) struct Membership {
    inner: Arc<Inner>,
    key: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.inner.leave(self.key);
    }
}

/// The error of [`Group::try_join_all`]: a member panicked or was
/// cancelled (gevent: the exception `joinall(raise_error=True)` re-raises).
/// The payload itself stays with the member's join handle.
///
/// # Examples
///
/// ```
/// use shim_green::Group;
///
/// let group = Group::new();
/// group.spawn(|| panic!("bad input"));
/// let failed = group.try_join_all().unwrap_err();
/// assert_eq!(failed.message(), Some("bad input"));
/// assert!(!failed.is_cancelled());
/// ```
#[derive(Clone)]
pub struct MemberFailed {
    thread: Thread,
    cancelled: bool,
    message: Option<String>,
}

impl MemberFailed {
    /// The member that failed.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// `true` when it was cancelled (its payload is
    /// [`Cancelled`](crate::Cancelled)) rather than panicked.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }

    /// The panic's message, when its payload was a `&str` or a `String`.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

impl fmt::Debug for MemberFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberFailed")
            .field("thread", &self.thread.id())
            .field("cancelled", &self.cancelled)
            .field("message", &self.message)
            .finish()
    }
}

impl fmt::Display for MemberFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.message, self.cancelled) {
            (_, true) => f.write_str("a member of the group was cancelled"),
            (Some(m), false) => write!(f, "a member of the group panicked: {m}"),
            (None, false) => f.write_str("a member of the group panicked"),
        }
    }
}

impl std::error::Error for MemberFailed {}

impl Inner {
    /// Cancels every member but the caller; returns how many.
    fn cancel_all(&self) -> usize {
        let me = shim_thread::current().id();
        let targets: Vec<Thread> = {
            let mut s = lock(&self.state);
            s.cancel_epoch += 1;
            s.members
                .values()
                .filter_map(|m| m.thread.as_ref())
                .filter(|t| t.id() != me)
                .cloned()
                .collect()
        };
        for t in &targets {
            shim_rt::cancel::cancel(task(t));
        }
        targets.len()
    }

    /// Removes a member that finished (or whose spawn failed).
    fn leave(&self, key: u64) {
        // Bookkeeping that must complete, also for a cancelled member.
        shim_rt::cancel::defer(|| {
            let mut s = lock(&self.state);
            // The slot is freed under the group's lock: whoever sees the
            // group without this member (len, join_all) also sees it free.
            if let Some(m) = s.members.remove(&key) {
                s.finished += 1;
                drop(m);
                self.changed.notify_all();
            }
        })
    }

    /// Notes the failure of the calling member (before it leaves).
    fn failed(&self, payload: &(dyn Any + Send)) {
        shim_rt::cancel::defer(|| {
            let mut s = lock(&self.state);
            if s.failure.is_none() {
                s.failure = Some(MemberFailed {
                    thread: shim_thread::current(),
                    cancelled: payload.is::<Cancelled>(),
                    message: panic_message(payload),
                });
            }
            self.changed.notify_all();
        })
    }
}

impl Group {
    /// Creates an empty group.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Group;
    ///
    /// let group = Group::new();
    /// assert_eq!(group.len(), 0);
    /// ```
    pub fn new() -> Group {
        Group {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    next_key: 0,
                    members: HashMap::new(),
                    cancel_epoch: 0,
                    cancel_on_panic: false,
                    finished: 0,
                    counted: 0,
                    failure: None,
                }),
                changed: Condvar::new(),
            }),
        }
    }

    /// Spawns a thread — a coroutine — in the group, returning its
    /// [`JoinHandle`] (gevent: `Group.spawn`).
    ///
    /// # Panics
    ///
    /// As `thread::spawn`: if the runtime cannot start or no stack can be
    /// mapped; use [`spawn_with`](Group::spawn_with) to get an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Group;
    ///
    /// let group = Group::new();
    /// let h = group.spawn(|| 6 * 7);
    /// assert_eq!(h.join().unwrap(), 42);
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

    /// Spawns a thread in the group with the name and stack size set on
    /// `builder`.
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`]; the group is left unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Group;
    /// use shim_thread as thread;
    ///
    /// let group = Group::new();
    /// let h = group
    ///     .spawn_with(thread::Builder::new().name("fetcher".into()), || {
    ///         thread::current().name().map(str::to_owned)
    ///     })
    ///     .unwrap();
    /// assert_eq!(h.join().unwrap().as_deref(), Some("fetcher"));
    /// ```
    #[track_caller]
    pub fn spawn_with<F, T>(&self, builder: Builder, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_member(builder, None, move |_| f())
    }

    /// Spawns `f` as a member holding `slot`; `f` may leave the group
    /// early (and give the slot back) by taking its membership and
    /// dropping it; otherwise it leaves when `f` returns or unwinds.
    #[track_caller]
    pub(crate) fn spawn_member<F, T>(
        &self,
        builder: Builder,
        slot: Option<OwnedSemaphorePermit>,
        f: F,
    ) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce(&mut Option<Membership>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (key, epoch) = shim_rt::cancel::defer(|| {
            let mut s = lock(&self.inner.state);
            s.next_key += 1;
            let key = s.next_key;
            s.members.insert(
                key,
                Member {
                    thread: None,
                    _slot: slot,
                },
            );
            (key, s.cancel_epoch)
        });
        let membership = Membership {
            inner: self.inner.clone(),
            key,
        };
        let handle = builder.spawn(move || {
            let inner = membership.inner.clone();
            let cancel_on_panic = {
                let mut s = lock(&inner.state);
                // Known at once, so that the member counts as one of ours
                // (`contains`) before its spawner learns its thread.
                if let Some(m) = s.members.get_mut(&key) {
                    m.thread.get_or_insert_with(shim_thread::current);
                }
                s.cancel_on_panic
            };
            let mut membership = Some(membership);
            match catch_unwind(AssertUnwindSafe(|| f(&mut membership))) {
                Ok(v) => v,
                Err(payload) => {
                    if membership.is_some() {
                        // Noted before it leaves: `try_join_all` sees the
                        // failure no later than the emptied group.
                        inner.failed(&*payload);
                    }
                    drop(membership);
                    if cancel_on_panic && !payload.is::<Cancelled>() {
                        inner.cancel_all();
                    }
                    resume_unwind(payload)
                }
            }
        })?;
        shim_rt::cancel::defer(|| {
            let mut s = lock(&self.inner.state);
            let cancelled_meanwhile = s.cancel_epoch != epoch;
            if let Some(m) = s.members.get_mut(&key) {
                m.thread = Some(handle.thread().clone());
                if cancelled_meanwhile {
                    shim_rt::cancel::cancel(task(handle.thread()));
                }
            }
        });
        Ok(handle)
    }

    /// Adds a thread started elsewhere to the group (gevent: `Group.add`):
    /// the group tracks it until it finishes — [`len`](Group::len),
    /// [`join_all`](Group::join_all) and [`cancel_all`](Group::cancel_all)
    /// count it. Returns `false` when it was a member already. A thread
    /// that has already finished is added and leaves at once.
    ///
    /// Its result stays with `handle`; [`try_join_all`](Group::try_join_all)
    /// sees the failures of the members it spawned, not of those added.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Group;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let group = Group::new();
    /// let h = thread::spawn(|| thread::sleep(Duration::from_millis(20)));
    /// assert!(group.add(&h));
    /// assert!(group.contains(h.thread()));
    /// group.join_all(); // waits for it
    /// assert!(group.is_empty());
    /// h.join().unwrap();
    /// ```
    #[track_caller]
    pub fn add<T>(&self, handle: &JoinHandle<T>) -> bool {
        self.adopt(handle, None)
    }

    /// [`add`](Group::add), holding `slot` while the thread runs.
    #[track_caller]
    pub(crate) fn adopt<T>(
        &self,
        handle: &JoinHandle<T>,
        slot: Option<OwnedSemaphorePermit>,
    ) -> bool {
        let thread = handle.thread();
        let key = shim_rt::cancel::defer(|| {
            let mut s = lock(&self.inner.state);
            if Group::find(&s, thread).is_some() {
                return None;
            }
            s.next_key += 1;
            let key = s.next_key;
            let member = Member {
                thread: Some(thread.clone()),
                _slot: slot,
            };
            s.members.insert(key, member);
            Some(key)
        });
        let Some(key) = key else {
            return false;
        };
        let inner = self.inner.clone();
        if handle.watch(Arc::new(move || inner.leave(key))).is_none() {
            // Finished already.
            self.inner.leave(key);
        }
        true
    }

    /// Stops tracking `thread` (gevent: `Group.discard`): it goes on
    /// running, but the group no longer counts, waits for or cancels it
    /// (a pool gives its slot back). Returns `false` when it was not a
    /// member.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Group;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let group = Group::new();
    /// let h = group.spawn(|| thread::sleep(Duration::from_millis(50)));
    /// assert!(group.discard(h.thread()));
    /// assert!(group.is_empty());
    /// assert!(!group.discard(h.thread()));
    /// h.join().unwrap();
    /// ```
    pub fn discard(&self, thread: &Thread) -> bool {
        shim_rt::cancel::defer(|| {
            let mut s = lock(&self.inner.state);
            let Some(key) = Group::find(&s, thread) else {
                return false;
            };
            let member = s.members.remove(&key);
            drop(member);
            self.inner.changed.notify_all();
            true
        })
    }

    /// `true` while `thread` is a member (gevent: `greenlet in group`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Group;
    /// use shim_thread as thread;
    /// use std::sync::Arc;
    ///
    /// let group = Arc::new(Group::new());
    /// let g = group.clone();
    /// let h = group.spawn(move || g.contains(&thread::current()));
    /// assert!(h.join().unwrap());
    /// assert!(!group.contains(&thread::current()));
    /// ```
    pub fn contains(&self, thread: &Thread) -> bool {
        Group::find(&lock(&self.inner.state), thread).is_some()
    }

    fn find(s: &State, thread: &Thread) -> Option<u64> {
        let id = thread.id();
        s.members
            .iter()
            .find(|(_, m)| m.thread.as_ref().map(Thread::id) == Some(id))
            .map(|(k, _)| *k)
    }

    /// The number of members still running (gevent: `len(group)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Group;
    ///
    /// let group = Group::new();
    /// let h = group.spawn(|| ());
    /// h.join().unwrap();
    /// group.join_all();
    /// assert_eq!(group.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        lock(&self.inner.state).members.len()
    }

    /// `true` when no member is running.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Group;
    ///
    /// assert!(Group::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Blocks until every member has finished (gevent: `Group.join()`),
    /// including members spawned while it waits. Their results stay with
    /// their join handles.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Group;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let group = Group::new();
    /// group.spawn(|| thread::sleep(Duration::from_millis(10)));
    /// group.join_all();
    /// assert!(group.is_empty());
    /// ```
    #[track_caller]
    pub fn join_all(&self) {
        self.join_deadline(None);
    }

    /// As [`join_all`](Group::join_all), blocking at most `dur`; returns
    /// `true` when every member has finished (gevent:
    /// `Group.join(timeout=dur)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Group;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let group = Group::new();
    /// group.spawn(|| thread::sleep(Duration::from_millis(200)));
    /// assert!(!group.join_all_timeout(Duration::from_millis(10)));
    /// assert!(group.join_all_timeout(Duration::from_secs(10)));
    /// ```
    #[track_caller]
    pub fn join_all_timeout(&self, dur: Duration) -> bool {
        self.join_deadline(deadline_after(dur))
    }

    /// Cancels every member (gevent: `Group.kill(block=False)`): each
    /// unwinds from its current or next blocking call, as
    /// [`JoinHandleExt::cancel`](crate::JoinHandleExt::cancel) describes,
    /// and leaves the group. Returns how many members were cancelled (a
    /// member calling it does not cancel itself). Members spawned after it
    /// returns are not affected. [`join_all`](Group::join_all) then waits
    /// for them to be gone (gevent's default `kill(block=True)` is both).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::{Cancelled, Group};
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let group = Group::new();
    /// let handles: Vec<_> = (0..10)
    ///     .map(|_| group.spawn(|| thread::sleep(Duration::from_secs(3600))))
    ///     .collect();
    /// assert_eq!(group.cancel_all(), 10);
    /// group.join_all();
    /// for h in handles {
    ///     assert!(h.join().unwrap_err().is::<Cancelled>());
    /// }
    /// ```
    pub fn cancel_all(&self) -> usize {
        self.inner.cancel_all()
    }

    /// When `on`, a member that panics (not one that is cancelled) cancels
    /// every other member of the group, as [`cancel_all`](Group::cancel_all)
    /// does — so that one failure stops the rest of a job (structured
    /// concurrency's rule; gevent leaves this to the caller). Applies to
    /// members spawned after the call. Off by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::{Cancelled, Group};
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let group = Group::new();
    /// group.set_cancel_on_panic(true);
    /// let slow = group.spawn(|| thread::sleep(Duration::from_secs(3600)));
    /// let bad = group.spawn(|| panic!("one part failed"));
    /// group.join_all();
    /// assert!(bad.join().is_err());
    /// assert!(slow.join().unwrap_err().is::<Cancelled>());
    /// ```
    pub fn set_cancel_on_panic(&self, on: bool) {
        lock(&self.inner.state).cancel_on_panic = on;
    }

    /// Blocks until `n` members have finished, or no member is left, and
    /// returns how many finished (at most `n`; gevent:
    /// `joinall(group, count=n)`). Each finished member is counted by one
    /// `join_n` only: those finished before the call and not counted by an
    /// earlier `join_n` count at once. Members that are
    /// [`discard`](Group::discard)ed do not count.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Group;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let group = Group::new();
    /// group.spawn(|| ());
    /// group.spawn(|| ());
    /// let slow = group.spawn(|| thread::sleep(Duration::from_secs(3600)));
    /// assert_eq!(group.join_n(2), 2);
    /// assert_eq!(group.len(), 1);
    /// group.cancel_all();
    /// assert!(slow.join().is_err());
    /// ```
    #[track_caller]
    pub fn join_n(&self, n: usize) -> usize {
        self.join_n_deadline(n, None)
    }

    /// As [`join_n`](Group::join_n), blocking at most `dur` (gevent:
    /// `joinall(group, timeout=dur, count=n)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Group;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let group = Group::new();
    /// group.spawn(|| thread::sleep(Duration::from_millis(200)));
    /// assert_eq!(group.join_n_timeout(1, Duration::from_millis(10)), 0); // timed out
    /// assert_eq!(group.join_n_timeout(1, Duration::from_secs(10)), 1);
    /// ```
    #[track_caller]
    pub fn join_n_timeout(&self, n: usize, dur: Duration) -> usize {
        self.join_n_deadline(n, deadline_after(dur))
    }

    /// Blocks until every member has finished, or until one panics or is
    /// cancelled (gevent: `joinall(group, raise_error=True)`), and returns
    /// that failure — the first not yet reported, also one from before
    /// the call. The failed member's payload stays with its join handle;
    /// the other members go on running (cancel them with
    /// [`cancel_all`](Group::cancel_all), or have it done for you with
    /// [`set_cancel_on_panic`](Group::set_cancel_on_panic)).
    ///
    /// # Errors
    ///
    /// [`MemberFailed`], naming the member.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_green::Group;
    /// use shim_thread as thread;
    /// use std::time::Duration;
    ///
    /// let group = Group::new();
    /// group.spawn(|| thread::sleep(Duration::from_secs(3600)));
    /// let bad = group.spawn(|| panic!("no route"));
    /// let failed = group.try_join_all().unwrap_err(); // does not wait an hour
    /// assert_eq!(failed.thread().id(), bad.thread().id());
    /// group.cancel_all();
    /// group.join_all();
    /// assert!(group.try_join_all().unwrap_err().is_cancelled());
    /// ```
    #[track_caller]
    pub fn try_join_all(&self) -> Result<(), MemberFailed> {
        let mut s = lock(&self.inner.state);
        loop {
            if let Some(failed) = s.failure.take() {
                return Err(failed);
            }
            if s.members.is_empty() {
                return Ok(());
            }
            s = wait_until(&self.inner.changed, s, None).0;
        }
    }

    #[track_caller]
    fn join_n_deadline(&self, n: usize, deadline: Option<Instant>) -> usize {
        let mut s = lock(&self.inner.state);
        loop {
            let uncounted = usize::try_from(s.finished - s.counted).unwrap_or(usize::MAX);
            let timed_out;
            if uncounted < n && !s.members.is_empty() {
                (s, timed_out) = wait_until(&self.inner.changed, s, deadline);
                if !timed_out {
                    continue;
                }
            }
            let uncounted = usize::try_from(s.finished - s.counted).unwrap_or(usize::MAX);
            let taken = uncounted.min(n);
            s.counted += taken as u64;
            return taken;
        }
    }

    #[track_caller]
    fn join_deadline(&self, deadline: Option<Instant>) -> bool {
        let mut s = lock(&self.inner.state);
        loop {
            if s.members.is_empty() {
                return true;
            }
            let timed_out;
            (s, timed_out) = wait_until(&self.inner.changed, s, deadline);
            if timed_out {
                return s.members.is_empty();
            }
        }
    }
}

impl Default for Group {
    fn default() -> Group {
        Group::new()
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}
