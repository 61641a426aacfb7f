//! An HTTP client for a service with a leader (`raft`): it follows a
//! follower's `307` to the leader and keeps using that leader, waits while
//! an election is under way (`503 no_leader`), and moves on to the next
//! node of its list when one does not answer at all.
//!
//! It never re-sends a request that may have reached a node: only refused
//! connections and explicit "nothing was done" answers are retried, so a
//! compare-and-swap or put is never applied twice by the client itself.

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Tries per call (redirects, elections, unreachable nodes), on top of the deadline.
pub const ATTEMPTS_MAX: usize = 200;
/// The pause before asking again while no leader is known.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How long to wait for a node to accept a connection. A stopped process's
/// port refuses at once, but a host that is gone (a killed container, a cut
/// network) answers nothing: without this bound, each call would spend its
/// whole timeout on it and never move on to the next node.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// What a node answered, after redirects.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// The JSON body (`Null` if it had none or it was not JSON).
    pub body: Value,
    /// The URL that gave this answer.
    pub url: String,
}

impl Answer {
    /// The error text and code of a JSON error body.
    pub fn error_text(&self) -> String {
        match (self.body["error"].as_str(), self.body["code"].as_str()) {
            (Some(error), Some(code)) => format!("{error} [{code}]"),
            _ => format!("{}", self.body),
        }
    }
}

pub struct LeaderClient {
    http: reqwest::Client,
    apis: Vec<String>,
    timeout: Duration,
    /// The API that answered last (the leader, once a redirect was followed).
    current: Mutex<String>,
}

impl LeaderClient {
    /// `apis` is one base URL or several separated by commas, e.g.
    /// `http://127.0.0.1:4001,http://127.0.0.1:4002`; `timeout` bounds one call.
    pub fn new(apis: &str, timeout: Duration) -> anyhow::Result<Self> {
        let apis: Vec<String> = apis
            .split(',')
            .map(|a| a.trim().trim_end_matches('/').to_string())
            .filter(|a| !a.is_empty())
            .collect();
        anyhow::ensure!(
            !apis.is_empty(),
            "--api needs at least one URL such as http://127.0.0.1:4001"
        );
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot build an HTTP client")?;
        Ok(Self {
            http,
            current: Mutex::new(apis[0].clone()),
            apis,
            timeout,
        })
    }

    fn current(&self) -> String {
        self.current.lock().expect("not poisoned").clone()
    }

    fn set_current(&self, api: String) {
        *self.current.lock().expect("not poisoned") = api;
    }

    /// The configured API after `api` in the list (wrapping), for an unreachable node.
    fn next_after(&self, api: &str) -> String {
        let at = self.apis.iter().position(|a| a == api);
        let next = at.map_or(0, |i| (i + 1) % self.apis.len());
        self.apis[next].clone()
    }

    /// Sends `method path` (path with its query) with an optional JSON body
    /// and `If-Match`, to the leader, and returns its answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<u64>,
    ) -> anyhow::Result<Answer> {
        let deadline = Instant::now() + self.timeout;
        let mut api = self.current();
        let mut last_problem = String::new();
        let mut refused = 0;
        for _ in 0..ATTEMPTS_MAX {
            if Instant::now() > deadline {
                break;
            }
            let url = format!("{api}{path}");
            let mut request = self.http.request(method.clone(), &url);
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(revision) = if_match {
                request = request.header(reqwest::header::IF_MATCH, revision.to_string());
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) if error.is_connect() => {
                    // Nothing reached the node: safe to try the next one.
                    last_problem = format!("{url} refused the connection ({error})");
                    api = self.next_after(&api);
                    refused += 1;
                    if refused > 1 {
                        // A follower may still name a dead leader until it times out.
                        tokio::time::sleep(RETRY_PAUSE / 2).await;
                    }
                    continue;
                }
                Err(error) => {
                    return Err(anyhow::anyhow!(
                    "no answer from {url}: {error}; the request may or may not have taken effect"
                ))
                }
            };
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_string);
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let answer = Answer { status, body, url };
            if status.is_redirection() {
                let target = location.and_then(|l| base_of(&l));
                let Some(target) = target else {
                    anyhow::bail!("{} redirected without a usable Location", answer.url);
                };
                last_problem = format!("{} redirected to {target}", answer.url);
                api = target;
                continue;
            }
            let code = answer.body["code"].as_str().unwrap_or_default();
            let retry = status == StatusCode::SERVICE_UNAVAILABLE
                && matches!(
                    code,
                    "no_leader" | "transfer_in_progress" | "overloaded" | "busy"
                );
            if retry {
                last_problem = format!("{}: {}", answer.url, answer.error_text());
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
            self.set_current(api);
            return Ok(answer);
        }
        anyhow::bail!(
            "no leader answered within {:?} (tried {}); last: {last_problem}. Is a majority of the cluster running?",
            self.timeout,
            self.apis.join(", ")
        )
    }
}

/// `http://host:port` of a URL such as `http://host:port/api/v1/kv/a`.
fn base_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

/// Percent-encodes a key for a URL path, keeping `/` so keys may look like paths.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_and_keys() {
        assert_eq!(
            base_of("http://127.0.0.1:4002/api/v1/kv/a?x=1").as_deref(),
            Some("http://127.0.0.1:4002")
        );
        assert_eq!(base_of("nonsense"), None);
        assert_eq!(encode_key("a/b c%"), "a/b%20c%25");
        assert_eq!(encode_key("é"), "%C3%A9");
    }

    #[test]
    fn unreachable_nodes_rotate_through_the_list() {
        let c = LeaderClient::new("http://a:1, http://b:2/", Duration::from_secs(1)).unwrap();
        assert_eq!(c.next_after("http://a:1"), "http://b:2");
        assert_eq!(c.next_after("http://b:2"), "http://a:1");
        assert_eq!(c.next_after("http://elsewhere:3"), "http://a:1");
    }
}
