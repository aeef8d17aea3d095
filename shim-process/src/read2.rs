//! Reading a child's stdout and stderr at once, as std's `read2`: reading
//! one to its end first could deadlock with a child that fills the other.

use std::io::{self, Read};
use std::os::fd::RawFd;
use std::panic::resume_unwind;

use shim_io::sys::GreenFd;
use shim_rt::in_coroutine;

/// Reads `out` and `err` to their ends, into `out_buf` and `err_buf`.
///
/// In a coroutine, a helper coroutine reads `err` while this one reads
/// `out`: each waits on the pollers for its own pipe. On a plain thread,
/// `poll(2)` on both and a read of whichever is ready, as std does.
#[track_caller]
pub(crate) fn read2(
    out: GreenFd,
    out_buf: &mut Vec<u8>,
    err: GreenFd,
    err_buf: &mut Vec<u8>,
) -> io::Result<()> {
    if in_coroutine() {
        return shim_thread::scope(|s| {
            let helper = shim_thread::Builder::new()
                .spawn_scoped(s, || (&mut &err).read_to_end(err_buf).map(drop))?;
            let mine = (&mut &out).read_to_end(out_buf).map(drop);
            let theirs = helper.join().unwrap_or_else(|p| resume_unwind(p));
            mine.and(theirs)
        });
    }
    read2_poll(out.raw(), out_buf, err.raw(), err_buf)
}

/// The plain-thread `read2`: both pipes are blocking, and a read of a pipe
/// that `poll` reported readable returns what is there without waiting (we
/// are its only reader).
#[track_caller]
fn read2_poll(
    out: RawFd,
    out_buf: &mut Vec<u8>,
    err: RawFd,
    err_buf: &mut Vec<u8>,
) -> io::Result<()> {
    let mut fds = [
        libc::pollfd {
            fd: out,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: err,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let mut bufs = [out_buf, err_buf];
    let mut open = 2;
    while open > 0 {
        // SAFETY: `fds` is a valid array of two pollfds for the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for (pfd, buf) in fds.iter_mut().zip(bufs.iter_mut()) {
            if pfd.fd < 0 || pfd.revents == 0 {
                continue;
            }
            if read_some(pfd.fd, buf)? == 0 {
                // End of stream: poll ignores negative descriptors.
                pfd.fd = -1;
                open -= 1;
            }
        }
    }
    Ok(())
}

/// One `read(2)` appended to `buf`; the number of bytes read.
#[track_caller]
fn read_some(fd: RawFd, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.reserve(32 * 1024);
    let spare = buf.spare_capacity_mut();
    loop {
        // SAFETY: `spare` is valid for writes of its length; the kernel
        // initialises what it reports as read.
        let r = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), spare.len()) };
        if r >= 0 {
            let n = r as usize;
            // SAFETY: the first `n` spare bytes were just initialised.
            unsafe { buf.set_len(buf.len() + n) };
            return Ok(n);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
