//! Where peers listen: `ID`, `ID@HOST` or `ID@HOST:STREAM_PORT:DATAGRAM_PORT`,
//! HOST an IPv4 address or an IPv6 one in brackets (`2@[fd00::2]:5002:7002`).

use crate::config::{ConfigError, PortBases};
use skein_core::NodeId;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    pub id: NodeId,
    pub stream: SocketAddr,
    pub datagram: SocketAddr,
}

const EXPECTED: &str = "ID, ID@HOST or ID@HOST:STREAM_PORT:DATAGRAM_PORT (e.g. 2, 2@10.0.0.2, 2@10.0.0.2:5002:7002), with ID from 1 to 999 and HOST an IP address (IPv6 in brackets: 2@[fd00::2])";

impl PeerSpec {
    /// Parses one peer; ports default to the bases plus the peer's id.
    pub fn parse(text: &str, bases: PortBases) -> Result<Self, ConfigError> {
        let bad = || ConfigError::new("peers", text, EXPECTED);
        let (id_text, rest) = match text.split_once('@') {
            Some((id, rest)) => (id, Some(rest)),
            None => (text, None),
        };
        let id: u16 = id_text.trim().parse().map_err(|_| bad())?;
        if !(1..=999).contains(&id) {
            return Err(bad());
        }
        let id = NodeId(id);
        let default_ports = || {
            Some((
                PortBases::port(bases.stream, id)?,
                PortBases::port(bases.datagram, id)?,
            ))
        };
        let (host, ports) = match rest {
            None => (IpAddr::V4(Ipv4Addr::LOCALHOST), default_ports()),
            Some(rest) => {
                // An IPv6 host is bracketed, since its own colons would split it.
                let (host, ports_text) = match rest.strip_prefix('[') {
                    Some(v6) => match v6.split_once(']').ok_or_else(bad)? {
                        (host, "") => (host, None),
                        (host, after) => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
                    },
                    None => match rest.split_once(':') {
                        Some((host, ports)) => (host, Some(ports)),
                        None => (rest, None),
                    },
                };
                let host: IpAddr = host.parse().map_err(|_| bad())?;
                let mut parts = ports_text.into_iter().flat_map(|t| t.split(':'));
                let ports = match (parts.next(), parts.next(), parts.next()) {
                    (None, None, None) => default_ports(),
                    (Some(s), Some(d), None) => {
                        Some((s.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?))
                    }
                    _ => return Err(bad()),
                };
                (host, ports)
            }
        };
        let (stream, datagram) = ports.ok_or_else(bad)?;
        Ok(Self {
            id,
            stream: SocketAddr::new(host, stream),
            datagram: SocketAddr::new(host, datagram),
        })
    }

    /// The full form `ID@HOST:STREAM_PORT:DATAGRAM_PORT`, which reads back
    /// the same on any node whatever its port bases.
    pub fn address(&self) -> skein_core::PeerAddress {
        let host = match self.stream.ip() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        let (stream, datagram) = (self.stream.port(), self.datagram.port());
        skein_core::PeerAddress(format!("{}@{host}:{stream}:{datagram}", self.id))
    }
}

/// `ID@NAME` or `ID@NAME:STREAM_PORT:DATAGRAM_PORT` with NAME a host name:
/// the same with NAME's address, resolved once now (for `--peers`, `--boot`
/// and `--join` given by name, as in compose files). Other forms unchanged.
pub fn resolve_host(text: &str) -> Result<String, ConfigError> {
    let Some((id, rest)) = text.split_once('@') else {
        return Ok(text.to_string());
    };
    let (host, ports) = match rest.split_once(':') {
        Some((host, ports)) => (host, Some(ports)),
        None => (rest, None),
    };
    let is_name = host.starts_with(|c: char| c.is_ascii_alphabetic())
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if rest.starts_with('[') || host.parse::<IpAddr>().is_ok() || !is_name {
        return Ok(text.to_string());
    }
    use std::net::ToSocketAddrs;
    let unresolved = |why: String| ConfigError::new("peers", text, why);
    let found: Vec<IpAddr> = (host, 0)
        .to_socket_addrs()
        .map_err(|e| unresolved(format!("a host name that resolves ({e})")))?
        .map(|a| a.ip())
        .collect();
    let ip = found
        .iter()
        .find(|ip| ip.is_ipv4())
        .or(found.first())
        .ok_or_else(|| unresolved("a host name with an address".into()))?;
    let host = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    Ok(match ports {
        Some(ports) => format!("{id}@{host}:{ports}"),
        None => format!("{id}@{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        let b = PortBases::default();
        let p = PeerSpec::parse("2", b).unwrap();
        assert_eq!(
            (p.id, p.stream.to_string(), p.datagram.to_string()),
            (NodeId(2), "127.0.0.1:5002".into(), "127.0.0.1:7002".into())
        );
        let p = PeerSpec::parse("3@10.1.2.3", b).unwrap();
        assert_eq!(p.stream.to_string(), "10.1.2.3:5003");
        let p = PeerSpec::parse("4@10.1.2.3:6000:6001", b).unwrap();
        assert_eq!((p.stream.port(), p.datagram.port()), (6000, 6001));
        let p = PeerSpec::parse("5@[fd00::5]:6000:6001", b).unwrap();
        assert_eq!(p.stream.to_string(), "[fd00::5]:6000");
        let p = PeerSpec::parse("5@[::1]", b).unwrap();
        assert_eq!(p.datagram.to_string(), "[::1]:7005");
        assert_eq!(p.address().0, "5@[::1]:5005:7005");
        assert_eq!(PeerSpec::parse(&p.address().0, b).unwrap(), p);
    }

    #[test]
    fn host_names_resolve_and_addresses_pass_through() {
        assert_eq!(
            resolve_host("2@localhost:5002:7002").unwrap(),
            "2@127.0.0.1:5002:7002"
        );
        assert_eq!(resolve_host("2@localhost").unwrap(), "2@127.0.0.1");
        for unchanged in ["2", "2@10.0.0.2", "2@10.0.0.2:1:2", "2@[::1]:1:2", "2@"] {
            assert_eq!(resolve_host(unchanged).unwrap(), unchanged);
        }
    }

    #[test]
    fn rejects_malformed_peers_with_the_accepted_forms() {
        for bad in [
            "",
            "x",
            "0",
            "1000",
            "2@",
            "2@host",
            "2@1.2.3.4:5",
            "2@1.2.3.4:5:6:7",
            "2@1.2.3.4:a:b",
            "2@::1:5:6",
            "2@[::1",
            "2@[::1]5:6",
            "2@[::1]:5",
            "2@1.2.3.4:",
        ] {
            let err = PeerSpec::parse(bad, PortBases::default()).unwrap_err();
            assert_eq!(err.setting, "peers", "{bad}");
            assert!(err.expected.contains("ID@HOST"));
        }
    }
}
