//! thread::scope: borrowing, automatic join, panics, from threads and coroutines.

use greenstd::thread;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[test]
fn scoped_threads_borrow_and_mutate() {
    let mut a = vec![1, 2, 3];
    let mut x = 0;
    let total = thread::scope(|s| {
        s.spawn(|| assert_eq!(a.len(), 3));
        s.spawn(|| x += a[0] + a[2]);
        let h = s.spawn(|| a.iter().sum::<i32>());
        h.join().unwrap()
    });
    a.push(4);
    assert_eq!(x, 4);
    assert_eq!(total, 6);
}

#[test]
fn scope_waits_for_every_thread() {
    let done = AtomicUsize::new(0);
    thread::scope(|s| {
        for i in 0..20 {
            let done = &done;
            s.spawn(move || {
                thread::sleep(Duration::from_millis(10 + i));
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    assert_eq!(done.load(Ordering::SeqCst), 20);
}

#[test]
fn unjoined_panic_makes_scope_panic_after_all_threads_finish() {
    let finished = AtomicBool::new(false);
    let r = catch_unwind(AssertUnwindSafe(|| {
        thread::scope(|s| {
            s.spawn(|| panic!("scoped boom"));
            s.spawn(|| {
                thread::sleep(Duration::from_millis(50));
                finished.store(true, Ordering::SeqCst);
            });
        })
    }));
    let payload = r.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"a scoped thread panicked")
    );
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn joined_panic_does_not_make_scope_panic() {
    let r = thread::scope(|s| {
        let h = s.spawn(|| panic!("handled"));
        h.join().is_err()
    });
    assert!(r);
}

#[test]
fn panic_in_scope_body_is_propagated_after_threads_finish() {
    let finished = AtomicBool::new(false);
    let r = catch_unwind(AssertUnwindSafe(|| {
        thread::scope(|s| {
            s.spawn(|| {
                thread::sleep(Duration::from_millis(30));
                finished.store(true, Ordering::SeqCst);
            });
            panic!("body");
        })
    }));
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"body"));
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn scope_inside_a_coroutine_and_nested_scopes() {
    let h = thread::spawn(|| {
        let mut counts = [0u32; 4];
        thread::scope(|s| {
            for c in counts.iter_mut() {
                s.spawn(move || {
                    thread::scope(|inner| {
                        inner.spawn(|| thread::sleep(Duration::from_millis(5)));
                    });
                    *c += 1;
                });
            }
        });
        counts.iter().sum::<u32>()
    });
    assert_eq!(h.join().unwrap(), 4);
}

#[test]
fn builder_spawn_scoped_names_threads() {
    let name = thread::scope(|s| {
        thread::Builder::new()
            .name("scoped-one".into())
            .spawn_scoped(s, || thread::current().name().map(str::to_owned))
            .unwrap()
            .join()
            .unwrap()
    });
    assert_eq!(name.as_deref(), Some("scoped-one"));
}

#[test]
fn scoped_is_finished() {
    thread::scope(|s| {
        let h = s.spawn(|| thread::sleep(Duration::from_millis(100)));
        assert!(!h.is_finished());
        h.join().unwrap();
    });
}
