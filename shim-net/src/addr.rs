//! Name resolution that never blocks a worker: greenstd's [`ToSocketAddrs`].
//!
//! std's `ToSocketAddrs` implementations call `getaddrinfo` for host names,
//! a blocking call that would hold the coroutine's worker for as long as
//! the DNS server takes. greenstd's trait has the same name, shape and
//! implementations, and returns the same addresses in the same order, but
//! a lookup made in a coroutine runs on the resolver pool
//! (`shim_rt::offload::resolve`, `GREENSTD_RESOLVER_THREADS` threads) while
//! the coroutine waits cooperatively. IP literals (`"127.0.0.1:80"`,
//! `("::1", 80)`) are parsed inline and `localhost` is looked up inline
//! (from `/etc/hosts`): neither takes the detour. On a plain thread
//! everything is std's, inline.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::{iter, option, slice, vec};

/// A trait for objects which can be converted or resolved to one or more
/// [`SocketAddr`] values.
///
/// std's [`std::net::ToSocketAddrs`], for the same types, with the same
/// results, errors and order. The difference: resolving a host name inside a
/// coroutine suspends only that coroutine (the lookup runs on greenstd's
/// resolver pool), never its worker thread. IP literals and `localhost` are
/// converted inline, as std does.
///
/// This trait is used for generic address resolution when constructing
/// network objects. By default it is implemented for the following types:
///
/// * [`SocketAddr`]: [`to_socket_addrs`] is the identity function.
/// * [`SocketAddrV4`], [`SocketAddrV6`], <code>([IpAddr], [u16])</code>,
///   <code>([Ipv4Addr], [u16])</code>, <code>([Ipv6Addr], [u16])</code>:
///   [`to_socket_addrs`] constructs a [`SocketAddr`] trivially.
/// * <code>(&[str], [u16])</code>: <code>&[str]</code> should be either a
///   string representation of an [`IpAddr`] address as expected by
///   [`FromStr`] implementation or a host name. [`u16`] is the port number.
/// * <code>&[str]</code>: the string should be either a string
///   representation of a [`SocketAddr`] as expected by its [`FromStr`]
///   implementation or a string like `<host_name>:<port>` pair where
///   `<port>` is a [`u16`] value.
///
/// A type that implements only std's trait (a third-party crate's own
/// address type, not rebuilt on greenstd) can be converted with std's trait
/// first: `std::net::ToSocketAddrs::to_socket_addrs(&x)?.collect::<Vec<_>>()`
/// gives a `Vec` whose slice implements this trait.
///
/// [`FromStr`]: std::str::FromStr
/// [`to_socket_addrs`]: ToSocketAddrs::to_socket_addrs
///
/// # Examples
///
/// ```
/// use shim_net::{SocketAddr, ToSocketAddrs};
///
/// let addr = SocketAddr::from(([127, 0, 0, 1], 443));
/// let mut addrs_iter = addr.to_socket_addrs().unwrap();
/// assert_eq!(Some(addr), addrs_iter.next());
/// assert!(addrs_iter.next().is_none());
///
/// let mut addrs_iter = "127.0.0.1:443".to_socket_addrs().unwrap();
/// assert_eq!(Some(addr), addrs_iter.next());
///
/// // An invalid address is an error, as in std.
/// assert!("127.0.0.1".to_socket_addrs().is_err());
/// ```
pub trait ToSocketAddrs {
    /// Returned iterator over socket addresses which this type may correspond to.
    type Iter: Iterator<Item = SocketAddr>;

    /// Converts this object to an iterator of resolved [`SocketAddr`]s.
    ///
    /// The returned iterator might not actually yield any values depending on
    /// the outcome of any resolution performed.
    ///
    /// Note that this function may block a backing OS thread — greenstd's
    /// resolver pool, never a coroutine's worker.
    ///
    /// # Errors
    ///
    /// Any errors encountered during resolution will be returned as an
    /// [`Err`], as std's.
    fn to_socket_addrs(&self) -> io::Result<Self::Iter>;
}

/// The conversions that never look anything up: std's, inline.
macro_rules! inline_std {
    ($($t:ty => $iter:ty),* $(,)?) => {$(
        impl ToSocketAddrs for $t {
            type Iter = $iter;
            #[inline]
            fn to_socket_addrs(&self) -> io::Result<$iter> {
                std::net::ToSocketAddrs::to_socket_addrs(self)
            }
        }
    )*};
}

inline_std! {
    SocketAddr => option::IntoIter<SocketAddr>,
    SocketAddrV4 => option::IntoIter<SocketAddr>,
    SocketAddrV6 => option::IntoIter<SocketAddr>,
    (IpAddr, u16) => option::IntoIter<SocketAddr>,
    (Ipv4Addr, u16) => option::IntoIter<SocketAddr>,
    (Ipv6Addr, u16) => option::IntoIter<SocketAddr>,
}

impl<'a> ToSocketAddrs for &'a [SocketAddr] {
    type Iter = iter::Cloned<slice::Iter<'a, SocketAddr>>;

    #[inline]
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        Ok(self.iter().cloned())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    type Iter = T::Iter;

    #[inline]
    fn to_socket_addrs(&self) -> io::Result<T::Iter> {
        (**self).to_socket_addrs()
    }
}

impl ToSocketAddrs for (&str, u16) {
    type Iter = vec::IntoIter<SocketAddr>;

    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        let (host, port) = *self;
        // An IP literal, as std parses it first.
        if let Ok(addr) = host.parse::<Ipv4Addr>() {
            return Ok(vec![SocketAddr::V4(SocketAddrV4::new(addr, port))].into_iter());
        }
        if let Ok(addr) = host.parse::<Ipv6Addr>() {
            return Ok(vec![SocketAddr::V6(SocketAddrV6::new(addr, port, 0, 0))].into_iter());
        }
        lookup(host, || std::net::ToSocketAddrs::to_socket_addrs(self))
    }
}

impl ToSocketAddrs for (String, u16) {
    type Iter = vec::IntoIter<SocketAddr>;

    #[inline]
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        (&*self.0, self.1).to_socket_addrs()
    }
}

impl ToSocketAddrs for str {
    type Iter = vec::IntoIter<SocketAddr>;

    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        // A socket address literal, as std parses it first.
        if let Ok(addr) = self.parse() {
            return Ok(vec![addr].into_iter());
        }
        // Anything else is std's `host:port` form (and std's errors for a
        // string that is not): the host decides whether a lookup is needed.
        let host = self.rsplit_once(':').map_or(self, |(h, _)| h);
        lookup(host, || std::net::ToSocketAddrs::to_socket_addrs(self))
    }
}

impl ToSocketAddrs for String {
    type Iter = vec::IntoIter<SocketAddr>;

    #[inline]
    fn to_socket_addrs(&self) -> io::Result<vec::IntoIter<SocketAddr>> {
        (**self).to_socket_addrs()
    }
}

/// A test hook standing in for the system resolver (see [`set_test_resolver`]).
type TestResolver = fn(&str) -> Option<io::Result<Vec<SocketAddr>>>;

static TEST_RESOLVER: std::sync::OnceLock<TestResolver> = std::sync::OnceLock::new();

/// Installs `hook` in front of the system resolver for host names (not
/// for IP literals or `localhost`), once per process: a `Some` result is
/// used instead of `getaddrinfo`'s, a `None` falls through to it. For
/// tests of slow or failing DNS that must not touch the machine's real
/// resolver. A second call is ignored.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
///
/// shim_net::set_test_resolver(|host| {
///     (host == "db.test").then(|| Ok(vec![SocketAddr::from(([127, 0, 0, 1], 5432))]))
/// });
/// let addrs: Vec<_> = shim_net::ToSocketAddrs::to_socket_addrs("db.test:5432")
///     .unwrap()
///     .collect();
/// assert_eq!(addrs, [SocketAddr::from(([127, 0, 0, 1], 5432))]);
/// ```
pub fn set_test_resolver(hook: TestResolver) {
    let _ = TEST_RESOLVER.set(hook);
}

/// Runs std's resolution `std_lookup` of `host`: inline on a plain thread
/// and for `localhost` (a file lookup), on the resolver pool in a coroutine.
fn lookup(
    host: &str,
    std_lookup: impl FnOnce() -> io::Result<vec::IntoIter<SocketAddr>> + Send,
) -> io::Result<vec::IntoIter<SocketAddr>> {
    if host.eq_ignore_ascii_case("localhost") {
        return std_lookup();
    }
    let run = move || match TEST_RESOLVER.get().and_then(|hook| hook(host)) {
        Some(r) => r.map(Vec::into_iter),
        None => std_lookup(),
    };
    if !shim_rt::in_coroutine() {
        return run();
    }
    shim_rt::offload::resolve(run)
}

/// Resolves `addr` to its socket addresses, in the order std gives them,
/// without blocking a worker.
pub(crate) fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    Ok(addr.to_socket_addrs()?.collect())
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

    fn both<A: ToSocketAddrs + std::net::ToSocketAddrs + ?Sized>(a: &A) {
        let ours: Result<Vec<_>, _> = ToSocketAddrs::to_socket_addrs(a).map(Iterator::collect);
        let std: Result<Vec<_>, _> =
            std::net::ToSocketAddrs::to_socket_addrs(a).map(Iterator::collect);
        match (ours, std) {
            (Ok(o), Ok(s)) => assert_eq!(o, s),
            (Err(o), Err(s)) => {
                assert_eq!(o.kind(), s.kind());
                assert_eq!(o.to_string(), s.to_string());
            }
            (o, s) => panic!("greenstd {o:?}, std {s:?}"),
        }
    }

    #[test]
    fn same_as_std_for_literals_and_bad_input() {
        both(&SocketAddr::from(([127, 0, 0, 1], 80)));
        both(&(IpAddr::from([10, 0, 0, 1]), 8));
        both(&(Ipv6Addr::LOCALHOST, 8));
        both("127.0.0.1:80");
        both("[::1]:80");
        both(&("127.0.0.1", 80));
        both(&("::1", 80));
        both(&(String::from("127.0.0.1"), 80));
        both(&String::from("127.0.0.1:9"));
        both("localhost:80");
        both(&("localhost", 80));
        // Malformed: std's errors, unchanged.
        both("127.0.0.1");
        both("127.0.0.1:port");
        both("");
        both("[::1]:99999");
    }

    #[test]
    fn empty_list_is_invalid_input() {
        let e = each_addr(&[][..] as &[SocketAddr], |_| Ok(())).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
