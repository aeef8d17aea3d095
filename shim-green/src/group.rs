//! `Group`: a set of spawned threads to wait for (and cancel) together.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use shim_sync::{Condvar, Mutex};
use shim_thread::__green::task;
use shim_thread::{Builder, JoinHandle, Thread};

use crate::cancel::Cancelled;

use crate::event::{deadline_after, lock, wait_until};
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
    emptied: Condvar,
}

struct State {
    next_key: u64,
    /// The running members; `None` while being spawned.
    members: HashMap<u64, Option<Thread>>,
    /// Bumped by every `cancel_all`: a member still being spawned when it
    /// ran is cancelled as soon as its thread is known.
    cancel_epoch: u64,
    /// Cancel the others when a member panics.
    cancel_on_panic: bool,
}

/// A member's registration, dropped when its function ends (or unwinds),
/// or with the function if the spawn fails.
pub(crate) struct Membership {
    inner: Arc<Inner>,
    key: u64,
    /// A pool's slot: given back only after the member has left, so a
    /// pool never counts more members than slots.
    slot: Option<OwnedSemaphorePermit>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        // Bookkeeping that must complete, also for a cancelled member.
        shim_rt::cancel::defer(|| {
            let mut s = lock(&self.inner.state);
            s.members.remove(&self.key);
            // Under the group's lock: whoever sees the group without this
            // member (len, join_all) also sees the slot free.
            drop(self.slot.take());
            if s.members.is_empty() {
                self.inner.emptied.notify_all();
            }
        })
    }
}

impl Inner {
    /// Cancels every member but the caller; returns how many.
    fn cancel_all(&self) -> usize {
        let me = shim_thread::current().id();
        let targets: Vec<Thread> = {
            let mut s = lock(&self.state);
            s.cancel_epoch += 1;
            s.members
                .values()
                .flatten()
                .filter(|t| t.id() != me)
                .cloned()
                .collect()
        };
        for t in &targets {
            shim_rt::cancel::cancel(task(t));
        }
        targets.len()
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
                }),
                emptied: Condvar::new(),
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
        self.spawn_member(builder, None, move |membership| {
            let _membership = membership;
            f()
        })
    }

    /// Spawns `f` as a member holding `slot`; `f` gets its membership and
    /// leaves the group (and gives the slot back) by dropping it.
    #[track_caller]
    pub(crate) fn spawn_member<F, T>(
        &self,
        builder: Builder,
        slot: Option<OwnedSemaphorePermit>,
        f: F,
    ) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce(Membership) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (key, epoch) = shim_rt::cancel::defer(|| {
            let mut s = lock(&self.inner.state);
            s.next_key += 1;
            let key = s.next_key;
            s.members.insert(key, None);
            (key, s.cancel_epoch)
        });
        let membership = Membership {
            inner: self.inner.clone(),
            key,
            slot,
        };
        let inner = self.inner.clone();
        let handle = builder.spawn(move || {
            let cancel_on_panic = lock(&inner.state).cancel_on_panic;
            if !cancel_on_panic {
                return f(membership);
            }
            match catch_unwind(AssertUnwindSafe(|| f(membership))) {
                Ok(v) => v,
                Err(payload) => {
                    if !payload.is::<Cancelled>() {
                        inner.cancel_all();
                    }
                    resume_unwind(payload)
                }
            }
        })?;
        shim_rt::cancel::defer(|| {
            let mut s = lock(&self.inner.state);
            let cancelled_meanwhile = s.cancel_epoch != epoch;
            if let Some(slot) = s.members.get_mut(&key) {
                *slot = Some(handle.thread().clone());
                if cancelled_meanwhile {
                    shim_rt::cancel::cancel(task(handle.thread()));
                }
            }
        });
        Ok(handle)
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

    #[track_caller]
    fn join_deadline(&self, deadline: Option<Instant>) -> bool {
        let mut s = lock(&self.inner.state);
        loop {
            if s.members.is_empty() {
                return true;
            }
            let timed_out;
            (s, timed_out) = wait_until(&self.inner.emptied, s, deadline);
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
