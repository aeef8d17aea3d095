//! The identity of the running execution context — a greenstd coroutine or a
//! plain OS thread — with its park token and its thread-local storage.
//!
//! `std::thread::Thread` is built on this: [`current`] returns the [`Task`]
//! of the caller, inside a coroutine as on a plain thread. The task itself
//! (its sleeper, parker, record, interrupt and cancellation state) is the
//! task's core (`task_core`), below the sleep and the wait; here are what
//! is built on them: spawning, `thread::park` and the locals' API.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::config;
use crate::record::{WaitKind, WaitOn, WaitResult};
use crate::task_core::{registry, with_slot, GreenSlot};

pub use crate::task_core::{current, Task};
pub(crate) use crate::task_core::{
    current_coroutine_task, mark_internal_thread, with_current, with_current_coroutine,
};

/// Blocks until the current task's park token is available, then consumes it.
///
/// Never returns spuriously. Recorded as [`WaitKind::Park`] at the caller's
/// call site.
#[track_caller]
#[inline]
pub fn park_current() {
    let location = Location::caller();
    with_current(|me| {
        let on = on_self(me, location);
        loop {
            match wait_for_token(me, &on, None) {
                WaitResult::Notified => return,
                // A due cancellation or deadline unwinds; else park again.
                WaitResult::Interrupted => crate::task_core::deliver(),
                _ => {}
            }
        }
    })
}

/// Blocks until the park token is available or `deadline` passes; consumes
/// the token if it was available.
#[track_caller]
pub fn park_current_until(deadline: Instant) {
    let location = Location::caller();
    with_current(|me| {
        let on = on_self(me, location);
        while wait_for_token(me, &on, Some(deadline)) == WaitResult::Interrupted {
            crate::task_core::deliver();
        }
    })
}

/// `thread::park` for `me`, the caller's task: one recorded wait for its
/// park token (through the one suspend point, `wait::suspend`).
#[inline]
fn wait_for_token(me: &Arc<Task>, on: &WaitOn, deadline: Option<Instant>) -> WaitResult {
    match me.sleeper() {
        Some(s) => crate::wait::park_coroutine(me, s, on, deadline),
        None => me.parker().park(me, *on, deadline),
    }
}

/// A park is a wait on the task itself.
#[inline]
fn on_self(me: &Task, location: &'static Location<'static>) -> WaitOn {
    WaitOn::at(WaitKind::Park, me.id().get() as usize, location)
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
    body: impl FnOnce() + Send + 'static,
) -> io::Result<()> {
    let settings = config::start()?;
    let words = config::stack_words(stack_size.unwrap_or(settings.stack_size));
    let stack_bytes = words * std::mem::size_of::<usize>();
    let mut builder = may::coroutine::Builder::new().stack_size(words);
    if let Some(name) = task.name() {
        builder = builder.name(name.to_owned());
    }
    // Registered before it can run: from here it counts as live.
    if !task.is_internal() {
        registry::register(&task);
    }
    let their_task = task.clone();
    let main = move || {
        their_task.set_coroutine_stack(crate::wait::stack_address(), stack_bytes);
        let me = may::coroutine::current();
        // The monitor names a stuck coroutine by this tag.
        me.set_tag(their_task.id().get());
        their_task.set_coroutine(me);
        fence(Ordering::SeqCst);
        let me = their_task.clone();
        // The coroutine's slot lives in this frame, reached through may's
        // embedder pointer (no hash-map lookup per access).
        let slot = GreenSlot::default();
        let _ = slot.task.set(their_task);
        may::embed::set_embedder_ptr(&slot as *const GreenSlot as *const ());
        if catch_unwind(AssertUnwindSafe(body)).is_err() {
            eprintln!("greenstd: a panic escaped a coroutine's body; aborting");
            std::process::abort();
        }
        may::embed::set_embedder_ptr(std::ptr::null());
        drop(slot);
        registry::deregister(&me);
    };
    // Detached: greenstd's `JoinHandle` keeps its own result and panic
    // slots, so may's three per-coroutine join allocations are not made.
    // may panics (instead of returning an error) when it cannot map a stack.
    // SAFETY: greenstd coroutines reach thread-locals only through
    // greenstd's `thread_local!`, which is per coroutine; stack overflow hits
    // a guard page and aborts the process (see `overflow`).
    let spawned = catch_unwind(AssertUnwindSafe(|| unsafe { builder.spawn_detached(main) }));
    let handle = match spawned {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            registry::deregister(&task);
            return Err(e);
        }
        Err(_) => {
            registry::deregister(&task);
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                stack_map_error(),
            ));
        }
    };
    task.set_coroutine(handle);
    Ok(())
}

/// Why no stack could be had, as far as we can tell.
fn stack_map_error() -> &'static str {
    #[cfg(target_os = "linux")]
    if may::stack_arena::in_use() == Some(true) {
        return "cannot map a coroutine stack: out of memory or address space \
                (stacks come from greenstd's stack arena); use fewer coroutines";
    }
    "cannot map a coroutine stack: out of memory or of memory mappings: every stack is a \
     mapping of its own (the kernel has no guard regions, MADV_GUARD_INSTALL of Linux 6.13+, \
     or GREENSTD_STACK_ARENA=0) and two count against the sysctl vm.max_map_count; raise it \
     (sysctl -w vm.max_map_count=...), or use fewer coroutines or smaller stacks"
}

/// Runs `f` with the current coroutine's value for the local `key`
/// (initialising it with `init` on first use).
///
/// `key` must be unique per local (the address of its static) and always
/// used with the same `T`. Returns `None` after the coroutine has started
/// destroying its locals and this one is gone (std's `AccessError`).
///
/// Must only be called inside a coroutine.
#[inline(never)]
pub fn with_coroutine_local<T: 'static, R>(
    key: usize,
    init: impl FnOnce() -> T,
    f: impl FnOnce(&T) -> R,
) -> Option<R> {
    let embedder = may::embed::current().expect("greenstd: a coroutine local outside a coroutine");
    let ptr = with_slot(embedder, |s| s.locals.get_or_init(key, init)).ok()?;
    // SAFETY: the value is boxed and owned by the coroutine's slot; it is
    // dropped only by `destroy_locals`, which marks it destroyed first, and
    // that runs on this same coroutine, never while `f` runs.
    Some(f(unsafe { &*ptr }))
}

/// Takes the calling coroutine off the registry of live tasks (dumps, the
/// deadlock detector) before its result is published: once `join` has
/// returned, the thread is finished, as std's, and no dump shows it. Later
/// calls, and the runtime's own at the coroutine's end, do nothing.
pub fn finish_current() {
    if crate::park::in_coroutine() {
        with_current(|me| registry::deregister(me));
    }
}

/// Runs the destructors of the current coroutine's locals. greenstd calls
/// it when a coroutine's main function has returned, before its result is
/// published to `join`. Locals touched by a destructor after their own
/// destruction are unavailable (`None` from [`with_coroutine_local`]), as std's. On a
/// plain thread it does nothing: std runs those destructors at thread exit.
pub fn destroy_locals() {
    if let Some(embedder) = may::embed::current() {
        with_slot(embedder, |s| s.locals.destroy_all());
    }
}
