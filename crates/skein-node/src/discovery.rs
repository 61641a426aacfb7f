//! Peer discovery through DNS (`--peers-dns NAME:PORT`), for hosts whose
//! addresses nobody knows in advance: compose services and Kubernetes
//! headless services answer a service name with one A record per replica.
//!
//! ```text
//!  every node: identity listener on PORT ──▶ "skein SERVICE ID TCP_PORT UDP_PORT\n"
//!  every round (settings.peers_dns_interval):
//!    resolve NAME ─▶ each address: connect PORT, read that line (bounded, timed out)
//!                 ─▶ Inbound::Discovered(ID@ADDRESS:TCP:UDP) ─▶ core loop
//!  core loop: a member (or a peer the core added) ─▶ peer set add (new or moved)
//!             anyone else                          ─▶ counted, logged, ignored
//! ```
//! A DNS answer carries addresses, not node ids, hence the identity line.
//! Resolving again every round is what lets a restarted container with a new
//! address, or a replica added by scaling up, be found; membership itself
//! stays the protocol's (raft adds a member with `skein raft add`).
//!
//! The identity line is not authenticated: a host on the network could claim
//! an id and draw that member's traffic, but without the member's keys it
//! can neither read nor forge a frame the others accept (see `auth`).

use crate::address::PeerSpec;
use crate::config::{ConfigError, PortBases};
use skein_core::NodeId;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Longest identity line read from a peer; anything longer is not skein.
const IDENTITY_BYTES_MAX: usize = 128;
/// Addresses probed per round at most: one round's work stays bounded
/// whatever a DNS server answers.
pub const ADDRESSES_PER_ROUND_MAX: usize = 256;
/// How long one probe (connect and read the line) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// `NAME:PORT` from `--peers-dns`: the name to resolve and the port every
/// member serves its identity on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsPeers {
    pub name: String,
    pub port: u16,
}

impl DnsPeers {
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let bad = || {
            ConfigError::new(
                "peers-dns",
                text,
                "NAME:PORT, a DNS name whose A records are the members and the identity port they all serve (e.g. raft:9000), port from 1024",
            )
        };
        let (name, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let name_ok = !name.is_empty()
            && name.len() <= 253
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if !name_ok || port < 1024 {
            return Err(bad());
        }
        Ok(Self {
            name: name.to_string(),
            port,
        })
    }
}

/// What a node says about itself on its identity port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub service: String,
    pub id: NodeId,
    pub stream_port: u16,
    pub datagram_port: u16,
}

impl Identity {
    pub fn line(&self) -> String {
        format!(
            "skein {} {} {} {}\n",
            self.service, self.id.0, self.stream_port, self.datagram_port
        )
    }

    pub fn parse(line: &str) -> Option<Self> {
        let mut words = line.split_ascii_whitespace();
        if words.next()? != "skein" {
            return None;
        }
        let service = words.next()?.to_string();
        let id: u16 = words.next()?.parse().ok()?;
        let stream_port = words.next()?.parse().ok()?;
        let datagram_port = words.next()?.parse().ok()?;
        if words.next().is_some() || !(1..=999).contains(&id) {
            return None;
        }
        Some(Self {
            service,
            id: NodeId(id),
            stream_port,
            datagram_port,
        })
    }

    /// The peer this identity describes, at the address it was probed on.
    pub fn at(&self, addr: SocketAddr) -> PeerSpec {
        PeerSpec {
            id: self.id,
            stream: SocketAddr::new(addr.ip(), self.stream_port),
            datagram: SocketAddr::new(addr.ip(), self.datagram_port),
        }
    }
}

/// Answers every connection with this node's identity line, then closes it.
pub async fn serve_identity(listener: TcpListener, me: Identity, shutdown: CancellationToken) {
    let line = me.line();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((mut socket, _)) = accepted else {
            // Out of descriptors or similar: do not spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let line = line.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(PROBE_TIMEOUT, socket.write_all(line.as_bytes())).await;
        });
    }
}

/// Reads the identity served at `addr`; `None` if nothing skein answers in time.
pub async fn probe(addr: SocketAddr) -> Option<Identity> {
    let read = async {
        let mut socket = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut buffer = Vec::with_capacity(IDENTITY_BYTES_MAX);
        let mut chunk = [0u8; IDENTITY_BYTES_MAX];
        while !buffer.contains(&b'\n') && buffer.len() < IDENTITY_BYTES_MAX {
            let n = socket.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        let line = std::str::from_utf8(&buffer).ok()?;
        Identity::parse(line.lines().next()?)
    };
    tokio::time::timeout(PROBE_TIMEOUT, read).await.ok()?
}

/// Resolves `dns` and probes every address at once; the peers of `service`
/// that answered, by id (one address per id: the first that answered).
pub async fn discover(dns: &DnsPeers, service: &str) -> Vec<PeerSpec> {
    let addresses: Vec<SocketAddr> =
        match tokio::net::lookup_host((dns.name.as_str(), dns.port)).await {
            Ok(found) => found.take(ADDRESSES_PER_ROUND_MAX).collect(),
            Err(error) => {
                tracing::debug!(name = %dns.name, %error, "peers-dns: name not resolved");
                return Vec::new();
            }
        };
    let mut probes = tokio::task::JoinSet::new();
    for addr in addresses {
        probes.spawn(async move { probe(addr).await.map(|identity| (identity, addr)) });
    }
    let mut peers: Vec<PeerSpec> = Vec::new();
    while let Some(done) = probes.join_next().await {
        let Ok(Some((identity, addr))) = done else {
            continue;
        };
        if identity.service != service {
            tracing::warn!(%addr, theirs = %identity.service, ours = service, "peers-dns: a node of another service answered; ignored");
            continue;
        }
        if !peers.iter().any(|p| p.id == identity.id) {
            peers.push(identity.at(addr));
        }
    }
    peers.sort_by_key(|p| p.id);
    peers
}

/// Discovers peers every `interval` and hands each to the core loop through
/// `found` until `shutdown`; the first round runs at once.
pub async fn rediscover(
    dns: DnsPeers,
    service: String,
    me: NodeId,
    interval: Duration,
    found: mpsc::Sender<crate::inbound::Inbound>,
    shutdown: CancellationToken,
) {
    let mut rounds = tokio::time::interval(interval);
    rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = rounds.tick() => {}
        }
        for peer in discover(&dns, &service).await {
            if peer.id == me {
                continue;
            }
            if found
                .send(crate::inbound::Inbound::Discovered(peer))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// The node id a host name gives: its trailing number plus `offset`
/// (`raft-2` → 2; a Kubernetes StatefulSet counts pods from 0, so its
/// manifests use offset 1: `raft-0` → 1).
pub fn id_from_hostname(hostname: &str, offset: u16) -> Result<u16, ConfigError> {
    let bad = |why: &str| ConfigError::new("id-from-hostname", hostname, why);
    let name = hostname.trim().split('.').next().unwrap_or("");
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return Err(bad(
            "a host name ending in a number, such as raft-2 or skein-raft-0",
        ));
    }
    let ordinal: u32 = name[name.len() - digits..]
        .parse()
        .map_err(|_| bad("a number that fits a node id"))?;
    let id = ordinal + u32::from(offset);
    if !(1..=999).contains(&id) {
        return Err(bad(
            "a trailing number that, with --id-offset, is from 1 to 999",
        ));
    }
    Ok(id as u16)
}

/// This machine's host name, as the kernel holds it (no libc call, so it
/// works in a static binary too).
pub fn hostname() -> std::io::Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string())
}

/// The ports `id` listens on with these bases, for its identity line.
pub fn identity_of(service: &str, id: NodeId, bases: PortBases) -> Identity {
    Identity {
        service: service.to_string(),
        id,
        stream_port: bases.stream + id.0,
        datagram_port: bases.datagram + id.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_and_port_and_refuses_the_rest() {
        assert_eq!(
            DnsPeers::parse("raft:9000").unwrap(),
            DnsPeers {
                name: "raft".into(),
                port: 9000
            }
        );
        assert_eq!(
            DnsPeers::parse("skein-raft.default.svc.cluster.local:9000")
                .unwrap()
                .name,
            "skein-raft.default.svc.cluster.local"
        );
        for bad in [
            "raft",
            "raft:",
            ":9000",
            "raft:80",
            "raft:x",
            "ra ft:9000",
            "raft:70000",
        ] {
            let err = DnsPeers::parse(bad).unwrap_err();
            assert_eq!(err.setting, "peers-dns", "{bad}");
        }
    }

    #[test]
    fn identity_lines_round_trip_and_garbage_is_refused() {
        let me = identity_of("raft", NodeId(3), PortBases::default());
        assert_eq!(me.line(), "skein raft 3 5003 7003\n");
        assert_eq!(Identity::parse(&me.line()), Some(me.clone()));
        let peer = me.at("10.0.0.7:9000".parse().unwrap());
        assert_eq!(peer.address().0, "3@10.0.0.7:5003:7003");
        for bad in [
            "",
            "HTTP/1.1 400 Bad Request",
            "skein raft 0 1 2",
            "skein raft 1000 1 2",
            "skein raft 3 5003",
            "skein raft 3 5003 7003 extra",
            "skein raft 3 99999 7003",
        ] {
            assert_eq!(Identity::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ids_come_from_the_host_names_trailing_number() {
        assert_eq!(id_from_hostname("raft-2", 0), Ok(2));
        assert_eq!(id_from_hostname("skein-raft-0\n", 1), Ok(1));
        assert_eq!(id_from_hostname("bft6.skein.svc", 0), Ok(6));
        for (bad, offset) in [("raft", 0), ("raft-0", 0), ("raft-999", 1), ("", 0)] {
            assert!(id_from_hostname(bad, offset).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_probe_reads_a_served_identity_and_skips_what_is_not_skein() {
        let shutdown = CancellationToken::new();
        let listener = TcpListener::bind("127.0.0.1:19501").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let me = identity_of("bftlist", NodeId(4), PortBases::default());
        tokio::spawn(serve_identity(listener, me.clone(), shutdown.clone()));
        assert_eq!(probe(addr).await, Some(me));

        // Something else on the port (it talks first, but not skein): no peer.
        let other = TcpListener::bind("127.0.0.1:19502").await.unwrap();
        let other_addr = other.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = other.accept().await {
                let _ = socket.write_all(&[b'x'; 4096]).await;
            }
        });
        assert_eq!(probe(other_addr).await, None);
        shutdown.cancel();
    }

    #[tokio::test]
    async fn rounds_resolve_the_name_probe_its_addresses_and_hand_on_other_nodes() {
        let shutdown = CancellationToken::new();
        let listener = TcpListener::bind("127.0.0.1:19503").await.unwrap();
        let peer = identity_of("raft", NodeId(2), PortBases::default());
        tokio::spawn(serve_identity(listener, peer, shutdown.clone()));
        let dns = DnsPeers::parse("localhost:19503").unwrap();
        let found = discover(&dns, "raft").await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].address().0, "2@127.0.0.1:5002:7002");
        assert!(
            discover(&dns, "bftlist").await.is_empty(),
            "another service's node is no peer"
        );

        // Every round hands the peers found on to the core loop.
        let (tx, mut rx) = mpsc::channel(4);
        let interval = Duration::from_millis(50);
        let round = tokio::spawn(rediscover(
            dns.clone(),
            "raft".into(),
            NodeId(1),
            interval,
            tx,
            shutdown.clone(),
        ));
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(crate::inbound::Inbound::Discovered(spec))) => assert_eq!(spec, found[0]),
            other => panic!("expected node 2 discovered, got {other:?}"),
        }
        shutdown.cancel();
        round.await.unwrap();
    }
}
