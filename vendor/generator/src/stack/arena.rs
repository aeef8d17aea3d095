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
//! Carving a fresh slot costs the kernel two zeroed pages (the guard's and
//! the top page's page-table page, and the top page itself, which the
//! generator writes at once): microseconds each, on the spawning thread.
//! [`prefault`] lets an idle thread (may's worker waiting for work) carve
//! slots ahead of demand and take those faults, so that a thread spawning
//! many coroutines shares that work with the idle workers instead of doing
//! it all: a slot handed out fresh asks for two more to be prepared, at
//! most [`READY_MAX`] kept ready per size.
//!
//! Trimming: the owner of a stack that will not run for a while (a parked
//! coroutine, a finished one kept in a pool) offers the part of the stack
//! below what it still uses ([`offer`]); [`sweep`], called periodically,
//! returns offered pages to the kernel once they have stayed offered for a
//! whole sweep period. Before the stack runs again its owner takes the
//! offer back ([`reclaim`]), waiting while a sweep is returning its pages.
//!
//! The offer and its reclaim are on every park and resume, so they are a
//! plain store each, and a load: no read-modify-write. A sweep excludes a
//! resume with an asymmetric Dekker handshake. It marks the slots it will
//! trim `busy`, then calls `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`
//! (a full memory barrier on every thread of the process that runs), then
//! reads each offer again. A reclaim stores 0 over the offer, then reads
//! `busy` (with only a compiler barrier between). Either the reclaim sees
//! `busy` and waits for the sweep to clear it, or the sweep sees the 0 and
//! leaves the stack alone. Without `membarrier` nothing is trimmed.

use std::io;
use std::sync::atomic::{compiler_fence, AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

/// `MADV_GUARD_INSTALL` (include/uapi/asm-generic/mman-common.h, Linux 6.13).
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Address space reserved per chunk (at most; fewer slots when a smaller
/// mapping is all the kernel grants).
const CHUNK_BYTES: usize = 32 << 30;
/// At most this many slots per chunk (a slot's trim state is two words).
const MAX_SLOTS: usize = 1 << 16;

/// A slot's trim state: its offer, and whether a sweep may be returning
/// its pages.
pub struct TrimState {
    /// 0: nothing offered (the stack may be running). Otherwise an address
    /// of the stack, aligned to [`OFFER_ALIGN`], with flag bits set by
    /// sweeps: the pages of the stack below it (rounded down to a page)
    /// are not in use.
    offer: AtomicUsize,
    /// Set by a sweep from before it reads the offer a last time until it
    /// has returned the pages: a [`reclaim`] that sees it waits.
    busy: AtomicBool,
}

impl TrimState {
    const fn new() -> TrimState {
        TrimState {
            offer: AtomicUsize::new(0),
            busy: AtomicBool::new(false),
        }
    }
}

/// Offers are aligned to this (the flag bits below it): a saved stack
/// pointer is.
pub const OFFER_ALIGN: usize = 8;
const FLAGS: usize = OFFER_ALIGN - 1;
/// Seen offered by one sweep: the next one trims it.
const AGED: usize = 2;
/// Its pages below the offer were returned; nothing more to do.
const TRIMMED: usize = 4;
/// Slots carved ahead by [`prefault`] and kept ready, at most, per size.
pub const READY_MAX: usize = 64;
/// Some size class wants slots prepared by [`prefault`] (a hint; the
/// classes' `demand` under the lock says which).
static WANTED: AtomicBool = AtomicBool::new(false);

/// Slots marked busy at once, before one `membarrier`: a reclaim waits for
/// at most this many `madvise` calls.
const BATCH: usize = 32;

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
    /// Carved by [`prefault`]: guarded, top page touched, never used.
    ready: Vec<usize>,
    /// Slots [`prefault`] is asked to prepare: two per slot handed out
    /// fresh (carved, or taken from `ready`) since it last served this size.
    demand: usize,
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
/// A sweep left offers for the next one, or a stack was freed since.
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
            let states: Vec<TrimState> = (0..slots).map(|_| TrimState::new()).collect();
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
    Some(reserve(size)?.and_then(|mut slot| {
        slot.guard()?;
        Ok((slot.base, slot.state))
    }))
}

/// A slot handed out by [`reserve`]: its address range is the holder's,
/// but nothing of it may be touched before [`Slot::guard`] (a slot carved
/// fresh has no guard yet).
#[derive(Debug)]
pub struct Slot {
    /// The slot's lowest address (its guard page).
    pub base: usize,
    /// Its trim state.
    pub state: &'static TrimState,
    /// Its guard is still to be installed.
    unguarded: bool,
}

impl std::fmt::Debug for TrimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrimState").finish_non_exhaustive()
    }
}

impl Slot {
    /// Installs the slot's guard if it has none yet (a system call, and
    /// the page-table page the guard shares with its neighbour's top page:
    /// the first fault of the stack): from here the slot may be used. A
    /// slot whose guard cannot be installed (out of memory) stays carved
    /// and unused.
    pub fn guard(&mut self) -> io::Result<()> {
        if self.unguarded {
            madvise(self.base, page(), MADV_GUARD_INSTALL)?;
            self.unguarded = false;
        }
        Ok(())
    }
}

/// As [`allocate`], but without touching the slot: one carved fresh gets
/// its guard from [`Slot::guard`], on whichever thread will first use the
/// stack (a thread spawning many coroutines leaves their first faults to
/// the workers that run them). No system call, unless a chunk must be
/// mapped (where an exhausted address space shows, as an error here).
pub fn reserve(size: usize) -> Option<io::Result<Slot>> {
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
                ready: Vec::new(),
                demand: 0,
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
        return Some(Ok(Slot {
            base,
            state,
            unguarded: false,
        }));
    }
    // A slot handed out fresh: two more wanted ready.
    arena.classes[idx].demand += 2;
    WANTED.store(true, Ordering::Relaxed);
    if let Some(base) = arena.classes[idx].ready.pop() {
        return Some(Ok(Slot {
            base,
            state: state_of(&arena.chunks, base),
            unguarded: false,
        }));
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
    // Reserved under the lock, guarded outside it: the guard's system call
    // (and the page-table page it may allocate) would otherwise hold up
    // `prefault` on a worker, which then slept on the lock and had to be
    // woken (a futex wake per contended spawn).
    let i = chunk.carved.load(Ordering::Relaxed);
    chunk.carved.store(i + 1, Ordering::Release);
    Some(Ok(Slot {
        base: chunk.base + i * chunk.slot,
        state: &chunk.states[i],
        unguarded: true,
    }))
}

/// Carves up to `max` slots ahead of demand, of a size whose slots were
/// handed out fresh, and takes their first faults here (the guard
/// installed, the top page written), so that [`allocate`] hands them out
/// without a system call or a page fault. Returns how many it carved: 0
/// unless slots were handed out fresh since it last ran (two prepared per
/// such slot, at most [`READY_MAX`] kept ready per size), or while another
/// thread holds the arena (it does not wait). It never maps a chunk (the
/// next [`allocate`] does). For a thread with nothing else to do.
pub fn prefault(max: usize) -> usize {
    if !WANTED.load(Ordering::Relaxed) {
        return 0;
    }
    let (chunk, first, k) = {
        // An idle thread does not wait for a spawning one: it comes back.
        let mut arena = match ARENA.try_lock() {
            Ok(a) => a,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return 0,
        };
        let mut wanted = arena.classes.iter_mut().filter(|c| c.demand > 0);
        let Some(class) = wanted.next() else {
            WANTED.store(false, Ordering::Relaxed);
            return 0;
        };
        let more = wanted.next().is_some();
        let first = class.chunk.map_or(0, |c| c.carved.load(Ordering::Relaxed));
        let k = class
            .demand
            .min(max)
            .min(READY_MAX.saturating_sub(class.ready.len()))
            .min(class.chunk.map_or(0, |c| c.slots - first));
        // The rest next time, unless the ready ones or the chunk ran out.
        class.demand = if k == max { class.demand - k } else { 0 };
        if class.demand == 0 && !more {
            WANTED.store(false, Ordering::Relaxed);
        }
        let Some(chunk) = class.chunk else { return 0 };
        // Reserved: their trim states stay 0 (nothing offered) until used.
        chunk.carved.store(first + k, Ordering::Release);
        (chunk, first, k)
    };
    let mut ready = Vec::with_capacity(k);
    for i in first..first + k {
        let base = chunk.base + i * chunk.slot;
        // A slot whose guard cannot be installed (out of memory) is left
        // carved and unused.
        if madvise(base, page(), MADV_GUARD_INSTALL).is_ok() {
            let top = base + chunk.slot - std::mem::size_of::<usize>();
            // SAFETY: the slot's top word, reserved above and ours alone
            // until pushed to the ready list below.
            unsafe { (top as *mut usize).write_volatile(0) };
            ready.push(base);
        }
    }
    if !ready.is_empty() {
        let mut arena = ARENA.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(class) = arena.classes.iter_mut().find(|c| c.slot == chunk.slot) {
            class.ready.extend(ready);
        }
    }
    k
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
    PENDING.store(true, Ordering::Relaxed);
    let mut arena = ARENA.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = arena.classes.iter_mut().find(|c| c.slot == size) {
        c.free.push(base);
    }
}

/// Offers the pages of the stack below `addr` (rounded down to a page;
/// aligned to [`OFFER_ALIGN`]) for trimming: one store. An address outside
/// the stack offers nothing.
///
/// It does not make [`pending`] true: the caller knows when offers may
/// have been made (may's scheduler: a coroutine ran since the last sweep).
#[inline]
pub fn offer(state: &TrimState, addr: usize) {
    debug_assert_eq!(addr & FLAGS, 0);
    // Release: the stack's last writes before the offer come before a
    // sweep's `madvise`.
    state.offer.store(addr, Ordering::Release);
}

/// Takes an offer back: from here the stack may use every page again. A
/// store and a load; waits while a sweep is returning its pages (at most
/// [`BATCH`] `madvise` calls).
#[inline]
pub fn reclaim(state: &TrimState) {
    state.offer.store(0, Ordering::Relaxed);
    // The store must precede the load of `busy`: the sweep's `membarrier`
    // orders them on the hardware (see the module docs), so only the
    // compiler has to keep them in order here.
    compiler_fence(Ordering::SeqCst);
    if state.busy.load(Ordering::Acquire) {
        reclaim_slow(state);
    }
}

#[cold]
fn reclaim_slow(state: &TrimState) {
    let mut spins = 0u32;
    while state.busy.load(Ordering::Acquire) {
        spins += 1;
        if spins < 1_000 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// 0: not asked yet, 1: registered, 2: unavailable.
static MEMBARRIER: AtomicU8 = AtomicU8::new(0);
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

fn membarrier_cmd(cmd: libc::c_long) -> bool {
    // SAFETY: `membarrier` with no pointer arguments.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            cmd,
            0 as libc::c_long,
            0 as libc::c_long,
        ) == 0
    }
}

/// Whether this process may use private expedited `membarrier` (registers
/// it the first time).
fn membarrier_ready() -> bool {
    match MEMBARRIER.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let ok = membarrier_cmd(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED);
            MEMBARRIER.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
            ok
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
    /// Slots left alone because the page just below their floor was not
    /// resident (one `mincore` each): they never went deeper than that
    /// since they were carved or last trimmed.
    pub shallow: usize,
    /// Offers still waiting for a later sweep.
    pub pending: bool,
}

/// Whether a [`sweep`] left offers for the next one, or a stack was freed
/// since (never when stacks cannot be trimmed). Offers made by [`offer`]
/// alone are not counted: see there.
pub fn pending() -> bool {
    PENDING.load(Ordering::Relaxed) && MEMBARRIER.load(Ordering::Relaxed) != 2
}

/// A slot marked busy by a sweep, to trim once `membarrier` has run.
struct Candidate {
    state: &'static TrimState,
    /// The offer read when it was marked.
    offer: usize,
    /// The lowest page of the stack (above its guard), and its top.
    lo: usize,
    hi: usize,
}

/// Returns the pages of stacks offered since before the previous sweep
/// (so offered for at least one sweep period): one `madvise` per such
/// stack, at most `budget` of them (the rest wait for the next sweep), and
/// a look at one word per stack otherwise, and one `membarrier` per
/// [`BATCH`] stacks trimmed. Marks newer offers for the next sweep. The
/// caller decides when a sweep is worth it ([`pending`], and whether any
/// stack ran since the last one).
pub fn sweep(budget: usize) -> Sweep {
    // One sweep at a time: two could both mark a slot busy, and the first
    // to clear the mark would let its owner resume while the other still
    // returns its pages.
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = Sweep::default();
    PENDING.store(false, Ordering::Relaxed);
    if !membarrier_ready() {
        return out;
    }
    let chunks: Vec<&'static Chunk> = {
        let arena = ARENA.lock().unwrap_or_else(|e| e.into_inner());
        arena.chunks.clone()
    };
    let mut batch = Vec::with_capacity(BATCH);
    for c in chunks {
        let carved = c.carved.load(Ordering::Acquire);
        out.scanned += carved;
        for (i, state) in c.states[..carved].iter().enumerate() {
            let offer = state.offer.load(Ordering::Relaxed);
            if offer == 0 || offer & TRIMMED != 0 {
                continue;
            }
            if offer & AGED == 0 || out.trimmed + out.shallow + batch.len() >= budget {
                // A failure means a resume (or a new offer) came between.
                let _ = state.offer.compare_exchange(
                    offer,
                    offer | AGED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                out.pending = true;
                continue;
            }
            let lo = c.base + i * c.slot + page();
            let floor = floor_of(offer);
            if floor > lo && floor <= c.base + (i + 1) * c.slot && !resident(floor - page()) {
                // Nothing below the floor to return: a stack is used from
                // its top down, every page of a deep frame touched in turn
                // (stack probes), so a stack that went below its floor since
                // it was carved or last trimmed made the page just below
                // resident. Half the cost of an `madvise` of the range, and
                // no `membarrier` (a million stacks that only ever parked
                // near their top were each given one `madvise` otherwise).
                // A resume meanwhile fails the exchange, and a later offer
                // is looked at again.
                let _ = state.offer.compare_exchange(
                    offer,
                    offer | TRIMMED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                out.shallow += 1;
                #[cfg(test)]
                tests::SHALLOW.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            state.busy.store(true, Ordering::Relaxed);
            batch.push(Candidate {
                state,
                offer,
                lo,
                hi: c.base + (i + 1) * c.slot,
            });
            if batch.len() == BATCH {
                trim_batch(&mut batch, &mut out);
            }
        }
    }
    trim_batch(&mut batch, &mut out);
    if out.pending {
        PENDING.store(true, Ordering::Relaxed);
    }
    out
}

/// The address below which an offer's pages may be returned: rounded down
/// to the page size, so that a page is returned only if all of it is below
/// the offer.
fn floor_of(offer: usize) -> usize {
    (offer & !FLAGS) & !(page() - 1)
}

/// Whether the page at `addr` (page-aligned, in a chunk) is resident. A
/// failure says yes (the caller then trims as before).
fn resident(addr: usize) -> bool {
    let mut v = 0u8;
    // SAFETY: one page of a chunk this module mapped; `v` receives one
    // byte per page.
    unsafe { libc::mincore(addr as *mut libc::c_void, page(), &mut v) != 0 || v & 1 != 0 }
}

/// Trims the stacks of `batch` (marked busy) that are still offered as
/// they were, and clears their marks.
fn trim_batch(batch: &mut Vec<Candidate>, out: &mut Sweep) {
    if batch.is_empty() {
        return;
    }
    // Every thread that runs now passes a full barrier: a reclaim that
    // stored 0 before it and has not seen `busy` is seen below.
    let fenced = membarrier_cmd(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    for c in batch.drain(..) {
        // Unchanged (or offered again at the same place): the stack is not
        // running, and reclaims wait for `busy`.
        if fenced && c.state.offer.load(Ordering::Acquire) == c.offer {
            let floor = floor_of(c.offer);
            if floor > c.lo && floor <= c.hi {
                let _ = madvise(c.lo, floor - c.lo, libc::MADV_DONTNEED);
                out.trimmed += 1;
            }
            let _ = c.state.offer.compare_exchange(
                c.offer,
                c.offer | TRIMMED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        } else if !fenced {
            out.pending = true;
        }
        c.state.busy.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// Stacks found shallow by any sweep (see `sweep`).
    pub(super) static SHALLOW: AtomicUsize = AtomicUsize::new(0);

    /// A slot handed out fresh asks for two more; `prefault` carves them
    /// with their top page written, and `allocate` hands them out next.
    #[test]
    fn prefault_prepares_two_slots_per_fresh_one() {
        let size = 24 * page();
        let Some(slot) = allocate(size) else {
            eprintln!("no guard regions on this kernel: nothing to test");
            return;
        };
        let (first, state) = slot.unwrap();
        // Serves every size wanted (another test's too), this one's
        // included; 0 also while another test holds the arena.
        while prefault(64) > 0 || WANTED.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
        let ready = {
            let arena = ARENA.lock().unwrap();
            let class = arena.classes.iter().find(|c| c.slot == size).unwrap();
            class.ready.clone()
        };
        assert_eq!(ready.len(), 2, "slots prepared after one handed out fresh");
        for &base in &ready {
            assert!(
                resident(base + size - page()),
                "a prepared slot's top page was not touched"
            );
            assert!(
                !resident(base + size - 2 * page()),
                "prefault touched more than the top page"
            );
        }
        let (a, sa) = allocate(size).unwrap().unwrap();
        let (b, sb) = allocate(size).unwrap().unwrap();
        let mut got = vec![a, b];
        got.sort();
        let mut want = ready.clone();
        want.sort();
        assert_eq!(got, want, "allocate hands out the prepared slots first");
        free(a, size, sa);
        free(b, size, sb);
        free(first, size, state);
    }

    /// A stack offered below where it ever went costs a sweep no
    /// `madvise`; one that went deeper is trimmed, and once trimmed is not
    /// looked at again until offered anew.
    #[test]
    fn a_sweep_trims_only_stacks_that_went_below_their_offer() {
        let page = page();
        let size = 32 * page;
        let Some(slot) = allocate(size) else {
            eprintln!("no guard regions on this kernel: nothing to test");
            return;
        };
        let (base, state) = slot.unwrap();
        let hi = base + size;
        let touch = |from: usize| {
            for p in (from..hi).step_by(page) {
                // SAFETY: the slot's pages above its guard, ours alone.
                unsafe { (p as *mut usize).write_volatile(1) };
            }
        };
        // Sweeps until this slot's offer was dealt with (other tests' slots
        // may be swept meanwhile; they are counted too, so only what this
        // slot shows is asserted).
        // Another test's sweeper may deal with this slot's offer: the
        // stacks found shallow are counted here for all sweeps (only this
        // test offers a stack below where it went).
        let settle = || {
            let before = SHALLOW.load(Ordering::Relaxed);
            for _ in 0..3 {
                sweep(usize::MAX);
            }
            SHALLOW.load(Ordering::Relaxed) - before
        };
        // Used down to 2 pages, offered below 2 pages: nothing to return.
        touch(hi - 2 * page);
        offer(state, hi - 2 * page);
        let shallow = settle();
        if membarrier_ready() {
            assert!(shallow > 0, "no stack was found shallow");
            let offer = state.offer.load(Ordering::Relaxed);
            assert_ne!(offer & TRIMMED, 0, "a shallow offer stays pending");
        }
        assert!(resident(hi - 2 * page), "a used page was returned");
        reclaim(state);
        // Used down to 20 pages, offered below 2: 18 pages to return.
        touch(hi - 20 * page);
        offer(state, hi - 2 * page);
        settle();
        if membarrier_ready() {
            assert!(!resident(hi - 3 * page), "a page below the offer was kept");
            assert!(
                !resident(hi - 20 * page),
                "a deep page below the offer was kept"
            );
            assert!(
                resident(hi - 2 * page),
                "a page above the offer was returned"
            );
        }
        reclaim(state);
        free(base, size, state);
    }

    /// A resume racing a sweep: the owner offers most of its stack, takes
    /// the offer back at once or after a moment, then writes every page
    /// below the offer and reads it back; a sweep loop trims meanwhile. A
    /// sweep returning pages after the reclaim would zero what was written.
    #[test]
    fn a_reclaimed_stack_is_never_trimmed_under_racing_sweeps() {
        let page = page();
        let size = 16 * page;
        let Some(slot) = allocate(size) else {
            eprintln!("no guard regions on this kernel: nothing to test");
            return;
        };
        let (base, state) = slot.unwrap();
        let (lo, hi) = (base + page, base + size);
        let floor = hi - page;
        let stop = Arc::new(AtomicBool::new(false));
        let sweeper = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut trimmed = 0;
                while !stop.load(Ordering::Relaxed) {
                    trimmed += sweep(usize::MAX).trimmed;
                }
                trimmed
            })
        };
        let start = Instant::now();
        let mut round = 0usize;
        while start.elapsed() < Duration::from_millis(400) {
            round += 1;
            offer(state, floor);
            for _ in 0..(round % 4) * 500 {
                std::hint::spin_loop();
            }
            reclaim(state);
            for p in (lo..floor).step_by(page) {
                // SAFETY: the slot's pages above its guard, ours alone.
                unsafe { (p as *mut usize).write_volatile(round) };
            }
            for _ in 0..2_000 {
                std::hint::spin_loop();
            }
            for p in (lo..floor).step_by(page) {
                // SAFETY: as above.
                let seen = unsafe { (p as *const usize).read_volatile() };
                assert_eq!(seen, round, "page {:#x} trimmed after its reclaim", p - lo);
            }
        }
        stop.store(true, Ordering::Relaxed);
        let trimmed = sweeper.join().unwrap();
        if membarrier_ready() {
            assert!(trimmed > 0, "no sweep trimmed: the race was not run");
        }
        free(base, size, state);
    }
}
