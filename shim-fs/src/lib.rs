//! Filesystem manipulation operations: `std::fs`, whose calls run on
//! greenstd's offload pool when made from a coroutine.
//!
//! greenstd exposes this crate as `greenstd::fs`.
//!
//! Files have no readiness to wait for (a regular file is always "ready",
//! and a read may still wait for the disk), so — as gevent's
//! `FileObjectThread` — every call that touches the filesystem runs on the
//! bounded offload pool (`GREENSTD_OFFLOAD_THREADS`, default 4) while the
//! calling coroutine waits cooperatively. On a plain OS thread every call is
//! std's, made right there.
//!
//! * [`File`], [`OpenOptions`], [`DirBuilder`], [`ReadDir`], [`DirEntry`]
//!   and every free function ([`read`], [`write()`], [`read_to_string`],
//!   [`metadata`], [`read_dir`], [`copy`], [`create_dir_all`], …) are
//!   greenstd's own, with std's names, signatures and errors.
//! * [`unix`] is `std::os::unix::fs` (greenstd exposes it as
//!   `greenstd::os::unix::fs`): `symlink`, `chown`, `fchown`, `lchown`,
//!   `chroot` on the pool, the extension traits std's.
//! * The values that never block — [`Metadata`], [`Permissions`],
//!   [`FileType`], [`FileTimes`], [`TryLockError`] — are std's, re-exported.
//!
//! # Costs
//!
//! Each call from a coroutine is one hand-over to a pool thread and back
//! (tens of microseconds on a busy machine, against 2 µs for a cached 4 KiB
//! read made inline): read and write in large blocks (`BufReader`,
//! `BufWriter`, [`read`], [`write()`]) rather than byte by byte. Two calls
//! skip the pool:
//!
//! * `read`, `read_vectored` and `read_at` first try `preadv2` with
//!   `RWF_NOWAIT`, which the kernel completes only from the page cache;
//!   data that has to come from the disk is read on the pool;
//! * `seek` to a position from the start or the current position only
//!   moves the file position (seeking from the end asks for the size, and
//!   goes to the pool).
//!
//! [`ReadDir`] fetches its entries 64 at a time, with their file types, in
//! one hand-over. io_uring was not measured against the pool.
//!
//! # Differences from std
//!
//! * std implements `Read`, `Write` and `Seek` for `Arc<File>`; Rust's
//!   orphan rule does not let greenstd do that for its `File` (use
//!   `&File`, which has them: `(&*arc).read(…)`).
//! * `IsTerminal` is sealed in std: greenstd's `File` implements
//!   greenstd's `io::IsTerminal` (same name, method and seal).
//! * `io::copy` between greenstd's types uses its read/write loop, not the
//!   kernel-side copy std uses between its own `File`s.
//!
//! # Examples
//!
//! ```
//! use std::io::Write;
//! use shim_fs::File;
//!
//! let path = std::env::temp_dir().join(format!("shim-fs-doc-{}", std::process::id()));
//! let mut file = File::create(&path)?;
//! file.write_all(b"Hello, world!")?;
//! assert_eq!(shim_fs::read_to_string(&path)?, "Hello, world!");
//! shim_fs::remove_file(&path)?;
//! # std::io::Result::Ok(())
//! ```

#![warn(missing_docs)]

mod dir;
mod file;
pub mod unix;

use std::io;
use std::path::{Path, PathBuf};

use shim_rt::offload;

pub use std::fs::{FileTimes, FileType, Metadata, Permissions, TryLockError};

pub use dir::{read_dir, DirBuilder, DirEntry, ReadDir};
pub use file::{File, OpenOptions};

/// Reads the entire contents of a file into a bytes vector.
///
/// This is a convenience function for using [`File::open`] and
/// [`read_to_end`](std::io::Read::read_to_end) with fewer imports and
/// without an intermediate variable.
///
/// # Errors
///
/// This function will return an error if `path` does not already exist.
/// Other errors may also be returned according to [`OpenOptions::open`].
/// It will also return an error if it encounters while reading an error of
/// a kind other than [`io::ErrorKind::Interrupted`].
///
/// # Examples
///
/// ```
/// let data = shim_fs::read("Cargo.toml")?;
/// assert!(data.starts_with(b"[package]"));
/// # std::io::Result::Ok(())
/// ```
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    offload::run(|| std::fs::read(path))
}

/// Reads the entire contents of a file into a string.
///
/// # Errors
///
/// This function will return an error if `path` does not already exist, if
/// reading fails, or if the contents of the file are not valid UTF-8
/// ([`io::ErrorKind::InvalidData`]).
///
/// # Examples
///
/// ```
/// let text = shim_fs::read_to_string("Cargo.toml")?;
/// assert!(text.contains("shim-fs"));
/// # std::io::Result::Ok(())
/// ```
pub fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    let path = path.as_ref();
    offload::run(|| std::fs::read_to_string(path))
}

/// Writes a slice as the entire contents of a file.
///
/// This function will create a file if it does not exist, and will entirely
/// replace its contents if it does.
///
/// # Errors
///
/// The errors of [`File::create`] and of writing.
///
/// # Examples
///
/// ```
/// let path = std::env::temp_dir().join(format!("shim-fs-write-{}", std::process::id()));
/// shim_fs::write(&path, b"Lorem ipsum")?;
/// assert_eq!(shim_fs::read(&path)?, b"Lorem ipsum");
/// shim_fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    let (path, contents) = (path.as_ref(), contents.as_ref());
    offload::run(|| std::fs::write(path, contents))
}

/// Removes a file from the filesystem.
///
/// Note that there is no guarantee that the file is immediately deleted
/// (e.g., depending on platform, other open file descriptors may prevent
/// immediate removal).
///
/// # Errors
///
/// `path` points at a directory, the file does not exist, or the user
/// lacks permissions to remove it.
pub fn remove_file<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    offload::run(|| std::fs::remove_file(path))
}

/// Given a path, queries the file system to get information about a file,
/// directory, etc.
///
/// This function will traverse symbolic links to query information about
/// the destination file.
///
/// # Errors
///
/// The user lacks permissions to perform `metadata` call on `path`, or
/// `path` does not exist.
///
/// # Examples
///
/// ```
/// let attr = shim_fs::metadata("Cargo.toml")?;
/// assert!(attr.is_file());
/// # std::io::Result::Ok(())
/// ```
pub fn metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    let path = path.as_ref();
    offload::run(|| std::fs::metadata(path))
}

/// Queries the metadata about a file without following symlinks.
///
/// # Errors
///
/// As [`metadata`].
pub fn symlink_metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    let path = path.as_ref();
    offload::run(|| std::fs::symlink_metadata(path))
}

/// Renames a file or directory to a new name, replacing the original file
/// if `to` already exists.
///
/// # Errors
///
/// `from` does not exist, the user lacks permissions, or `from` and `to`
/// are on separate filesystems.
pub fn rename<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<()> {
    let (from, to) = (from.as_ref(), to.as_ref());
    offload::run(|| std::fs::rename(from, to))
}

/// Copies the contents of one file to another. This function will also
/// copy the permission bits of the original file to the destination file.
///
/// On success, the total number of bytes copied is returned and it is equal
/// to the length of the `to` file as reported by `metadata`.
///
/// # Errors
///
/// `from` is neither a regular file nor a symlink to one, `from` does not
/// exist, or the user lacks permissions.
///
/// # Examples
///
/// ```
/// let to = std::env::temp_dir().join(format!("shim-fs-copy-{}", std::process::id()));
/// let n = shim_fs::copy("Cargo.toml", &to)?;
/// assert_eq!(n, shim_fs::metadata(&to)?.len());
/// shim_fs::remove_file(&to)?;
/// # std::io::Result::Ok(())
/// ```
pub fn copy<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<u64> {
    let (from, to) = (from.as_ref(), to.as_ref());
    offload::run(|| std::fs::copy(from, to))
}

/// Creates a new hard link on the filesystem.
///
/// The `link` path will be a link pointing to the `original` path.
///
/// # Errors
///
/// The `original` path is not a file or doesn't exist, or `link` already
/// exists.
pub fn hard_link<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    let (original, link) = (original.as_ref(), link.as_ref());
    offload::run(|| std::fs::hard_link(original, link))
}

/// Creates a new symbolic link on the filesystem.
///
/// The `link` path will be a symbolic link pointing to the `original` path.
///
/// # Errors
///
/// The OS error of `symlink(2)`.
#[deprecated(
    since = "1.1.0",
    note = "replaced with std::os::unix::fs::symlink and std::os::windows::fs::{symlink_file, symlink_dir}"
)]
pub fn soft_link<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    let (original, link) = (original.as_ref(), link.as_ref());
    offload::run(|| std::os::unix::fs::symlink(original, link))
}

/// Reads a symbolic link, returning the file that the link points to.
///
/// # Errors
///
/// `path` is not a symbolic link or does not exist.
pub fn read_link<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    let path = path.as_ref();
    offload::run(|| std::fs::read_link(path))
}

/// Returns the canonical, absolute form of a path with all intermediate
/// components normalized and symbolic links resolved.
///
/// # Errors
///
/// `path` does not exist, or a non-final component in path is not a
/// directory.
///
/// # Examples
///
/// ```
/// let path = shim_fs::canonicalize("Cargo.toml")?;
/// assert!(path.is_absolute());
/// # std::io::Result::Ok(())
/// ```
pub fn canonicalize<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    let path = path.as_ref();
    offload::run(|| std::fs::canonicalize(path))
}

/// Creates a new, empty directory at the provided path.
///
/// # Errors
///
/// The user lacks permissions, a parent of the given path doesn't exist, or
/// `path` already exists.
pub fn create_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    offload::run(|| std::fs::create_dir(path))
}

/// Recursively create a directory and all of its parent components if they
/// are missing.
///
/// # Errors
///
/// The user lacks permissions, or a component of the path exists and is not
/// a directory.
///
/// # Examples
///
/// ```
/// let root = std::env::temp_dir().join(format!("shim-fs-dirs-{}", std::process::id()));
/// shim_fs::create_dir_all(root.join("a/b/c"))?;
/// assert!(shim_fs::metadata(root.join("a/b/c"))?.is_dir());
/// shim_fs::remove_dir_all(&root)?;
/// # std::io::Result::Ok(())
/// ```
pub fn create_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    offload::run(|| std::fs::create_dir_all(path))
}

/// Removes an empty directory.
///
/// # Errors
///
/// `path` doesn't exist, isn't a directory, the user lacks permissions, or
/// the directory isn't empty.
pub fn remove_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    offload::run(|| std::fs::remove_dir(path))
}

/// Removes a directory at this path, after removing all its contents. Use
/// carefully!
///
/// This function does **not** follow symbolic links and it will simply
/// remove the symbolic link itself.
///
/// # Errors
///
/// As [`remove_file`] and [`remove_dir`].
pub fn remove_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    offload::run(|| std::fs::remove_dir_all(path))
}

/// Changes the permissions found on a file or a directory.
///
/// # Errors
///
/// `path` does not exist, or the user lacks the permission to change
/// attributes of the file.
pub fn set_permissions<P: AsRef<Path>>(path: P, perm: Permissions) -> io::Result<()> {
    let path = path.as_ref();
    offload::run(|| std::fs::set_permissions(path, perm))
}

/// Returns `Ok(true)` if the path points at an existing entity.
///
/// This function will traverse symbolic links to query information about
/// the destination file. In case of broken symbolic links this will return
/// `Ok(false)`.
///
/// # Errors
///
/// When the existence cannot be determined (e.g. permission denied on a
/// parent directory).
///
/// # Examples
///
/// ```
/// assert!(shim_fs::exists("Cargo.toml")?);
/// assert!(!shim_fs::exists("does_not_exist.txt")?);
/// # std::io::Result::Ok(())
/// ```
pub fn exists<P: AsRef<Path>>(path: P) -> io::Result<bool> {
    let path = path.as_ref();
    offload::run(|| std::fs::exists(path))
}
