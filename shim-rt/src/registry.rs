//! Every live task of the program, and how many of them wait for each other.
//!
//! Coroutines spawned by greenstd are registered from their spawn to the end
//! of their main function; plain threads from the first time they use
//! greenstd to their exit. greenstd's own threads and coroutines are not.
//!
//! Two counts are kept in one word: the live tasks, and those parked in a
//! wait that only another task can end (no deadline, not I/O, not sleep,
//! not offload: see [`crate::wait::WaitKind::is_external`]). A wait's
//! count is taken and given back under the lock of the queue it waits on,
//! so the counts agree with the queues. When the second reaches the first
//! the deadlock detector is woken (see [`crate::deadlock`]); nothing looks
//! at the counts otherwise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crate::deadlock;
use crate::task::Task;

const SHARDS: usize = 16;

struct Slab {
    slots: Vec<Option<Arc<Task>>>,
    free: Vec<usize>,
}

static TABLE: [Mutex<Slab>; SHARDS] = [const {
    Mutex::new(Slab {
        slots: Vec::new(),
        free: Vec::new(),
    })
}; SHARDS];

/// A cache line of its own: every wait of a registered task that only
/// another task can end touches it twice.
#[repr(align(128))]
struct Counts(AtomicU64);

/// Live tasks in the high half, tasks blocked on each other in the low half.
static COUNTS: Counts = Counts(AtomicU64::new(0));
const LIVE: u64 = 1 << 32;

fn split(c: u64) -> (u32, u32) {
    ((c >> 32) as u32, c as u32)
}

fn shard(task: &Task) -> &'static Mutex<Slab> {
    &TABLE[task.id().get() as usize % SHARDS]
}

/// Adds `task` to the live tasks.
pub(crate) fn register(task: &Arc<Task>) {
    let mut s = shard(task).lock();
    let i = match s.free.pop() {
        Some(i) => {
            s.slots[i] = Some(task.clone());
            i
        }
        None => {
            s.slots.push(Some(task.clone()));
            s.slots.len() - 1
        }
    };
    task.set_registered(Some(i));
    drop(s);
    COUNTS.0.fetch_add(LIVE, Ordering::SeqCst);
}

/// Removes `task` from the live tasks (a no-op if it is not registered).
pub(crate) fn deregister(task: &Task) {
    let Some(i) = task.registered_slot() else {
        return;
    };
    let gone = {
        let mut s = shard(task).lock();
        task.set_registered(None);
        s.free.push(i);
        s.slots[i].take()
    };
    // Dropped outside the lock: it may be the last reference.
    drop(gone);
    let (live, blocked) = split(COUNTS.0.fetch_sub(LIVE, Ordering::SeqCst) - LIVE);
    if live != 0 && live == blocked {
        deadlock::kick();
    }
}

/// A registered task starts a wait only another task can end.
#[inline]
pub(crate) fn block() {
    let (live, blocked) = split(COUNTS.0.fetch_add(1, Ordering::SeqCst) + 1);
    if live == blocked {
        deadlock::kick();
    }
}

/// `n` such waits ended.
#[inline]
pub(crate) fn unblock(n: u64) {
    COUNTS.0.fetch_sub(n, Ordering::SeqCst);
}

/// (live, blocked on each other).
pub(crate) fn counts() -> (u32, u32) {
    split(COUNTS.0.load(Ordering::SeqCst))
}

/// Every registered task, each shard's lock held in turn.
pub(crate) fn all() -> Vec<Arc<Task>> {
    let mut v = Vec::new();
    for shard in &TABLE {
        v.extend(shard.lock().slots.iter().flatten().cloned());
    }
    v
}

/// Runs `f` with every registered task while no task can register or
/// leave (every shard locked, in order), with the counts of that moment.
pub(crate) fn frozen<R>(f: impl FnOnce(&[Arc<Task>], (u32, u32)) -> R) -> R {
    let guards: Vec<MutexGuard<'_, Slab>> = TABLE.iter().map(|s| s.lock()).collect();
    let tasks: Vec<Arc<Task>> = guards
        .iter()
        .flat_map(|g| g.slots.iter().flatten().cloned())
        .collect();
    let r = f(&tasks, counts());
    drop(guards);
    // The clones may hold the last references: dropped without the locks.
    drop(tasks);
    r
}
