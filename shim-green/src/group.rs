//! `Group`: a set of spawned threads to wait for (and cancel) together.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shim_sync::{Condvar, Mutex};
use shim_thread::{Builder, JoinHandle, Thread};

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
        let mut s = lock(&self.inner.state);
        s.members.remove(&self.key);
        // Under the group's lock: whoever sees the group without this
        // member (len, join_all) also sees the slot free.
        drop(self.slot.take());
        if s.members.is_empty() {
            self.inner.emptied.notify_all();
        }
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
        let key = {
            let mut s = lock(&self.inner.state);
            s.next_key += 1;
            let key = s.next_key;
            s.members.insert(key, None);
            key
        };
        let membership = Membership {
            inner: self.inner.clone(),
            key,
            slot,
        };
        let handle = builder.spawn(move || f(membership))?;
        let mut s = lock(&self.inner.state);
        if let Some(slot) = s.members.get_mut(&key) {
            *slot = Some(handle.thread().clone());
        }
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
    pub fn join_all_timeout(&self, dur: Duration) -> bool {
        self.join_deadline(deadline_after(dur))
    }

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
