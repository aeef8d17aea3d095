use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::coroutine_impl::Coroutine;
use crate::join::Join;
use generator::get_local_data;

// thread local map storage
thread_local! {static LOCALMAP: LocalMap = RefCell::new(HashMap::default());}

thread_local! {
    /// greenstd patch: the local data of the coroutine this thread runs
    /// (set by `run_coroutine` around its resume), null otherwise: what
    /// `embed::current` reads in one look instead of walking the
    /// generator's context stack, and takes the walk only when it is null.
    /// may resumes a coroutine's body nowhere but in `run_coroutine`.
    pub(crate) static RUNNING: std::cell::Cell<*mut CoroutineLocal> =
        const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// coroutine local storage
pub struct CoroutineLocal {
    // current coroutine handle
    co: Coroutine,
    // greenstd patch: the join (when panic happens, we need to trigger it
    // here) and the `coroutine_local!` map, in one box made only when
    // needed: a detached coroutine has no join, and greenstd's coroutines
    // never use `coroutine_local!` (an empty map and a join pointer inline
    // were 40 bytes of every coroutine).
    extra: std::cell::OnceCell<Box<Extra>>,
    /// greenstd patch: one pointer the embedder keeps for the coroutine,
    /// reached without the hash map (see `embed`).
    pub(crate) embedder: std::cell::Cell<*const ()>,
}

/// greenstd patch: what only some coroutines need (see `CoroutineLocal::extra`).
struct Extra {
    join: Option<Arc<Join>>,
    // real local data hash map
    local_data: LocalMap,
}

impl CoroutineLocal {
    /// create coroutine local storage
    ///
    /// greenstd patch: by value; `attach` keeps it inside the generator.
    pub fn new(co: Coroutine, join: Option<Arc<Join>>) -> Self {
        let extra = std::cell::OnceCell::new();
        if join.is_some() {
            let _ = extra.set(Box::new(Extra {
                join,
                local_data: RefCell::new(HashMap::default()),
            }));
        }
        CoroutineLocal {
            co,
            extra,
            embedder: std::cell::Cell::new(std::ptr::null()),
        }
    }

    /// greenstd patch: makes this the local storage of `gen`, kept in the
    /// generator's own room for it (`Generator::local_inline`): no
    /// allocation (it was a box of its own, one of a spawn's five). Taken
    /// back by [`detach`](Self::detach).
    pub(crate) fn attach(self, gen: &mut crate::coroutine_impl::CoroutineImpl) {
        const {
            assert!(
                std::mem::size_of::<CoroutineLocal>()
                    <= generator::LOCAL_INLINE_WORDS * std::mem::size_of::<usize>()
            );
            assert!(std::mem::align_of::<CoroutineLocal>() <= std::mem::align_of::<usize>());
        }
        let at = gen.local_inline().cast::<CoroutineLocal>();
        // SAFETY: the room is large and aligned enough (checked above),
        // the generator's own, and holds nothing alive: a generator's
        // previous local was taken back by `detach` before it was reused.
        unsafe { at.write(self) };
        gen.set_local_data(at.cast());
    }

    /// greenstd patch: takes back the local storage `attach` gave `gen`
    /// (the generator's room then holds nothing alive).
    ///
    /// # Safety
    ///
    /// `gen`'s local storage was attached and not detached since.
    pub(crate) unsafe fn detach(gen: &crate::coroutine_impl::CoroutineImpl) -> Self {
        // SAFETY: per the contract, an attached local lives there.
        unsafe { gen.get_local_data().cast::<CoroutineLocal>().read() }
    }

    /// greenstd patch: the `coroutine_local!` map, made on first use.
    fn local_data(&self) -> &LocalMap {
        &self
            .extra
            .get_or_init(|| {
                Box::new(Extra {
                    join: None,
                    local_data: RefCell::new(HashMap::default()),
                })
            })
            .local_data
    }

    // get the coroutine handle
    pub fn get_co(&self) -> &Coroutine {
        &self.co
    }

    // get the join handle
    // greenstd patch: `None` for a detached coroutine.
    pub fn get_join(&self) -> Option<Arc<Join>> {
        self.extra.get().and_then(|e| e.join.clone())
    }
}

#[inline]
/// greenstd patch: the handle of the coroutine running on this thread,
/// without touching its local map (safe to call from a signal handler).
pub(crate) fn peek_co() -> Option<&'static Coroutine> {
    // SAFETY: the local data lives as long as the running coroutine, which
    // cannot end while the caller runs on its stack.
    get_co_local_data().map(|p| unsafe { &(*p.as_ptr()).co })
}

pub fn get_co_local_data() -> Option<NonNull<CoroutineLocal>> {
    let ptr = get_local_data();
    NonNull::new(ptr.cast())
}

#[inline]
fn with<F: FnOnce(&LocalMap) -> R, R>(f: F) -> R {
    match get_co_local_data() {
        Some(v) => f(unsafe { v.as_ref() }.local_data()),
        None => LOCALMAP.with(|data| f(data)),
    }
}

pub type LocalMap = RefCell<HashMap<TypeId, Box<dyn Opaque>, BuildHasherDefault<IdHasher>>>;

pub trait Opaque {}
impl<T> Opaque for T {}

/// A key for local data stored in a coroutine.
///
/// This type is generated by the `coroutine_local!` macro and performs very
/// similarly to the `thread_local!` macro and `std::thread::LocalKey` types.
/// Data associated with a `LocalKey<T>` is stored inside of a coroutine,
/// and the data is destroyed when the coroutine is completed.
///
/// coroutine-local data requires the `'static` bound to ensure it lives long
/// enough. When a key is accessed for the first time the coroutine's data is
/// initialized with the provided initialization expression to the macro.
pub struct LocalKey<T> {
    // "private" fields which have to be public to get around macro hygiene, not
    // included in the stability story for this type. Can change at any time.
    #[doc(hidden)]
    pub __key: fn() -> TypeId,
    #[doc(hidden)]
    pub __init: fn() -> T,
}

#[derive(Default)]
pub struct IdHasher {
    id: u64,
}

impl Hasher for IdHasher {
    fn write(&mut self, _bytes: &[u8]) {
        // TODO: need to do something sensible
        panic!("can only hash u64");
    }

    fn write_u64(&mut self, u: u64) {
        self.id = u;
    }

    fn finish(&self) -> u64 {
        self.id
    }
}

impl<T: 'static> LocalKey<T> {
    /// Access this coroutine-local key, running the provided closure with a
    /// reference to the value.
    ///
    /// This function will access this coroutine-local key to retrieve the data
    /// associated with the current coroutine and this key. If this is the first
    /// time this key has been accessed on this coroutine, then the key will be
    /// initialized with the initialization expression provided at the time the
    /// `coroutine_local!` macro was called.
    ///
    /// The provided closure will be provided a shared reference to the
    /// underlying data associated with this coroutine-local-key. The data itself
    /// is stored inside of the current coroutine.
    ///
    /// if it's not accessed in a coroutine context, it will use the thread local
    /// storage as a backend, so it's safe to use it in thread context
    ///
    /// # Panics
    ///
    /// This function can possibly panic for a number of reasons:
    ///
    /// * If the initialization expression is run and it panics
    /// * If the closure provided panics
    #[inline]
    pub fn with<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        let key = (self.__key)();
        with(|data| {
            let raw_pointer = {
                let mut data = data.borrow_mut();
                let entry = data.entry(key).or_insert_with(|| Box::new((self.__init)()));
                &**entry as *const dyn Opaque as *const T
            };
            unsafe { f(&*raw_pointer) }
        })
    }
}

/// greenstd patch: the embedder's pointer of the running coroutine (null on
/// a plain thread, or when never set): one thread-local read and a field,
/// where a `coroutine_local!` costs a hash-map lookup.
#[inline]
pub fn embedder_ptr() -> *const () {
    match get_co_local_data() {
        // SAFETY: the local data lives as long as the running coroutine.
        Some(p) => unsafe { (*p.as_ptr()).embedder.get() },
        None => std::ptr::null(),
    }
}

/// greenstd patch: sets the running coroutine's embedder pointer (nothing
/// on a plain thread). The embedder keeps what it points to alive while set.
#[inline]
pub fn set_embedder_ptr(ptr: *const ()) {
    if let Some(p) = get_co_local_data() {
        // SAFETY: as above; only the running coroutine touches its own cell.
        unsafe { (*p.as_ptr()).embedder.set(ptr) }
    }
}
