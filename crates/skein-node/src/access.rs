//! Who may change what through the REST API: an optional bearer token on
//! every state-changing request, and a per-client rate limit on them.
//!
//! State-changing means any method but GET, HEAD and OPTIONS: client writes,
//! membership changes and fault injection are all POST, PUT or DELETE, so
//! one rule covers every service's routes, present and future. Reads stay
//! open: the API binds to loopback by default, and a node reachable from
//! elsewhere should carry `--api-token` (the node warns at start if not).
//!
//! The limit is a token bucket per client IP address (`--api-write-rate`
//! requests per second, the same as burst), answered with 429 and
//! `Retry-After`. Bounded: at most [`CLIENTS_TRACKED_MAX`] addresses are
//! tracked; beyond that, idle ones are forgotten (an idle bucket is full,
//! so forgetting it changes nothing) and, if none is idle, newcomers share
//! one overflow bucket — a flood of fresh addresses cannot grow memory.

use crate::api::error_response;
use crate::config::ConfigError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Client addresses with their own bucket at most.
pub const CLIENTS_TRACKED_MAX: usize = 4096;
/// The default `--api-write-rate`: far above what one client host drives
/// through a node (about 20,000 writes/s with 256 clients on loopback), so
/// it only stops floods.
pub const WRITE_RATE_DEFAULT: u32 = 50_000;

/// A token shorter than this is refused as configuration: it could be guessed.
pub const TOKEN_BYTES_MIN: usize = 16;

/// The token from `--api-token` or `--api-token-file` (at most one).
pub fn resolve_token(
    inline: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<String>, ConfigError> {
    let (setting, text) = match (inline, file) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "api-token",
                "(both the token and a file)",
                "one of --api-token (SKEIN_API_TOKEN) and --api-token-file",
            ))
        }
        (Some(text), None) => ("api-token", text.to_string()),
        (None, Some(path)) => (
            "api-token-file",
            std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(
                    "api-token-file",
                    path.display(),
                    format!("a readable file holding the token ({e})"),
                )
            })?,
        ),
    };
    let token = text.trim();
    if token.len() < TOKEN_BYTES_MIN || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        // Never echo the token itself.
        return Err(ConfigError::new(
            setting,
            "(redacted)",
            format!("a token of at least {TOKEN_BYTES_MIN} printable characters without spaces"),
        ));
    }
    Ok(Some(token.to_string()))
}

/// The API's access rules; cheap to clone.
#[derive(Clone, Default)]
pub struct AccessPolicy {
    /// SHA-256 of the token: compared digest to digest, in constant time.
    token_digest: Option<[u8; 32]>,
    limiter: Option<Arc<Mutex<RateLimiter>>>,
}

impl AccessPolicy {
    /// `token`: required on state-changing requests if given; `write_rate`:
    /// per client per second, 0 for no limit.
    pub fn new(token: Option<&str>, write_rate: u32) -> Self {
        Self {
            token_digest: token.map(digest),
            limiter: (write_rate > 0)
                .then(|| Arc::new(Mutex::new(RateLimiter::new(write_rate, Instant::now())))),
        }
    }

    fn token_accepted(&self, request: &Request) -> bool {
        let Some(expected) = &self.token_digest else {
            return true;
        };
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| digest(t.trim()));
        given.is_some_and(|given| {
            given
                .iter()
                .zip(expected)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
        })
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The axum middleware: checks a state-changing request's token, then its
/// client's rate, before any handler sees it.
pub async fn guard(State(policy): State<AccessPolicy>, request: Request, next: Next) -> Response {
    if changes_state(request.method()) {
        if !policy.token_accepted(&request) {
            return error_response(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this node requires `Authorization: Bearer TOKEN` (its --api-token) on requests that change state",
            );
        }
        // Absent when the router is served without connect info (in-process tests).
        let client = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        if let (Some(limiter), Some(address)) = (&policy.limiter, client) {
            let admitted = limiter
                .lock()
                .expect("not poisoned")
                .admit(address.ip(), Instant::now());
            if let Err(wait) = admitted {
                let mut response = error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many state-changing requests from this address; retry later",
                );
                let seconds = wait.as_secs().max(1).to_string();
                if let Ok(value) = seconds.parse() {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                return response.into_response();
            }
        }
    }
    next.run(request).await
}

/// Token buckets per client address, bounded (see the module docs).
pub struct RateLimiter {
    rate: f64,
    buckets: HashMap<IpAddr, Bucket>,
    overflow: Bucket,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: f64, now: Instant) -> Self {
        Self {
            tokens: rate,
            at: now,
        }
    }

    fn take(&mut self, rate: f64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }

    /// Refilled by now: forgetting it loses nothing.
    fn idle(&self, rate: f64, now: Instant) -> bool {
        now.saturating_duration_since(self.at).as_secs_f64() * rate + self.tokens >= rate
    }
}

impl RateLimiter {
    pub fn new(per_second: u32, now: Instant) -> Self {
        let rate = f64::from(per_second.max(1));
        Self {
            rate,
            buckets: HashMap::new(),
            overflow: Bucket::full(rate, now),
        }
    }

    /// `Ok` if `client` may make a request now, else how long until it may.
    pub fn admit(&mut self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let rate = self.rate;
        if !self.buckets.contains_key(&client) && self.buckets.len() >= CLIENTS_TRACKED_MAX {
            self.buckets.retain(|_, b| !b.idle(rate, now));
        }
        if let Some(bucket) = self.buckets.get_mut(&client) {
            return bucket.take(rate, now);
        }
        if self.buckets.len() >= CLIENTS_TRACKED_MAX {
            return self.overflow.take(rate, now);
        }
        self.buckets
            .entry(client)
            .or_insert_with(|| Bucket::full(rate, now))
            .take(rate, now)
    }

    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_and_others_are_unaffected() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(10, t0);
        for _ in 0..10 {
            assert!(limiter.admit(ip(1), t0).is_ok());
        }
        let wait = limiter.admit(ip(1), t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(
            limiter.admit(ip(2), t0).is_ok(),
            "another client has its own bucket"
        );
        assert!(limiter
            .admit(ip(1), t0 + Duration::from_millis(100))
            .is_ok());
    }

    #[test]
    fn a_flood_of_fresh_addresses_is_bounded_and_shares_one_bucket() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(5, t0);
        // Each fresh address takes one token and so is not idle at t0.
        for n in 0..CLIENTS_TRACKED_MAX as u32 + 100 {
            let _ = limiter.admit(ip(n), t0);
        }
        assert_eq!(limiter.tracked(), CLIENTS_TRACKED_MAX);
        // The 100 newcomers shared the overflow bucket of 5.
        assert!(limiter.admit(ip(u32::MAX), t0).is_err());
        // Once the tracked ones are idle they are forgotten for newcomers.
        let later = t0 + Duration::from_secs(2);
        assert!(limiter.admit(ip(u32::MAX), later).is_ok());
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn tokens_come_from_one_source_and_are_long_enough() {
        assert_eq!(resolve_token(None, None), Ok(None));
        assert_eq!(
            resolve_token(Some(" a-long-enough-token \n"), None),
            Ok(Some("a-long-enough-token".into()))
        );
        let short = resolve_token(Some("short"), None).unwrap_err();
        assert!(
            !short.to_string().contains("short\""),
            "never echoed: {short}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-a-file-0123456789\n").unwrap();
        assert_eq!(
            resolve_token(None, Some(&file)),
            Ok(Some("from-a-file-0123456789".into()))
        );
        assert!(resolve_token(Some("a-long-enough-token"), Some(&file)).is_err());
        assert!(resolve_token(None, Some(&dir.path().join("missing"))).is_err());
    }

    #[test]
    fn only_the_right_bearer_token_passes_and_reads_need_none() {
        let policy = AccessPolicy::new(Some("s3cret"), 0);
        let request = |auth: Option<&str>| {
            let mut builder = axum::http::Request::builder()
                .method(Method::POST)
                .uri("/x");
            if let Some(auth) = auth {
                builder = builder.header(header::AUTHORIZATION, auth);
            }
            builder.body(axum::body::Body::empty()).unwrap()
        };
        assert!(policy.token_accepted(&request(Some("Bearer s3cret"))));
        assert!(!policy.token_accepted(&request(Some("Bearer s3cre"))));
        assert!(!policy.token_accepted(&request(Some("s3cret"))));
        assert!(!policy.token_accepted(&request(None)));
        assert!(AccessPolicy::default().token_accepted(&request(None)));
        assert!(!changes_state(&Method::GET));
        assert!(changes_state(&Method::DELETE));
    }
}
