//! `Barrier`: a count and a generation under a `Mutex`, with a `Condvar`.

use std::fmt;

use crate::condvar::Condvar;
use crate::mutex::Mutex;

/// A barrier enables multiple coroutines (or threads) to synchronize the
/// beginning of some computation.
///
/// This is `std::sync::Barrier`; waiting parks the coroutine.
///
/// # Examples
///
/// ```
/// use shim_sync::{Arc, Barrier};
/// use std::thread;
///
/// let n = 10;
/// let barrier = Arc::new(Barrier::new(n));
/// let handles: Vec<_> = (0..n)
///     .map(|_| {
///         let c = Arc::clone(&barrier);
///         thread::spawn(move || c.wait().is_leader())
///     })
///     .collect();
/// let leaders = handles.into_iter().map(|h| h.join().unwrap());
/// assert_eq!(leaders.filter(|&l| l).count(), 1);
/// ```
pub struct Barrier {
    lock: Mutex<BarrierState>,
    cvar: Condvar,
    num_threads: usize,
}

struct BarrierState {
    count: usize,
    generation_id: usize,
}

/// A `BarrierWaitResult` is returned by [`Barrier::wait()`] when all threads
/// in the [`Barrier`] have rendezvoused.
///
/// # Examples
///
/// ```
/// use shim_sync::Barrier;
///
/// let barrier = Barrier::new(1);
/// let barrier_wait_result = barrier.wait();
/// assert!(barrier_wait_result.is_leader());
/// ```
pub struct BarrierWaitResult(bool);

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}

impl Barrier {
    /// Creates a new barrier that can block a given number of threads.
    ///
    /// A barrier will block `n`-1 threads which call [`wait()`] and then wake
    /// up all threads at once when the `n`th thread calls [`wait()`].
    ///
    /// [`wait()`]: Barrier::wait
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Barrier;
    ///
    /// static BARRIER: Barrier = Barrier::new(1);
    /// assert!(BARRIER.wait().is_leader());
    /// ```
    #[must_use]
    #[inline]
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            lock: Mutex::new(BarrierState {
                count: 0,
                generation_id: 0,
            }),
            cvar: Condvar::new(),
            num_threads: n,
        }
    }

    /// Blocks the current coroutine (or thread) until all `n` have
    /// rendezvoused here.
    ///
    /// Barriers are re-usable after all threads have rendezvoused once, and
    /// can be used continuously.
    ///
    /// A single (arbitrary) caller receives a [`BarrierWaitResult`] that
    /// returns `true` from [`BarrierWaitResult::is_leader()`]; all others
    /// receive `false`. A barrier of 0 or 1 never blocks and every caller is
    /// the leader.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::{Arc, Barrier};
    /// use std::thread;
    ///
    /// let barrier = Arc::new(Barrier::new(2));
    /// let b2 = Arc::clone(&barrier);
    /// let h = thread::spawn(move || b2.wait().is_leader());
    /// let me = barrier.wait().is_leader();
    /// assert!(me ^ h.join().unwrap());
    /// ```
    #[track_caller]
    pub fn wait(&self) -> BarrierWaitResult {
        let mut lock = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let local_gen = lock.generation_id;
        lock.count += 1;
        if lock.count < self.num_threads {
            while local_gen == lock.generation_id {
                lock = self
                    .cvar
                    .wait_as(lock, shim_rt::wait::WaitKind::Barrier)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            BarrierWaitResult(false)
        } else {
            lock.count = 0;
            lock.generation_id = lock.generation_id.wrapping_add(1);
            self.cvar.notify_all();
            BarrierWaitResult(true)
        }
    }
}

impl fmt::Debug for BarrierWaitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWaitResult")
            .field("is_leader", &self.is_leader())
            .finish()
    }
}

impl BarrierWaitResult {
    /// Returns `true` if this thread is the "leader thread" for the call to
    /// [`Barrier::wait()`].
    ///
    /// Only one thread will have `true` returned from their result, all
    /// other threads will have `false` returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use shim_sync::Barrier;
    ///
    /// let barrier = Barrier::new(1);
    /// let barrier_wait_result = barrier.wait();
    /// assert!(barrier_wait_result.is_leader());
    /// ```
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.0
    }
}
