//! Every live task of the program.
//!
//! Coroutines spawned by greenstd are registered from their spawn to the end
//! of their main function; plain threads from the first time they use
//! greenstd to their exit. greenstd's own threads and coroutines are not.
//! `green::dump()` and the deadlock detector read the tasks' records through
//! this list; nothing else is kept per wait (no shared counter: a wait
//! touches only its own task and its queue).

use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use super::Task;

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
}

/// Whether `f` holds for some registered task: one shard locked at a time
/// (tasks may come and go meanwhile) and nothing copied, so a look at
/// 1,000,000 tasks holds up no spawn for long. A cheap first look before
/// [`frozen`].
pub(crate) fn any(mut f: impl FnMut(&Task) -> bool) -> bool {
    TABLE
        .iter()
        .any(|s| s.lock().slots.iter().flatten().any(|t| f(t)))
}

/// Runs `f` with every registered task while no task can register or
/// leave (every shard locked, in order): a thread in the list has not
/// exited (it leaves the list first).
pub(crate) fn frozen<R>(f: impl FnOnce(&[Arc<Task>]) -> R) -> R {
    let guards: Vec<MutexGuard<'_, Slab>> = TABLE.iter().map(|s| s.lock()).collect();
    let tasks: Vec<Arc<Task>> = guards
        .iter()
        .flat_map(|g| g.slots.iter().flatten().cloned())
        .collect();
    let r = f(&tasks);
    drop(guards);
    // The clones may hold the last references: dropped without the locks.
    drop(tasks);
    r
}

/// Thread ids of greenstd's own threads (the monitor, the offload
/// pools, the detector, may's threads as they start): the deadlock
/// detector tells them from the program's.
static INTERNAL: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// The calling thread is one of greenstd's own (see `task::mark_internal_thread`).
pub(crate) fn internal_thread_started() {
    INTERNAL.lock().push(crate::sys::gettid());
}

/// The calling thread, one of greenstd's own, exits.
pub(crate) fn internal_thread_exiting() {
    let me = crate::sys::gettid();
    INTERNAL.lock().retain(|&t| t != me);
}

/// greenstd's own threads now.
pub(crate) fn internal_threads() -> Vec<i32> {
    INTERNAL.lock().clone()
}
