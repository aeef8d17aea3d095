//! Name resolution that never blocks a worker.
//!
//! std's [`ToSocketAddrs`] implementations call `getaddrinfo` for host
//! names, a blocking call. In a coroutine, a lookup runs on the offload pool
//! (`shim_rt::offload`) while the coroutine waits cooperatively; on a plain
//! thread it runs right there, as in std.
//!
//! Address types that never need a lookup (`SocketAddr`, `SocketAddrV4`,
//! `SocketAddrV6`, `(IpAddr, u16)`, `(Ipv4Addr, u16)`, `(Ipv6Addr, u16)`,
//! `&[SocketAddr]`, and references to them) are converted inline. Any other
//! type, including strings, goes through the pool even when it turns out
//! to hold an IP literal: `ToSocketAddrs` is a generic trait, so its value
//! cannot be inspected before it is converted.

use std::any::type_name;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// The types std converts without a lookup, as `type_name` spells them.
/// If a Rust release spells one differently, that type merely takes the
/// (correct, slower) detour through the pool.
const NO_LOOKUP: &[&str] = &[
    "core::net::socket_addr::SocketAddr",
    "core::net::socket_addr::SocketAddrV4",
    "core::net::socket_addr::SocketAddrV6",
    "(core::net::ip_addr::IpAddr, u16)",
    "(core::net::ip_addr::Ipv4Addr, u16)",
    "(core::net::ip_addr::Ipv6Addr, u16)",
    "[core::net::socket_addr::SocketAddr]",
    "std::net::SocketAddr",
    "std::net::SocketAddrV4",
    "std::net::SocketAddrV6",
    "(std::net::IpAddr, u16)",
    "(std::net::Ipv4Addr, u16)",
    "(std::net::Ipv6Addr, u16)",
    "[std::net::SocketAddr]",
];

fn needs_no_lookup<A: ?Sized>() -> bool {
    let mut name = type_name::<A>();
    while let Some(rest) = name.strip_prefix('&') {
        name = rest.strip_prefix("mut ").unwrap_or(rest);
    }
    NO_LOOKUP.contains(&name)
}

/// Moves a value to the offload thread for a call made while its owner
/// waits.
struct Lend<T>(T);

// SAFETY: the value is used on the offload thread only while the coroutine
// that owns it is suspended in `offload::run`, which returns only after the
// job has finished with it. This is the same hand-over a coroutine does
// whenever it resumes on another worker thread (greenstd coroutines migrate
// between OS threads at yields), so it gives the value no access it could
// not already get.
unsafe impl<T> Send for Lend<T> {}

impl<T> Lend<T> {
    fn into_inner(self) -> T {
        self.0
    }
}

/// Resolves `addr` to its socket addresses, in the order std gives them,
/// without blocking a worker.
pub(crate) fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    if !shim_rt::in_coroutine() || needs_no_lookup::<A>() {
        return Ok(addr.to_socket_addrs()?.collect());
    }
    let lent = Lend(addr);
    shim_rt::offload::run(move || {
        let addr = lent.into_inner();
        addr.to_socket_addrs().map(Iterator::collect)
    })
}

/// std's error for an address list that resolved to nothing.
pub(crate) fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any addresses",
    )
}

/// Calls `f` with each resolved address in turn, as std does: the first
/// success, else the last error, else [`no_addresses`].
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in resolve(addr)? {
        match f(&a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(no_addresses))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn literal_types_need_no_lookup() {
        assert!(needs_no_lookup::<SocketAddr>());
        assert!(needs_no_lookup::<&SocketAddr>());
        assert!(needs_no_lookup::<(IpAddr, u16)>());
        assert!(needs_no_lookup::<(Ipv4Addr, u16)>());
        assert!(needs_no_lookup::<&[SocketAddr]>());
        assert!(!needs_no_lookup::<&str>());
        assert!(!needs_no_lookup::<(&str, u16)>());
        assert!(!needs_no_lookup::<String>());
    }

    #[test]
    fn empty_list_is_invalid_input() {
        let e = each_addr(&[][..] as &[SocketAddr], |_| Ok(())).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
