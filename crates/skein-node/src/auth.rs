//! Peer-channel authentication settings: where the cluster secret comes
//! from, and the keyring a node derives from it.
//!
//! The MAC itself lives in `skein_core::mac` and is applied by the envelope
//! codec (`skein_core::envelope`), because it is pure computation that the
//! frame format must know about (where the tag sits, what it covers) and
//! that the fuzzed, property-tested decoder should check in one place. This
//! module only does what needs I/O or configuration: reading the secret from
//! a flag, an environment variable, a TOML key or a file, and making one.
//!
//! The secret is configuration, never protocol state (BFTLIST.md §8: keys
//! are outside the corruptible state), so a transient fault that corrupts a
//! replica cannot corrupt its keys.

use crate::config::ConfigError;
use rand::{RngCore, SeedableRng};
use skein_core::mac::{ClusterSecret, Keyring, SECRET_BYTES_MIN};
use skein_core::NodeId;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// Bytes of randomness in a generated secret (written hex-encoded).
pub const GENERATED_SECRET_BYTES: usize = 32;

/// The cluster secret from `cluster_secret` (the text itself) or
/// `cluster_secret_file` (a file holding it; surrounding whitespace, such as
/// a trailing newline, is ignored). At most one may be given.
pub fn resolve_secret(
    inline: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<ClusterSecret>, ConfigError> {
    let (setting, text) = match (inline, file) {
        (None, None) => return Ok(None),
        (Some(_), Some(path)) => return Err(ConfigError::new(
            "cluster-secret",
            format!("(both the secret and the file {})", path.display()),
            "one of --cluster-secret (SKEIN_CLUSTER_SECRET) and --cluster-secret-file, not both",
        )),
        (Some(text), None) => ("cluster-secret", text.to_string()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(
                    "cluster-secret-file",
                    path.display(),
                    format!("a readable file holding the cluster secret ({e})"),
                )
            })?;
            ("cluster-secret-file", text)
        }
    };
    let bytes = text.trim().as_bytes().to_vec();
    // Never echo the secret in the error, only its length.
    ClusterSecret::new(bytes).map(Some).map_err(|e| {
        ConfigError::new(
            setting,
            "(redacted)",
            format!(
                "a secret of at least {SECRET_BYTES_MIN} bytes (this one has {}), e.g. 32 random bytes hex-encoded",
                e.length
            ),
        )
    })
}

/// This node's pair keys with every other member, or `None` to run unauthenticated.
pub fn keyring(secret: Option<&ClusterSecret>, me: NodeId, members: &[NodeId]) -> Option<Keyring> {
    secret.map(|s| Keyring::from_secret(s, me, members.iter().copied()))
}

/// The keyring shared by the channel tasks, changed when the core adds or
/// removes a peer. Readers take the current ring (an `Arc`) and use it
/// without holding the lock; a change builds a new ring and swaps it in, so
/// a reader never sees a half-changed one. Changes are rare (peer joins and
/// leaves), reads happen per frame.
#[derive(Clone, Debug)]
pub struct SharedKeyring(Arc<RwLock<Arc<Keyring>>>);

impl SharedKeyring {
    pub fn new(ring: Keyring) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(ring))))
    }

    /// The current keyring.
    pub fn load(&self) -> Arc<Keyring> {
        // A poisoned lock still holds a whole ring: swaps never leave one half-made.
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Derives the key of `peer`; false if the ring cannot (see [`Keyring::add_peer`]).
    pub fn add_peer(&self, peer: NodeId) -> bool {
        self.update(|ring| ring.add_peer(peer))
    }

    pub fn remove_peer(&self, peer: NodeId) {
        self.update(|ring| ring.remove_peer(peer));
    }

    fn update<T>(&self, change: impl FnOnce(&mut Keyring) -> T) -> T {
        let mut slot = self.0.write().unwrap_or_else(|p| p.into_inner());
        let mut ring = Keyring::clone(&slot);
        let result = change(&mut ring);
        *slot = Arc::new(ring);
        result
    }
}

/// A fresh random secret, hex-encoded, from the operating system's generator.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `secret` to `path`, readable and writable by the owner only (0600),
/// replacing any earlier file.
pub fn write_secret_file(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only when the file is created: tighten an older one too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    writeln!(file, "{secret}")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_comes_from_text_or_a_file_but_not_both() {
        assert_eq!(resolve_secret(None, None), Ok(None));
        let long = "0123456789abcdef0123";
        assert!(resolve_secret(Some(long), None).unwrap().is_some());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_secret_file(&path, long).unwrap();
        // The trailing newline is not part of the secret.
        assert_eq!(
            resolve_secret(None, Some(&path)).unwrap(),
            resolve_secret(Some(long), None).unwrap()
        );
        let both = resolve_secret(Some(long), Some(&path)).unwrap_err();
        assert_eq!(both.setting, "cluster-secret");
        let missing = resolve_secret(None, Some(&dir.path().join("nope"))).unwrap_err();
        assert_eq!(missing.setting, "cluster-secret-file");
    }

    #[test]
    fn a_higher_layer_giving_either_form_replaces_both_below() {
        use crate::config::{NodeOverrides, NodeSettings};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_secret_file(&path, "the secret from a file, 0600").unwrap();
        let flags = NodeOverrides {
            id: Some(1),
            cluster_secret_file: Some(path),
            ..Default::default()
        };
        let (file, sections) =
            NodeOverrides::parse_toml("cluster_secret = \"the secret from TOML\"\n").unwrap();
        let s = NodeSettings::resolve(flags.or(file.clone()), sections.clone()).unwrap();
        assert_eq!(
            s.cluster_secret,
            resolve_secret(Some("the secret from a file, 0600"), None).unwrap()
        );
        assert!(
            !format!("{s:?}").contains("from a file"),
            "Debug redacts it"
        );
        let with_id = NodeOverrides {
            id: Some(1),
            ..Default::default()
        };
        let s = NodeSettings::resolve(with_id.clone().or(file), sections).unwrap();
        assert!(s.cluster_secret.is_some(), "the TOML key is read");
        let s = NodeSettings::resolve(with_id, toml::Table::new()).unwrap();
        assert!(s.cluster_secret.is_none(), "no secret by default");
    }

    #[test]
    fn a_shared_keyring_derives_and_forgets_added_peers() {
        let secret = resolve_secret(Some("0123456789abcdef0123"), None)
            .unwrap()
            .unwrap();
        let shared = SharedKeyring::new(keyring(Some(&secret), NodeId(1), &[NodeId(1)]).unwrap());
        let before = shared.load();
        assert!(shared.add_peer(NodeId(7)));
        assert!(
            before.key(NodeId(7)).is_none(),
            "a loaded ring never changes"
        );
        assert!(shared.load().key(NodeId(7)).is_some());
        shared.remove_peer(NodeId(7));
        assert!(shared.load().key(NodeId(7)).is_none());
    }

    #[test]
    fn a_short_secret_is_refused_without_being_echoed() {
        let err = resolve_secret(Some("swordfish"), None).unwrap_err();
        assert_eq!(err.setting, "cluster-secret");
        assert!(!err.to_string().contains("swordfish"), "{err}");
    }

    #[test]
    fn generated_secrets_are_fresh_and_private() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_eq!(a.len(), 2 * GENERATED_SECRET_BYTES);
        assert_ne!(a, b);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "old").unwrap();
        write_secret_file(&path, &a).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), a);
    }
}
