//! The `bftlist` service's REST API and start-up settings.
//!
//! | method | path | what |
//! |---|---|---|
//! | POST | `/api/v1/list/requests` | submit `{client, ts, op, value}`; answers once this replica executed it |
//! | GET | `/api/v1/list` | this replica's executed list and its last sequence number |
//! | GET | `/api/v1/bft/status` | view, phase, primary, module summaries, counters |
//! | GET | `/api/v1/bft/state` | every module's variables (the original's `/data`) |
//! | PUT | `/api/v1/bft/state` | replace them: an injected start state (fault injection) |
//! | GET/PUT | `/api/v1/bft/byzantine` | the emulated Byzantine behaviour (PUT: fault injection) |
//! | POST | `/api/v1/bft/corrupt` | a transient fault: corrupt every variable (fault injection) |
//!
//! Fault-injection routes answer 403 unless the node runs with
//! `--allow-fault-injection`; the core refuses the same requests by any
//! other path too ([`prepare`] hands it the flag).
//!
//! A client sends each request to **all** replicas and takes the result
//! once f+1 replicas answer the same (BFTLIST.md §3); one replica's answer
//! alone proves nothing. `skein list` is such a client.

pub use super::bft_bodies::{
    ByzantineBody, CorruptBody, ExecutedBody, ListBody, SubmitBody, CLIENT_KEY_SERVICE,
};
pub use super::bft_settings::prepare;

use crate::api::{error_response, json_rejection, ErrorBody};
use crate::service_api::{CallError, CoreHandle, ServiceApi};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use skein_bft::{AdminReply, AdminRequest, BftReply, BftRequest, ByzantineBehaviour};
use std::time::Instant;
use utoipa::OpenApi;

const EXECUTION: &str = "skein_bft_request_execution_seconds";
const EXECUTION_HELP: &str =
    "Time from a client request's arrival at this replica to its execution here";

/// Why a call into the core gave no usable reply; renders as a JSON error.
enum Failed {
    Call(CallError),
    /// The core refused an operator request (e.g. fault injection off).
    Refused(String),
}

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        match self {
            Failed::Call(error) => error.into_response(),
            Failed::Refused(reason) => refused(StatusCode::CONFLICT, reason),
        }
    }
}

async fn call(core: &CoreHandle, request: BftRequest) -> Result<BftReply, Failed> {
    core.request::<BftRequest, BftReply>(&request)
        .await
        .map_err(Failed::Call)
}

fn refused(status: StatusCode, reason: String) -> Response {
    error_response(status, "refused", reason)
}

fn unexpected(reply: BftReply) -> Response {
    CallError::BadReply(format!("{reply:?}")).into_response()
}

fn forbidden() -> Response {
    error_response(
        StatusCode::FORBIDDEN,
        "fault_injection_off",
        "fault injection is off on this node; start it with --allow-fault-injection",
    )
}

async fn admin(core: &CoreHandle, request: AdminRequest) -> Result<AdminReply, Failed> {
    match call(core, BftRequest::Admin(request)).await? {
        BftReply::Admin(reply) => Ok(reply),
        BftReply::Refused { reason } => Err(Failed::Refused(reason)),
        other => Err(Failed::Call(CallError::BadReply(format!("{other:?}")))),
    }
}

/// Orders and executes one operation; answers once this replica executed it.
///
/// Send the same request to every replica and accept the result once f+1
/// answer the same. A replica that is Byzantine, or does not hold the
/// request in time, may not answer (504).
#[utoipa::path(post, path = "/api/v1/list/requests", tag = "bftlist", request_body = SubmitBody,
    responses(
        (status = 200, body = ExecutedBody),
        (status = 400, body = ErrorBody, description = "not a valid request (bad JSON, unknown op, missing value)"),
        (status = 401, body = ErrorBody, description = "the cluster authenticates clients and `auth` is missing or not this client's tag"),
        (status = 413, body = ErrorBody, description = "body over 64 KiB"),
        (status = 422, body = ErrorBody, description = "refused by the replica: client id out of range, stale timestamp, superseded, too many outstanding"),
        (status = 504, body = ErrorBody, description = "not executed here within the request timeout"),
    ))]
async fn submit(
    State(core): State<CoreHandle>,
    body: Result<Json<SubmitBody>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => return json_rejection(core.metrics(), rejection),
    };
    let op = match body.to_op() {
        Ok(op) => op,
        Err(why) => return error_response(StatusCode::BAD_REQUEST, "bad_op", why),
    };
    let node = core.node();
    let checked = match node
        .client_auth
        .key(CLIENT_KEY_SERVICE, body.client, node.id)
    {
        Ok(Some(key)) => body.authenticate(&op, &key),
        Ok(None) => Ok(()),
        Err(why) => Err(why),
    };
    if let Err(why) = checked {
        core.metrics().request("unauthenticated");
        return error_response(StatusCode::UNAUTHORIZED, "unauthenticated", why);
    }
    let arrived = Instant::now();
    let request = BftRequest::Submit {
        client: body.client,
        ts: body.ts,
        op,
    };
    let reply = match call(&core, request).await {
        Ok(reply) => reply,
        Err(failed) => return failed.into_response(),
    };
    let body = match reply {
        BftReply::Executed {
            client,
            ts,
            seq,
            result,
        } => {
            core.metrics().service_histograms.observe_seconds(
                EXECUTION,
                EXECUTION_HELP,
                arrived.elapsed().as_secs_f64(),
            );
            ExecutedBody {
                client,
                ts,
                seq,
                result: serde_json::to_value(result).ok(),
            }
        }
        BftReply::AlreadyExecuted { client, ts, seq } => ExecutedBody {
            client,
            ts,
            seq,
            result: None,
        },
        BftReply::Refused { reason } => return refused(StatusCode::UNPROCESSABLE_ENTITY, reason),
        other => return unexpected(other),
    };
    Json(body).into_response()
}

/// This replica's executed list (local, not linearizable: use op `read` for that).
#[utoipa::path(get, path = "/api/v1/list", tag = "bftlist",
    responses((status = 200, body = ListBody), (status = 504, body = ErrorBody, description = "the replica does not answer (e.g. UNRESPONSIVE)")))]
async fn show(State(core): State<CoreHandle>) -> Response {
    match call(&core, BftRequest::Show).await {
        Ok(BftReply::List { last_exec, list }) => {
            Json(ListBody { last_exec, list }).into_response()
        }
        Ok(BftReply::Refused { reason }) => refused(StatusCode::CONFLICT, reason),
        Ok(other) => unexpected(other),
        Err(failed) => failed.into_response(),
    }
}

/// View, phase, primary, module summaries and counters of this replica.
#[utoipa::path(get, path = "/api/v1/bft/status", tag = "bftlist",
    responses((status = 200, description = "skein_bft::BftStatus", body = Object)))]
async fn status(State(core): State<CoreHandle>) -> Response {
    match core.status().await {
        Ok(status) => Json(status).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Every module's variables (VE, Rep, PM, FD, ED-FD): the original's `/data`.
#[utoipa::path(get, path = "/api/v1/bft/state", tag = "bftlist",
    responses((status = 200, description = "skein_bft::BftState", body = Object)))]
async fn get_state(State(core): State<CoreHandle>) -> Response {
    match admin(&core, AdminRequest::GetState).await {
        Ok(AdminReply::State(state)) => Json(state).into_response(),
        Ok(other) => unexpected(BftReply::Admin(other)),
        Err(failed) => failed.into_response(),
    }
}

/// Replaces every module's variables with the body (a state as `GET` shows
/// it): the original's injected start state. Malformed parts are repaired.
#[utoipa::path(put, path = "/api/v1/bft/state", tag = "bftlist",
    request_body(content = Object, description = "skein_bft::BftState"),
    responses(
        (status = 204, description = "loaded"),
        (status = 400, body = ErrorBody, description = "not a state"),
        (status = 403, body = ErrorBody, description = "the node runs without --allow-fault-injection"),
    ))]
async fn put_state(
    State(core): State<CoreHandle>,
    body: Result<Json<skein_bft::BftState>, JsonRejection>,
) -> Response {
    if !core.node().allow_fault_injection {
        return forbidden();
    }
    let state = match body {
        Ok(Json(state)) => state,
        Err(rejection) => return json_rejection(core.metrics(), rejection),
    };
    match admin(&core, AdminRequest::LoadState(Box::new(state))).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(failed) => failed.into_response(),
    }
}

/// The Byzantine behaviour this replica acts out (null: correct).
#[utoipa::path(get, path = "/api/v1/bft/byzantine", tag = "bftlist",
    responses((status = 200, body = ByzantineBody)))]
async fn get_byzantine(State(core): State<CoreHandle>) -> Response {
    match admin(&core, AdminRequest::GetByzantine).await {
        Ok(AdminReply::Byzantine(b)) => Json(byzantine_body(b)).into_response(),
        Ok(other) => unexpected(BftReply::Admin(other)),
        Err(failed) => failed.into_response(),
    }
}

fn byzantine_body(b: Option<ByzantineBehaviour>) -> ByzantineBody {
    ByzantineBody {
        behaviour: b.map(|b| b.name().to_string()),
    }
}

/// Makes this replica act out a Byzantine behaviour of BFTLIST.md §5 from
/// now on, or correct again with `{"behaviour": null}`.
#[utoipa::path(put, path = "/api/v1/bft/byzantine", tag = "bftlist", request_body = ByzantineBody,
    responses(
        (status = 200, body = ByzantineBody, description = "the behaviour now in force"),
        (status = 400, body = ErrorBody, description = "unknown behaviour or bad JSON"),
        (status = 403, body = ErrorBody, description = "the node runs without --allow-fault-injection"),
    ))]
async fn put_byzantine(
    State(core): State<CoreHandle>,
    body: Result<Json<ByzantineBody>, JsonRejection>,
) -> Response {
    if !core.node().allow_fault_injection {
        return forbidden();
    }
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => return json_rejection(core.metrics(), rejection),
    };
    let behaviour = match body.behaviour.as_deref().map(str::parse).transpose() {
        Ok(b) => b,
        Err(e) => {
            let e: skein_bft::byzantine::UnknownBehaviour = e;
            return error_response(StatusCode::BAD_REQUEST, "bad_behaviour", e.to_string());
        }
    };
    match admin(&core, AdminRequest::SetByzantine(behaviour)).await {
        Ok(AdminReply::Byzantine(b)) => Json(byzantine_body(b)).into_response(),
        Ok(other) => unexpected(BftReply::Admin(other)),
        Err(failed) => failed.into_response(),
    }
}

/// A transient fault (BFTLIST.md §4): overwrites every module's variables
/// with arbitrary values. The replica must converge back by itself.
#[utoipa::path(post, path = "/api/v1/bft/corrupt", tag = "bftlist", request_body(content = CorruptBody, description = "optional; an empty body draws a random seed"),
    responses(
        (status = 200, body = CorruptBody, description = "corrupted with this seed"),
        (status = 400, body = ErrorBody, description = "bad JSON"),
        (status = 403, body = ErrorBody, description = "the node runs without --allow-fault-injection"),
    ))]
async fn corrupt(State(core): State<CoreHandle>, body: axum::body::Bytes) -> Response {
    if !core.node().allow_fault_injection {
        return forbidden();
    }
    let body: CorruptBody = if body.iter().all(u8::is_ascii_whitespace) {
        CorruptBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(body) => body,
            Err(e) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "bad_json",
                    format!("expected {{\"seed\": INTEGER}} or an empty body ({e})"),
                )
            }
        }
    };
    let seed = body.seed.unwrap_or_else(|| {
        use rand::{RngCore, SeedableRng};
        rand_chacha::ChaCha8Rng::from_os_rng().next_u64()
    });
    match admin(&core, AdminRequest::Corrupt { seed }).await {
        Ok(AdminReply::Corrupted { seed }) => {
            Json(CorruptBody { seed: Some(seed) }).into_response()
        }
        Ok(other) => unexpected(BftReply::Admin(other)),
        Err(failed) => failed.into_response(),
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(submit, show, status, get_state, put_state, get_byzantine, put_byzantine, corrupt),
    components(schemas(SubmitBody, ExecutedBody, ListBody, ByzantineBody, CorruptBody)),
    tags((name = "bftlist", description = "The self-stabilizing Byzantine-tolerant replicated list (BFTLIST.md)"))
)]
struct BftDoc;

pub fn api() -> ServiceApi {
    ServiceApi {
        routes: |core| {
            super::bft_metrics::spawn_sampler(core.clone());
            Router::new()
                .route("/api/v1/list/requests", post(submit))
                .route("/api/v1/list", get(show))
                .route("/api/v1/bft/status", get(status))
                .route("/api/v1/bft/state", get(get_state).put(put_state))
                .route(
                    "/api/v1/bft/byzantine",
                    get(get_byzantine).put(put_byzantine),
                )
                .route("/api/v1/bft/corrupt", post(corrupt))
                .with_state(core)
        },
        openapi: BftDoc::openapi,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_state_survives_the_json_trip_into_the_core() {
        let members: Vec<skein_core::NodeId> = (1..=6).map(skein_core::NodeId).collect();
        let config = skein_bft::BftConfig {
            allow_fault_injection: true,
            ..Default::default()
        };
        let mut node = skein_bft::BftNode::new(members[0], &members, &config);
        node.admin(AdminRequest::Corrupt { seed: 9 }).unwrap();
        let request = BftRequest::Admin(AdminRequest::LoadState(Box::new(node.state().clone())));
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(serde_json::from_value::<BftRequest>(json).unwrap(), request);
    }
}
