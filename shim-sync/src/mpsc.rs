//! Multi-producer, single-consumer FIFO queue communication primitives.
//!
//! This is `std::sync::mpsc`, cooperative: a blocked `recv` or a blocked
//! bounded `send` parks the coroutine (a plain OS thread blocks as with
//! std), and either end may live in a coroutine or on a thread. The error
//! types are std's own, so code that matches on them works unchanged.
//!
//! * [`channel`]: an asynchronous, infinitely buffered channel; `send`
//!   never blocks.
//! * [`sync_channel`]: a bounded channel; `send` blocks while the buffer is
//!   full. A bound of 0 makes a "rendezvous" channel: each `send` returns
//!   only once a receiver has taken its message.
//!
//! Disconnection: once every sender is dropped, `recv` returns the buffered
//! messages and then `Err(RecvError)`; once the receiver is dropped, `send`
//! returns `Err(SendError(t))` with the message.
//!
//! # Examples
//!
//! ```
//! use shim_sync::mpsc::channel;
//! use std::thread;
//!
//! let (tx, rx) = channel();
//! thread::spawn(move || {
//!     tx.send(10).unwrap();
//! });
//! assert_eq!(rx.recv().unwrap(), 10);
//! ```

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

use shim_rt::wait::{wait_locked, WaitKind, WaitList, WaitOn, Wake, Wakeups};

/// The shared state of a channel, under one lock.
struct State<T> {
    /// Messages in order. A slot is `None` only after a rendezvous sender
    /// took its message back because the receiver was dropped.
    queue: VecDeque<Option<T>>,
    /// Sequence number of `queue[0]` (messages ever popped).
    head: u64,
    /// `None`: unbounded; `Some(0)`: rendezvous.
    cap: Option<usize>,
    senders: usize,
    receiver: bool,
    /// The receiver, while blocked.
    recv_waiters: WaitList,
    /// Senders blocked on a full buffer (tag unused) or, for a rendezvous
    /// channel, until their message is taken (tag = its sequence number).
    send_waiters: WaitList,
}

struct Chan<T> {
    state: parking_lot::Mutex<State<T>>,
}

fn recv_list<T>(st: &mut State<T>) -> &mut WaitList {
    &mut st.recv_waiters
}

fn send_list<T>(st: &mut State<T>) -> &mut WaitList {
    &mut st.send_waiters
}

impl<T> Chan<T> {
    fn new(cap: Option<usize>) -> Arc<Chan<T>> {
        Arc::new(Chan {
            state: parking_lot::Mutex::new(State {
                queue: VecDeque::new(),
                head: 0,
                cap,
                senders: 1,
                receiver: true,
                recv_waiters: WaitList::new(),
                send_waiters: WaitList::new(),
            }),
        })
    }

    /// Pushes `t` (the caller checked the receiver and the capacity) and
    /// returns the receiver to wake.
    fn push(st: &mut State<T>, t: T) -> Option<Wake> {
        st.queue.push_back(Some(t));
        st.recv_waiters.notify_one()
    }

    /// Pops the next message, with the sender to wake (one blocked on a
    /// full buffer, or the rendezvous sender of this message).
    fn pop(st: &mut State<T>) -> Option<(T, Option<Wake>)> {
        loop {
            let slot = st.queue.pop_front()?;
            let seq = st.head;
            st.head += 1;
            let Some(t) = slot else { continue };
            let w = match st.cap {
                None => None,
                Some(0) if st.send_waiters.front_tag() == Some(seq) => st.send_waiters.notify_one(),
                Some(0) => None,
                Some(_) => st.send_waiters.notify_one(),
            };
            return Some((t, w));
        }
    }

    /// Sends, blocking while a bounded buffer is full (or, for a
    /// rendezvous channel, until the message is taken).
    /// The record of a wait of `kind` on this channel.
    #[track_caller]
    fn wait_on(&self, kind: WaitKind) -> WaitOn {
        WaitOn::new(kind, self as *const Chan<T> as usize)
    }

    #[track_caller]
    fn send(&self, t: T) -> Result<(), SendError<T>> {
        let mut st = self.state.lock();
        loop {
            if !st.receiver {
                return Err(SendError(t));
            }
            match st.cap {
                Some(0) => return self.send_rendezvous(st, t),
                Some(cap) if st.queue.len() >= cap => {
                    let on = self.wait_on(WaitKind::Send);
                    let relock = || self.state.lock();
                    let _ = wait_locked(st, send_list, relock, on, 0, None, || {});
                    st = self.state.lock();
                }
                _ => {
                    let r = Self::push(&mut st, t);
                    drop(st);
                    if let Some(r) = r {
                        r.wake();
                    }
                    return Ok(());
                }
            }
        }
    }

    #[track_caller]
    fn send_rendezvous<'a>(
        &'a self,
        mut st: parking_lot::MutexGuard<'a, State<T>>,
        t: T,
    ) -> Result<(), SendError<T>> {
        let seq = st.head + st.queue.len() as u64;
        // The receiver is woken once we are queued and the lock is released.
        let mut r = Self::push(&mut st, t);
        let on = self.wait_on(WaitKind::Send);
        loop {
            let relock = || self.state.lock();
            let wake = r.take();
            let _ = wait_locked(st, send_list, relock, on, seq, None, move || drop(wake));
            st = self.state.lock();
            if st.head > seq {
                return Ok(());
            }
            if !st.receiver {
                // Never taken: take the message back.
                let i = usize::try_from(seq - st.head).unwrap_or(usize::MAX);
                return match st.queue.get_mut(i).and_then(Option::take) {
                    Some(t) => Err(SendError(t)),
                    None => Ok(()),
                };
            }
        }
    }

    fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        let mut st = self.state.lock();
        if !st.receiver {
            return Err(TrySendError::Disconnected(t));
        }
        let room = match st.cap {
            None => true,
            // Only when the receiver is blocked waiting for a message.
            Some(0) => !st.recv_waiters.is_empty(),
            Some(cap) => st.queue.len() < cap,
        };
        if !room {
            return Err(TrySendError::Full(t));
        }
        let r = Self::push(&mut st, t);
        drop(st);
        if let Some(r) = r {
            r.wake();
        }
        Ok(())
    }

    fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut st = self.state.lock();
        match Self::pop(&mut st) {
            Some((t, w)) => {
                drop(st);
                if let Some(w) = w {
                    w.wake();
                }
                Ok(t)
            }
            None if st.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    #[track_caller]
    fn recv_deadline(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let mut st = self.state.lock();
        loop {
            if let Some((t, w)) = Self::pop(&mut st) {
                drop(st);
                if let Some(w) = w {
                    w.wake();
                }
                return Ok(t);
            }
            if st.senders == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(RecvTimeoutError::Timeout);
            }
            // A timed-out wait withdraws under the lock, then loops once
            // more: a message that raced with the timeout is delivered.
            let on = self.wait_on(WaitKind::Recv);
            let relock = || self.state.lock();
            let _ = wait_locked(st, recv_list, relock, on, 0, deadline, || {});
            st = self.state.lock();
        }
    }

    fn add_sender(&self) {
        let mut st = self.state.lock();
        st.senders = st
            .senders
            .checked_add(1)
            .unwrap_or_else(|| std::process::abort());
    }

    fn drop_sender(&self) {
        let woken = {
            let mut st = self.state.lock();
            st.senders -= 1;
            if st.senders == 0 {
                st.recv_waiters.notify_all()
            } else {
                Wakeups::new()
            }
        };
        woken.wake();
    }

    fn drop_receiver(&self) {
        let (woken, dropped) = {
            let mut st = self.state.lock();
            st.receiver = false;
            // Rendezvous senders take their own messages back.
            let dropped = if st.cap == Some(0) {
                VecDeque::new()
            } else {
                std::mem::take(&mut st.queue)
            };
            (st.send_waiters.notify_all(), dropped)
        };
        woken.wake();
        // Messages are dropped outside the lock: their destructors may do
        // anything, including using this channel.
        drop(dropped);
    }
}

/// The receiving half of Rust's [`channel`] (or [`sync_channel`]) type.
/// This half can only be owned by one coroutine or thread.
///
/// Messages sent to the channel can be retrieved using [`recv`].
///
/// [`recv`]: Receiver::recv
///
/// # Examples
///
/// ```
/// use shim_sync::mpsc::channel;
/// use std::thread;
/// use std::time::Duration;
///
/// let (send, recv) = channel();
///
/// thread::spawn(move || {
///     send.send("Hello world!").unwrap();
///     thread::sleep(Duration::from_millis(20)); // block for a moment
///     send.send("Delayed for 20 ms").unwrap();
/// });
///
/// println!("{}", recv.recv().unwrap()); // Received immediately
/// println!("Waiting...");
/// println!("{}", recv.recv().unwrap()); // Received after 20 ms
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// `Send` but not `Sync`, as std's.
    _not_sync: PhantomData<Cell<()>>,
}

/// The sending-half of Rust's asynchronous [`channel`] type.
///
/// Messages can be sent through this channel with [`send`]. It can be
/// cloned to send to the same channel multiple times, and shared between
/// threads and coroutines (it is `Sync`).
///
/// [`send`]: Sender::send
///
/// # Examples
///
/// ```
/// use shim_sync::mpsc::channel;
/// use std::thread;
///
/// let (sender, receiver) = channel();
/// let sender2 = sender.clone();
///
/// thread::spawn(move || sender.send(1).unwrap());
/// thread::spawn(move || sender2.send(2).unwrap());
///
/// let msg = receiver.recv().unwrap();
/// let msg2 = receiver.recv().unwrap();
/// assert_eq!(3, msg + msg2);
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The sending-half of Rust's synchronous [`sync_channel`] type.
///
/// Messages can be sent through this channel with [`send`] or
/// [`try_send`]. [`send`] will block if there is no space in the internal
/// buffer.
///
/// [`send`]: SyncSender::send
/// [`try_send`]: SyncSender::try_send
///
/// # Examples
///
/// ```
/// use shim_sync::mpsc::sync_channel;
/// use std::thread;
///
/// // Create a sync_channel with buffer size 2
/// let (sync_sender, receiver) = sync_channel(2);
/// let sync_sender2 = sync_sender.clone();
///
/// thread::spawn(move || {
///     sync_sender.send(1).unwrap();
///     sync_sender.send(2).unwrap();
/// });
/// thread::spawn(move || {
///     sync_sender2.send(3).unwrap();
/// });
///
/// let mut msg: Vec<i32> = (0..3).map(|_| receiver.recv().unwrap()).collect();
/// msg.sort();
/// assert_eq!(msg, [1, 2, 3]);
/// ```
pub struct SyncSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> UnwindSafe for Receiver<T> {}
impl<T> RefUnwindSafe for Receiver<T> {}
impl<T> UnwindSafe for Sender<T> {}
impl<T> RefUnwindSafe for Sender<T> {}
impl<T> UnwindSafe for SyncSender<T> {}
impl<T> RefUnwindSafe for SyncSender<T> {}

/// An iterator over messages on a [`Receiver`], created by [`iter`].
///
/// This iterator will block whenever [`next`] is called, waiting for a new
/// message, and [`None`] will be returned when the corresponding channel
/// has hung up.
///
/// [`iter`]: Receiver::iter
/// [`next`]: Iterator::next
///
/// # Examples
///
/// ```
/// use shim_sync::mpsc::channel;
/// use std::thread;
///
/// let (send, recv) = channel();
///
/// thread::spawn(move || {
///     send.send(1u8).unwrap();
///     send.send(2u8).unwrap();
///     send.send(3u8).unwrap();
/// });
///
/// for x in recv.iter() {
///     println!("Got: {x}");
/// }
/// ```
#[derive(Debug)]
pub struct Iter<'a, T: 'a> {
    rx: &'a Receiver<T>,
}

/// An iterator that attempts to yield all pending values for a
/// [`Receiver`], created by [`try_iter`].
///
/// [`None`] will be returned when there are no pending values remaining or
/// if the corresponding channel has hung up.
///
/// This iterator will never block the caller in order to wait for data to
/// become available. Instead, it will return [`None`].
///
/// [`try_iter`]: Receiver::try_iter
///
/// # Examples
///
/// ```
/// use shim_sync::mpsc::channel;
///
/// let (sender, receiver) = channel();
/// sender.send(1).unwrap();
/// sender.send(2).unwrap();
/// assert_eq!(receiver.try_iter().collect::<Vec<_>>(), [1, 2]);
/// assert_eq!(receiver.try_iter().next(), None);
/// ```
#[derive(Debug)]
pub struct TryIter<'a, T: 'a> {
    rx: &'a Receiver<T>,
}

/// An owning iterator over messages on a [`Receiver`], created by
/// [`into_iter`].
///
/// This iterator will block whenever [`next`] is called, waiting for a new
/// message, and [`None`] will be returned if the corresponding channel has
/// hung up.
///
/// [`into_iter`]: Receiver::into_iter
/// [`next`]: Iterator::next
///
/// # Examples
///
/// ```
/// use shim_sync::mpsc::channel;
/// use std::thread;
///
/// let (send, recv) = channel();
///
/// thread::spawn(move || {
///     send.send(1u8).unwrap();
///     send.send(2u8).unwrap();
///     send.send(3u8).unwrap();
/// });
///
/// for x in recv.into_iter() {
///     println!("Got: {x}");
/// }
/// ```
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

/// Creates a new asynchronous channel, returning the sender/receiver
/// halves.
///
/// All data sent on the [`Sender`] will become available on the
/// [`Receiver`] in the same order as it was sent, and no [`send`] will
/// block the calling coroutine or thread (this channel has an "infinite
/// buffer"). [`recv`] will block until a message is available while there
/// is at least one [`Sender`] alive (including clones).
///
/// If the [`Receiver`] is disconnected while trying to [`send`] with the
/// [`Sender`], the [`send`] method will return a [`SendError`]. Similarly,
/// if the [`Sender`] is disconnected while trying to [`recv`], the
/// [`recv`] method will return a [`RecvError`].
///
/// [`send`]: Sender::send
/// [`recv`]: Receiver::recv
///
/// # Examples
///
/// ```
/// use shim_sync::mpsc::channel;
/// use std::thread;
///
/// let (sender, receiver) = channel();
///
/// // Spawn off an expensive computation
/// thread::spawn(move || {
///     sender.send(6 * 7).unwrap();
/// });
///
/// assert_eq!(receiver.recv().unwrap(), 42);
/// ```
#[must_use]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Chan::new(None);
    (
        Sender { chan: chan.clone() },
        Receiver {
            chan,
            _not_sync: PhantomData,
        },
    )
}

/// Creates a new synchronous, bounded channel.
///
/// All data sent on the [`SyncSender`] will become available on the
/// [`Receiver`] in the same order as it was sent. Like asynchronous
/// [`channel`]s, the [`Receiver`] will block until a message becomes
/// available. `sync_channel` differs greatly in the semantics of the
/// sender, however.
///
/// This channel has an internal buffer on which messages will be queued.
/// `bound` specifies the buffer size. When the internal buffer becomes
/// full, future sends will *block* waiting for the buffer to open up. Note
/// that a buffer size of 0 is valid, in which case this becomes "rendezvous
/// channel" where each [`send`] will not return until a [`recv`] is paired
/// with it.
///
/// The [`SyncSender`] can be cloned to [`send`] to the same channel
/// multiple times, but only one [`Receiver`] is supported.
///
/// Like asynchronous channels, if the [`Receiver`] is disconnected while
/// trying to [`send`] with the [`SyncSender`], the [`send`] method will
/// return a [`SendError`]. Similarly, If the [`SyncSender`] is disconnected
/// while trying to [`recv`], the [`recv`] method will return a
/// [`RecvError`].
///
/// [`send`]: SyncSender::send
/// [`recv`]: Receiver::recv
///
/// # Examples
///
/// ```
/// use shim_sync::mpsc::sync_channel;
/// use std::thread;
///
/// let (sender, receiver) = sync_channel(1);
///
/// // this returns immediately
/// sender.send(1).unwrap();
///
/// thread::spawn(move || {
///     // this will block until the previous message has been received
///     sender.send(2).unwrap();
/// });
///
/// assert_eq!(receiver.recv().unwrap(), 1);
/// assert_eq!(receiver.recv().unwrap(), 2);
/// ```
#[must_use]
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let chan = Chan::new(Some(bound));
    (
        SyncSender { chan: chan.clone() },
        Receiver {
            chan,
            _not_sync: PhantomData,
        },
    )
}

impl<T> Sender<T> {
    /// Attempts to send a value on this channel, returning it back if it
    /// could not be sent.
    ///
    /// A successful send occurs when it is determined that the other end of
    /// the channel has not hung up already. An unsuccessful send would be
    /// one where the corresponding receiver has already been deallocated.
    /// Note that a return value of [`Err`] means that the data will never
    /// be received, but a return value of [`Ok`] does *not* mean that the
    /// data will be received. This method never blocks.
    ///
    /// # Errors
    ///
    /// `Err(SendError(t))` with the value when the receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::mpsc::channel;
    ///
    /// let (tx, rx) = channel();
    ///
    /// // This send is always successful
    /// tx.send(1).unwrap();
    ///
    /// // This send will fail because the receiver is gone
    /// drop(rx);
    /// assert_eq!(tx.send(1).unwrap_err().0, 1);
    /// ```
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send(t)
    }
}

impl<T> Clone for Sender<T> {
    /// Clone a sender to send to other threads.
    fn clone(&self) -> Sender<T> {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> SyncSender<T> {
    /// Sends a value on this synchronous channel.
    ///
    /// This function will *block* until space in the internal buffer
    /// becomes available or a receiver is available to hand off the message
    /// to (for a rendezvous channel: until the receiver has taken it).
    ///
    /// # Errors
    ///
    /// `Err(SendError(t))` with the value when the receiver is gone (also
    /// when it goes away while this call waits).
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::mpsc::sync_channel;
    /// use std::thread;
    ///
    /// // Create a rendezvous sync_channel with buffer size 0
    /// let (sync_sender, receiver) = sync_channel(0);
    ///
    /// thread::spawn(move || {
    ///     sync_sender.send(1).unwrap();
    /// });
    ///
    /// assert_eq!(receiver.recv().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send(t)
    }

    /// Attempts to send a value on this channel without blocking.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] with the value if the buffer is full (for a
    /// rendezvous channel: if no receiver is currently waiting), and
    /// [`TrySendError::Disconnected`] if the receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::mpsc::{sync_channel, TrySendError};
    ///
    /// let (tx, rx) = sync_channel(1);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// assert_eq!(rx.recv().unwrap(), 1);
    /// drop(rx);
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));
    /// ```
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(t)
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> SyncSender<T> {
        self.chan.add_sender();
        SyncSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for SyncSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for SyncSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Attempts to return a pending value on this receiver without
    /// blocking.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if no message is pending,
    /// [`TryRecvError::Disconnected`] if none is pending and every sender
    /// is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::mpsc::{channel, TryRecvError};
    ///
    /// let (_, receiver) = channel::<i32>();
    /// assert_eq!(receiver.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Attempts to wait for a value on this receiver, returning an error if
    /// the corresponding channel has hung up.
    ///
    /// This function will always block the current coroutine (or thread) if
    /// there is no data available and it's possible for more data to be
    /// sent (at least one sender still exists). Buffered messages are
    /// delivered even after every sender is gone.
    ///
    /// # Errors
    ///
    /// [`RecvError`] when no message is pending and every sender is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::mpsc;
    /// use std::thread;
    ///
    /// let (send, recv) = mpsc::channel();
    /// let handle = thread::spawn(move || {
    ///     send.send(1u8).unwrap();
    /// });
    /// handle.join().unwrap();
    ///
    /// assert_eq!(Ok(1), recv.recv());
    /// assert_eq!(Err(mpsc::RecvError), recv.recv());
    /// ```
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv_deadline(None).map_err(|_| RecvError)
    }

    /// Attempts to wait for a value on this receiver, returning an error if
    /// the corresponding channel has hung up, or if it waits more than
    /// `timeout`.
    ///
    /// The deadline is kept to the runtime's timer granularity; a message
    /// that arrives as the deadline passes is delivered, never lost.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] when the time passed,
    /// [`RecvTimeoutError::Disconnected`] when no message is pending and
    /// every sender is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::mpsc::{self, RecvTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (send, recv) = mpsc::channel::<u8>();
    /// assert_eq!(
    ///     recv.recv_timeout(Duration::from_millis(10)),
    ///     Err(RecvTimeoutError::Timeout)
    /// );
    /// drop(send);
    /// ```
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.chan.recv_deadline(Some(deadline)),
            // Too far in the future to represent: wait without a deadline.
            None => self.chan.recv_deadline(None),
        }
    }

    /// Returns an iterator that will block waiting for messages, but never
    /// panic. It will return [`None`] when the channel has hung up.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::mpsc::channel;
    /// use std::thread;
    ///
    /// let (send, recv) = channel();
    ///
    /// thread::spawn(move || {
    ///     send.send(1).unwrap();
    ///     send.send(2).unwrap();
    ///     send.send(3).unwrap();
    /// });
    ///
    /// let mut iter = recv.iter();
    /// assert_eq!(iter.next(), Some(1));
    /// assert_eq!(iter.next(), Some(2));
    /// assert_eq!(iter.next(), Some(3));
    /// assert_eq!(iter.next(), None);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// Returns an iterator that will attempt to yield all pending values.
    /// It will return `None` if there are no more pending values or if the
    /// channel has hung up. The iterator will never block.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::mpsc::channel;
    ///
    /// let (sender, receiver) = channel();
    /// assert_eq!(receiver.try_iter().next(), None);
    /// sender.send(1).unwrap();
    /// sender.send(2).unwrap();
    /// assert_eq!(receiver.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.drop_receiver();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}
