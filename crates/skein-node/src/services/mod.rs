//! The built-in services' own REST endpoints, one module (or a few) per service.

pub mod bft_bodies;
pub mod bft_http;
pub mod bft_metrics;
pub mod bft_settings;
pub mod dht_http;
pub mod dht_keys_http;
pub mod dht_metrics;
pub mod gossip_http;
pub mod gossip_metrics;
pub mod gossip_pow;
pub mod raft_admin_http;
pub mod raft_forward;
pub mod raft_http;
pub mod raft_kv_http;
pub mod raft_metrics;
pub mod sampler;
