//! The client's address behind load balancers (`PGCHAT_TRUSTED_PROXIES`).
//!
//! Per-address limits count connections by the peer's address; behind a
//! balancer every peer is the balancer. When the peer is a trusted proxy, the
//! client is the rightmost `X-Forwarded-For` entry that is not itself a trusted
//! proxy: entries to its left were written by the client and prove nothing.
//! A peer that is not trusted is the client, whatever headers it sends.
//!
//! The address is resolved per request (a balancer's keep-alive connection
//! carries many clients) by rewriting axum's `ConnectInfo`, so every handler
//! that reads the peer gets the client without knowing about proxies.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};

/// An address or a CIDR block (`10.0.0.0/8`, `::1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpBlock {
    network: IpAddr,
    prefix: u8,
}

impl IpBlock {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR block"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {bits}"))?,
            None => bits,
        };
        Ok(Self { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) if self.network.is_ipv4() => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            ip => ip,
        };
        let (network, ip, bits) = match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n) as u128, u32::from(i) as u128, 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let host_bits = bits - u32::from(self.prefix);
        host_bits == bits || network >> host_bits == ip >> host_bits
    }
}

/// The client behind `peer`, given the request's `X-Forwarded-For` values in order.
pub fn resolve<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpBlock],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|block| block.contains(ip));
    let mut client = peer;
    if !is_trusted(peer) {
        return client;
    }
    let hops = forwarded_for.rev().flat_map(|value| value.rsplit(','));
    for hop in hops {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // Garbage: stop at the last address a trusted proxy vouched for.
            Err(_) => break,
        }
    }
    client
}

/// Middleware (`axum::middleware::map_request_with_state`): replaces the
/// request's `ConnectInfo` with the client's address.
pub async fn rewrite(State(trusted): State<Arc<[IpBlock]>>, mut request: Request) -> Request {
    if let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    {
        let values = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let client = resolve(peer.ip(), values, &trusted);
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(client, peer.port())));
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_contain() {
        let block = IpBlock::parse("10.0.0.0/8").unwrap();
        assert!(block.contains(ip("10.1.2.3")));
        assert!(!block.contains(ip("11.0.0.1")));
        assert!(block.contains(ip("::ffff:10.9.9.9")));
        assert!(IpBlock::parse("127.0.0.1")
            .unwrap()
            .contains(ip("127.0.0.1")));
        assert!(!IpBlock::parse("127.0.0.1")
            .unwrap()
            .contains(ip("127.0.0.2")));
        assert!(IpBlock::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(IpBlock::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(IpBlock::parse("10.0.0.0/33").is_err());
        assert!(IpBlock::parse("proxy").is_err());
    }

    #[test]
    fn only_a_trusted_peer_is_believed_and_only_up_to_the_first_untrusted_hop() {
        let trusted = [IpBlock::parse("10.0.0.0/8").unwrap()];
        // A client talking to us directly cannot pick its address.
        assert_eq!(
            resolve(ip("203.0.113.9"), ["1.2.3.4"].into_iter(), &trusted),
            ip("203.0.113.9")
        );
        // Through the balancer: the entry it appended.
        assert_eq!(
            resolve(
                ip("10.0.0.2"),
                ["1.2.3.4, 203.0.113.9"].into_iter(),
                &trusted
            ),
            ip("203.0.113.9")
        );
        // Two trusted hops, two header lines.
        assert_eq!(
            resolve(
                ip("10.0.0.2"),
                ["6.6.6.6, 203.0.113.9", "10.0.0.7"].into_iter(),
                &trusted
            ),
            ip("203.0.113.9")
        );
        // No header, or garbage: the last address vouched for.
        assert_eq!(
            resolve(ip("10.0.0.2"), std::iter::empty(), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), ["nonsense"].into_iter(), &trusted),
            ip("10.0.0.2")
        );
    }
}
