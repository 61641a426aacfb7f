//! Forwarding of key-value requests from a follower to the leader, for
//! clients that cannot follow redirects.
//!
//! By default a follower answers `307` with the leader's URL (see
//! [`super::raft_http`]), which costs the client one extra round trip on
//! its first request and lets it talk to the leader directly afterwards. A
//! request carrying `Skein-Forward: 1` is instead forwarded by the follower:
//! the same method, path, query, body, `Content-Type` and `If-Match` go to
//! the leader, and the leader's answer comes back (marked
//! `Skein-Forwarded-From: ID`). One hop only: the forwarded request does not
//! ask to be forwarded again, so a leader change in between yields the new
//! leader's `307`/`503`, never a loop.
//!
//! ```text
//!  client ──PUT + Skein-Forward──▶ follower ──handler──▶ 307 Location: leader
//!                                     │ (buffered body, ≤ KV_BODY_BYTES_MAX)
//!                                     └──same request──▶ leader ──answer──▶ client
//! ```
//! If the leader does not answer, the client gets `502 forward_failed`,
//! whose outcome is unknown for a write (it may have reached the leader).

use super::raft_http::KV_BODY_BYTES_MAX;
use crate::api::error_response;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The request header that asks a follower to forward instead of redirecting.
pub const FORWARD_HEADER: &str = "skein-forward";
/// The response header naming the follower that forwarded.
pub const FORWARDED_FROM_HEADER: &str = "skein-forwarded-from";
/// Headers of the leader's answer passed back to the client.
const ANSWER_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::ETAG,
    header::LOCATION,
    header::RETRY_AFTER,
];

/// What the middleware needs: an HTTP client to the leader and this node's id.
#[derive(Clone)]
pub struct Forwarder {
    pub http: reqwest::Client,
    pub node_id: u16,
}

fn wants_forwarding(request: &Request) -> bool {
    request
        .headers()
        .get(FORWARD_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// Runs the handler; if it redirects a request that asked for forwarding,
/// sends the request to the leader and answers with the leader's reply.
pub async fn forward_to_leader(
    State(forwarder): State<Forwarder>,
    request: Request,
    next: Next,
) -> Response {
    if !wants_forwarding(&request) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, KV_BODY_BYTES_MAX).await {
        Ok(body) => body,
        Err(error) => {
            let why = format!("the body is unreadable or over {KV_BODY_BYTES_MAX} bytes: {error}");
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, "too_large", why);
        }
    };
    let (method, headers) = (parts.method.clone(), parts.headers.clone());
    let answer = next
        .run(Request::from_parts(parts, Body::from(body.clone())))
        .await;
    let leader_url = answer
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(str::to_string);
    let (StatusCode::TEMPORARY_REDIRECT, Some(url)) = (answer.status(), leader_url) else {
        return answer;
    };
    let mut outgoing = forwarder.http.request(method, &url).body(body);
    for name in [header::CONTENT_TYPE, header::IF_MATCH] {
        if let Some(value) = headers.get(&name) {
            outgoing = outgoing.header(name, value);
        }
    }
    match outgoing.send().await {
        Ok(reply) => relay(reply, forwarder.node_id).await,
        Err(error) => error_response(
            StatusCode::BAD_GATEWAY,
            "forward_failed",
            format!("forwarding to the leader at {url} failed ({error}); a write may or may not have taken effect, read before retrying"),
        ),
    }
}

/// The leader's answer as this node's response.
async fn relay(reply: reqwest::Response, node_id: u16) -> Response {
    let status = reply.status();
    let mut headers = Vec::new();
    for name in ANSWER_HEADERS {
        if let Some(value) = reply.headers().get(&name) {
            headers.push((name, value.clone()));
        }
    }
    let body = match reply.bytes().await {
        Ok(body) => body,
        Err(error) => {
            return error_response(
                StatusCode::BAD_GATEWAY,
                "forward_failed",
                format!(
                "the leader's answer broke off ({error}); a write may or may not have taken effect"
            ),
            )
        }
    };
    let mut response = (status, body).into_response();
    let out = response.headers_mut();
    for (name, value) in headers {
        out.insert(name, value);
    }
    out.insert(
        HeaderName::from_static(FORWARDED_FROM_HEADER),
        HeaderValue::from(node_id),
    );
    response
}
