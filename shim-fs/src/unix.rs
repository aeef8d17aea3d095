//! `std::os::unix::fs`: its free functions made on the calling thread, as
//! every call of this crate; its extension traits are std's (greenstd's
//! types implement them).

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

pub use std::os::unix::fs::{
    DirBuilderExt, DirEntryExt, FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt,
};

/// Creates a new symbolic link on the filesystem.
///
/// The `link` path will be a symbolic link pointing to the `original` path.
///
/// # Errors
///
/// The OS error of `symlink(2)` (e.g. `link` already exists).
///
/// # Examples
///
/// ```
/// let link = std::env::temp_dir().join(format!("shim-fs-symlink-{}", std::process::id()));
/// shim_fs::unix::symlink("Cargo.toml", &link)?;
/// assert_eq!(shim_fs::read_link(&link)?, std::path::Path::new("Cargo.toml"));
/// shim_fs::remove_file(&link)?;
/// # std::io::Result::Ok(())
/// ```
#[track_caller]
pub fn symlink<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    let (original, link) = (original.as_ref(), link.as_ref());
    std::os::unix::fs::symlink(original, link)
}

/// Changes the owner and group of the specified path; `None` leaves one
/// unchanged. Follows symbolic links.
///
/// # Errors
///
/// The OS error of `chown(2)`.
#[track_caller]
pub fn chown<P: AsRef<Path>>(dir: P, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let dir = dir.as_ref();
    std::os::unix::fs::chown(dir, uid, gid)
}

/// Changes the owner and group of the file referred to by the specified
/// open file descriptor.
///
/// # Errors
///
/// The OS error of `fchown(2)`.
#[track_caller]
pub fn fchown<F: AsFd>(fd: F, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let fd = fd.as_fd();
    std::os::unix::fs::fchown(fd, uid, gid)
}

/// Changes the owner and group of the specified path, without following
/// symbolic links.
///
/// # Errors
///
/// The OS error of `lchown(2)`.
#[track_caller]
pub fn lchown<P: AsRef<Path>>(dir: P, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let dir = dir.as_ref();
    std::os::unix::fs::lchown(dir, uid, gid)
}

/// Changes the root directory of the current process to the specified path.
///
/// # Errors
///
/// The OS error of `chroot(2)` (e.g. the process lacks the privilege).
#[track_caller]
pub fn chroot<P: AsRef<Path>>(dir: P) -> io::Result<()> {
    let dir = dir.as_ref();
    std::os::unix::fs::chroot(dir)
}
