//! API parity: every stable item of std's `thread`, `net`, `os::unix::net`,
//! `sync`, `time`, `process`, `io` and `fs` exists in greenstd under the same
//! path, and is greenstd's own where it blocks, std's own where it never
//! does (so values of those types pass freely between greenstd and std
//! code).
//!
//! The lists are std's stable items at Rust 1.95, taken from rustdoc's
//! sidebar of the installed toolchain:
//! `$(rustc --print sysroot)/share/doc/rust/html/std/<module>/` (the pages
//! whose heading says "Stable since"). A newer std's new items belong here
//! when greenstd adds them. Items are checked at compile time (the paths
//! must resolve) and at run time (types by `TypeId`, functions by address).

use std::any::TypeId;
use std::time::Duration;

/// `greenstd::$path` must be greenstd's own type, not std's.
macro_rules! own {
    ($($path:tt)*) => {
        assert_ne!(
            TypeId::of::<greenstd::$($path)*>(),
            TypeId::of::<std::$($path)*>(),
            "greenstd::{} is std's, but blocks: it must be greenstd's own",
            stringify!($($path)*)
        )
    };
}

/// `greenstd::$path` must be std's own type, re-exported.
macro_rules! same {
    ($($path:tt)*) => {
        assert_eq!(
            TypeId::of::<greenstd::$($path)*>(),
            TypeId::of::<std::$($path)*>(),
            "greenstd::{} must be std's own",
            stringify!($($path)*)
        )
    };
}

/// `dyn greenstd::$path` must be std's own trait.
macro_rules! same_trait {
    ($($path:tt)*) => {
        assert_eq!(
            TypeId::of::<dyn greenstd::$($path)*>(),
            TypeId::of::<dyn std::$($path)*>(),
            "greenstd::{} must be std's own trait",
            stringify!($($path)*)
        )
    };
}

/// The function `greenstd::$path` has the signature `$sig`, which names
/// greenstd's own types (checked by `own!`): it cannot be std's.
macro_rules! own_sig {
    (($($path:tt)*) $sig:ty) => {
        let _: $sig = greenstd::$($path)*;
    };
}

/// The function `greenstd::$path` (cast to `$sig`) must be greenstd's own.
macro_rules! own_fn {
    (($($path:tt)*) $sig:ty) => {
        assert_ne!(
            greenstd::$($path)* as $sig as usize,
            std::$($path)* as $sig as usize,
            "greenstd::{} is std's, but blocks",
            stringify!($($path)*)
        )
    };
}

/// The function `greenstd::$path` (cast to `$sig`) must be std's own.
macro_rules! same_fn {
    (($($path:tt)*) $sig:ty) => {
        assert_eq!(
            greenstd::$($path)* as $sig as usize,
            std::$($path)* as $sig as usize,
            "greenstd::{} must be std's own",
            stringify!($($path)*)
        )
    };
}

type IoResult<T> = std::io::Result<T>;

#[test]
fn thread() {
    own!(thread::Builder);
    own!(thread::JoinHandle<()>);
    own!(thread::LocalKey<u8>);
    own!(thread::Scope<'static, 'static>);
    own!(thread::ScopedJoinHandle<'static, ()>);
    own!(thread::Thread);
    own!(thread::ThreadId);
    own!(thread::AccessError);
    same!(thread::Result<()>);
    own_sig!((thread::current) fn() -> greenstd::thread::Thread);
    own_fn!((thread::park) fn());
    own_fn!((thread::park_timeout) fn(Duration));
    own_fn!((thread::sleep) fn(Duration));
    own_fn!((thread::yield_now) fn());
    #[allow(deprecated)]
    {
        own_fn!((thread::park_timeout_ms) fn(u32));
        own_fn!((thread::sleep_ms) fn(u32));
    }
    same_fn!((thread::available_parallelism) fn() -> IoResult<std::num::NonZeroUsize>);
    same_fn!((thread::panicking) fn() -> bool);
    let _ = greenstd::thread::spawn::<fn(), ()>;
    let _ = greenstd::thread::scope::<fn(&greenstd::thread::Scope<'_, '_>), ()>;
}

#[test]
fn net() {
    own!(net::TcpListener);
    own!(net::TcpStream);
    own!(net::UdpSocket);
    own!(net::Incoming<'static>);
    same!(net::IpAddr);
    same!(net::Ipv4Addr);
    same!(net::Ipv6Addr);
    same!(net::SocketAddr);
    same!(net::SocketAddrV4);
    same!(net::SocketAddrV6);
    same!(net::Shutdown);
    same!(net::AddrParseError);
    // greenstd's own: host names are resolved off the workers.
    assert_ne!(
        TypeId::of::<
            dyn greenstd::net::ToSocketAddrs<Iter = std::vec::IntoIter<std::net::SocketAddr>>,
        >(),
        TypeId::of::<dyn std::net::ToSocketAddrs<Iter = std::vec::IntoIter<std::net::SocketAddr>>>(
        ),
    );
    own!(os::unix::net::UnixListener);
    own!(os::unix::net::UnixStream);
    own!(os::unix::net::UnixDatagram);
    own!(os::unix::net::Incoming<'static>);
    same!(os::unix::net::SocketAddr);
}

#[test]
fn sync() {
    own!(sync::Mutex<()>);
    own!(sync::MutexGuard<'static, ()>);
    own!(sync::RwLock<()>);
    own!(sync::RwLockReadGuard<'static, ()>);
    own!(sync::RwLockWriteGuard<'static, ()>);
    own!(sync::Condvar);
    own!(sync::WaitTimeoutResult);
    own!(sync::Barrier);
    own!(sync::BarrierWaitResult);
    own!(sync::Once);
    own!(sync::OnceState);
    own!(sync::OnceLock<()>);
    own!(sync::LazyLock<()>);
    own!(sync::mpsc::Sender<()>);
    own!(sync::mpsc::SyncSender<()>);
    own!(sync::mpsc::Receiver<()>);
    own!(sync::mpsc::Iter<'static, ()>);
    own!(sync::mpsc::TryIter<'static, ()>);
    own!(sync::mpsc::IntoIter<()>);
    same!(sync::mpsc::SendError<()>);
    same!(sync::mpsc::RecvError);
    same!(sync::mpsc::TryRecvError);
    same!(sync::mpsc::RecvTimeoutError);
    same!(sync::mpsc::TrySendError<()>);
    same!(sync::Arc<()>);
    same!(sync::Weak<()>);
    same!(sync::PoisonError<()>);
    same!(sync::TryLockError<()>);
    same!(sync::LockResult<()>);
    same!(sync::TryLockResult<()>);
    same!(sync::atomic::AtomicUsize);
    let _ = greenstd::sync::mpsc::channel::<()>;
    let _ = greenstd::sync::mpsc::sync_channel::<()>;
    #[allow(deprecated)]
    let once = greenstd::sync::ONCE_INIT;
    assert!(!once.is_completed());
}

#[test]
fn time() {
    same!(time::Duration);
    same!(time::Instant);
    same!(time::SystemTime);
    same!(time::SystemTimeError);
    same!(time::TryFromFloatSecsError);
    assert_eq!(greenstd::time::UNIX_EPOCH, std::time::UNIX_EPOCH);
}

#[test]
fn process() {
    own!(process::Command);
    own!(process::Child);
    own!(process::ChildStdin);
    own!(process::ChildStdout);
    own!(process::ChildStderr);
    same!(process::Stdio);
    same!(process::ExitStatus);
    same!(process::ExitCode);
    same!(process::Output);
    same!(process::CommandArgs<'static>);
    same!(process::CommandEnvs<'static>);
    same_fn!((process::abort) fn() -> !);
    same_fn!((process::exit) fn(i32) -> !);
    same_fn!((process::id) fn() -> u32);
    fn is_termination<T: greenstd::process::Termination>() {}
    is_termination::<std::process::ExitCode>();
}

#[test]
fn io() {
    own!(io::Stdin);
    own!(io::StdinLock<'static>);
    own!(io::Stdout);
    own!(io::StdoutLock<'static>);
    own!(io::Stderr);
    own!(io::StderrLock<'static>);
    own!(io::PipeReader);
    own!(io::PipeWriter);
    own_sig!((io::stdin) fn() -> greenstd::io::Stdin);
    own_sig!((io::stdout) fn() -> greenstd::io::Stdout);
    own_sig!((io::stderr) fn() -> greenstd::io::Stderr);
    own_sig!((io::pipe) fn() -> IoResult<(greenstd::io::PipeReader, greenstd::io::PipeWriter)>);
    // The traits stay std's: user code and libraries interoperate.
    same_trait!(io::Read);
    same_trait!(io::Write);
    same_trait!(io::BufRead);
    same_trait!(io::Seek);
    same!(io::Error);
    same!(io::ErrorKind);
    same!(io::SeekFrom);
    same!(io::Result<()>);
    same!(io::BufReader<&'static [u8]>);
    same!(io::BufWriter<Vec<u8>>);
    same!(io::LineWriter<Vec<u8>>);
    same!(io::Cursor<Vec<u8>>);
    same!(io::Bytes<&'static [u8]>);
    same!(io::Chain<&'static [u8], &'static [u8]>);
    same!(io::Take<&'static [u8]>);
    same!(io::Lines<&'static [u8]>);
    same!(io::Split<&'static [u8]>);
    same!(io::Empty);
    same!(io::Repeat);
    same!(io::Sink);
    same!(io::IoSlice<'static>);
    same!(io::IoSliceMut<'static>);
    same!(io::IntoInnerError<Vec<u8>>);
    same!(io::WriterPanicked);
    same_fn!((io::empty) fn() -> std::io::Empty);
    same_fn!((io::sink) fn() -> std::io::Sink);
    same_fn!((io::repeat) fn(u8) -> std::io::Repeat);
    same_fn!((io::copy::<&[u8], Vec<u8>>) fn(&mut &'static [u8], &mut Vec<u8>) -> IoResult<u64>);
    same_fn!((io::read_to_string::<&[u8]>) fn(&'static [u8]) -> IoResult<String>);
    #[allow(unused_imports)]
    use greenstd::io::prelude::*;
    // The print! family is greenstd's (and in its prelude).
    greenstd::print!("");
    greenstd::eprint!("");
}

#[test]
fn fs() {
    own!(fs::File);
    own!(fs::OpenOptions);
    own!(fs::DirBuilder);
    own!(fs::DirEntry);
    own!(fs::ReadDir);
    same!(fs::Metadata);
    same!(fs::Permissions);
    same!(fs::FileType);
    same!(fs::FileTimes);
    same!(fs::TryLockError);
    own_fn!((fs::read::<&str>) fn(&'static str) -> IoResult<Vec<u8>>);
    own_fn!((fs::read_to_string::<&str>) fn(&'static str) -> IoResult<String>);
    own_fn!((fs::write::<&str, &[u8]>) fn(&'static str, &'static [u8]) -> IoResult<()>);
    own_sig!((fs::read_dir::<&str>) fn(&'static str) -> IoResult<greenstd::fs::ReadDir>);
    own_fn!((fs::metadata::<&str>) fn(&'static str) -> IoResult<std::fs::Metadata>);
    own_fn!((fs::symlink_metadata::<&str>) fn(&'static str) -> IoResult<std::fs::Metadata>);
    own_fn!((fs::canonicalize::<&str>) fn(&'static str) -> IoResult<std::path::PathBuf>);
    own_fn!((fs::read_link::<&str>) fn(&'static str) -> IoResult<std::path::PathBuf>);
    own_fn!((fs::copy::<&str, &str>) fn(&'static str, &'static str) -> IoResult<u64>);
    own_fn!((fs::rename::<&str, &str>) fn(&'static str, &'static str) -> IoResult<()>);
    own_fn!((fs::hard_link::<&str, &str>) fn(&'static str, &'static str) -> IoResult<()>);
    own_fn!((fs::create_dir::<&str>) fn(&'static str) -> IoResult<()>);
    own_fn!((fs::create_dir_all::<&str>) fn(&'static str) -> IoResult<()>);
    own_fn!((fs::remove_dir::<&str>) fn(&'static str) -> IoResult<()>);
    own_fn!((fs::remove_dir_all::<&str>) fn(&'static str) -> IoResult<()>);
    own_fn!((fs::remove_file::<&str>) fn(&'static str) -> IoResult<()>);
    own_fn!((fs::set_permissions::<&str>) fn(&'static str, std::fs::Permissions) -> IoResult<()>);
    own_fn!((fs::exists::<&str>) fn(&'static str) -> IoResult<bool>);
    #[allow(deprecated)]
    {
        own_fn!((fs::soft_link::<&str, &str>) fn(&'static str, &'static str) -> IoResult<()>);
    }
    own_fn!((os::unix::fs::symlink::<&str, &str>) fn(&'static str, &'static str) -> IoResult<()>);
    own_fn!((os::unix::fs::chown::<&str>) fn(&'static str, Option<u32>, Option<u32>) -> IoResult<()>);
    own_fn!((os::unix::fs::lchown::<&str>) fn(&'static str, Option<u32>, Option<u32>) -> IoResult<()>);
    own_fn!((os::unix::fs::fchown::<std::os::fd::BorrowedFd<'static>>) fn(std::os::fd::BorrowedFd<'static>, Option<u32>, Option<u32>) -> IoResult<()>);
    own_fn!((os::unix::fs::chroot::<&str>) fn(&'static str) -> IoResult<()>);
    same_trait!(os::unix::fs::FileExt);
    same_trait!(os::unix::fs::DirEntryExt);
    same_trait!(os::unix::fs::FileTypeExt);
}

/// std's `IsTerminal` is sealed: greenstd's is its own trait of the same
/// name, implemented for std's types and greenstd's, so code that names it
/// as a method or as a bound compiles against either.
#[test]
fn is_terminal_for_std_and_greenstd_types() {
    use greenstd::io::IsTerminal;
    use std::os::fd::AsFd;
    fn bound<T: IsTerminal + ?Sized>(t: &T) -> bool {
        t.is_terminal()
    }
    fn std_answer(fd: std::os::fd::BorrowedFd<'_>) -> bool {
        std::io::IsTerminal::is_terminal(&fd)
    }
    // greenstd's streams and their locks: the answer std gives for the
    // same descriptor.
    let (i, o, e) = (
        greenstd::io::stdin(),
        greenstd::io::stdout(),
        greenstd::io::stderr(),
    );
    assert_eq!(bound(&i), std_answer(i.as_fd()));
    assert_eq!(bound(&i.lock()), std_answer(i.as_fd()));
    assert_eq!(bound(&o), std_answer(o.as_fd()));
    assert_eq!(bound(&o.lock()), std_answer(o.as_fd()));
    assert_eq!(bound(&e), std_answer(e.as_fd()));
    assert_eq!(bound(&e.lock()), std_answer(e.as_fd()));
    // std's own types, through std's impls.
    assert_eq!(bound(&std::io::stdout()), std_answer(o.as_fd()));
    let null = std::fs::File::open("/dev/null").unwrap();
    assert!(!bound(&null));
    assert!(!bound(&null.as_fd()));
    // greenstd's File, on a file and on a terminal when the machine has one
    // to open (a pseudo-terminal's master side is a tty).
    let f = greenstd::fs::File::open("/dev/null").unwrap();
    assert!(!f.is_terminal());
    if let Ok(pty) = greenstd::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/ptmx")
    {
        assert_eq!(bound(&pty), std_answer(pty.as_fd()));
        assert!(pty.is_terminal());
    }
    // Inside a coroutine too.
    greenstd::thread::spawn(|| {
        assert!(!greenstd::fs::File::open("/dev/null").unwrap().is_terminal())
    })
    .join()
    .unwrap();
}
