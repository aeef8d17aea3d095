//! Proof that file and pipe I/O does not block the workers: on 2 workers a
//! ticker coroutine keeps its 10 ms period while 100 coroutines write and
//! read files and 100 coroutines wait on pipes that an OS thread writes
//! only 1.5 s later (and two coroutines wait 1.5 s in `File::open` of a
//! FIFO nobody has opened for writing yet: a file call that really blocks).

mod stdio_util;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use greenstd::fs::{self, File};
use greenstd::io::pipe;
use greenstd::thread;
use stdio_util::{rt, TempDir, Ticker, Watchdog};

const PIPE_DELAY: Duration = Duration::from_millis(1500);

/// The bound on the ticker's worst delay: far below the 1.5 s that waits
/// blocking the workers would cause, and well above the scheduling noise
/// of a busy 2-core machine (measured: 10–60 ms typical, 126 ms seen with
/// no I/O at all under a load average of 20, over 250 ms once at a load
/// average of 10 with 100 files synced meanwhile).
const BOUND: Duration = Duration::from_millis(500);

#[test]
fn ticker_keeps_its_period_during_file_and_pipe_io() {
    let _w = Watchdog::new(120);
    rt();
    assert_eq!(greenstd::green::runtime().unwrap().workers, 2);
    let dir = TempDir::new("io-cooperation");
    let start = Instant::now();
    let ticker = Ticker::start();

    // 100 pipes, read by coroutines, written by one OS thread 600 ms later.
    let mut writers = Vec::new();
    let readers: Vec<_> = (0..100)
        .map(|i| {
            let (mut r, w) = pipe().unwrap();
            writers.push(w);
            thread::spawn(move || {
                let mut text = String::new();
                r.read_to_string(&mut text).unwrap();
                assert_eq!(text, format!("pipe {i}"));
                Instant::now()
            })
        })
        .collect();
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(PIPE_DELAY);
        for (i, mut w) in writers.into_iter().enumerate() {
            write!(w, "pipe {i}").unwrap();
        }
    });

    // Two opens of FIFOs that block until an OS thread opens the other end.
    let fifos: Vec<_> = (0..2)
        .map(|i| {
            let path = dir.join(&format!("fifo{i}"));
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            path
        })
        .collect();
    let fifo_readers: Vec<_> = fifos
        .iter()
        .cloned()
        .map(|path| {
            thread::spawn(move || {
                let mut text = String::new();
                File::open(&path)
                    .unwrap()
                    .read_to_string(&mut text)
                    .unwrap();
                text
            })
        })
        .collect();
    let fifo_writer = std::thread::spawn(move || {
        std::thread::sleep(PIPE_DELAY);
        for path in fifos {
            std::fs::write(path, "fifo").unwrap();
        }
    });

    // 100 coroutines writing and reading files.
    let files: Vec<_> = (0..100)
        .map(|i| {
            let path = dir.join(&format!("file{i}"));
            thread::spawn(move || {
                let chunk = vec![i as u8; 64 * 1024];
                for round in 0..3 {
                    let mut f = File::create(&path).unwrap();
                    for _ in 0..4 {
                        f.write_all(&chunk).unwrap();
                    }
                    f.sync_data().unwrap();
                    drop(f);
                    let data = fs::read(&path).unwrap();
                    assert_eq!(data.len(), 4 * chunk.len(), "round {round}");
                    assert!(data.iter().all(|&b| b == i as u8));
                    assert_eq!(fs::metadata(&path).unwrap().len(), data.len() as u64);
                }
                fs::remove_file(&path).unwrap();
            })
        })
        .collect();

    for f in files {
        f.join().unwrap();
    }
    for r in readers {
        let got = r.join().unwrap();
        assert!(got.duration_since(start) >= PIPE_DELAY);
    }
    for r in fifo_readers {
        assert_eq!(r.join().unwrap(), "fifo");
    }
    feeder.join().unwrap();
    fifo_writer.join().unwrap();
    let (worst, ticks) = ticker.stop();
    let elapsed = start.elapsed();
    eprintln!("files and pipes: {elapsed:?}, {ticks} ticks, worst tick delay {worst:?}");
    // Readers or FIFO opens that blocked their workers would hold both
    // workers for the 1.5 s until the data comes.
    assert!(worst < BOUND, "worst tick delay {worst:?}");
}
