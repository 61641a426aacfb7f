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

use crate::api::{error_response, json_rejection, ErrorBody};
use crate::config::{ConfigError, NodeSettings};
use crate::service_api::{CallError, CoreHandle, ServiceApi};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use skein_bft::{AdminReply, AdminRequest, BftReply, BftRequest, ByzantineBehaviour, Op};
use utoipa::{OpenApi, ToSchema};

/// Hands node-level settings to the bftlist core's config table: the node
/// flag `--allow-fault-injection` (the only way to turn it on) and
/// `--byzantine BEHAVIOUR` (env `SKEIN_BYZANTINE`).
pub fn prepare(settings: &mut NodeSettings) -> Result<(), ConfigError> {
    const FLAG_KEY: &str = "allow_fault_injection";
    let table = &mut settings.service_config;
    if table.contains_key(FLAG_KEY) {
        return Err(ConfigError::new(
            "bftlist.allow_fault_injection",
            &table[FLAG_KEY],
            "to be left out of the config file: use the node flag --allow-fault-injection",
        ));
    }
    table.insert(
        FLAG_KEY.into(),
        toml::Value::Boolean(settings.allow_fault_injection),
    );
    if let Some(text) = settings.byzantine.take() {
        let behaviour: ByzantineBehaviour =
            text.parse()
                .map_err(|e: skein_bft::byzantine::UnknownBehaviour| {
                    ConfigError::new("byzantine", &text, e.to_string())
                })?;
        table.insert(
            "byzantine".into(),
            toml::Value::String(behaviour.name().into()),
        );
    }
    Ok(())
}

/// `POST /api/v1/list/requests`: one client request.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    /// The client's id, `0..clients_max` (K of the spec; 16 by default).
    pub client: u32,
    /// Identifies the request with `client`; must grow with each request of
    /// the client, which has one request outstanding at a time (§3).
    pub ts: u64,
    /// `append`, `remove`, `read` or `no-op`.
    pub op: String,
    /// The value to append or remove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
}

impl SubmitBody {
    /// The core's operation, or why the body names none.
    pub fn to_op(&self) -> Result<Op, String> {
        let value = || {
            self.value
                .ok_or_else(|| format!("`{}` needs a `value` (an integer)", self.op))
        };
        let no_value = |op: Op| match self.value {
            Some(_) => Err(format!("`{}` takes no `value`", self.op)),
            None => Ok(op),
        };
        match self.op.to_ascii_lowercase().as_str() {
            "append" => Ok(Op::Append(value()?)),
            "remove" => Ok(Op::Remove(value()?)),
            "read" => no_value(Op::Read),
            "no-op" | "noop" | "no_op" => no_value(Op::NoOp),
            other => Err(format!(
                "unknown op `{other}`; expected append, remove, read or no-op"
            )),
        }
    }
}

/// A replica's answer to a submitted request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExecutedBody {
    pub client: u32,
    pub ts: u64,
    /// The sequence number the request executed at.
    pub seq: i64,
    /// The result, e.g. `"Appended"`, `{"Removed":{"found":true}}`,
    /// `{"Read":{"list":[1,2]}}`; null if the request had executed before
    /// this call and the replica no longer knows its result.
    #[schema(value_type = Object)]
    pub result: Option<Value>,
}

/// `GET /api/v1/list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListBody {
    /// The sequence number of the last executed request (-1: none).
    pub last_exec: i64,
    pub list: Vec<i64>,
}

/// `GET/PUT /api/v1/bft/byzantine`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ByzantineBody {
    /// A behaviour of BFTLIST.md §5 in kebab case (`unresponsive`,
    /// `different-views`, …), or null for a correct replica.
    pub behaviour: Option<String>,
}

/// `POST /api/v1/bft/corrupt`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorruptBody {
    /// Seeds the corruption (the same seed corrupts the same way); random if left out.
    #[serde(default)]
    pub seed: Option<u64>,
}

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
        } => ExecutedBody {
            client,
            ts,
            seq,
            result: serde_json::to_value(result).ok(),
        },
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

    fn body(op: &str, value: Option<i64>) -> SubmitBody {
        SubmitBody {
            client: 0,
            ts: 1,
            op: op.into(),
            value,
        }
    }

    #[test]
    fn ops_parse_and_bad_ones_say_why() {
        assert_eq!(body("append", Some(3)).to_op(), Ok(Op::Append(3)));
        assert_eq!(body("REMOVE", Some(3)).to_op(), Ok(Op::Remove(3)));
        assert_eq!(body("read", None).to_op(), Ok(Op::Read));
        assert_eq!(body("no-op", None).to_op(), Ok(Op::NoOp));
        assert!(body("append", None).to_op().unwrap_err().contains("value"));
        assert!(body("read", Some(1))
            .to_op()
            .unwrap_err()
            .contains("no `value`"));
        assert!(body("pop", None)
            .to_op()
            .unwrap_err()
            .contains("unknown op"));
    }

    #[test]
    fn the_flag_and_the_behaviour_reach_the_core_config() {
        let overrides = crate::NodeOverrides {
            id: Some(1),
            allow_fault_injection: Some(true),
            byzantine: Some("DIFFERENT_VIEWS".into()),
            ..Default::default()
        };
        let mut s = NodeSettings::resolve(overrides, toml::Table::new()).unwrap();
        prepare(&mut s).unwrap();
        assert_eq!(s.byzantine, None, "taken by the service");
        let c: skein_bft::BftConfig = s.protocol_config().unwrap();
        assert!(c.allow_fault_injection);
        assert_eq!(c.byzantine, Some(ByzantineBehaviour::DifferentViews));

        let bad = crate::NodeOverrides {
            id: Some(1),
            byzantine: Some("sneaky".into()),
            ..Default::default()
        };
        let mut s = NodeSettings::resolve(bad, toml::Table::new()).unwrap();
        let err = prepare(&mut s).unwrap_err();
        assert!(err.to_string().contains("different-views"), "{err}");

        let (_, sections) =
            crate::NodeOverrides::parse_toml("[bftlist]\nallow_fault_injection = true\n").unwrap();
        let mut s = NodeSettings::resolve(
            crate::NodeOverrides {
                id: Some(1),
                service: Some("bftlist".into()),
                ..Default::default()
            },
            sections,
        )
        .unwrap();
        let err = prepare(&mut s).unwrap_err();
        assert!(err.to_string().contains("--allow-fault-injection"), "{err}");
    }

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
