//! `/api/v1/raft/...`: this node's Raft status, membership changes and
//! leadership transfer.
//!
//! Membership changes go one server at a time (thesis §4.1). `POST /members`
//! adds a learner that the leader promotes once it has caught up
//! (`"learner": true` keeps it non-voting); `POST /members/{id}/promote`
//! promotes one explicitly. A brand-new node is added with its `address`
//! (`ID@HOST:STREAM_PORT:DATAGRAM_PORT`, or `HOST` for the default ports):
//! the address goes into the replicated configuration, every member adds it
//! as a peer and re-adds it after a restart. Without an address the node
//! must be one this node already knows (its `--peers`, or added before);
//! its known address is recorded then. The new node itself starts with
//! `--set join_existing=true`, the cluster secret, and `--peers` naming the
//! current members, so it can answer the leader; the members admit it
//! because it proves the secret (see `stream.rs`).

use super::raft_http::{bad_request, body_refused, refusal, Refusal};
use crate::api::ErrorBody;
use crate::service_api::CoreHandle;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use skein_core::{NodeId, PeerAddress};
use skein_raft::{Membership, Reply, Request};
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberBody {
    /// The node to add.
    pub id: u16,
    /// Where members reach it: `ID@HOST:STREAM_PORT:DATAGRAM_PORT`, `ID@HOST`
    /// or `HOST` (default ports from the port bases). Needed unless this
    /// node already knows it (its `--peers`).
    #[serde(default)]
    pub address: Option<String>,
    /// Keep it a non-voting learner (default: promote it once caught up).
    #[serde(default)]
    pub learner: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// The voter to hand leadership to (default: the most caught-up one).
    pub to: Option<u16>,
}

/// The configuration after a committed membership change.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MembershipBody {
    pub voters: Vec<u16>,
    pub learners: Vec<u16>,
    /// Members' addresses recorded in the configuration (nodes added with
    /// one, and leaders that proposed a change).
    pub addresses: std::collections::BTreeMap<u16, String>,
    /// The log index at which the change committed.
    pub index: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferStartedBody {
    /// The node that is being made leader; watch `/api/v1/raft/status` for it.
    pub to: u16,
}

/// This node's Raft state: role, term, leader, commit/applied/durable index,
/// membership, and (on the leader) each follower's match index.
#[utoipa::path(get, path = "/api/v1/raft/status", tag = "raft",
    responses(
        (status = 200, body = Object, description = "`{id, role, term, leader, leader_api, voted_for, commit_index, applied_index, last_log_index, durable_index, snapshot_index, membership: {voters, learners}, followers: [{id, match_index, next_index, state, inflight}], pending_proposals, pending_reads, keys}`"),
        (status = 503, body = ErrorBody, description = "node is stopping"),
    ))]
pub async fn status(State(core): State<CoreHandle>) -> Response {
    let mut status = match core.status().await {
        Ok(status) => status,
        Err(error) => return error.into_response(),
    };
    let leader_api = status["leader"]
        .as_u64()
        .and_then(|l| u16::try_from(l).ok())
        .and_then(|l| leader_api(&core, NodeId(l)));
    if let Some(object) = status.as_object_mut() {
        object.insert("leader_api".into(), leader_api.into());
    }
    Json(status).into_response()
}

/// The API URL of `id`, this node included.
fn leader_api(core: &CoreHandle, id: NodeId) -> Option<String> {
    if id == core.node().id {
        return None; // the caller is already talking to it
    }
    core.node().peer_api_url(id)
}

/// Whether the runtime knows where node `id` is (itself, a `--peers` entry or a peer added since).
fn known(core: &CoreHandle, id: u16) -> bool {
    let node = core.node();
    NodeId(id) == node.id || node.peer_hosts.get(NodeId(id)).is_some()
}

fn unknown_node(core: &CoreHandle, id: u16) -> Refusal {
    let node = core.node();
    let mut ids: Vec<u16> = node.peer_hosts.ids().iter().map(|n| n.0).collect();
    ids.push(node.id.0);
    ids.sort_unstable();
    bad_request(
        "unknown_node",
        format!("node {id} is not one this node knows an address for (known: {ids:?}); give its address (\"address\": \"{id}@HOST:STREAM_PORT:DATAGRAM_PORT\", `skein raft add {id} --address ...`)"),
    )
}

/// The address to record for node `id`: the one given (checked and put in
/// full form), else the one this node knows; `Ok(None)` for this node itself.
fn member_address(
    core: &CoreHandle,
    id: u16,
    given: Option<&str>,
) -> Result<Option<PeerAddress>, Refusal> {
    let node = core.node();
    let Some(text) = given else {
        if NodeId(id) == node.id {
            return Ok(None);
        }
        return match node.peer_hosts.get(NodeId(id)) {
            Some(spec) => Ok(Some(spec.address())),
            None => Err(unknown_node(core, id)),
        };
    };
    let full = match text.contains('@') {
        true => text.to_string(),
        false => format!("{id}@{text}"),
    };
    let spec = crate::address::PeerSpec::parse(&full, node.port_bases).map_err(|e| {
        bad_request(
            "bad_address",
            format!("address {text:?}: expected {}", e.expected),
        )
    })?;
    if spec.id.0 != id {
        let why = format!(
            "the address names node {} but the body adds node {id}",
            spec.id
        );
        return Err(bad_request("bad_address", why));
    }
    Ok(Some(spec.address()))
}

fn membership_reply(core: &CoreHandle, uri: &Uri, reply: Reply) -> Response {
    match reply {
        Reply::Membership { membership, index } => {
            Json(membership_body(&membership, index)).into_response()
        }
        other => refusal(core, uri, other),
    }
}

fn membership_body(membership: &Membership, index: u64) -> MembershipBody {
    MembershipBody {
        voters: membership.voters.iter().map(|n| n.0).collect(),
        learners: membership.learners.iter().map(|n| n.0).collect(),
        addresses: (membership.addresses.iter())
            .map(|(id, a)| (id.0, a.0.clone()))
            .collect(),
        index,
    }
}

/// Adds a node: as a learner, promoted to voter once caught up (or kept a learner).
#[utoipa::path(post, path = "/api/v1/raft/members", tag = "raft", request_body = AddMemberBody,
    responses(
        (status = 200, body = MembershipBody, description = "the change committed"),
        (status = 307, body = super::raft_http::NotLeaderBody, description = "not the leader: `Location` names the same path on the leader"),
        (status = 400, body = ErrorBody, description = "malformed JSON, a malformed address, or no address given for a node this node does not know"),
        (status = 409, body = ErrorBody, description = "another membership change is in progress"),
        (status = 503, body = ErrorBody, description = "no leader known yet; retry"),
    ))]
pub async fn add_member(
    State(core): State<CoreHandle>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body: AddMemberBody = match parse(body) {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    if !(1..=999).contains(&body.id) {
        return bad_request("bad_node_id", "the node id must be a number from 1 to 999")
            .into_response();
    }
    let address = match member_address(&core, body.id, body.address.as_deref()) {
        Ok(address) => address,
        Err(refused) => return refused.into_response(),
    };
    let id = NodeId(body.id);
    let request = match body.learner {
        true => Request::AddLearner { id, address },
        false => Request::AddMember { id, address },
    };
    match core.request::<_, Reply>(&request).await {
        Ok(reply) => membership_reply(&core, &uri, reply),
        Err(error) => error.into_response(),
    }
}

/// Removes a voter or learner (the leader included: it steps down once the removal commits).
#[utoipa::path(delete, path = "/api/v1/raft/members/{id}", tag = "raft",
    params(("id" = u16, Path, description = "the node to remove")),
    responses(
        (status = 200, body = MembershipBody, description = "the change committed"),
        (status = 307, body = super::raft_http::NotLeaderBody, description = "not the leader"),
        (status = 400, body = ErrorBody, description = "not a node id"),
        (status = 404, body = ErrorBody, description = "not a member"),
        (status = 409, body = ErrorBody, description = "another change is in progress, or it would leave no voters"),
    ))]
pub async fn remove_member(
    State(core): State<CoreHandle>,
    uri: Uri,
    id: Result<Path<u16>, PathRejection>,
) -> Response {
    member_change(&core, &uri, id, |id| Request::RemoveMember { id }).await
}

/// Makes a caught-up learner a voter.
#[utoipa::path(post, path = "/api/v1/raft/members/{id}/promote", tag = "raft",
    params(("id" = u16, Path, description = "the learner to promote")),
    responses(
        (status = 200, body = MembershipBody, description = "the change committed"),
        (status = 307, body = super::raft_http::NotLeaderBody, description = "not the leader"),
        (status = 404, body = ErrorBody, description = "not a learner"),
        (status = 409, body = ErrorBody, description = "not caught up yet, or another change is in progress"),
    ))]
pub async fn promote(
    State(core): State<CoreHandle>,
    uri: Uri,
    id: Result<Path<u16>, PathRejection>,
) -> Response {
    member_change(&core, &uri, id, |id| Request::Promote { id }).await
}

async fn member_change(
    core: &CoreHandle,
    uri: &Uri,
    id: Result<Path<u16>, PathRejection>,
    request: impl FnOnce(NodeId) -> Request,
) -> Response {
    let id = match id {
        Ok(Path(id)) if (1..=999).contains(&id) => NodeId(id),
        _ => {
            return bad_request("bad_node_id", "the node id must be a number from 1 to 999")
                .into_response()
        }
    };
    match core.request::<_, Reply>(&request(id)).await {
        Ok(reply) => membership_reply(core, uri, reply),
        Err(error) => error.into_response(),
    }
}

/// Hands leadership to a voter (thesis §3.10); writes pause until it takes over.
#[utoipa::path(post, path = "/api/v1/raft/transfer-leader", tag = "raft",
    request_body(content = TransferBody, description = "`{\"to\": 2}`, or `{}` / no body for the most caught-up voter"),
    responses(
        (status = 202, body = TransferStartedBody, description = "the transfer started; it completes within an election timeout or is abandoned"),
        (status = 307, body = super::raft_http::NotLeaderBody, description = "not the leader"),
        (status = 400, body = ErrorBody, description = "malformed JSON or unknown node"),
        (status = 404, body = ErrorBody, description = "not a voter"),
        (status = 503, body = ErrorBody, description = "no leader, or a transfer is already in progress"),
    ))]
pub async fn transfer_leader(
    State(core): State<CoreHandle>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let empty = body
        .as_ref()
        .is_ok_and(|b| b.iter().all(u8::is_ascii_whitespace));
    let body: TransferBody = match empty {
        true => TransferBody::default(),
        false => match parse(body) {
            Ok(body) => body,
            Err(refusal) => return refusal.into_response(),
        },
    };
    if let Some(to) = body.to {
        if !known(&core, to) {
            return unknown_node(&core, to).into_response();
        }
    }
    let request = Request::TransferLeader {
        to: body.to.map(NodeId),
    };
    match core.request::<_, Reply>(&request).await {
        Ok(Reply::TransferStarted { to }) => {
            (StatusCode::ACCEPTED, Json(TransferStartedBody { to: to.0 })).into_response()
        }
        Ok(other) => refusal(&core, &uri, other),
        Err(error) => error.into_response(),
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Refusal> {
    let body = body.map_err(|rejection| body_refused(rejection.status(), rejection))?;
    serde_json::from_slice(&body)
        .map_err(|e| bad_request("bad_json", format!("the body must be JSON: {e}")))
}
