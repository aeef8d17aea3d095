//! greenstd::fs files against std's behaviour, on a plain thread and in a
//! coroutine: reading and writing, options, seeking, metadata, locks,
//! errors for missing files and bad paths, conversions.

mod stdio_util;

use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use greenstd::fs::{self, File, OpenOptions};
use greenstd::io::IsTerminal;
use greenstd::process::{Command, Stdio};
use stdio_util::{both, TempDir};

/// A directory per run of the closure (it runs twice: thread, coroutine).
fn fresh(name: &str) -> TempDir {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    TempDir::new(&format!("{name}-{}", RUN.fetch_add(1, Ordering::Relaxed)))
}

#[test]
fn create_write_read_append_truncate() {
    both(|| {
        let dir = fresh("rw");
        let path = dir.join("a.txt");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"hello").unwrap();
        f.flush().unwrap();
        f.sync_all().unwrap();
        drop(f);
        assert_eq!(fs::read_to_string(&path).unwrap(), "hello");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        write!(f, ", world").unwrap();
        drop(f);
        let mut s = String::new();
        File::open(&path).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello, world");
        // create() truncates.
        File::create(&path).unwrap().write_all(b"x").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"x");
        // write() replaces; read_to_end on a file; read_exact.
        fs::write(&path, b"0123456789").unwrap();
        let mut f = File::open(&path).unwrap();
        let mut four = [0u8; 4];
        f.read_exact(&mut four).unwrap();
        assert_eq!(&four, b"0123");
        let mut rest = Vec::new();
        f.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"456789");
        assert_eq!(f.read(&mut four).unwrap(), 0);
        // Reading a write-only file fails as std's.
        let mut w = OpenOptions::new().write(true).open(&path).unwrap();
        assert!(w.read(&mut four).is_err());
    });
}

#[test]
fn seek_set_len_metadata_and_positional_io() {
    both(|| {
        let dir = fresh("seek");
        let path = dir.join("f");
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&path)
            .unwrap();
        f.write_all(b"abcdef").unwrap();
        assert_eq!(f.seek(SeekFrom::Start(2)).unwrap(), 2);
        assert_eq!(f.stream_position().unwrap(), 2);
        let mut two = [0u8; 2];
        f.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"cd");
        assert_eq!(f.seek(SeekFrom::End(-1)).unwrap(), 5);
        assert_eq!((&f).seek(SeekFrom::Current(-5)).unwrap(), 0);
        f.set_len(3).unwrap();
        let meta = f.metadata().unwrap();
        assert_eq!(meta.len(), 3);
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        f.write_at(b"Z", 1).unwrap();
        let mut buf = [0u8; 3];
        assert_eq!(f.read_at(&mut buf, 0).unwrap(), 3);
        assert_eq!(&buf, b"aZc");
        f.write_all_at(b"XYZ", 3).unwrap();
        let mut six = [0u8; 6];
        f.read_exact_at(&mut six, 0).unwrap();
        assert_eq!(&six, b"aZcXYZ");
        let mut perm = f.metadata().unwrap().permissions();
        perm.set_mode(0o600);
        f.set_permissions(perm.clone()).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        f.set_modified(t).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), t);
        f.set_times(fs::FileTimes::new().set_accessed(t)).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().accessed().unwrap(), t);
        f.sync_data().unwrap();
        // try_clone shares the cursor.
        let mut g = f.try_clone().unwrap();
        g.seek(SeekFrom::Start(4)).unwrap();
        assert_eq!(f.stream_position().unwrap(), 4);
        assert!(!f.is_terminal());
        assert!(format!("{f:?}").contains("File"));
    });
}

#[test]
fn errors_for_missing_files_and_bad_paths() {
    both(|| {
        let dir = fresh("errors");
        let missing = dir.join("missing");
        assert_eq!(
            File::open(&missing).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(fs::read(&missing).unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(
            fs::metadata(&missing).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            fs::remove_file(&missing).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert!(!fs::exists(&missing).unwrap());
        // A path with a NUL byte.
        assert_eq!(
            File::open("bad\0path").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            fs::write("bad\0path", b"").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        // A file where a directory is expected.
        let file = dir.join("file");
        fs::write(&file, b"").unwrap();
        assert_eq!(
            File::open(file.join("below")).unwrap_err().kind(),
            ErrorKind::NotADirectory
        );
        assert_eq!(
            File::create_new(&file).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            fs::read_to_string(dir.0.as_path()).unwrap_err().kind(),
            ErrorKind::IsADirectory
        );
        // Invalid UTF-8.
        fs::write(&file, [0xff, 0xfe]).unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        // No access mode at all.
        assert_eq!(
            OpenOptions::new().open(&file).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    });
}

#[test]
fn locks() {
    both(|| {
        let dir = fresh("locks");
        let path = dir.join("lock");
        let a = File::create(&path).unwrap();
        let b = File::open(&path).unwrap();
        a.lock().unwrap();
        assert!(matches!(b.try_lock(), Err(fs::TryLockError::WouldBlock)));
        assert!(matches!(
            b.try_lock_shared(),
            Err(fs::TryLockError::WouldBlock)
        ));
        a.unlock().unwrap();
        b.lock_shared().unwrap();
        a.try_lock_shared().unwrap();
        b.unlock().unwrap();
        a.unlock().unwrap();
    });
}

#[test]
fn conversions_like_std_s() {
    both(|| {
        let dir = fresh("conv");
        let path = dir.join("out");
        // A File as a child's stdout.
        let f = File::create(&path).unwrap();
        let status = Command::new("echo")
            .arg("from child")
            .stdout(Stdio::from(f))
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(fs::read_to_string(&path).unwrap(), "from child\n");
        // OwnedFd round trip, and std's File both ways.
        let f = File::open(&path).unwrap();
        let raw = f.as_raw_fd();
        let fd = OwnedFd::from(f);
        assert_eq!(fd.as_raw_fd(), raw);
        let std_file = std::fs::File::from(File::from(fd));
        let mut f = File::from(std_file);
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "from child\n");
        // &File reads and writes; Arc<File> through its reference.
        let shared = Arc::new(File::options().read(true).write(true).open(&path).unwrap());
        (&*shared).write_all(b"FROM").unwrap();
        (&*shared).rewind().unwrap();
        let mut s = String::new();
        (&*shared).read_to_string(&mut s).unwrap();
        assert_eq!(s, "FROM child\n");
    });
}

#[test]
fn reads_of_data_not_in_the_page_cache_are_correct() {
    // Coroutines read cached data inline (RWF_NOWAIT) and the rest on the
    // offload pool: evicting the file from the page cache takes the second
    // path for at least some of it.
    both(|| {
        let dir = fresh("uncached");
        let path = dir.join("big");
        let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        fs::write(&path, &data).unwrap();
        let f = File::open(&path).unwrap();
        f.sync_all().unwrap();
        // SAFETY: a plain advisory call on a descriptor we hold.
        let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(r, 0);
        let mut back = Vec::with_capacity(data.len());
        let mut chunk = vec![0u8; 64 * 1024];
        let mut reader = &f;
        loop {
            let n = reader.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            back.extend_from_slice(&chunk[..n]);
        }
        assert!(back == data, "data read back differs");
        let mut at = [0u8; 3];
        f.read_exact_at(&mut at, 1000).unwrap();
        assert_eq!(at, [data[1000], data[1001], data[1002]]);
    });
}
