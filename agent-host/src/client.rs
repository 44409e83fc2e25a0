//! Who is calling, by address: the TCP peer, or the address a trusted proxy forwarded.
//!
//! `X-Forwarded-For` is only believed when the peer is one of `TRUSTED_PROXIES`; then the
//! client is the right-most address in it that is not itself a trusted proxy (each proxy
//! appends the address it saw, so entries to its left may be forged by the client).

use std::{net::IpAddr, sync::Arc};

use ipnet::IpNet;
use poem::{Endpoint, IntoResponse, Request, Response};
use todo_web::host::ClientIp;

/// `TRUSTED_PROXIES`: addresses or networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// An entry of `TRUSTED_PROXIES` that is neither an address nor a network.
#[derive(Debug, Clone, thiserror::Error)]
#[error("lists {0:?}, which is not an address or a network such as 10.0.0.0/8")]
pub struct BadProxy(String);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses (`127.0.0.1`) and networks (`10.0.0.0/8`).
    pub fn parse_list(raw: &str) -> Result<Self, BadProxy> {
        raw.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxy(entry.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client of a request from `peer` carrying `forwarded_for` headers.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for
            .iter()
            .flat_map(|header| header.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(addr) = parse_hop(hop) else {
                // A malformed entry: nothing to its left can be trusted.
                break;
            };
            client = addr;
            if !self.trusts(addr) {
                break;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, perhaps with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(addr) = hop.parse::<IpAddr>() {
        return Some(canonical(addr));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|addr| canonical(addr.ip()))
}

/// IPv4 addresses seen through an IPv6 socket (`::ffff:1.2.3.4`) as plain IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// Middleware: puts the request's [`ClientIp`] into its extensions, where the sign-in limits
/// and the pages read it.
pub async fn resolve_client<E: Endpoint>(
    endpoint: Arc<E>,
    mut req: Request,
    proxies: Arc<TrustedProxies>,
) -> poem::Result<Response> {
    let peer = req
        .remote_addr()
        .as_socket_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip());
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let client = proxies.client(peer, &forwarded);
    req.extensions_mut().insert(ClientIp(client));
    Ok(endpoint.call(req).await?.into_response())
}

/// The client of a request that went through [`resolve_client`].
pub fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ClientIp>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |client| client.0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse_list("127.0.0.1, 10.0.0.0/8").unwrap();
        // Straight from a client: its own address, whatever it claims.
        assert_eq!(
            proxies.client(ip("203.0.113.9"), &["1.1.1.1"]),
            ip("203.0.113.9")
        );
        // Through the proxy: the address the proxy saw, not what the client wrote before it.
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["6.6.6.6, 198.51.100.4"]),
            ip("198.51.100.4")
        );
        // Through two trusted proxies.
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &["198.51.100.4", "10.1.2.3"]),
            ip("198.51.100.4")
        );
        // A proxy that sent no header: the proxy itself.
        assert_eq!(proxies.client(ip("127.0.0.1"), &[]), ip("127.0.0.1"));
        assert_eq!(
            proxies.client(ip("::ffff:127.0.0.1"), &["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
        assert!(TrustedProxies::parse_list("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse_list("proxy.local").is_err());
    }

    proptest! {
        #[test]
        fn any_forwarded_header_is_read_without_panic(header in "\\PC{0,120}") {
            let proxies = TrustedProxies::parse_list("127.0.0.1").unwrap();
            let _ = proxies.client(ip("127.0.0.1"), &[header.as_str()]);
            let _ = TrustedProxies::parse_list(&header);
        }
    }
}
