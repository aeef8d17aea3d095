//! thread_local!: per coroutine inside coroutines, per thread elsewhere,
//! destructors at coroutine end, std's whole grammar and LocalKey API.

use greenstd::thread;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

greenstd::thread_local! {
    static ID: Cell<usize> = const { Cell::new(0) };
    /// Documented, with attributes.
    #[allow(dead_code)]
    pub static LIST: RefCell<Vec<u32>> = RefCell::new(vec![1]);
    static NAME: RefCell<String> = RefCell::new(String::from("init"))
}

greenstd::thread_local!(static SINGLE: Cell<u8> = Cell::new(3));

#[test]
fn each_coroutine_sees_its_own_value_across_yields() {
    greenstd::green::Config::new().workers(2).apply().unwrap();
    let handles: Vec<_> = (1..=200)
        .map(|i| {
            thread::spawn(move || {
                assert_eq!(ID.get(), 0);
                ID.set(i);
                for _ in 0..5 {
                    thread::sleep(Duration::from_millis(1));
                    thread::yield_now();
                    assert_eq!(ID.get(), i, "value changed across a yield");
                }
                ID.get()
            })
        })
        .collect();
    for (i, h) in (1..=200).zip(handles) {
        assert_eq!(h.join().unwrap(), i);
    }
}

#[test]
fn plain_thread_and_coroutine_values_are_separate() {
    SINGLE.set(9);
    let h = thread::spawn(|| {
        let before = SINGLE.get();
        SINGLE.set(1);
        before
    });
    assert_eq!(h.join().unwrap(), 3);
    assert_eq!(SINGLE.get(), 9);
    let t = std::thread::spawn(|| SINGLE.get());
    assert_eq!(t.join().unwrap(), 3);
}

struct CountDrop(Arc<AtomicUsize>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

greenstd::thread_local!(static DROPPER: RefCell<Option<CountDrop>> = const { RefCell::new(None) });

#[test]
fn destructors_run_when_the_coroutine_ends_before_join_returns() {
    let drops = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let d = drops.clone();
            thread::spawn(move || {
                DROPPER.with_borrow_mut(|v| *v = Some(CountDrop(d)));
                thread::sleep(Duration::from_millis(5));
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 10);
}

#[test]
fn destructors_run_after_a_panic_too() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let r = thread::spawn(move || {
        DROPPER.with_borrow_mut(|v| *v = Some(CountDrop(d)));
        panic!("with a local alive");
    })
    .join();
    assert!(r.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

struct TouchSelf(Arc<AtomicUsize>);
greenstd::thread_local!(static SELF_TOUCH: RefCell<Option<TouchSelf>> = const { RefCell::new(None) });
impl Drop for TouchSelf {
    fn drop(&mut self) {
        // Accessing a key during its own destruction is an AccessError.
        if SELF_TOUCH.try_with(|_| ()).is_err() {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn access_during_destruction_is_an_access_error() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    thread::spawn(move || SELF_TOUCH.with_borrow_mut(|v| *v = Some(TouchSelf(s2))))
        .join()
        .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    thread::spawn(|| {
        let e: Result<(), thread::AccessError> = SINGLE.try_with(|_| ());
        assert!(e.is_ok());
    })
    .join()
    .unwrap();
}

greenstd::thread_local!(static NEVER_INIT: Cell<u32> = panic!("initialiser must not run"));

#[test]
fn set_skips_the_initialiser_in_coroutines_and_threads() {
    thread::spawn(|| {
        NEVER_INIT.set(5);
        assert_eq!(NEVER_INIT.get(), 5);
    })
    .join()
    .unwrap();
    NEVER_INIT.set(6);
    assert_eq!(NEVER_INIT.get(), 6);
}

#[test]
fn localkey_methods_in_a_coroutine() {
    thread::spawn(|| {
        assert_eq!(ID.replace(4), 0);
        assert_eq!(ID.take(), 4);
        assert_eq!(ID.get(), 0);
        LIST.with_borrow_mut(|v| v.push(2));
        LIST.with_borrow(|v| assert_eq!(v, &[1, 2]));
        assert_eq!(LIST.replace(vec![7]), vec![1, 2]);
        assert_eq!(LIST.take(), vec![7]);
        LIST.set(vec![8]);
        LIST.with(|v| assert_eq!(*v.borrow(), vec![8]));
        NAME.with_borrow(|n| assert_eq!(n, "init"));
        assert_eq!(ID.try_with(|c| c.get()), Ok(0));
    })
    .join()
    .unwrap();
}
