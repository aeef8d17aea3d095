//! The identity of the running execution context — a greenstd coroutine or a
//! plain OS thread — with its park token and its thread-local storage.
//!
//! `std::thread::Thread` is built on this: [`current`] returns the [`Task`]
//! of the caller, inside a coroutine as on a plain thread.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io;
use std::num::NonZeroU64;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::config;
use crate::park::{self, in_coroutine};

enum Kind {
    /// Set by the coroutine itself when it starts (and by the spawner).
    Coroutine(OnceLock<may::coroutine::Coroutine>),
    Thread(std::thread::Thread),
}

/// A thread or coroutine: its id, name and park token.
pub struct Task {
    id: NonZeroU64,
    name: Option<String>,
    kind: Kind,
    token: AtomicBool,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn next_id() -> NonZeroU64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    NonZeroU64::new(id).expect("greenstd: task id counter wrapped")
}

impl Task {
    /// A task for a coroutine about to be spawned.
    pub fn new_coroutine(name: Option<String>) -> Arc<Task> {
        Arc::new(Task {
            id: next_id(),
            name,
            kind: Kind::Coroutine(OnceLock::new()),
            token: AtomicBool::new(false),
        })
    }

    fn new_thread() -> Arc<Task> {
        let t = std::thread::current();
        Arc::new(Task {
            id: next_id(),
            name: t.name().map(str::to_owned),
            kind: Kind::Thread(t),
            token: AtomicBool::new(false),
        })
    }

    /// Unique id of this task over the life of the process (never reused).
    #[inline]
    pub fn id(&self) -> NonZeroU64 {
        self.id
    }

    /// The task's name, if it has one (`"main"` for the main thread).
    #[inline]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Makes the park token available and wakes the task if it is parked in
    /// [`park_current`].
    pub fn unpark(&self) {
        self.token.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        match &self.kind {
            Kind::Coroutine(co) => {
                if let Some(co) = co.get() {
                    co.unpark();
                }
            }
            Kind::Thread(t) => t.unpark(),
        }
    }

    fn take_token(&self) -> bool {
        self.token.swap(false, Ordering::SeqCst)
    }
}

/// The handle of the last coroutine task dropped, kept until the next one
/// dies.
///
/// may 0.3.51 spins forever when the last handle of a coroutine is dropped
/// while that coroutine is torn down from inside its own `Park::subscribe`
/// (a wakeup that raced with its final park makes `subscribe` resume it in
/// place; it then finishes, its locals are dropped, and `Park`'s drop waits
/// for the very `subscribe` it is nested in). For a detached coroutine the
/// handle in its [`Task`] is the last one, so it is never dropped in place:
/// it waits here and is dropped by the next task to die, outside that frame
/// (on another thread it waits at most for that `subscribe` to return).
static LAST_DEAD: parking_lot::Mutex<Option<may::coroutine::Coroutine>> =
    parking_lot::Mutex::new(None);

impl Drop for Task {
    fn drop(&mut self) {
        if let Kind::Coroutine(co) = &mut self.kind {
            if let Some(co) = co.take() {
                let previous = LAST_DEAD.lock().replace(co);
                drop(previous);
            }
        }
    }
}

/// Per-coroutine slot kept in `may`'s coroutine-local storage.
#[derive(Default)]
struct GreenSlot {
    task: OnceLock<Arc<Task>>,
    locals: Locals,
}

may::coroutine_local!(static SLOT: GreenSlot = GreenSlot::default());

thread_local! {
    static THREAD_TASK: OnceLock<Arc<Task>> = const { OnceLock::new() };
}

#[inline(never)]
fn with_slot<R>(f: impl FnOnce(&GreenSlot) -> R) -> R {
    SLOT.with(f)
}

/// The task of the caller: its coroutine, or its OS thread.
pub fn current() -> Arc<Task> {
    with_current(Arc::clone)
}

/// Runs `f` with the task of the caller, without taking a reference count.
///
/// Never inlined: it reads thread-local state (see [`park::in_coroutine`]).
#[inline(never)]
fn with_current<R>(f: impl FnOnce(&Arc<Task>) -> R) -> R {
    if in_coroutine() {
        with_slot(|s| {
            f(s.task.get_or_init(|| {
                // A coroutine spawned by raw `may`, not by greenstd.
                let t = Task::new_coroutine(None);
                if let Kind::Coroutine(co) = &t.kind {
                    let _ = co.set(may::coroutine::current());
                }
                t
            }))
        })
    } else {
        match THREAD_TASK.try_with(|t| t.get_or_init(Task::new_thread).clone()) {
            Ok(t) => f(&t),
            // During thread teardown: a fresh, unnamed identity.
            Err(_) => f(&Task::new_thread()),
        }
    }
}

/// The current task if it is a greenstd coroutine (for panic messages).
pub(crate) fn current_coroutine_task() -> Option<Arc<Task>> {
    if in_coroutine() {
        Some(current())
    } else {
        None
    }
}

/// Blocks until the current task's park token is available, then consumes it.
///
/// Never returns spuriously.
pub fn park_current() {
    while !with_current(|me| me.take_token()) {
        park::park();
    }
}

/// Blocks until the park token is available or `deadline` passes; consumes
/// the token if it was available.
pub fn park_current_until(deadline: Instant) {
    let me = current();
    while !me.take_token() {
        if park::park_until(deadline) {
            me.take_token();
            return;
        }
    }
}

/// Spawns `body` as a coroutine running as `task`, with a stack of
/// `stack_size` bytes (`None`: the configured default).
///
/// The body runs with `task` as its identity. Panics must be caught by
/// `body` itself; one that escapes is reported and aborts the process, as a
/// panic escaping a thread's main function would otherwise be lost.
///
/// # Errors
///
/// The runtime's configuration error, or `OutOfMemory` when no stack could be
/// mapped (memory or `vm.max_map_count` exhausted).
pub fn spawn(
    task: Arc<Task>,
    stack_size: Option<usize>,
    body: Box<dyn FnOnce() + Send + 'static>,
) -> io::Result<()> {
    let settings = config::start()?;
    let words = config::stack_words(stack_size.unwrap_or(settings.stack_size));
    let mut builder = may::coroutine::Builder::new().stack_size(words);
    if let Some(name) = task.name() {
        builder = builder.name(name.to_owned());
    }
    let their_task = task.clone();
    let main = move || {
        let me = may::coroutine::current();
        // The monitor names a stuck coroutine by this tag.
        me.set_tag(their_task.id.get());
        if let Kind::Coroutine(co) = &their_task.kind {
            let _ = co.set(me);
        }
        fence(Ordering::SeqCst);
        with_slot(|s| {
            let _ = s.task.set(their_task);
        });
        if catch_unwind(AssertUnwindSafe(body)).is_err() {
            eprintln!("greenstd: a panic escaped a coroutine's body; aborting");
            std::process::abort();
        }
    };
    // may panics (instead of returning an error) when it cannot map a stack.
    // SAFETY: greenstd coroutines reach thread-locals only through
    // greenstd's `thread_local!`, which is per coroutine; stack overflow hits
    // a guard page and aborts the process (see `overflow`).
    let spawned = catch_unwind(AssertUnwindSafe(|| unsafe { builder.spawn(main) }));
    let handle = match spawned {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "cannot map a coroutine stack: out of memory or of memory mappings \
                 (vm.max_map_count); use fewer coroutines or smaller stacks",
            ))
        }
    };
    if let Kind::Coroutine(co) = &task.kind {
        let _ = co.set(handle.coroutine().clone());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Thread-local storage of coroutines.
// ---------------------------------------------------------------------------

/// Why a local could not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalDestroyed;

struct LocalEntry {
    key: usize,
    /// `None` while being initialised or after destruction.
    value: Option<Box<dyn Any>>,
    destroyed: bool,
}

#[derive(Default)]
struct Locals {
    entries: RefCell<Vec<LocalEntry>>,
    destroying: Cell<bool>,
}

impl Locals {
    fn get_or_init<T: 'static>(
        &self,
        key: usize,
        init: impl FnOnce() -> T,
    ) -> Result<*const T, LocalDestroyed> {
        {
            let entries = self.entries.borrow();
            if let Some(e) = entries.iter().find(|e| e.key == key) {
                if e.destroyed {
                    return Err(LocalDestroyed);
                }
                if let Some(v) = &e.value {
                    let v: &T = v.downcast_ref().expect("greenstd: local key type mismatch");
                    return Ok(v as *const T);
                }
            }
        }
        // Not initialised yet: run `init` without holding the borrow (it may
        // touch other locals).
        let value: Box<dyn Any> = Box::new(init());
        let mut entries = self.entries.borrow_mut();
        if let Some(e) = entries.iter_mut().find(|e| e.key == key) {
            if e.destroyed {
                return Err(LocalDestroyed);
            }
            if let Some(v) = &e.value {
                // `init` initialised it recursively; keep the first value.
                let v: &T = v.downcast_ref().expect("greenstd: local key type mismatch");
                return Ok(v as *const T);
            }
            e.value = Some(value);
            let v: &T = e
                .value
                .as_ref()
                .and_then(|v| v.downcast_ref())
                .expect("just set");
            return Ok(v as *const T);
        }
        entries.push(LocalEntry {
            key,
            value: Some(value),
            destroyed: false,
        });
        let v: &T = entries
            .last()
            .and_then(|e| e.value.as_ref())
            .and_then(|v| v.downcast_ref())
            .expect("just pushed");
        Ok(v as *const T)
    }

    fn destroy_all(&self) {
        self.destroying.set(true);
        loop {
            let victim = {
                let mut entries = self.entries.borrow_mut();
                entries.iter_mut().find(|e| !e.destroyed).map(|e| {
                    e.destroyed = true;
                    e.value.take()
                })
            };
            match victim {
                None => break,
                Some(v) => drop(v),
            }
        }
    }
}

/// Runs `f` with the current coroutine's value for the local `key`
/// (initialising it with `init` on first use).
///
/// `key` must be unique per local (the address of its static) and always
/// used with the same `T`. Returns `Err` after the coroutine has started
/// destroying its locals and this one is gone.
///
/// Must only be called inside a coroutine.
#[inline(never)]
pub fn with_coroutine_local<T: 'static, R>(
    key: usize,
    init: impl FnOnce() -> T,
    f: impl FnOnce(&T) -> R,
) -> Result<R, LocalDestroyed> {
    debug_assert!(in_coroutine());
    let ptr = with_slot(|s| s.locals.get_or_init(key, init))?;
    // SAFETY: the value is boxed and owned by the coroutine's slot; it is
    // dropped only by `destroy_locals`, which marks it destroyed first, and
    // that runs on this same coroutine, never while `f` runs.
    Ok(f(unsafe { &*ptr }))
}

/// Runs the destructors of the current coroutine's locals. greenstd calls
/// it when a coroutine's main function has returned, before its result is
/// published to `join`. Locals touched by a destructor after their own
/// destruction are unavailable (`Err(LocalDestroyed)`), as std's. On a
/// plain thread it does nothing: std runs those destructors at thread exit.
pub fn destroy_locals() {
    if in_coroutine() {
        with_slot(|s| s.locals.destroy_all());
    }
}
