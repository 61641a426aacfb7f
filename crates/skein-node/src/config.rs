//! Node configuration: flags > environment (`SKEIN_*`) > TOML file > defaults.
//!
//! The binary turns flags and environment variables into a [`NodeOverrides`]
//! (clap reads both); [`NodeOverrides::from_toml`] reads the same keys from a
//! file; [`NodeSettings::resolve`] layers them over the defaults and checks
//! every value, naming the setting and what it accepts when one is wrong.

use crate::address::PeerSpec;
use serde::Deserialize;
use skein_core::NodeId;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_METRICS_BASE: u16 = 3000;
pub const DEFAULT_API_BASE: u16 = 4000;
pub const DEFAULT_STREAM_BASE: u16 = 5000;
pub const DEFAULT_DATAGRAM_BASE: u16 = 7000;

/// A setting with a bad value: what the user must fix, and how.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid setting `{setting}` = {value:?}: expected {expected}")]
pub struct ConfigError {
    pub setting: String,
    pub value: String,
    pub expected: String,
}

impl ConfigError {
    pub fn new(setting: &str, value: impl ToString, expected: impl ToString) -> Self {
        Self {
            setting: setting.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }
}

/// Settings that may each be given or not; one per source layer.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeOverrides {
    pub id: Option<u16>,
    pub service: Option<String>,
    pub peers: Option<Vec<String>>,
    pub bind: Option<String>,
    /// The host peers dial this node at (see [`NodeSettings::advertise`]).
    pub advertise: Option<String>,
    pub metrics_base: Option<u16>,
    pub api_base: Option<u16>,
    pub stream_base: Option<u16>,
    pub datagram_base: Option<u16>,
    pub data_dir: Option<PathBuf>,
    pub log_level: Option<String>,
    pub log_json: Option<bool>,
    pub log_dir: Option<PathBuf>,
    pub peer_timeout_ms: Option<u64>,
    pub send_queue_max: Option<usize>,
    pub request_timeout_ms: Option<u64>,
    pub frame_bytes_max: Option<usize>,
    pub allow_fault_injection: Option<bool>,
    pub byzantine: Option<String>,
    /// Authenticates peer channels (see `auth`); prefer the file in deployments.
    pub cluster_secret: Option<String>,
    pub cluster_secret_file: Option<PathBuf>,
    /// This node's own keys instead of the cluster secret (see `node_keys`).
    pub keys_file: Option<PathBuf>,
    /// Required as a bearer token on state-changing REST requests (see `access`).
    pub api_token: Option<String>,
    pub api_token_file: Option<PathBuf>,
    /// State-changing REST requests per second per client address (0: no limit).
    pub api_write_rate: Option<u32>,
    /// `NAME:PORT`: find peers through DNS (see `discovery`).
    pub peers_dns: Option<String>,
    /// Members are ids 1 to this, wherever they are (their addresses come from `peers_dns`).
    pub cluster_size: Option<u16>,
    pub peers_dns_interval_ms: Option<u64>,
    /// Take the id from the host name's trailing number (plus `id_offset`) when none is given.
    pub id_from_hostname: Option<bool>,
    pub id_offset: Option<u16>,
}

impl NodeOverrides {
    /// Only the four port bases: the start of a struct literal for nodes that
    /// share one machine (`NodeOverrides { id: Some(1), ..NodeOverrides::on_ports(bases) }`).
    pub fn on_ports(bases: PortBases) -> Self {
        Self {
            metrics_base: Some(bases.metrics),
            api_base: Some(bases.api),
            stream_base: Some(bases.stream),
            datagram_base: Some(bases.datagram),
            ..Self::default()
        }
    }

    /// Reads a TOML file. Node settings are top-level keys; the service's own
    /// settings live in a table named after it (`[heartbeat]`), returned apart.
    pub fn from_toml(path: &Path) -> Result<(Self, toml::Table), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                "config",
                path.display(),
                format!("a readable TOML file ({e})"),
            )
        })?;
        Self::parse_toml(&text).map_err(|e| ConfigError {
            value: path.display().to_string(),
            ..e
        })
    }

    pub fn parse_toml(text: &str) -> Result<(Self, toml::Table), ConfigError> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            ConfigError::new("config", "", format!("valid TOML: {}", e.message()))
        })?;
        let sections: toml::Table = table
            .iter()
            .filter(|(_, v)| v.is_table())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        table.retain(|_, v| !v.is_table());
        let overrides = Self::deserialize(toml::Value::Table(table)).map_err(|e| {
            ConfigError::new(
                "config",
                "",
                format!("known node settings: {}", e.message()),
            )
        })?;
        Ok((overrides, sections))
    }

    /// Fills every setting this layer lacks from `lower`.
    pub fn or(self, lower: NodeOverrides) -> NodeOverrides {
        // The secret and its file are one setting: a layer giving either replaces both below.
        let secret_layer = if self.cluster_secret.is_some() || self.cluster_secret_file.is_some() {
            (self.cluster_secret, self.cluster_secret_file)
        } else {
            (lower.cluster_secret, lower.cluster_secret_file)
        };
        NodeOverrides {
            id: self.id.or(lower.id),
            service: self.service.or(lower.service),
            peers: self.peers.or(lower.peers),
            bind: self.bind.or(lower.bind),
            advertise: self.advertise.or(lower.advertise),
            metrics_base: self.metrics_base.or(lower.metrics_base),
            api_base: self.api_base.or(lower.api_base),
            stream_base: self.stream_base.or(lower.stream_base),
            datagram_base: self.datagram_base.or(lower.datagram_base),
            data_dir: self.data_dir.or(lower.data_dir),
            log_level: self.log_level.or(lower.log_level),
            log_json: self.log_json.or(lower.log_json),
            log_dir: self.log_dir.or(lower.log_dir),
            peer_timeout_ms: self.peer_timeout_ms.or(lower.peer_timeout_ms),
            send_queue_max: self.send_queue_max.or(lower.send_queue_max),
            request_timeout_ms: self.request_timeout_ms.or(lower.request_timeout_ms),
            frame_bytes_max: self.frame_bytes_max.or(lower.frame_bytes_max),
            allow_fault_injection: self.allow_fault_injection.or(lower.allow_fault_injection),
            byzantine: self.byzantine.or(lower.byzantine),
            cluster_secret: secret_layer.0,
            cluster_secret_file: secret_layer.1,
            keys_file: self.keys_file.or(lower.keys_file),
            api_token: self.api_token.or(lower.api_token),
            api_token_file: self.api_token_file.or(lower.api_token_file),
            api_write_rate: self.api_write_rate.or(lower.api_write_rate),
            peers_dns: self.peers_dns.or(lower.peers_dns),
            cluster_size: self.cluster_size.or(lower.cluster_size),
            peers_dns_interval_ms: self.peers_dns_interval_ms.or(lower.peers_dns_interval_ms),
            id_from_hostname: self.id_from_hostname.or(lower.id_from_hostname),
            id_offset: self.id_offset.or(lower.id_offset),
        }
    }
}

/// Port bases; a node listens on `base + id` for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortBases {
    pub metrics: u16,
    pub api: u16,
    pub stream: u16,
    pub datagram: u16,
}

impl Default for PortBases {
    fn default() -> Self {
        Self {
            metrics: DEFAULT_METRICS_BASE,
            api: DEFAULT_API_BASE,
            stream: DEFAULT_STREAM_BASE,
            datagram: DEFAULT_DATAGRAM_BASE,
        }
    }
}

impl PortBases {
    /// Every base shifted by `offset`: how tests and side-by-side clusters avoid each other.
    pub fn shifted(offset: u16) -> Result<Self, ConfigError> {
        let d = Self::default();
        let shift = |base: u16| {
            base.checked_add(offset)
                .filter(|&p| p <= u16::MAX - 1000)
                .ok_or_else(|| {
                    ConfigError::new(
                        "port-offset",
                        offset,
                        "an offset that keeps every port below 65535 (at most 57535)",
                    )
                })
        };
        Ok(Self {
            metrics: shift(d.metrics)?,
            api: shift(d.api)?,
            stream: shift(d.stream)?,
            datagram: shift(d.datagram)?,
        })
    }

    pub fn port(base: u16, id: NodeId) -> Option<u16> {
        base.checked_add(id.0)
    }
}

/// Fully resolved, checked settings of one node.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    pub id: NodeId,
    pub service: String,
    pub peers: Vec<PeerSpec>,
    pub bind: IpAddr,
    /// The host in this node's own address (`ID@HOST:STREAM_PORT:DATAGRAM_PORT`),
    /// which protocols hand to peers that add it dynamically. Default: the
    /// bind address, or 127.0.0.1 when bind is unspecified (0.0.0.0 or ::),
    /// which reaches only this machine: set it when binding to every interface.
    pub advertise: IpAddr,
    pub ports: PortBases,
    pub data_dir: PathBuf,
    pub log_level: String,
    pub log_json: bool,
    pub log_dir: Option<PathBuf>,
    pub peer_timeout: Duration,
    pub send_queue_max: usize,
    pub request_timeout: Duration,
    pub frame_bytes_max: usize,
    /// Whether REST endpoints that corrupt state or make the node misbehave are served.
    pub allow_fault_injection: bool,
    /// An emulated Byzantine behaviour for this node, for services that have
    /// them (bftlist); any other service refuses to start with one.
    pub byzantine: Option<String>,
    /// The secret peer channels are authenticated with; `None`: unauthenticated.
    pub cluster_secret: Option<skein_core::mac::ClusterSecret>,
    /// This node's own pair and client keys (`--keys-file`), instead of the secret.
    pub node_keys: Option<crate::node_keys::NodeKeys>,
    /// Required on state-changing REST requests; `None`: not required.
    pub api_token: Option<String>,
    /// State-changing REST requests per second per client address (0: no limit).
    pub api_write_rate: u32,
    /// The `[service]` table of the config file, for the protocol's own settings.
    pub service_config: toml::Table,
    /// Requests (the service's JSON form) fed to the core once, right after
    /// it starts and before any peer or client is heard; a service's prepare
    /// step adds them (bftlist: the state of `start_state_file`).
    pub startup_requests: Vec<serde_json::Value>,
    /// Where to find peers by DNS, re-resolved every `peers_dns_interval`.
    pub peers_dns: Option<crate::discovery::DnsPeers>,
    pub peers_dns_interval: Duration,
    /// Members are ids 1 to this besides `peers` (0: only `peers`).
    pub cluster_size: u16,
}

/// `--advertise`: an IP address, or a host name resolved once now (a
/// container's own host name names its address on the network peers share).
fn advertised_address(text: &str) -> Result<IpAddr, ConfigError> {
    if let Ok(ip) = text.parse() {
        return Ok(ip);
    }
    let bad = |why: String| ConfigError::new("advertise", text, why);
    let is_name = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !is_name {
        return Err(bad(
            "an IP address peers can reach this node at, such as 10.0.0.2, or a host name that resolves to one".into(),
        ));
    }
    use std::net::ToSocketAddrs;
    let found: Vec<IpAddr> = (text, 0)
        .to_socket_addrs()
        .map_err(|e| bad(format!("a host name that resolves ({e})")))?
        .map(|a| a.ip())
        .collect();
    // One IPv4 address if there is one: peers on an IPv4-only network reach it.
    found
        .iter()
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        .or_else(|| found.iter().find(|ip| !ip.is_loopback()))
        .copied()
        .ok_or_else(|| bad("a host name that resolves to an address other than loopback".into()))
}

pub const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

impl NodeSettings {
    pub fn resolve(layers: NodeOverrides, sections: toml::Table) -> Result<Self, ConfigError> {
        let from_hostname = match (layers.id, layers.id_from_hostname) {
            (None, Some(true)) => {
                let name = crate::discovery::hostname().map_err(|e| {
                    ConfigError::new(
                        "id-from-hostname",
                        "",
                        format!("a readable host name ({e})"),
                    )
                })?;
                Some(crate::discovery::id_from_hostname(
                    &name,
                    layers.id_offset.unwrap_or(0),
                )?)
            }
            _ => None,
        };
        let id = layers.id.or(from_hostname).ok_or_else(|| {
            ConfigError::new(
                "id",
                "(missing)",
                "a node id from 1 to 999 (--id or SKEIN_ID, or --id-from-hostname)",
            )
        })?;
        if !(1..=999).contains(&id) {
            return Err(ConfigError::new("id", id, "a node id from 1 to 999"));
        }
        let id = NodeId(id);
        let defaults = PortBases::default();
        let ports = PortBases {
            metrics: layers.metrics_base.unwrap_or(defaults.metrics),
            api: layers.api_base.unwrap_or(defaults.api),
            stream: layers.stream_base.unwrap_or(defaults.stream),
            datagram: layers.datagram_base.unwrap_or(defaults.datagram),
        };
        for (setting, base) in [
            ("metrics-base", ports.metrics),
            ("api-base", ports.api),
            ("stream-base", ports.stream),
            ("datagram-base", ports.datagram),
        ] {
            if PortBases::port(base, id).is_none() || base < 1024 {
                return Err(ConfigError::new(
                    setting,
                    base,
                    format!(
                        "a port base from 1024 to {} so that base + id is a port",
                        u16::MAX - id.0
                    ),
                ));
            }
        }
        let bind_text = layers.bind.unwrap_or_else(|| "127.0.0.1".into());
        let bind: IpAddr = bind_text.parse().map_err(|_| {
            ConfigError::new(
                "bind",
                &bind_text,
                "an IP address such as 127.0.0.1 or 0.0.0.0",
            )
        })?;
        let advertise = match layers.advertise {
            // Found by DNS, so on a network of containers: its own name gives its address there.
            None if bind.is_unspecified() && layers.peers_dns.is_some() => {
                let name = crate::discovery::hostname().map_err(|e| {
                    ConfigError::new(
                        "advertise",
                        "",
                        format!("an address, or a readable host name ({e})"),
                    )
                })?;
                advertised_address(&name)?
            }
            None if bind.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            None => bind,
            Some(text) => advertised_address(&text)?,
        };
        if advertise.is_unspecified() {
            return Err(ConfigError::new(
                "advertise",
                advertise,
                "a concrete IP address peers can reach this node at, not 0.0.0.0 or ::",
            ));
        }
        let mut peers = Vec::new();
        for text in layers.peers.unwrap_or_default() {
            let peer = PeerSpec::parse(&text, ports)?;
            if peer.id == id {
                continue; // a peer list shared by the whole cluster names this node too
            }
            if peers.iter().any(|p: &PeerSpec| p.id == peer.id) {
                return Err(ConfigError::new("peers", text, "each peer id at most once"));
            }
            peers.push(peer);
        }
        peers.sort_by_key(|p| p.id);
        let log_level = layers.log_level.unwrap_or_else(|| "info".into());
        // A bare word is a level; anything else must be `target=level` directives.
        let is_filter = log_level.split(',').all(|d| {
            d.split_once('=')
                .is_some_and(|(_, level)| LOG_LEVELS.contains(&level))
        });
        if !LOG_LEVELS.contains(&log_level.as_str()) && !is_filter {
            return Err(ConfigError::new(
                "log-level",
                &log_level,
                format!(
                    "one of {} or a tracing filter such as skein_node=debug",
                    LOG_LEVELS.join(", ")
                ),
            ));
        }
        let service = layers.service.unwrap_or_else(|| "heartbeat".into());
        let positive = |setting: &str,
                        value: Option<u64>,
                        default: u64,
                        max: u64|
         -> Result<u64, ConfigError> {
            let v = value.unwrap_or(default);
            if v == 0 || v > max {
                return Err(ConfigError::new(
                    setting,
                    v,
                    format!("a whole number from 1 to {max}"),
                ));
            }
            Ok(v)
        };
        let peer_timeout_ms = positive("peer-timeout-ms", layers.peer_timeout_ms, 1500, 3_600_000)?;
        let request_timeout_ms = positive(
            "request-timeout-ms",
            layers.request_timeout_ms,
            5000,
            3_600_000,
        )?;
        let send_queue_max = positive(
            "send-queue-max",
            layers.send_queue_max.map(|v| v as u64),
            1024,
            1 << 20,
        )? as usize;
        let frame_bytes_max = positive(
            "frame-bytes-max",
            layers.frame_bytes_max.map(|v| v as u64),
            1 << 20,
            skein_core::envelope::PAYLOAD_BYTES_MAX as u64,
        )? as usize;
        let peers_dns = layers
            .peers_dns
            .as_deref()
            .map(crate::discovery::DnsPeers::parse)
            .transpose()?;
        let peers_dns_interval_ms = positive(
            "peers-dns-interval-ms",
            layers.peers_dns_interval_ms,
            2000,
            3_600_000,
        )?;
        let cluster_size = layers.cluster_size.unwrap_or(0);
        if cluster_size > 999 || (cluster_size > 0 && cluster_size < id.0) {
            return Err(ConfigError::new(
                "cluster-size",
                cluster_size,
                format!(
                    "a member count from {} (this node's id) to 999: members are ids 1 to it",
                    id.0
                ),
            ));
        }
        let service_config = match sections.get(&service) {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => toml::Table::new(),
        };
        Ok(Self {
            id,
            data_dir: layers
                .data_dir
                .unwrap_or_else(|| PathBuf::from(format!(".skein/data/node-{id}"))),
            service,
            peers,
            bind,
            advertise,
            ports,
            log_level,
            log_json: layers.log_json.unwrap_or(false),
            log_dir: layers.log_dir,
            peer_timeout: Duration::from_millis(peer_timeout_ms),
            send_queue_max,
            request_timeout: Duration::from_millis(request_timeout_ms),
            frame_bytes_max,
            allow_fault_injection: layers.allow_fault_injection.unwrap_or(false),
            byzantine: layers.byzantine.filter(|b| !b.is_empty()),
            cluster_secret: crate::auth::resolve_secret(
                layers.cluster_secret.as_deref(),
                layers.cluster_secret_file.as_deref(),
            )?,
            node_keys: match (&layers.keys_file, &layers.cluster_secret, &layers.cluster_secret_file) {
                (Some(path), None, None) => Some(crate::node_keys::NodeKeys::read(path)?),
                (Some(path), _, _) => {
                    return Err(ConfigError::new(
                        "keys-file",
                        path.display(),
                        "either --keys-file or a cluster secret, not both (a node holding the secret can derive every key)",
                    ))
                }
                (None, _, _) => None,
            },
            api_token: crate::access::resolve_token(
                layers.api_token.as_deref(),
                layers.api_token_file.as_deref(),
            )?,
            api_write_rate: layers
                .api_write_rate
                .unwrap_or(crate::access::WRITE_RATE_DEFAULT),
            service_config,
            startup_requests: Vec::new(),
            peers_dns,
            peers_dns_interval: Duration::from_millis(peers_dns_interval_ms),
            cluster_size,
        })
    }

    /// All cluster members, this node included, ascending.
    pub fn members(&self) -> Vec<NodeId> {
        let mut members: Vec<NodeId> = self.peers.iter().map(|p| p.id).collect();
        members.push(self.id);
        members.extend((1..=self.cluster_size).map(NodeId));
        members.sort();
        members.dedup();
        members
    }

    pub fn metrics_port(&self) -> u16 {
        self.ports.metrics + self.id.0
    }
    pub fn api_port(&self) -> u16 {
        self.ports.api + self.id.0
    }
    pub fn stream_port(&self) -> u16 {
        self.ports.stream + self.id.0
    }
    pub fn datagram_port(&self) -> u16 {
        self.ports.datagram + self.id.0
    }

    /// This node's own address as peers should dial it, in the form
    /// [`crate::address::PeerSpec::parse`] reads: `ID@HOST:STREAM_PORT:DATAGRAM_PORT`.
    pub fn address(&self) -> skein_core::PeerAddress {
        let host = match self.advertise {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        skein_core::PeerAddress(format!(
            "{}@{host}:{}:{}",
            self.id,
            self.stream_port(),
            self.datagram_port()
        ))
    }

    /// The protocol's own settings, defaults for the rest.
    pub fn protocol_config<C: serde::de::DeserializeOwned + Default>(
        &self,
    ) -> Result<C, ConfigError> {
        if self.service_config.is_empty() {
            return Ok(C::default());
        }
        C::deserialize(toml::Value::Table(self.service_config.clone())).map_err(|e| {
            ConfigError::new(
                &self.service,
                "[its settings from the config file, SKEIN_* variables and --set]",
                format!("valid {} settings: {}", self.service, e.message()),
            )
        })
    }

    /// Layers service settings over the `[service]` table of the file:
    /// `KEY=VALUE` pairs from `source` (an environment or `--set`), each value
    /// read as TOML (`100`, `true`, `"text"`) or else taken as a plain string.
    pub fn set_service_values<'a>(
        &mut self,
        source: &str,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), ConfigError> {
        for (key, text) in pairs {
            let key = key.trim().to_ascii_lowercase();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigError::new(
                    source,
                    format!("{key}={text}"),
                    "KEY=VALUE with KEY made of letters, digits and _",
                ));
            }
            let value = format!("v = {text}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(text.to_string()));
            self.service_config.insert(key, value);
        }
        Ok(())
    }

    /// `SKEIN_<SERVICE>_<KEY>=VALUE` variables that set this node's service settings.
    pub fn service_env_prefix(&self) -> String {
        format!("SKEIN_{}_", self.service.to_ascii_uppercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_id(id: u16) -> NodeOverrides {
        NodeOverrides {
            id: Some(id),
            ..Default::default()
        }
    }

    #[test]
    fn the_advertised_address_defaults_to_a_dialable_bind_address() {
        let resolve = |bind: Option<&str>, advertise: Option<&str>| {
            let o = NodeOverrides {
                bind: bind.map(str::to_string),
                advertise: advertise.map(str::to_string),
                ..with_id(3)
            };
            NodeSettings::resolve(o, toml::Table::new())
        };
        let s = resolve(None, None).unwrap();
        assert_eq!(s.address().0, "3@127.0.0.1:5003:7003");
        assert_eq!(
            resolve(Some("10.0.0.3"), None)
                .unwrap()
                .advertise
                .to_string(),
            "10.0.0.3"
        );
        let any = resolve(Some("0.0.0.0"), None).unwrap();
        assert_eq!(
            any.advertise.to_string(),
            "127.0.0.1",
            "0.0.0.0 cannot be dialed"
        );
        let s = resolve(Some("0.0.0.0"), Some("192.168.1.9")).unwrap();
        let spec = PeerSpec::parse(&s.address().0, s.ports).unwrap();
        assert_eq!(spec.stream.to_string(), "192.168.1.9:5003");
        assert_eq!(spec.datagram.to_string(), "192.168.1.9:7003");
        let v6 = resolve(Some("::1"), None).unwrap();
        assert_eq!(v6.address().0, "3@[::1]:5003:7003");
        let spec = PeerSpec::parse(&v6.address().0, v6.ports).unwrap();
        assert_eq!(spec.stream.to_string(), "[::1]:5003");
        for bad in ["not a host!", "localhost", "0.0.0.0", "::"] {
            let err = resolve(None, Some(bad)).unwrap_err();
            assert_eq!(err.setting, "advertise", "{bad}");
        }
        let (file, _) = NodeOverrides::parse_toml("advertise = \"10.1.1.1\"\n").unwrap();
        assert_eq!(file.advertise.as_deref(), Some("10.1.1.1"));
    }

    #[test]
    fn defaults_follow_the_original_port_convention() {
        let s = NodeSettings::resolve(with_id(1), toml::Table::new()).unwrap();
        assert_eq!(
            (
                s.metrics_port(),
                s.api_port(),
                s.stream_port(),
                s.datagram_port()
            ),
            (3001, 4001, 5001, 7001)
        );
        assert_eq!(s.service, "heartbeat");
        assert_eq!(s.bind.to_string(), "127.0.0.1");
    }

    #[test]
    fn flags_beat_environment_beat_file() {
        let flags = NodeOverrides {
            api_base: Some(9000),
            ..Default::default()
        };
        let (file, sections) = NodeOverrides::parse_toml(
            "id = 3\napi_base = 8000\nmetrics_base = 8100\n[heartbeat]\ntick_interval_ms = 50\n",
        )
        .unwrap();
        let s = NodeSettings::resolve(flags.or(file), sections).unwrap();
        assert_eq!(s.id, NodeId(3));
        assert_eq!(s.api_port(), 9003);
        assert_eq!(s.metrics_port(), 8103);
        let hb: skein_core::heartbeat::HeartbeatConfig = s.protocol_config().unwrap();
        assert_eq!(hb.tick_interval_ms, 50);
        assert_eq!(
            hb.peer_timeout_ms,
            skein_core::heartbeat::HeartbeatConfig::default().peer_timeout_ms
        );
        let (_, typo) = NodeOverrides::parse_toml("[heartbeat]\ntick_interval = 50\n").unwrap();
        let s = NodeSettings::resolve(with_id(1), typo).unwrap();
        let err = s
            .protocol_config::<skein_core::heartbeat::HeartbeatConfig>()
            .unwrap_err();
        assert_eq!(err.setting, "heartbeat");
        assert!(err.expected.contains("tick_interval"), "{err}");
    }

    #[test]
    fn service_values_layer_over_the_file_and_are_typed() {
        let (_, sections) = NodeOverrides::parse_toml(
            "[heartbeat]\ntick_interval_ms = 50\npeer_timeout_ms = 900\n",
        )
        .unwrap();
        let mut s = NodeSettings::resolve(with_id(1), sections).unwrap();
        assert_eq!(s.service_env_prefix(), "SKEIN_HEARTBEAT_");
        s.set_service_values("environment", [("TICK_INTERVAL_MS", "70")])
            .unwrap();
        s.set_service_values("--set", [("tick_interval_ms", "80")])
            .unwrap();
        let hb: skein_core::heartbeat::HeartbeatConfig = s.protocol_config().unwrap();
        assert_eq!((hb.tick_interval_ms, hb.peer_timeout_ms), (80, 900));
        s.set_service_values("--set", [("tick_interval_ms", "soon")])
            .unwrap();
        let err = s
            .protocol_config::<skein_core::heartbeat::HeartbeatConfig>()
            .unwrap_err();
        assert_eq!(err.setting, "heartbeat");
        assert!(s.set_service_values("--set", [("bad key", "1")]).is_err());
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = NodeSettings::resolve(NodeOverrides::default(), toml::Table::new()).unwrap_err();
        assert_eq!(err.setting, "id");
        let err = NodeSettings::resolve(with_id(1000), toml::Table::new()).unwrap_err();
        assert_eq!(err.setting, "id");
        let bad_bind = NodeOverrides {
            bind: Some("localhost:1".into()),
            ..with_id(1)
        };
        assert_eq!(
            NodeSettings::resolve(bad_bind, toml::Table::new())
                .unwrap_err()
                .setting,
            "bind"
        );
        let bad_level = NodeOverrides {
            log_level: Some("loud!!".into()),
            ..with_id(1)
        };
        assert_eq!(
            NodeSettings::resolve(bad_level, toml::Table::new())
                .unwrap_err()
                .setting,
            "log-level"
        );
        let zero = NodeOverrides {
            peer_timeout_ms: Some(0),
            ..with_id(1)
        };
        assert_eq!(
            NodeSettings::resolve(zero, toml::Table::new())
                .unwrap_err()
                .setting,
            "peer-timeout-ms"
        );
        let (bad_file, _) = (NodeOverrides::parse_toml("idd = 1").unwrap_err(), ());
        assert_eq!(bad_file.setting, "config");
        assert!(bad_file.expected.contains("idd"), "{bad_file}");
    }

    #[test]
    fn peers_skip_self_and_reject_duplicates() {
        let o = NodeOverrides {
            peers: Some(vec!["1".into(), "3".into(), "2".into()]),
            ..with_id(1)
        };
        let s = NodeSettings::resolve(o, toml::Table::new()).unwrap();
        assert_eq!(s.members(), vec![NodeId(1), NodeId(2), NodeId(3)]);
        let o = NodeOverrides {
            peers: Some(vec!["2".into(), "2@127.0.0.2".into()]),
            ..with_id(1)
        };
        assert_eq!(
            NodeSettings::resolve(o, toml::Table::new())
                .unwrap_err()
                .setting,
            "peers"
        );
    }

    #[test]
    fn port_offset_must_keep_ports_in_range() {
        assert_eq!(PortBases::shifted(10000).unwrap().api, 14000);
        assert!(PortBases::shifted(60000).is_err());
    }
}
