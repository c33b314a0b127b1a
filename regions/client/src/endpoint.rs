//! Replica addresses: `host:port`, checked once when read, so the client never
//! meets a malformed one later.

use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;

/// Longest address accepted, in bytes; a DNS name is at most 253 bytes, so
/// this leaves room for the port and IPv6 brackets.
const ADDRESS_LEN_MAX: usize = 300;

/// The client-facing API address (`host:port`) of one replica, as operators
/// write it and as `NotLeader.leader_address` carries it.
///
/// Kept as the text it was written in: two spellings of one replica
/// (`localhost:7001`, `127.0.0.1:7001`) are two endpoints, which costs at most
/// one redirect and keeps the client from resolving names itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointAddr(String);

impl EndpointAddr {
    /// Parses `host:port`: a DNS name or IPv4 address, or a bracketed IPv6
    /// address (`[::1]:7001`), and a port from 1 to 65535.
    ///
    /// A scheme (`http://`) is refused rather than stripped, so an address
    /// copied from somewhere else fails loudly instead of half-working.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let invalid = |reason: &str| ParseError::Endpoint { address: text.to_owned(), reason: reason.to_owned() };
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("is empty"));
        }
        if text.len() > ADDRESS_LEN_MAX {
            return Err(invalid("is longer than 300 bytes"));
        }
        if text.contains("://") {
            return Err(invalid("must be host:port, without a scheme"));
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(invalid("must be host:port (the port is missing)"));
        };
        match port.parse::<u16>() {
            Ok(0) | Err(_) => return Err(invalid("port must be a number from 1 to 65535")),
            Ok(_) => {}
        }
        let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            inner.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        };
        if !host_ok {
            return Err(invalid("host must be a DNS name, an IPv4 address or a bracketed IPv6 address"));
        }
        // tonic must accept the URI too; checked here so that building a
        // channel later cannot fail.
        tonic::transport::Endpoint::from_shared(format!("http://{text}"))
            .map_err(|_| invalid("is not a valid URI authority"))?;
        Ok(Self(text.to_owned()))
    }

    /// The address as written, `host:port`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `http://host:port` URI tonic connects to.
    pub(crate) fn uri(&self) -> String {
        format!("http://{}", self.0)
    }
}

impl FromStr for EndpointAddr {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for EndpointAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: Result<&str, &str>) {
        match (EndpointAddr::parse(text), expect) {
            (Ok(addr), Ok(want)) => assert_eq!(addr.as_str(), want, "{text}"),
            (Err(ParseError::Endpoint { reason, .. }), Err(want)) => {
                assert!(reason.contains(want), "{text}: {reason:?} should mention {want:?}")
            }
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn addresses() {
        check("127.0.0.1:7001", Ok("127.0.0.1:7001"));
        check(" node-1.eu-west.internal:443 ", Ok("node-1.eu-west.internal:443"));
        check("[::1]:7001", Ok("[::1]:7001"));
        check("", Err("empty"));
        check("localhost", Err("port is missing"));
        check("localhost:0", Err("port"));
        check("localhost:70000", Err("port"));
        check(":7001", Err("host"));
        check("http://localhost:7001", Err("scheme"));
        check("::1:7001", Err("host"));
        check("a b:7001", Err("host"));
    }
}
