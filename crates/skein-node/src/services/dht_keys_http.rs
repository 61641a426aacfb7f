//! Key routes of the `dht` service: the network store
//! (`/api/v1/dht/keys/{key}`, routed through the ring and replicated), the
//! local store (`/api/v1/dht/local/{key}`, this node only) and lookups.
//!
//! A key is the rest of the path (percent-decoded, may contain `/`). `PUT`
//! takes the raw body as the value (any bytes). `GET` answers JSON: the value
//! as text when it is UTF-8 (`encoding: "utf8"`), else as hex (`"hex"`).

use super::dht_http::{refusal, NodeBody, VersionBody};
use crate::api::{error_response, ErrorBody};
use crate::service_api::CoreHandle;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use skein_dht::{Reply, Request};
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ValueBody {
    pub key: String,
    pub value: String,
    /// `utf8`: `value` is the text; `hex`: `value` is the bytes in hex.
    pub encoding: String,
    pub version: VersionBody,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StoredBody {
    pub key: String,
    pub version: VersionBody,
    /// Nodes holding the write when it was acknowledged (r=3 on a healthy ring).
    pub replicas: u8,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletedBody {
    pub key: String,
    pub existed: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LookupBody {
    pub key: String,
    /// The key's ring position (40 hex digits).
    pub key_ring: String,
    /// The responsible node: the key's successor on the ring.
    pub node: NodeBody,
    /// Remote nodes asked (0: this node knew the answer).
    pub hops: u32,
}

type KeyPath = Result<Path<String>, PathRejection>;

/// A request refused before it reached the core (small, unlike a `Response`).
struct Refused {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        error_response(self.status, self.code, self.message)
    }
}

fn key_of(path: KeyPath) -> Result<String, Refused> {
    let refused = |message: String| Refused {
        status: StatusCode::BAD_REQUEST,
        code: "bad_key",
        message,
    };
    match path {
        Ok(Path(key)) if !key.is_empty() => Ok(key),
        Ok(_) => Err(refused("the key is empty".into())),
        Err(rejection) => Err(refused(format!("the key must be UTF-8 text: {rejection}"))),
    }
}

fn value_body(key: String, value: Vec<u8>, version: skein_dht::Version) -> Response {
    let (value, encoding) = match String::from_utf8(value) {
        Ok(text) => (text, "utf8"),
        Err(e) => (
            e.as_bytes().iter().map(|b| format!("{b:02x}")).collect(),
            "hex",
        ),
    };
    Json(ValueBody {
        key,
        value,
        encoding: encoding.into(),
        version: version.into(),
    })
    .into_response()
}

async fn read(core: &CoreHandle, key: String, request: Request) -> Response {
    match core.request::<_, Reply>(&request).await {
        Ok(Reply::Value { value, version }) => value_body(key, value, version),
        Ok(Reply::NotFound) => error_response(
            StatusCode::NOT_FOUND,
            "key_not_found",
            format!("no key {key:?}"),
        ),
        Ok(other) => refusal(other),
        Err(error) => error.into_response(),
    }
}

async fn write(core: &CoreHandle, key: String, request: Request) -> Response {
    match core.request::<_, Reply>(&request).await {
        Ok(Reply::Stored { version, replicas }) => Json(StoredBody {
            key,
            version: version.into(),
            replicas,
        })
        .into_response(),
        Ok(other) => refusal(other),
        Err(error) => error.into_response(),
    }
}

async fn remove_key(core: &CoreHandle, key: String, request: Request) -> Response {
    match core.request::<_, Reply>(&request).await {
        Ok(Reply::Deleted { existed, .. }) => Json(DeletedBody { key, existed }).into_response(),
        Ok(other) => refusal(other),
        Err(error) => error.into_response(),
    }
}

fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Vec<u8>, Refused> {
    body.map(|b| b.to_vec()).map_err(|rejection| {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_body"
        };
        Refused {
            status,
            code,
            message: rejection.body_text(),
        }
    })
}

/// Reads a key from the network store (the highest version among its replicas).
#[utoipa::path(get, path = "/api/v1/dht/keys/{key}", tag = "dht",
    params(("key" = String, Path, description = "the key; may contain `/`")),
    responses((status = 200, body = ValueBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody, description = "key too long"),
              (status = 503, body = ErrorBody, description = "not in a ring, or the lookup failed; retry"),
              (status = 504, body = ErrorBody, description = "no replica answered in time")))]
pub async fn get(State(core): State<CoreHandle>, key: KeyPath) -> Response {
    match key_of(key) {
        Ok(key) => read(&core, key.clone(), Request::Get { key }).await,
        Err(refused) => refused.into_response(),
    }
}

/// Writes a key to the network store: its responsible node and the next r-1.
#[utoipa::path(put, path = "/api/v1/dht/keys/{key}", tag = "dht",
    params(("key" = String, Path, description = "the key; may contain `/`")),
    request_body(content = String, description = "the raw value (any bytes)"),
    responses((status = 200, body = StoredBody), (status = 413, body = ErrorBody),
              (status = 503, body = ErrorBody), (status = 504, body = ErrorBody),
              (status = 507, body = ErrorBody, description = "the responsible node's store is full")))]
pub async fn put(
    State(core): State<CoreHandle>,
    key: KeyPath,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (key, value) = match (key_of(key), body_of(body)) {
        (Ok(key), Ok(value)) => (key, value),
        (Err(refused), _) | (_, Err(refused)) => return refused.into_response(),
    };
    write(&core, key.clone(), Request::Put { key, value }).await
}

/// Deletes a key from the network store (a tombstone wins over older copies).
#[utoipa::path(delete, path = "/api/v1/dht/keys/{key}", tag = "dht",
    params(("key" = String, Path, description = "the key; may contain `/`")),
    responses((status = 200, body = DeletedBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn remove(State(core): State<CoreHandle>, key: KeyPath) -> Response {
    match key_of(key) {
        Ok(key) => remove_key(&core, key.clone(), Request::Delete { key }).await,
        Err(refused) => refused.into_response(),
    }
}

/// Reads a key from this node's local store.
#[utoipa::path(get, path = "/api/v1/dht/local/{key}", tag = "dht",
    params(("key" = String, Path, description = "the key; may contain `/`")),
    responses((status = 200, body = ValueBody), (status = 404, body = ErrorBody)))]
pub async fn local_get(State(core): State<CoreHandle>, key: KeyPath) -> Response {
    match key_of(key) {
        Ok(key) => read(&core, key.clone(), Request::LocalGet { key }).await,
        Err(refused) => refused.into_response(),
    }
}

/// Writes a key to this node's local store (not replicated).
#[utoipa::path(put, path = "/api/v1/dht/local/{key}", tag = "dht",
    params(("key" = String, Path, description = "the key; may contain `/`")),
    request_body(content = String, description = "the raw value (any bytes)"),
    responses((status = 200, body = StoredBody), (status = 413, body = ErrorBody), (status = 507, body = ErrorBody)))]
pub async fn local_put(
    State(core): State<CoreHandle>,
    key: KeyPath,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (key, value) = match (key_of(key), body_of(body)) {
        (Ok(key), Ok(value)) => (key, value),
        (Err(refused), _) | (_, Err(refused)) => return refused.into_response(),
    };
    write(&core, key.clone(), Request::LocalPut { key, value }).await
}

/// Deletes a key from this node's local store.
#[utoipa::path(delete, path = "/api/v1/dht/local/{key}", tag = "dht",
    params(("key" = String, Path, description = "the key; may contain `/`")),
    responses((status = 200, body = DeletedBody)))]
pub async fn local_remove(State(core): State<CoreHandle>, key: KeyPath) -> Response {
    match key_of(key) {
        Ok(key) => remove_key(&core, key.clone(), Request::LocalDelete { key }).await,
        Err(refused) => refused.into_response(),
    }
}

/// Which node is responsible for a key, and how many hops the lookup took.
#[utoipa::path(get, path = "/api/v1/dht/lookup/{key}", tag = "dht",
    params(("key" = String, Path, description = "the key; may contain `/`")),
    responses((status = 200, body = LookupBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn lookup(State(core): State<CoreHandle>, key: KeyPath) -> Response {
    let key = match key_of(key) {
        Ok(key) => key,
        Err(refused) => return refused.into_response(),
    };
    match core.request::<_, Reply>(&Request::Lookup { key }).await {
        Ok(Reply::Lookup(found)) => Json(LookupBody {
            key: found.key,
            key_ring: found.key_ring,
            node: (&found.node).into(),
            hops: found.hops,
        })
        .into_response(),
        Ok(other) => refusal(other),
        Err(error) => error.into_response(),
    }
}
