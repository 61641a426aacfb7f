//! Where a client command finds its keys — one per replica, see
//! [`skein_core::client_key`]: `--client-key` (only this client's keys, as
//! an operator hands them out: `ID:HEX,ID:HEX,…`, what `skein list key`
//! prints), else the cluster secret (`--cluster-secret-file`, or
//! `cluster.secret` in the cluster directory `skein cluster up` wrote), from
//! which any client's keys are derived. With neither, requests go unsigned —
//! right for a cluster started `--no-auth`, refused (401, with the reason) by
//! one that authenticates clients.

use crate::cli::UsageError;
use skein_core::client_key::ClientKey;
use skein_core::mac::ClusterSecret;
use skein_core::NodeId;
use std::collections::BTreeMap;
use std::path::Path;

/// The file `skein cluster up` writes the cluster's secret to.
pub const SECRET_FILE: &str = "cluster.secret";

/// How a client signs its requests.
#[derive(Clone, Debug)]
pub enum Signer {
    Unsigned,
    /// One client's own keys, by replica.
    Keys {
        client: u32,
        keys: BTreeMap<NodeId, ClientKey>,
    },
    /// The cluster secret: any client's key.
    Secret(ClusterSecret),
}

impl Signer {
    /// The key `client` of `service` shares with `replica`, or `None` to send unsigned.
    pub fn key(
        &self,
        service: &str,
        client: u32,
        replica: NodeId,
    ) -> anyhow::Result<Option<ClientKey>> {
        match self {
            Signer::Unsigned => Ok(None),
            Signer::Secret(secret) => Ok(Some(ClientKey::derive(secret, service, client, replica))),
            Signer::Keys { client: own, keys } if *own == client => match keys.get(&replica) {
                Some(key) => Ok(Some(key.clone())),
                None => Err(
                    UsageError(format!("--client-key holds no key for replica {replica}")).into(),
                ),
            },
            Signer::Keys { client: own, .. } => Err(UsageError(format!(
                "--client-key holds client {own}'s keys, not client {client}'s: pass --client {own}"
            ))
            .into()),
        }
    }
}

/// `client`'s keys with `replicas`, as `--client-key` takes them: `ID:HEX,…`.
pub fn render_keys(
    secret: &ClusterSecret,
    service: &str,
    client: u32,
    replicas: &[NodeId],
) -> String {
    replicas
        .iter()
        .map(|&r| {
            format!(
                "{r}:{}",
                ClientKey::derive(secret, service, client, r).to_hex()
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_keys(text: &str) -> Result<BTreeMap<NodeId, ClientKey>, String> {
    text.split(',')
        .map(|part| {
            let (id, hex) = part
                .trim()
                .split_once(':')
                .ok_or_else(|| format!("{part:?} is not ID:HEX"))?;
            let id: u16 = id.parse().map_err(|_| format!("replica id {id:?}"))?;
            let key = ClientKey::from_hex(hex).map_err(|e| e.to_string())?;
            Ok((NodeId(id), key))
        })
        .collect()
}

/// The signer from the flags: `--client-key` wins, then
/// `--cluster-secret-file`, then `DIR/cluster.secret` when `dir` is the
/// cluster the command talks to.
pub fn signer(
    client: u32,
    client_key: Option<&str>,
    secret_file: Option<&Path>,
    dir: Option<&Path>,
) -> anyhow::Result<Signer> {
    if let Some(text) = client_key {
        let keys = parse_keys(text).map_err(|e| {
            UsageError(format!(
                "--client-key: {e} (expected ID:HEX,ID:HEX,… as `skein list key` prints)"
            ))
        })?;
        return Ok(Signer::Keys { client, keys });
    }
    let file = match (secret_file, dir) {
        (Some(file), _) => Some(file.to_path_buf()),
        (None, Some(dir)) => Some(dir.join(SECRET_FILE)).filter(|f| f.exists()),
        (None, None) => None,
    };
    let Some(file) = file else {
        return Ok(Signer::Unsigned);
    };
    match skein_node::auth::resolve_secret(None, Some(&file)) {
        Ok(Some(secret)) => Ok(Signer::Secret(secret)),
        Ok(None) => Ok(Signer::Unsigned),
        Err(e) => Err(UsageError(e.to_string()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_in_the_cluster_dir_signs_and_a_client_key_signs_only_its_client() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            signer(0, None, None, Some(dir.path())).unwrap(),
            Signer::Unsigned
        ));
        std::fs::write(dir.path().join(SECRET_FILE), "ab".repeat(16)).unwrap();
        let from_dir = signer(0, None, None, Some(dir.path())).unwrap();
        let derived = from_dir.key("bftlist", 4, NodeId(2)).unwrap().unwrap();
        let Signer::Secret(secret) = &from_dir else {
            panic!("the dir's secret")
        };
        let printed = render_keys(secret, "bftlist", 4, &[NodeId(1), NodeId(2)]);

        let own = signer(4, Some(&printed), None, None).unwrap();
        assert_eq!(
            own.key("bftlist", 4, NodeId(2)).unwrap().unwrap().tag(b"x"),
            derived.tag(b"x")
        );
        let err = own.key("bftlist", 5, NodeId(2)).unwrap_err().to_string();
        assert!(err.contains("pass --client 4"), "{err}");
        let err = own.key("bftlist", 4, NodeId(3)).unwrap_err().to_string();
        assert!(err.contains("replica 3"), "{err}");

        let err = signer(0, Some("nope"), None, None).unwrap_err().to_string();
        assert!(err.contains("--client-key"), "{err}");
        let missing = dir.path().join("missing.secret");
        assert!(signer(0, None, Some(&missing), None).is_err());
    }
}
