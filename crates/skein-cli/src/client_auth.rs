//! Where a client command finds its key: `--client-key` (only this client's
//! key, as an operator hands it out), else the cluster secret
//! (`--cluster-secret-file`, or `cluster.secret` in the cluster directory
//! `skein cluster up` wrote), from which any client's key is derived. With
//! neither, requests go unsigned — right for a cluster started `--no-auth`,
//! refused (401, with the reason) by one that authenticates clients.

use crate::cli::UsageError;
use skein_core::client_key::ClientKey;
use skein_core::mac::ClusterSecret;
use std::path::Path;

/// The file `skein cluster up` writes the cluster's secret to.
pub const SECRET_FILE: &str = "cluster.secret";

/// How a client signs its requests.
#[derive(Clone, Debug)]
pub enum Signer {
    Unsigned,
    /// One client's own key.
    Key {
        client: u32,
        key: ClientKey,
    },
    /// The cluster secret: any client's key.
    Secret(ClusterSecret),
}

impl Signer {
    /// `client`'s key for `service`, or `None` to send unsigned.
    pub fn key(&self, service: &str, client: u32) -> anyhow::Result<Option<ClientKey>> {
        match self {
            Signer::Unsigned => Ok(None),
            Signer::Secret(secret) => Ok(Some(ClientKey::derive(secret, service, client))),
            Signer::Key { client: own, key } if *own == client => Ok(Some(key.clone())),
            Signer::Key { client: own, .. } => Err(UsageError(format!(
                "--client-key is client {own}'s key, not client {client}'s: pass --client {own}"
            ))
            .into()),
        }
    }
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
        let key =
            ClientKey::from_hex(text).map_err(|e| UsageError(format!("--client-key: {e}")))?;
        return Ok(Signer::Key { client, key });
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
        let derived = from_dir.key("bftlist", 4).unwrap().unwrap();

        let own = signer(4, Some(&derived.to_hex()), None, None).unwrap();
        assert_eq!(
            own.key("bftlist", 4).unwrap().unwrap().tag(b"x"),
            derived.tag(b"x")
        );
        let err = own.key("bftlist", 5).unwrap_err().to_string();
        assert!(err.contains("pass --client 4"), "{err}");

        let err = signer(0, Some("nope"), None, None).unwrap_err().to_string();
        assert!(err.contains("--client-key"), "{err}");
        let missing = dir.path().join("missing.secret");
        assert!(signer(0, None, Some(&missing), None).is_err());
    }
}
