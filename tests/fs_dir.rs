//! greenstd::fs directories and paths against std's behaviour, on a plain
//! thread and in a coroutine: read_dir (order-independent), create and
//! remove, copy, rename, links, canonicalize, permissions, errors.

mod stdio_util;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, DirEntryExt, MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicUsize, Ordering};

use greenstd::fs::{self, DirBuilder};
use stdio_util::{both, TempDir};

fn fresh(name: &str) -> TempDir {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    TempDir::new(&format!("{name}-{}", RUN.fetch_add(1, Ordering::Relaxed)))
}

#[test]
fn read_dir_lists_every_entry_in_any_order() {
    both(|| {
        let dir = fresh("listing");
        // More than one batch of the coroutine's ReadDir (64).
        let mut expected = BTreeSet::new();
        for i in 0..150 {
            let name = format!("file-{i:03}");
            fs::write(dir.join(&name), i.to_string()).unwrap();
            expected.insert(OsString::from(name));
        }
        fs::create_dir(dir.join("sub")).unwrap();
        expected.insert(OsString::from("sub"));
        let mut seen = BTreeSet::new();
        let mut dirs = 0;
        for entry in fs::read_dir(dir.0.as_path()).unwrap() {
            let entry = entry.unwrap();
            assert_eq!(entry.path(), dir.0.join(entry.file_name()));
            let ft = entry.file_type().unwrap();
            let meta = entry.metadata().unwrap();
            assert_eq!(ft.is_dir(), meta.is_dir());
            assert_eq!(entry.ino(), meta.ino());
            if ft.is_dir() {
                dirs += 1;
            } else {
                let n: usize = entry.file_name().to_str().unwrap()[5..].parse().unwrap();
                assert_eq!(meta.len(), n.to_string().len() as u64);
            }
            assert!(seen.insert(entry.file_name()), "listed twice");
        }
        assert_eq!(seen, expected);
        assert_eq!(dirs, 1);
        assert!(format!("{:?}", fs::read_dir(dir.0.as_path()).unwrap()).contains("ReadDir"));
        // Errors.
        assert_eq!(
            fs::read_dir(dir.join("missing")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            fs::read_dir(dir.join("file-000")).unwrap_err().kind(),
            ErrorKind::NotADirectory
        );
    });
}

#[test]
fn create_and_remove_directories() {
    both(|| {
        let dir = fresh("dirs");
        let deep = dir.join("a/b/c");
        assert_eq!(
            fs::create_dir(&deep).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        fs::create_dir_all(&deep).unwrap();
        fs::create_dir_all(&deep).unwrap();
        assert!(fs::metadata(&deep).unwrap().is_dir());
        assert_eq!(
            fs::create_dir(&deep).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        fs::write(deep.join("f"), b"x").unwrap();
        assert_eq!(
            fs::remove_dir(&deep).unwrap_err().kind(),
            ErrorKind::DirectoryNotEmpty
        );
        fs::remove_dir_all(dir.join("a")).unwrap();
        assert!(!fs::exists(dir.join("a")).unwrap());
        // DirBuilder with a mode, recursive.
        let built = dir.join("x/y");
        DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&built)
            .unwrap();
        assert_eq!(fs::metadata(&built).unwrap().mode() & 0o777, 0o750);
        assert_eq!(
            DirBuilder::new().create(&built).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        fs::remove_dir(&built).unwrap();
    });
}

#[test]
fn copy_rename_links_and_permissions() {
    both(|| {
        let dir = fresh("paths");
        let a = dir.join("a");
        fs::write(&a, b"contents").unwrap();
        let mut perm = fs::metadata(&a).unwrap().permissions();
        perm.set_mode(0o604);
        fs::set_permissions(&a, perm).unwrap();
        assert_eq!(fs::copy(&a, dir.join("b")).unwrap(), 8);
        assert_eq!(fs::metadata(dir.join("b")).unwrap().mode() & 0o777, 0o604);
        fs::rename(dir.join("b"), dir.join("c")).unwrap();
        assert!(!fs::exists(dir.join("b")).unwrap());
        assert_eq!(fs::read(dir.join("c")).unwrap(), b"contents");
        fs::hard_link(&a, dir.join("hard")).unwrap();
        assert_eq!(fs::metadata(&a).unwrap().nlink(), 2);
        greenstd::os::unix::fs::symlink(&a, dir.join("soft")).unwrap();
        #[allow(deprecated)]
        fs::soft_link(&a, dir.join("soft2")).unwrap();
        assert_eq!(fs::read_link(dir.join("soft2")).unwrap(), a);
        assert_eq!(fs::read_link(dir.join("soft")).unwrap(), a);
        assert!(fs::symlink_metadata(dir.join("soft"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::metadata(dir.join("soft")).unwrap().is_file());
        assert_eq!(
            fs::canonicalize(dir.join("soft")).unwrap(),
            fs::canonicalize(&a).unwrap()
        );
        // A dangling link: exists() is false, as std's.
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
        assert!(!fs::exists(dir.join("dangling")).unwrap());
        assert_eq!(
            fs::canonicalize(dir.join("dangling")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            fs::rename(dir.join("nowhere"), dir.join("x"))
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            fs::copy(dir.0.as_path(), dir.join("x")).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    });
}
