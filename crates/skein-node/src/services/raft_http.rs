//! The `raft` service's REST API: the key-value store, status, membership
//! and leadership transfer, beside the endpoints every node has.
//!
//! Handlers call the Raft core through the [`CoreHandle`] with typed
//! `skein_raft::Request`s. Only the leader serves reads and writes; a
//! follower answers `307 Temporary Redirect` with `Location` set to the same
//! path on the leader's API (port = API base + leader id, host from
//! `--peers`) and a JSON body naming the leader, so any HTTP client that
//! follows redirects (curl -L, the `skein kv` commands) reaches it. With no
//! leader known the answer is `503` with `Retry-After`. A request with
//! `Skein-Forward: 1` is forwarded to the leader instead
//! ([`super::raft_forward`]).
//!
//! The key-value handlers are in [`super::raft_kv_http`], membership and
//! transfer in [`super::raft_admin_http`], metrics in [`super::raft_metrics`].

use super::raft_forward::{forward_to_leader, Forwarder};
use super::{raft_admin_http as admin, raft_kv_http as kv};
use crate::api::error_response;
use crate::service_api::{CallError, CoreHandle, ServiceApi};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use skein_core::NodeId;
use skein_raft::{RaftError, Reply};
use utoipa::{OpenApi, ToSchema};

/// Bodies of the key-value routes may hold a 64 KiB value escaped as JSON
/// (up to 6 bytes per byte); the value limit itself is checked by the core.
pub const KV_BODY_BYTES_MAX: usize = 6 * skein_raft::config::VALUE_BYTES_MAX + 4096;

/// The routes and OpenAPI document of the `raft` service.
pub fn api() -> ServiceApi {
    ServiceApi {
        routes,
        openapi: RaftDoc::openapi,
    }
}

/// How long a follower waits for the leader's answer to a forwarded request.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn routes(core: CoreHandle) -> Router {
    super::raft_metrics::spawn_sampler(core.clone());
    let forwarder = Forwarder {
        http: reqwest::Client::builder()
            .timeout(FORWARD_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain HTTP client builds"),
        node_id: core.node().id.0,
    };
    Router::new()
        .route("/api/v1/kv", get(kv::list))
        .route(
            "/api/v1/kv/{*key}",
            get(kv::get).put(kv::put).delete(kv::remove),
        )
        .route("/api/v1/raft/status", get(admin::status))
        .route("/api/v1/raft/members", post(admin::add_member))
        .route("/api/v1/raft/members/{id}", delete(admin::remove_member))
        .route("/api/v1/raft/members/{id}/promote", post(admin::promote))
        .route("/api/v1/raft/transfer-leader", post(admin::transfer_leader))
        // Replaces the node-wide 64 KiB limit for these routes (the innermost layer wins).
        .layer(DefaultBodyLimit::max(KV_BODY_BYTES_MAX))
        .layer(axum::middleware::from_fn_with_state(
            forwarder,
            forward_to_leader,
        ))
        .with_state(core)
}

#[derive(OpenApi)]
#[openapi(
    paths(kv::get, kv::put, kv::remove, kv::list, admin::status, admin::add_member,
          admin::remove_member, admin::promote, admin::transfer_leader),
    components(schemas(kv::PutBody, kv::ValueBody, kv::WrittenBody, kv::DeletedBody, kv::ListBody,
                       kv::ItemBody, kv::CasFailedBody, admin::AddMemberBody, admin::TransferBody,
                       admin::MembershipBody, admin::TransferStartedBody, NotLeaderBody)),
    tags((name = "raft", description = "The raft service: a linearizable replicated key-value store. \
        Limits: key ≤ 4 KiB, value ≤ 64 KiB, list page ≤ 1000 items. Followers redirect (307) to the leader, \
        or forward the request to it when it carries the header `Skein-Forward: 1`."))
)]
struct RaftDoc;

/// Why this node did not serve the request: it is not the leader.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NotLeaderBody {
    pub error: String,
    /// `not_leader` (with `leader` set) or `no_leader` (election under way).
    pub code: String,
    /// The leader's id, if this node knows it.
    pub leader: Option<u16>,
    /// The leader's REST API base URL, if known (also in `Location`).
    pub leader_api: Option<String>,
}

/// Turns a reply that is not the success a handler expects into a response:
/// a redirect to the leader, a JSON error, or 500 for a reply of the wrong kind.
pub(crate) fn refusal(core: &CoreHandle, uri: &Uri, reply: Reply) -> Response {
    match reply {
        Reply::NotLeader { leader } => not_leader(core, uri, leader),
        Reply::Error(error) => raft_error(error),
        other => CallError::BadReply(format!("{other:?}")).into_response(),
    }
}

fn not_leader(core: &CoreHandle, uri: &Uri, leader: Option<NodeId>) -> Response {
    let me = core.node().id;
    let leader_api = leader.and_then(|l| core.node().peer_api_url(l));
    let (status, code, error) = match (leader, &leader_api) {
        (Some(l), Some(_)) => (
            StatusCode::TEMPORARY_REDIRECT,
            "not_leader",
            format!("node {me} is not the leader; node {l} is: retry there"),
        ),
        (Some(l), None) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not_leader",
            format!("node {me} is not the leader; node {l} is, but it is not in this node's --peers so its address is unknown"),
        ),
        (None, _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no_leader",
            format!("node {me} knows no leader (an election may be under way); retry shortly"),
        ),
    };
    let body = NotLeaderBody {
        error,
        code: code.to_string(),
        leader: leader.map(|l| l.0),
        leader_api: leader_api.clone(),
    };
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    match leader_api {
        Some(api) => {
            let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
            if let Ok(location) = HeaderValue::from_str(&format!("{api}{target}")) {
                headers.insert(header::LOCATION, location);
            }
        }
        None => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
    }
    response
}

/// The status and stable code of each core error (ALGORITHM.md lists when each happens).
fn raft_error(error: RaftError) -> Response {
    let (status, code) = match &error {
        RaftError::KeyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "key_too_large"),
        RaftError::ValueTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "value_too_large"),
        RaftError::Overloaded { .. } => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
        RaftError::LeadershipLost => (StatusCode::SERVICE_UNAVAILABLE, "leadership_lost"),
        RaftError::TransferInProgress => (StatusCode::SERVICE_UNAVAILABLE, "transfer_in_progress"),
        RaftError::ConfigChangeInProgress => (StatusCode::CONFLICT, "config_change_in_progress"),
        RaftError::NotCaughtUp { .. } => (StatusCode::CONFLICT, "not_caught_up"),
        RaftError::NoVotersLeft => (StatusCode::CONFLICT, "no_voters_left"),
        RaftError::UnknownNode { .. } => (StatusCode::NOT_FOUND, "unknown_node"),
        RaftError::AddressTooLong { .. } => (StatusCode::BAD_REQUEST, "bad_address"),
    };
    let mut response = error_response(status, code, error.to_string());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// A request refused before it reached the core, rendered in the JSON error shape.
/// (Small, unlike a `Response`, so helpers can return `Result<_, Refusal>`.)
#[derive(Debug)]
pub(crate) struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error_response(self.status, self.code, self.message)
    }
}

/// A 400 with the JSON error shape.
pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        code,
        message: message.into(),
    }
}

/// A refused request body: 413 past the size limit, 400 otherwise.
pub(crate) fn body_refused(status: StatusCode, why: impl std::fmt::Display) -> Refusal {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return Refusal {
            status,
            code: "too_large",
            message: format!(
                "the body is over {KV_BODY_BYTES_MAX} bytes; a value may have at most {} bytes",
                skein_raft::config::VALUE_BYTES_MAX
            ),
        };
    }
    bad_request("bad_body", format!("unreadable request body: {why}"))
}
