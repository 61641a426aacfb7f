//! A node's own keys, for clusters whose members must not be able to speak
//! for each other (bftlist's Byzantine replicas): its pair keys with each
//! peer and, per service, the key each client shares with it — and nothing
//! from which another member's keys could be derived.
//!
//! `--keys-file PATH` (instead of `--cluster-secret-file`) reads them from a
//! text file, one key per line, which `skein cluster up` writes per node
//! from the cluster secret (mode 0600):
//!
//! ```text
//! # comments and blank lines are ignored
//! peer 2 <64 hex digits>                 K(me, 2)
//! client bftlist 0 <64 hex digits>       K(bftlist, client 0, me)
//! ```
//!
//! With a key file a node talks only to the peers it has keys for; a node
//! joining at run time needs the secret instead (raft's membership changes).

use crate::config::ConfigError;
use skein_core::client_key::ClientKey;
use skein_core::mac::{ClusterSecret, Keyring, PAIR_KEY_BYTES};
use skein_core::NodeId;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// A key file larger than this is refused (a node has at most 1024 peers).
pub const KEYS_FILE_BYTES_MAX: u64 = 4 << 20;

/// What `--keys-file` holds. Its `Debug` never shows key bytes.
#[derive(Clone)]
pub struct NodeKeys {
    pub peers: BTreeMap<NodeId, [u8; PAIR_KEY_BYTES]>,
    pub clients: BTreeMap<(String, u32), ClientKey>,
}

impl std::fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NodeKeys({} peers, {} client keys)",
            self.peers.len(),
            self.clients.len()
        )
    }
}

impl NodeKeys {
    pub fn keyring(&self, me: NodeId) -> Keyring {
        Keyring::from_pair_keys(me, self.peers.iter().map(|(&id, &key)| (id, key)))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = NodeKeys {
            peers: BTreeMap::new(),
            clients: BTreeMap::new(),
        };
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let at = |why: String| format!("line {}: {why}", number + 1);
            match fields.as_slice() {
                ["peer", id, hex] => {
                    let id: u16 = id.parse().map_err(|_| at(format!("peer id {id:?}")))?;
                    let key = ClientKey::from_hex(hex).map_err(|e| at(e.to_string()))?;
                    keys.peers.insert(NodeId(id), key.bytes());
                }
                ["client", service, client, hex] => {
                    let client: u32 = client
                        .parse()
                        .map_err(|_| at(format!("client id {client:?}")))?;
                    let key = ClientKey::from_hex(hex).map_err(|e| at(e.to_string()))?;
                    keys.clients.insert((service.to_string(), client), key);
                }
                _ => {
                    return Err(at(
                        "expected `peer ID HEX` or `client SERVICE ID HEX`".into()
                    ))
                }
            }
        }
        Ok(keys)
    }

    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let fail = |why: String| ConfigError::new("keys-file", path.display(), why);
        let size = std::fs::metadata(path)
            .map_err(|e| fail(format!("a readable key file ({e})")))?
            .len();
        if size > KEYS_FILE_BYTES_MAX {
            return Err(fail(format!(
                "a key file of at most {KEYS_FILE_BYTES_MAX} bytes"
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(format!("a readable key file ({e})")))?;
        Self::parse(&text)
            .map_err(|why| fail(format!("a key file as `skein cluster up` writes ({why})")))
    }

    /// The key file of node `me`: its pair keys with `members` and, for
    /// each `(service, clients)`, the keys of clients `0..clients` with it.
    pub fn render(
        secret: &ClusterSecret,
        me: NodeId,
        members: &[NodeId],
        services: &[(&str, u32)],
    ) -> String {
        let hex = |bytes: &[u8]| {
            bytes.iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
        };
        let mut out = format!(
            "# skein keys of node {me}: its own pair and client keys only (keep mode 0600)\n"
        );
        for &peer in members.iter().filter(|&&p| p != me) {
            let _ = writeln!(out, "peer {peer} {}", hex(&secret.pair_key_bytes(me, peer)));
        }
        for &(service, clients) in services {
            for client in 0..clients {
                let key = ClientKey::derive(secret, service, client, me);
                let _ = writeln!(out, "client {service} {client} {}", key.to_hex());
            }
        }
        out
    }
}

/// How a node checks its clients' tags.
#[derive(Clone, Debug, Default)]
pub enum ClientAuth {
    /// No secret and no key file: requests are not authenticated.
    #[default]
    Off,
    /// The node holds the cluster secret and derives any client's key.
    Secret(ClusterSecret),
    /// The node holds only its own client keys.
    Keys(BTreeMap<(String, u32), ClientKey>),
}

impl ClientAuth {
    /// The key `client` of `service` shares with node `me`: `Ok(None)` when
    /// clients are not authenticated, `Err` when this node has no key for it.
    pub fn key(&self, service: &str, client: u32, me: NodeId) -> Result<Option<ClientKey>, String> {
        match self {
            ClientAuth::Off => Ok(None),
            ClientAuth::Secret(secret) => Ok(Some(ClientKey::derive(secret, service, client, me))),
            ClientAuth::Keys(keys) => keys
                .get(&(service.to_string(), client))
                .cloned()
                .map(Some)
                .ok_or_else(|| format!("this node has no key for {service} client {client}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_key_file_holds_only_the_nodes_own_keys_and_parses_back() {
        let secret = ClusterSecret::new(vec![3; 32]).unwrap();
        let members: Vec<NodeId> = (1..=3).map(NodeId).collect();
        let text = NodeKeys::render(&secret, NodeId(2), &members, &[("bftlist", 2)]);
        let keys = NodeKeys::parse(&text).unwrap();
        assert_eq!(
            keys.peers.keys().copied().collect::<Vec<_>>(),
            [NodeId(1), NodeId(3)]
        );
        assert_eq!(
            keys.peers[&NodeId(1)],
            secret.pair_key_bytes(NodeId(1), NodeId(2))
        );
        let auth = ClientAuth::Keys(keys.clients);
        let held = auth.key("bftlist", 1, NodeId(2)).unwrap().unwrap();
        let derived = ClientKey::derive(&secret, "bftlist", 1, NodeId(2));
        assert_eq!(held.to_hex(), derived.to_hex());
        assert!(
            auth.key("bftlist", 2, NodeId(2)).is_err(),
            "only clients 0..2"
        );
        assert!(!text.contains(&hex_of(&secret.pair_key_bytes(NodeId(1), NodeId(3)))));
        assert_eq!(
            format!("{:?}", NodeKeys::parse(&text).unwrap()),
            "NodeKeys(2 peers, 2 client keys)"
        );
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn malformed_lines_say_where() {
        for bad in ["peer x 00", "peer 1 abc", "client bftlist -1 00", "key 1 2"] {
            let why = NodeKeys::parse(&format!("# ok\n\n{bad}\n")).unwrap_err();
            assert!(why.starts_with("line 3:"), "{bad}: {why}");
        }
    }
}
