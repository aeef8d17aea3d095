//! `File` and `OpenOptions`: std's, with every call that touches the file on
//! the offload pool in a coroutine.

use std::fmt;
use std::fs::{FileTimes, Metadata, Permissions, TryLockError};
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::process::Stdio;
use std::time::SystemTime;

use shim_rt::{in_coroutine, offload};

/// An object providing access to an open file on the filesystem.
///
/// An instance of a `File` can be read and/or written depending on what
/// options it was opened with. Files also implement [`Seek`] to alter the
/// logical cursor that the file contains internally.
///
/// Files are automatically closed when they go out of scope. Errors
/// detected on closing are ignored by the implementation of `Drop`. Use the
/// method [`sync_all`](File::sync_all) if these errors must be manually
/// handled.
///
/// In a greenstd coroutine every call that touches the file runs on the
/// offload pool and the coroutine waits cooperatively; on a plain OS thread
/// it is std's call.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use shim_fs::File;
///
/// let path = std::env::temp_dir().join(format!("shim-fs-file-{}", std::process::id()));
/// File::create(&path)?.write_all(b"Hello, world!")?;
/// let mut contents = String::new();
/// File::open(&path)?.read_to_string(&mut contents)?;
/// assert_eq!(contents, "Hello, world!");
/// shim_fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
pub struct File {
    /// Always present; taken only when the file is dropped or given away.
    inner: ManuallyDrop<std::fs::File>,
}

impl File {
    fn wrap(inner: std::fs::File) -> File {
        File {
            inner: ManuallyDrop::new(inner),
        }
    }

    /// Gives up std's `File` without closing it.
    fn into_std(self) -> std::fs::File {
        let mut me = ManuallyDrop::new(self);
        // SAFETY: `me` is never used again and its `Drop` never runs, so
        // the file is taken exactly once.
        unsafe { ManuallyDrop::take(&mut me.inner) }
    }
}

impl Drop for File {
    /// Closes the file — on the offload pool in a coroutine: closing can
    /// wait for the disk (ext4 starts writing back a file rewritten after a
    /// truncation when it is closed; NFS flushes on close).
    fn drop(&mut self) {
        // SAFETY: `drop` runs once and `inner` is not used after it.
        let inner = unsafe { ManuallyDrop::take(&mut self.inner) };
        if in_coroutine() {
            offload::run(move || drop(inner));
        }
    }
}

impl File {
    /// Attempts to open a file in read-only mode.
    ///
    /// See the [`OpenOptions::open`] method for more details.
    ///
    /// # Errors
    ///
    /// This function will return an error if `path` does not already exist.
    /// Other errors may also be returned according to [`OpenOptions::open`].
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Opens a file in write-only mode.
    ///
    /// This function will create a file if it does not exist, and will
    /// truncate it if it does.
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open`].
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    /// Creates a new file in read-write mode; error if the file exists.
    ///
    /// This function will create a file if it does not exist, or return an
    /// error if it does. This way, if the call succeeds, the file returned
    /// is guaranteed to be new.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::AlreadyExists`] if the file exists; otherwise as
    /// [`OpenOptions::open`].
    pub fn create_new<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
    }

    /// Returns a new OpenOptions object.
    ///
    /// This function returns a new OpenOptions object that you can use to
    /// open or create a file with specific options if `open()` or
    /// `create()` are not appropriate.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Attempts to sync all OS-internal file content and metadata to disk.
    ///
    /// # Errors
    ///
    /// The OS error of `fsync(2)`.
    pub fn sync_all(&self) -> io::Result<()> {
        offload::run(|| self.inner.sync_all())
    }

    /// This function is similar to [`sync_all`](File::sync_all), except
    /// that it might not synchronize file metadata to the filesystem.
    ///
    /// # Errors
    ///
    /// The OS error of `fdatasync(2)`.
    pub fn sync_data(&self) -> io::Result<()> {
        offload::run(|| self.inner.sync_data())
    }

    /// Truncates or extends the underlying file, updating the size of this
    /// file to become `size`.
    ///
    /// # Errors
    ///
    /// The file is not opened for writing, or `size` is too large.
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        offload::run(|| self.inner.set_len(size))
    }

    /// Queries metadata about the underlying file.
    ///
    /// # Errors
    ///
    /// The OS error of `fstat`/`statx`.
    pub fn metadata(&self) -> io::Result<Metadata> {
        offload::run(|| self.inner.metadata())
    }

    /// Creates a new `File` instance that shares the same underlying file
    /// handle as the existing `File` instance. Reads, writes, and seeks will
    /// affect both `File` instances simultaneously.
    ///
    /// # Errors
    ///
    /// The OS error of `fcntl(F_DUPFD_CLOEXEC)`.
    pub fn try_clone(&self) -> io::Result<File> {
        Ok(File::wrap(self.inner.try_clone()?))
    }

    /// Changes the permissions on the underlying file.
    ///
    /// # Errors
    ///
    /// The user lacks the permission to change attributes of the file.
    pub fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        offload::run(|| self.inner.set_permissions(perm))
    }

    /// Changes the timestamps of the underlying file.
    ///
    /// # Errors
    ///
    /// The OS error of `futimens(2)`.
    pub fn set_times(&self, times: FileTimes) -> io::Result<()> {
        offload::run(|| self.inner.set_times(times))
    }

    /// Changes the modification time of the underlying file.
    ///
    /// This is an alias for `set_times(FileTimes::new().set_modified(time))`.
    ///
    /// # Errors
    ///
    /// As [`set_times`](File::set_times).
    pub fn set_modified(&self, time: SystemTime) -> io::Result<()> {
        offload::run(|| self.inner.set_modified(time))
    }

    /// Acquires an exclusive lock on the file. Blocks until the lock can be
    /// acquired — in a coroutine, on the offload pool (a pool thread is held
    /// while it waits).
    ///
    /// # Errors
    ///
    /// The OS error of `flock(2)`.
    pub fn lock(&self) -> io::Result<()> {
        offload::run(|| self.inner.lock())
    }

    /// Acquires a shared (non-exclusive) lock on the file. Blocks until the
    /// lock can be acquired — in a coroutine, on the offload pool.
    ///
    /// # Errors
    ///
    /// The OS error of `flock(2)`.
    pub fn lock_shared(&self) -> io::Result<()> {
        offload::run(|| self.inner.lock_shared())
    }

    /// Tries to acquire an exclusive lock on the file; never waits for
    /// another holder.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if another handle holds a lock.
    pub fn try_lock(&self) -> Result<(), TryLockError> {
        // Never waits for another holder, but may for the network (NFS).
        offload::run(|| self.inner.try_lock())
    }

    /// Tries to acquire a shared lock on the file; never waits for another
    /// holder.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if another handle holds an exclusive
    /// lock.
    pub fn try_lock_shared(&self) -> Result<(), TryLockError> {
        offload::run(|| self.inner.try_lock_shared())
    }

    /// Releases all locks on the file.
    ///
    /// # Errors
    ///
    /// The OS error of `flock(2)`.
    pub fn unlock(&self) -> io::Result<()> {
        offload::run(|| self.inner.unlock())
    }
}

/// The read fast path of a coroutine: one `preadv2(RWF_NOWAIT)` made right
/// here, which the kernel completes only from the page cache (`offset`
/// `None`: at the file position, as `read`). `None` when it would have to
/// wait for the disk, or the file or kernel does not support it (always
/// on macOS and FreeBSD, which have no `RWF_NOWAIT`): then the read goes
/// to the offload pool. Other errors are the read's own.
fn read_cached(
    file: &std::fs::File,
    bufs: &mut [IoSliceMut<'_>],
    offset: Option<u64>,
) -> Option<io::Result<usize>> {
    if !in_coroutine() {
        return None;
    }
    let offset = match offset {
        None => -1,
        Some(o) => libc::off_t::try_from(o).ok()?,
    };
    let e = match shim_rt::sys::read_nowait(file.as_raw_fd(), bufs, offset) {
        Ok(n) => return Some(Ok(n)),
        Err(e) => e,
    };
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::EOPNOTSUPP | libc::EINVAL | libc::EINTR | libc::ENOSYS) => None,
        _ => Some(Err(e)),
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(r) = read_cached(&self.inner, &mut [IoSliceMut::new(buf)], None) {
            return r;
        }
        offload::run(|| (&*self.inner).read(buf))
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        if let Some(r) = read_cached(&self.inner, bufs, None) {
            return r;
        }
        offload::run(|| (&*self.inner).read_vectored(bufs))
    }
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        offload::run(|| (&*self.inner).read_to_end(buf))
    }
    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        offload::run(|| (&*self.inner).read_to_string(buf))
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&*self).read_to_end(buf)
    }
    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        (&*self).read_to_string(buf)
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        offload::run(|| (&*self.inner).write(buf))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        offload::run(|| (&*self.inner).write_vectored(bufs))
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        offload::run(|| (&*self.inner).write_all(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        // std's File::flush does nothing (no user-space buffer).
        Ok(())
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        (&*self).write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match pos {
            // Only moves the file position: made right here.
            SeekFrom::Start(_) | SeekFrom::Current(_) => (&*self.inner).seek(pos),
            // Needs the file's size, which a network filesystem may have
            // to fetch.
            SeekFrom::End(_) => offload::run(|| (&*self.inner).seek(pos)),
        }
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

impl FileExt for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if let Some(r) = read_cached(&self.inner, &mut [IoSliceMut::new(buf)], Some(offset)) {
            return r;
        }
        offload::run(|| self.inner.read_at(buf, offset))
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        offload::run(|| self.inner.write_at(buf, offset))
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        offload::run(|| self.inner.write_all_at(buf, offset))
    }
}

impl fmt::Debug for File {
    /// Formats as std's `File` (path and access mode, read from `/proc`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl shim_io::sys::Sealed for File {}

/// greenstd's `IsTerminal` (std's is sealed), as std's for its `File`.
impl shim_io::IsTerminal for File {
    fn is_terminal(&self) -> bool {
        shim_io::sys::fd_is_terminal(self.as_fd())
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl FromRawFd for File {
    unsafe fn from_raw_fd(fd: RawFd) -> File {
        // SAFETY: the caller guarantees `fd` is open and theirs to give.
        File::wrap(unsafe { std::fs::File::from_raw_fd(fd) })
    }
}

impl IntoRawFd for File {
    fn into_raw_fd(self) -> RawFd {
        self.into_std().into_raw_fd()
    }
}

impl From<OwnedFd> for File {
    /// Takes ownership of a file descriptor.
    fn from(fd: OwnedFd) -> File {
        File::wrap(std::fs::File::from(fd))
    }
}

impl From<File> for OwnedFd {
    /// Takes ownership of the file's descriptor.
    fn from(f: File) -> OwnedFd {
        OwnedFd::from(f.into_std())
    }
}

impl From<File> for Stdio {
    /// A child's stdio that is this file.
    fn from(f: File) -> Stdio {
        Stdio::from(f.into_std())
    }
}

impl From<std::fs::File> for File {
    /// Takes over std's `File` (greenstd's own conversion).
    fn from(inner: std::fs::File) -> File {
        File::wrap(inner)
    }
}

impl From<File> for std::fs::File {
    /// Hands the file to code that takes std's type, whose calls then block
    /// their thread (greenstd's own conversion).
    fn from(f: File) -> std::fs::File {
        f.into_std()
    }
}

/// Options and flags which can be used to configure how a file is opened.
///
/// This builder exposes the ability to configure how a [`File`] is opened
/// and what operations are permitted on the open file. The [`File::open`]
/// and [`File::create`] methods are aliases for commonly used options using
/// this builder.
///
/// # Examples
///
/// ```
/// use shim_fs::OpenOptions;
///
/// let file = OpenOptions::new().read(true).open("Cargo.toml")?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    inner: std::fs::OpenOptions,
}

impl OpenOptions {
    /// Creates a blank new set of options ready for configuration.
    ///
    /// All options are initially set to `false`.
    #[allow(clippy::new_without_default)] // as std's
    pub fn new() -> OpenOptions {
        OpenOptions {
            inner: std::fs::OpenOptions::new(),
        }
    }

    /// Sets the option for read access.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.inner.read(read);
        self
    }

    /// Sets the option for write access.
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.inner.write(write);
        self
    }

    /// Sets the option for the append mode.
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.inner.append(append);
        self
    }

    /// Sets the option for truncating a previous file.
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.inner.truncate(truncate);
        self
    }

    /// Sets the option to create a new file, or open it if it already
    /// exists.
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.inner.create(create);
        self
    }

    /// Sets the option to create a new file, failing if it already exists.
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.inner.create_new(create_new);
        self
    }

    /// Opens a file at `path` with the options specified by `self`.
    ///
    /// # Errors
    ///
    /// As std's: `NotFound`, `PermissionDenied`, `AlreadyExists` (with
    /// `create_new`), `InvalidInput` (invalid combinations of options), and
    /// other OS errors.
    pub fn open<P: AsRef<Path>>(&self, path: P) -> io::Result<File> {
        let (options, path) = (&self.inner, path.as_ref());
        offload::run(|| options.open(path)).map(File::wrap)
    }
}

impl OpenOptionsExt for OpenOptions {
    fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.inner.mode(mode);
        self
    }

    fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        self.inner.custom_flags(flags);
        self
    }
}
