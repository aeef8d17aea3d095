//! std::thread behaviours on greenstd: spawn, join, names, ids, panics,
//! Builder, nested spawn, join from coroutines and plain threads.

mod alone;

use greenstd::thread;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn spawn_runs_in_a_coroutine_and_join_returns_its_value() {
    assert!(!greenstd::green::in_coroutine());
    let h = thread::spawn(|| (greenstd::green::in_coroutine(), 42));
    assert_eq!(h.join().unwrap(), (true, 42));
}

#[test]
fn unnamed_and_named_threads() {
    let h = thread::spawn(|| thread::current().name().map(str::to_owned));
    assert_eq!(h.join().unwrap(), None);

    let h = thread::Builder::new()
        .name("ada".to_string())
        .spawn(|| thread::current().name().map(str::to_owned))
        .unwrap();
    assert_eq!(h.thread().name(), Some("ada"));
    assert_eq!(h.join().unwrap().as_deref(), Some("ada"));
}

#[test]
fn main_thread_is_named_main_like_std() {
    // Under the test harness the thread is named after the test; a plain
    // std thread's name shows through unchanged.
    let std_name = std::thread::current().name().map(str::to_owned);
    assert_eq!(thread::current().name().map(str::to_owned), std_name);
    let t = std::thread::Builder::new()
        .name("plain".into())
        .spawn(|| thread::current().name().map(str::to_owned))
        .unwrap();
    assert_eq!(t.join().unwrap().as_deref(), Some("plain"));
}

#[test]
fn name_with_nul_panics_with_std_message() {
    fn message(spawn: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let payload = std::panic::catch_unwind(spawn).unwrap_err();
        match payload.downcast::<String>() {
            Ok(s) => *s,
            Err(p) => p.downcast_ref::<&str>().unwrap().to_string(),
        }
    }
    let std_msg = message(|| {
        let _ = std::thread::Builder::new()
            .name("bad\0name".into())
            .spawn(|| {});
    });
    let ours = message(|| {
        let _ = thread::Builder::new().name("bad\0name".into()).spawn(|| {});
    });
    assert!(std_msg.starts_with("thread name may not contain interior null bytes"));
    assert_eq!(ours, std_msg);
    // A scoped spawn too.
    let ours = message(|| {
        thread::scope(|s| {
            let _ = thread::Builder::new()
                .name("bad\0name".into())
                .spawn_scoped(s, || {});
        })
    });
    assert_eq!(ours, std_msg);
}

#[test]
fn ids_are_unique_stable_and_hashable() {
    let me = thread::current().id();
    assert_eq!(me, thread::current().id());
    let handles: Vec<_> = (0..50)
        .map(|_| {
            thread::spawn(|| {
                let a = thread::current().id();
                thread::sleep(Duration::from_millis(1));
                assert_eq!(a, thread::current().id());
                a
            })
        })
        .collect();
    let mut ids = HashSet::new();
    ids.insert(me);
    for h in handles {
        let id = h.thread().id();
        assert_eq!(h.join().unwrap(), id);
        assert!(ids.insert(id), "duplicate id {id:?}");
    }
    assert_eq!(format!("{me:?}").split('(').next(), Some("ThreadId"));
}

#[test]
fn panic_gives_err_with_payload_and_others_go_on() {
    let bad = thread::Builder::new()
        .name("doomed".into())
        .spawn(|| -> u32 { panic!("expected panic {}", std::hint::black_box(7)) })
        .unwrap();
    let good = thread::spawn(|| {
        thread::sleep(Duration::from_millis(20));
        5
    });
    let err = bad.join().unwrap_err();
    assert_eq!(
        err.downcast_ref::<String>().map(String::as_str),
        Some("expected panic 7")
    );
    assert_eq!(good.join().unwrap(), 5);

    let err = thread::spawn(|| std::panic::panic_any(17u8))
        .join()
        .unwrap_err();
    assert_eq!(err.downcast_ref::<u8>(), Some(&17));
}

#[test]
fn panicking_is_true_while_unwinding_in_a_coroutine() {
    struct Probe(Arc<AtomicUsize>);
    impl Drop for Probe {
        fn drop(&mut self) {
            if thread::panicking() {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let hits = Arc::new(AtomicUsize::new(0));
    let h2 = hits.clone();
    let r = thread::spawn(move || {
        let _p = Probe(h2);
        assert!(!thread::panicking());
        panic!("unwind");
    })
    .join();
    assert!(r.is_err());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn nested_spawn_and_join_from_coroutines() {
    fn fan(depth: u32) -> u64 {
        if depth == 0 {
            return 1;
        }
        let a = thread::spawn(move || fan(depth - 1));
        let b = thread::spawn(move || fan(depth - 1));
        a.join().unwrap() + b.join().unwrap()
    }
    let h = thread::spawn(|| fan(8));
    assert_eq!(h.join().unwrap(), 256);
}

#[test]
fn join_from_a_plain_os_thread() {
    let h = thread::spawn(|| {
        thread::sleep(Duration::from_millis(30));
        "done"
    });
    let t = std::thread::spawn(move || h.join().unwrap());
    assert_eq!(t.join().unwrap(), "done");
}

#[test]
fn join_after_finish_and_is_finished() {
    let h = thread::spawn(|| 3);
    let start = std::time::Instant::now();
    while !h.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(10));
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(h.join().unwrap(), 3);

    let slow = thread::spawn(|| thread::sleep(Duration::from_millis(300)));
    assert!(!slow.is_finished());
    slow.join().unwrap();
}

#[test]
fn detached_threads_keep_running() {
    let (tx, rx) = std::sync::mpsc::channel();
    drop(thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        tx.send(9).unwrap();
    }));
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 9);
}

#[test]
fn builder_stack_size_is_in_bytes_and_deep_recursion_fits() {
    fn depth(n: u32) -> u32 {
        let pad = [n as u8; 512];
        if n == 0 {
            0
        } else {
            std::hint::black_box(&pad);
            depth(n - 1) + 1
        }
    }
    // ~1 KiB per frame in a debug build: 1,000 frames need about 1 MiB.
    let h = thread::Builder::new()
        .stack_size(4 << 20)
        .spawn(|| depth(1000))
        .unwrap();
    assert_eq!(h.join().unwrap(), 1000);
    // Tiny sizes are rounded up, as std rounds up to PTHREAD_STACK_MIN.
    let h = thread::Builder::new().stack_size(1).spawn(|| 1).unwrap();
    assert_eq!(h.join().unwrap(), 1);
    let err = thread::Builder::new()
        .stack_size(usize::MAX)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn default_stack_handles_formatting_and_moderate_recursion() {
    fn depth(n: u32) -> u32 {
        let pad = [n as u8; 64];
        std::hint::black_box(&pad);
        if n == 0 {
            0
        } else {
            depth(n - 1) + 1
        }
    }
    let h = thread::spawn(|| {
        let s = format!("{:?} {:>20} {:#x}", vec![1.5f64; 8], "x", 255);
        (s.len(), depth(200))
    });
    let (len, d) = h.join().unwrap();
    assert!(len > 20);
    assert_eq!(d, 200);
}

#[test]
fn spawn_unchecked_may_borrow() {
    let data = vec![1, 2, 3];
    let r = &data;
    // SAFETY: joined before `data` goes out of scope.
    let h =
        unsafe { thread::Builder::new().spawn_unchecked(move || r.iter().sum::<i32>()) }.unwrap();
    assert_eq!(h.join().unwrap(), 6);
}

#[test]
fn yield_now_interleaves_two_coroutines() {
    if !alone::here() {
        return;
    }
    greenstd::green::Config::new().workers(1).apply().unwrap();
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mk = |name: &'static str, log: Arc<std::sync::Mutex<Vec<String>>>| {
        move || {
            for i in 0..3 {
                log.lock().unwrap().push(format!("{name}{i}"));
                thread::yield_now();
            }
        }
    };
    // Spawned from a coroutine on the single worker, both start only when
    // the parent blocks in join: then they alternate at each yield.
    let (la, lb) = (log.clone(), log.clone());
    thread::spawn(move || {
        let a = thread::spawn(mk("a", la));
        let b = thread::spawn(mk("b", lb));
        a.join().unwrap();
        b.join().unwrap();
    })
    .join()
    .unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(log, ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

#[test]
fn available_parallelism_is_std() {
    assert_eq!(
        thread::available_parallelism().unwrap(),
        std::thread::available_parallelism().unwrap()
    );
}

/// `std::os::unix::thread::JoinHandleExt` on greenstd's JoinHandle (code
/// written for std, e.g. crossbeam-utils, names it): the pthread_t is the
/// worker the coroutine began on, a live thread of this process.
#[test]
fn join_handle_ext_gives_the_worker_the_coroutine_started_on() {
    use greenstd::os::unix::thread::JoinHandleExt;
    let _ = greenstd::green::Config::new().workers(2).apply();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = greenstd::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        tx.send(unsafe { libc::pthread_self() }).unwrap();
    });
    let pt = h.as_pthread_t();
    assert_eq!(pt, rx.recv().unwrap());
    h.join().unwrap();
    let h = greenstd::thread::spawn(|| 7);
    let _ = h.as_pthread_t();
    assert_eq!(h.join().unwrap(), 7);
}
