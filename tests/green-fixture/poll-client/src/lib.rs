//! A blocking client that runs an event loop of its own inside each call,
//! as `postgres` runs a tokio runtime (`block_on`) per call: it waits in
//! `epoll_wait` itself, through a poller cargo green does not rewrite (it
//! rewrites mio's). Rebuilt against greenstd it still blocks the worker
//! that calls it: `cargo green audit` must name it first.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// One connection, with the poller that waits for its replies.
pub struct Client {
    stream: TcpStream,
    ep: OwnedFd,
}

impl Client {
    /// Connects to `addr`.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        // SAFETY: epoll_create1 takes no pointers; its result is checked.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `ep` was just opened and is owned by nothing else.
        let ep = unsafe { OwnedFd::from_raw_fd(ep) };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 0,
        };
        // SAFETY: both descriptors are open; `ev` is a valid event.
        if unsafe {
            libc::epoll_ctl(
                ep.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                stream.as_raw_fd(),
                &mut ev,
            )
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(Client { stream, ep })
    }

    /// Sends `request` and returns the reply (up to 64 bytes), waiting for
    /// it in the client's own poller.
    pub fn call(&mut self, request: &[u8]) -> io::Result<Vec<u8>> {
        self.stream.write_all(request)?;
        self.wait_readable(10_000)?;
        let mut buf = [0u8; 64];
        let n = self.stream.read(&mut buf)?;
        Ok(buf[..n].to_vec())
    }

    /// The event loop's wait: `epoll_wait` on the calling thread.
    fn wait_readable(&self, timeout_ms: i32) -> io::Result<()> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
        loop {
            // SAFETY: `events` has room for the 4 events asked for.
            let n = unsafe { libc::epoll_wait(self.ep.as_raw_fd(), events.as_mut_ptr(), 4, timeout_ms) };
            match n {
                0 => return Err(io::ErrorKind::TimedOut.into()),
                n if n > 0 => return Ok(()),
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
    }
}
