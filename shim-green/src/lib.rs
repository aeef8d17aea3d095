//! gevent's own API, for greenstd: what std has no name for.
//!
//! The facade re-exports this crate as `greenstd::green`. Everything here
//! works the same from greenstd coroutines and from plain OS threads, and
//! every blocking call in it parks a coroutine (its worker runs others)
//! through the runtime's wait mechanism, as greenstd's `std::sync` does.
//!
//! | gevent | here |
//! |---|---|
//! | `gevent.spawn`, `Greenlet` | `thread::spawn`, `thread::JoinHandle` (std's names) |
//! | `Greenlet.join(timeout)` | [`JoinHandleExt::join_timeout`] |
//! | `Greenlet.link`, `rawlink`, `link(async_result)` | [`JoinHandleExt::link`], [`JoinHandleExt::link_result`] |
//! | `Greenlet.kill`, `GreenletExit` | [`JoinHandleExt::cancel`], [`Cancelled`] |
//! | `gevent.Timeout`, `with_timeout` | [`with_timeout`], [`with_deadline`], [`Elapsed`] |
//! | (blocking `GreenletExit` by hand) | [`shield`], [`defer_cancel`], [`checkpoint`] |
//! | `gevent.spawn_later` | [`spawn_after`] |
//! | `gevent.wait(objs, count=1)` | [`wait_any`], [`wait_any_timeout`] |
//! | `gevent.wait(objs, count=n)`, `gevent.wait(objs)`, `iwait` | [`wait_n`], [`wait_all`], [`iwait`] (and `_timeout`s) |
//! | `gevent.event.Event` | [`Event`] |
//! | `gevent.event.AsyncResult` | [`AsyncResult`] |
//! | `gevent.lock.Semaphore`, `BoundedSemaphore` | [`Semaphore`] |
//! | `gevent.queue.Queue`, `LifoQueue`, `PriorityQueue`, `JoinableQueue` | [`queue`] |
//! | `gevent.pool.Group` (`spawn`, `join`, `kill`) | [`Group`] (`spawn`, `join_all`, `cancel_all`) |
//! | `gevent.pool.Pool` (`map`, `imap`, `imap_unordered`, `kill`) | [`Pool`] (`map`, `map_unordered`, `cancel_all`) |
//! | `Group.add`, `discard`, `joinall(raise_error=True, count=n)` | [`Group::add`], [`Group::discard`], [`Group::try_join_all`], [`Group::join_n`] |

#![warn(missing_docs)]

mod block_on;
mod cancel;
mod event;
mod group;
mod join;
mod pool;
pub mod queue;
mod semaphore;
mod wait;

pub use block_on::block_on;
pub use cancel::{
    checkpoint, defer_cancel, shield, with_deadline, with_timeout, Cancelled, Elapsed,
};
pub use event::{AsyncResult, Event, Panicked};
pub use group::{Group, MemberFailed};
pub use join::{spawn_after, JoinHandleExt};
pub use pool::{Map, MapUnordered, Pool};
pub use semaphore::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};
pub use wait::{
    iwait, iwait_timeout, wait_all, wait_all_timeout, wait_any, wait_any_timeout, wait_n,
    wait_n_timeout, Iwait, Waitable,
};
