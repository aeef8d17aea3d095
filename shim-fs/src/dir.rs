//! Directories: `read_dir`, `ReadDir`, `DirEntry`, `DirBuilder`.

use std::ffi::OsString;
use std::fmt;
use std::fs::{FileType, Metadata};
use std::io;
use std::os::unix::fs::{DirBuilderExt, DirEntryExt};
use std::path::{Path, PathBuf};

/// Returns an iterator over the entries within a directory.
///
/// The iterator will yield instances of <code>[io::Result]<[DirEntry]></code>.
/// New errors may be encountered after an iterator is initially constructed.
/// Entries for the current and parent directories (typically `.` and `..`)
/// are skipped. The order in which this iterator returns entries is
/// platform and filesystem dependent.
///
/// # Errors
///
/// The provided `path` doesn't exist, the process lacks permissions to view
/// the contents, or the `path` points at a non-directory file.
///
/// # Examples
///
/// ```
/// let mut names: Vec<_> = shim_fs::read_dir(".")?
///     .map(|entry| entry.map(|e| e.file_name()))
///     .collect::<Result<_, _>>()?;
/// names.sort();
/// assert!(names.iter().any(|n| n == "Cargo.toml"));
/// # std::io::Result::Ok(())
/// ```
#[track_caller]
pub fn read_dir<P: AsRef<Path>>(path: P) -> io::Result<ReadDir> {
    let path = path.as_ref();
    let inner = std::fs::read_dir(path)?;
    Ok(ReadDir { inner })
}

/// Iterator over the entries in a directory.
///
/// This iterator is returned from the [`read_dir`] function and will yield
/// instances of <code>[io::Result]<[DirEntry]></code>. Through a
/// [`DirEntry`] information like the entry's path and possibly other
/// metadata can be learned.
pub struct ReadDir {
    inner: std::fs::ReadDir,
}

impl Iterator for ReadDir {
    type Item = io::Result<DirEntry>;

    #[track_caller]
    fn next(&mut self) -> Option<io::Result<DirEntry>> {
        self.inner.next().map(|r| r.map(|inner| DirEntry { inner }))
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// Entries returned by the [`ReadDir`] iterator.
///
/// An instance of `DirEntry` represents an entry inside of a directory on
/// the filesystem. Each entry can be inspected via methods to learn about
/// the full path or possibly other metadata through per-platform extension
/// traits.
pub struct DirEntry {
    inner: std::fs::DirEntry,
}

impl DirEntry {
    /// Returns the full path to the file that this entry represents.
    ///
    /// The full path is created by joining the original path to `read_dir`
    /// with the filename of this entry.
    pub fn path(&self) -> PathBuf {
        self.inner.path()
    }

    /// Returns the metadata for the file that this entry points at.
    ///
    /// This function will not traverse symlinks if this entry points at a
    /// symlink.
    ///
    /// # Errors
    ///
    /// The OS error of `fstatat`/`statx` (e.g. the entry was removed).
    #[track_caller]
    pub fn metadata(&self) -> io::Result<Metadata> {
        self.inner.metadata()
    }

    /// Returns the file type for the file that this entry points at.
    ///
    /// This function will not traverse symlinks if this entry points at a
    /// symlink.
    ///
    /// # Errors
    ///
    /// The OS error of looking the type up, when the directory listing did
    /// not carry it.
    #[track_caller]
    pub fn file_type(&self) -> io::Result<FileType> {
        self.inner.file_type()
    }

    /// Returns the file name of this directory entry without any leading
    /// path component(s).
    pub fn file_name(&self) -> OsString {
        self.inner.file_name()
    }
}

impl DirEntryExt for DirEntry {
    /// The underlying `d_ino` field in the contained `dirent` structure.
    fn ino(&self) -> u64 {
        self.inner.ino()
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// A builder used to create directories in various manners.
///
/// This builder also supports platform-specific options.
///
/// # Examples
///
/// ```
/// use shim_fs::DirBuilder;
///
/// let root = std::env::temp_dir().join(format!("shim-fs-builder-{}", std::process::id()));
/// DirBuilder::new().recursive(true).create(root.join("foo/bar"))?;
/// assert!(shim_fs::metadata(root.join("foo/bar"))?.is_dir());
/// shim_fs::remove_dir_all(&root)?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct DirBuilder {
    inner: std::fs::DirBuilder,
}

impl DirBuilder {
    /// Creates a new set of options with default mode/security settings for
    /// all platforms and also non-recursive.
    #[allow(clippy::new_without_default)] // as std's
    pub fn new() -> DirBuilder {
        DirBuilder {
            inner: std::fs::DirBuilder::new(),
        }
    }

    /// Indicates that directories should be created recursively, creating
    /// all parent directories. Parents that do not exist are created with
    /// the same security and permissions settings.
    pub fn recursive(&mut self, recursive: bool) -> &mut DirBuilder {
        self.inner.recursive(recursive);
        self
    }

    /// Creates the specified directory with the options configured in this
    /// builder.
    ///
    /// It is considered an error if the directory already exists unless
    /// recursive mode is enabled.
    ///
    /// # Errors
    ///
    /// As [`create_dir`](crate::create_dir) (or
    /// [`create_dir_all`](crate::create_dir_all) in recursive mode).
    #[track_caller]
    pub fn create<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        let (builder, path) = (&self.inner, path.as_ref());
        builder.create(path)
    }
}

impl DirBuilderExt for DirBuilder {
    fn mode(&mut self, mode: u32) -> &mut DirBuilder {
        self.inner.mode(mode);
        self
    }
}
