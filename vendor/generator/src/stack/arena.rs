//! greenstd patch: coroutine stacks carved from a few large mappings.
//!
//! Upstream maps every stack on its own and `mprotect`s its lowest page as
//! a guard: two memory mappings per stack, so Linux's default
//! `vm.max_map_count` (65,530) stopped a program at ~32,700 coroutines.
//! Here stacks are slots of large `MAP_NORESERVE` chunks (one mapping for
//! thousands of stacks, address space only until touched), and each slot's
//! guard page is a `MADV_GUARD_INSTALL` guard region (Linux 6.13+): it
//! faults like a `PROT_NONE` page (SIGSEGV at the page's address) but does
//! not split the mapping. A kernel without guard regions keeps upstream's
//! per-stack mappings ([`allocate`] returns `None`).
//!
//! A freed slot goes back to a free list of its size, its guard left in
//! place; its pages are returned to the kernel by a later [`sweep`] unless
//! it is reused first. Chunks are never unmapped.
//!
//! Trimming: the owner of a stack that will not run for a while (a parked
//! coroutine, a finished one kept in a pool) offers the part of the stack
//! below what it still uses ([`offer`]); [`sweep`], called periodically,
//! returns offered pages to the kernel once they have stayed offered for a
//! whole sweep period. Before the stack runs again its owner takes the
//! offer back ([`reclaim`]), waiting while a sweep is returning its pages.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

/// `MADV_GUARD_INSTALL` (include/uapi/asm-generic/mman-common.h, Linux 6.13).
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Address space reserved per chunk (at most; fewer slots when a smaller
/// mapping is all the kernel grants).
const CHUNK_BYTES: usize = 32 << 30;
/// At most this many slots per chunk (a slot's trim state is one word).
const MAX_SLOTS: usize = 1 << 16;

/// A slot's trim state: 0 (nothing offered), [`BUSY`] (a sweep is
/// returning its pages), or a page-aligned floor with flag bits: the pages
/// of the stack below the floor are not in use.
pub type TrimState = AtomicUsize;
const BUSY: usize = 1;
/// Floors are kept aligned to this (the flag bits below it); a sweep
/// rounds them down to the page size.
pub const FLOOR_ALIGN: usize = 4096;
/// Seen offered by one sweep: the next one trims it.
const AGED: usize = 2;
/// Its pages below the floor were returned; nothing more to do.
const TRIMMED: usize = 4;

struct Chunk {
    base: usize,
    slot: usize,
    slots: usize,
    /// Slots handed out so far (carved bottom up).
    carved: AtomicUsize,
    states: &'static [TrimState],
}

struct Class {
    slot: usize,
    free: Vec<usize>,
    /// The chunk being carved.
    chunk: Option<&'static Chunk>,
}

struct Arena {
    chunks: Vec<&'static Chunk>,
    classes: Vec<Class>,
}

static ARENA: Mutex<Arena> = Mutex::new(Arena {
    chunks: Vec::new(),
    classes: Vec::new(),
});

/// 0: not probed yet, 1: guard regions work, 2: they do not.
static SUPPORT: AtomicU8 = AtomicU8::new(0);
/// Some offer may wait for a sweep.
static PENDING: AtomicBool = AtomicBool::new(false);

fn page() -> usize {
    super::sys::page_size()
}

/// Whether stacks come from the arena (the kernel has guard regions).
/// `None` until the first stack was allocated.
pub fn in_use() -> Option<bool> {
    match SUPPORT.load(Ordering::Relaxed) {
        1 => Some(true),
        2 => Some(false),
        _ => None,
    }
}

fn madvise(addr: usize, len: usize, advice: libc::c_int) -> io::Result<()> {
    // SAFETY: callers pass ranges inside chunks this module mapped.
    if unsafe { libc::madvise(addr as *mut libc::c_void, len, advice) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn map_chunk(slot: usize) -> io::Result<&'static Chunk> {
    let mut slots = (CHUNK_BYTES / slot).clamp(1, MAX_SLOTS);
    loop {
        let len = slots * slot;
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if ptr != libc::MAP_FAILED {
            let base = ptr as usize;
            // A stack wants small pages: a huge page would make a
            // coroutine's first touch cost 2 MiB. One call for the whole
            // chunk, so the mapping is not split.
            let _ = madvise(base, len, libc::MADV_NOHUGEPAGE);
            let states: Vec<TrimState> = (0..slots).map(|_| AtomicUsize::new(0)).collect();
            return Ok(Box::leak(Box::new(Chunk {
                base,
                slot,
                slots,
                carved: AtomicUsize::new(0),
                states: Box::leak(states.into_boxed_slice()),
            })));
        }
        let err = io::Error::last_os_error();
        if slots == 1 {
            return Err(err);
        }
        slots /= 2;
    }
}

/// Whether the kernel has guard regions: installs one on a scratch page.
fn probe() -> bool {
    // SAFETY: a one-page scratch mapping, unmapped below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            page(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return false;
    }
    let ok = madvise(p as usize, page(), MADV_GUARD_INSTALL).is_ok();
    // SAFETY: the scratch mapping made above.
    unsafe { libc::munmap(p, page()) };
    ok
}

fn supported() -> bool {
    match SUPPORT.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let disabled = std::env::var_os("GREENSTD_STACK_ARENA").is_some_and(|v| v == "0");
            let ok = !disabled && probe();
            SUPPORT.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
            ok
        }
    }
}

/// A slot of `size` bytes (guard page included, a multiple of the page
/// size): its base address (the guard page) and its trim state. `None`
/// when the kernel has no guard regions: the caller maps the stack itself.
pub fn allocate(size: usize) -> Option<io::Result<(usize, &'static TrimState)>> {
    if !supported() {
        return None;
    }
    let mut arena = ARENA.lock().unwrap_or_else(|e| e.into_inner());
    let idx = match arena.classes.iter().position(|c| c.slot == size) {
        Some(i) => i,
        None => {
            arena.classes.push(Class {
                slot: size,
                free: Vec::new(),
                chunk: None,
            });
            arena.classes.len() - 1
        }
    };
    if let Some(base) = arena.classes[idx].free.pop() {
        let state = state_of(&arena.chunks, base);
        drop(arena);
        // Its pages may be going back to the kernel right now.
        reclaim(state);
        return Some(Ok((base, state)));
    }
    let chunk = match arena.classes[idx].chunk {
        Some(c) if c.carved.load(Ordering::Relaxed) < c.slots => c,
        _ => match map_chunk(size) {
            Ok(c) => {
                arena.classes[idx].chunk = Some(c);
                let at = arena.chunks.partition_point(|o| o.base < c.base);
                arena.chunks.insert(at, c);
                c
            }
            Err(e) => return Some(Err(e)),
        },
    };
    let i = chunk.carved.load(Ordering::Relaxed);
    let base = chunk.base + i * chunk.slot;
    if let Err(e) = madvise(base, page(), MADV_GUARD_INSTALL) {
        return Some(Err(e));
    }
    chunk.carved.store(i + 1, Ordering::Release);
    Some(Ok((base, &chunk.states[i])))
}

fn state_of(chunks: &[&'static Chunk], base: usize) -> &'static TrimState {
    let at = chunks.partition_point(|c| c.base <= base) - 1;
    let c = chunks[at];
    &c.states[(base - c.base) / c.slot]
}

/// Gives a slot back to the free list of its size (its guard stays). Its
/// pages are offered for trimming as a whole: a later [`sweep`] returns
/// them unless the slot was reused first (no `madvise` on this path).
pub fn free(base: usize, size: usize, state: &'static TrimState) {
    reclaim(state);
    offer(state, base + size);
    let mut arena = ARENA.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = arena.classes.iter_mut().find(|c| c.slot == size) {
        c.free.push(base);
    }
}

/// Offers the pages below `floor` (aligned to [`FLOOR_ALIGN`]) for
/// trimming.
#[inline]
pub fn offer(state: &TrimState, floor: usize) {
    debug_assert_eq!(floor % FLOOR_ALIGN, 0);
    state.store(floor, Ordering::Release);
    if !PENDING.load(Ordering::Relaxed) {
        PENDING.store(true, Ordering::Relaxed);
    }
}

/// Takes an offer back: from here the stack may use every page again.
/// Waits while a sweep is returning its pages (one `madvise`).
#[inline]
pub fn reclaim(state: &TrimState) {
    let s = state.load(Ordering::Acquire);
    if s == 0
        || (s != BUSY
            && state
                .compare_exchange(s, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok())
    {
        return;
    }
    reclaim_slow(state);
}

#[cold]
fn reclaim_slow(state: &TrimState) {
    loop {
        let s = state.load(Ordering::Acquire);
        if s == 0 {
            return;
        }
        if s == BUSY {
            std::hint::spin_loop();
            continue;
        }
        if state
            .compare_exchange_weak(s, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return;
        }
    }
}

/// What one [`sweep`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Slots looked at.
    pub scanned: usize,
    /// Slots whose pages below their floor were returned (one `madvise` each).
    pub trimmed: usize,
    /// Offers still waiting for a later sweep.
    pub pending: bool,
}

/// Whether some offer may be waiting for a [`sweep`].
pub fn pending() -> bool {
    PENDING.load(Ordering::Relaxed)
}

/// Returns the pages of stacks offered since before the previous sweep
/// (so offered for at least one sweep period): one `madvise` per such
/// stack, at most `budget` of them (the rest wait for the next sweep), and
/// a look at one word per stack otherwise. Marks newer offers for the next
/// sweep.
pub fn sweep(budget: usize) -> Sweep {
    let mut out = Sweep::default();
    if !PENDING.swap(false, Ordering::Relaxed) {
        return out;
    }
    let chunks: Vec<&'static Chunk> = {
        let arena = ARENA.lock().unwrap_or_else(|e| e.into_inner());
        arena.chunks.clone()
    };
    let page = page();
    for c in chunks {
        let carved = c.carved.load(Ordering::Acquire);
        out.scanned += carved;
        for (i, state) in c.states[..carved].iter().enumerate() {
            let s = state.load(Ordering::Relaxed);
            if s == 0 || s == BUSY || s & TRIMMED != 0 {
                continue;
            }
            if s & AGED == 0 || out.trimmed >= budget {
                let _ = state.compare_exchange(s, s | AGED, Ordering::Relaxed, Ordering::Relaxed);
                out.pending = true;
                continue;
            }
            if state
                .compare_exchange(s, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                out.pending = true;
                continue;
            }
            // Rounded down to the page size: a page is returned only if
            // all of it is below the floor.
            let floor = s & !(page - 1);
            let lo = c.base + i * c.slot + page;
            if floor > lo {
                let _ = madvise(lo, floor - lo, libc::MADV_DONTNEED);
                out.trimmed += 1;
            }
            state.store(s | TRIMMED, Ordering::Release);
        }
    }
    if out.pending {
        PENDING.store(true, Ordering::Relaxed);
    }
    out
}
