//! What one request of each service is: the [`Workload`] trait and its
//! implementations. A workload owns no timing; the drivers
//! ([`super::closed_loop`], [`super::open_loop`]) call it and measure.

pub mod bftlist;
pub mod dht;
pub mod etcd;
pub mod gossip;
pub mod heartbeat;
pub mod raft;
pub mod redis;

use std::future::Future;
use std::time::Duration;

/// One kind of request against one service.
pub trait Workload: Send + Sync + 'static {
    /// Per-client state: an HTTP connection pool, a key generator, a client id.
    type Client: Send + 'static;

    /// The state of client number `index` (0-based; distinct per concurrent client).
    fn client(&self, index: usize) -> Self::Client;

    /// Sends request number `n` and waits for its answer: `Ok` or the kind of
    /// error (a short stable label such as `timeout` or `503 no_leader`).
    fn call(
        &self,
        client: &mut Self::Client,
        n: u64,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// An HTTP client for one bench client: its own connection pool (kept alive
/// between requests), no redirects followed automatically.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a plain HTTP client builds")
}

/// The error kind of a request that got no HTTP answer.
pub fn transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".into()
    } else if error.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}

/// The error kind of an HTTP answer that is not a success: status and the
/// JSON body's `code` when it has one, e.g. `503 no_leader`.
pub fn status_error(status: reqwest::StatusCode, body: &[u8]) -> String {
    let code = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|b| b["code"].as_str().map(str::to_string));
    match code {
        Some(code) => format!("{} {code}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// A value of `bytes` printable ASCII bytes.
pub fn value_of_size(bytes: usize) -> String {
    (0..bytes)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect()
}

/// splitmix64: a small deterministic generator per client, for key choice
/// (no need for a cryptographic or shared generator on the hot path).
pub struct KeyGen(u64);

impl KeyGen {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    pub fn next_below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cover_the_space_and_replay() {
        let mut a = KeyGen::new(7);
        let mut b = KeyGen::new(7);
        let mut seen = [false; 10];
        for _ in 0..1_000 {
            let k = a.next_below(10);
            assert_eq!(k, b.next_below(10));
            seen[k as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_ne!(
            KeyGen::new(1).next_below(1 << 60),
            KeyGen::new(2).next_below(1 << 60)
        );
    }

    #[test]
    fn error_kinds_are_short_labels() {
        let body = br#"{"error":"no leader yet","code":"no_leader"}"#;
        assert_eq!(
            status_error(reqwest::StatusCode::SERVICE_UNAVAILABLE, body),
            "503 no_leader"
        );
        assert_eq!(
            status_error(reqwest::StatusCode::BAD_GATEWAY, b"oops"),
            "502"
        );
        assert_eq!(value_of_size(3), "abc");
        assert_eq!(value_of_size(100).len(), 100);
    }
}
