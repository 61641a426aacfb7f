//! `GET/PUT/DELETE /api/v1/kv/{key}` and `GET /api/v1/kv` of the raft service.
//!
//! * A key is the rest of the path after `/api/v1/kv/` (percent-decoded,
//!   so it may contain `/`), at most 4 KiB.
//! * `PUT` takes `{"value": "..."}` with `Content-Type: application/json`,
//!   or any other body as the raw UTF-8 value (`curl --data-binary`); at most
//!   64 KiB.
//! * Compare-and-swap is `PUT` with `If-Match: REVISION` (`0`: only if the
//!   key is absent); a mismatch answers 412 with the key's current revision.
//! * Reads are linearizable (ReadIndex on the leader). A key's revision is
//!   the log index that last wrote it; responses carry it as `ETag`.

use super::raft_http::{bad_request, body_refused, refusal, Refusal};
use crate::api::{error_response, ErrorBody};
use crate::service_api::{CallError, CoreHandle};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use skein_raft::config::LIST_LIMIT_MAX;
use skein_raft::{Reply, Request};
use utoipa::{IntoParams, ToSchema};

/// Items in a list page when the request names no limit.
pub const LIST_LIMIT_DEFAULT: u32 = 100;

/// The JSON form of a `PUT` body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    pub value: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ValueBody {
    pub key: String,
    pub value: String,
    /// The log index that last wrote the key.
    pub revision: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WrittenBody {
    pub key: String,
    /// The key's new revision: the log index of this write.
    pub revision: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletedBody {
    pub key: String,
    /// Whether the key existed before.
    pub existed: bool,
    /// The log index of the delete.
    pub revision: u64,
}

/// A compare-and-swap whose expected revision did not match; nothing was written.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CasFailedBody {
    pub error: String,
    /// `revision_mismatch`.
    pub code: String,
    /// The key's current revision (0: absent).
    pub revision: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ItemBody {
    pub key: String,
    pub value: String,
    pub revision: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ListBody {
    pub items: Vec<ItemBody>,
    /// More keys match: ask again with `start_after` = `next_start_after`.
    pub more: bool,
    pub next_start_after: Option<String>,
}

#[derive(Clone, Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only keys starting with this (default: every key).
    pub prefix: Option<String>,
    /// Only keys after this one, in byte order (for the next page).
    pub start_after: Option<String>,
    /// Items per page, 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

type KeyPath = Result<Path<String>, PathRejection>;

fn key_of(path: KeyPath) -> Result<String, Refusal> {
    match path {
        Ok(Path(key)) if !key.is_empty() => Ok(key),
        Ok(_) => Err(bad_request("bad_key", "the key is empty")),
        Err(rejection) => Err(bad_request(
            "bad_key",
            format!("the key must be UTF-8 text: {rejection}"),
        )),
    }
}

fn with_etag(mut response: Response, revision: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{revision}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// Reads a key (linearizable: served by the leader after a ReadIndex round).
#[utoipa::path(get, path = "/api/v1/kv/{key}", tag = "raft",
    params(("key" = String, Path, description = "the key; may contain `/`; at most 4 KiB")),
    responses(
        (status = 200, body = ValueBody, description = "the value; `ETag` is its revision"),
        (status = 307, body = super::raft_http::NotLeaderBody, description = "not the leader: `Location` names the same path on the leader"),
        (status = 404, body = ErrorBody, description = "no such key"),
        (status = 413, body = ErrorBody, description = "key over 4 KiB"),
        (status = 503, body = super::raft_http::NotLeaderBody, description = "no leader known yet, or overloaded; retry"),
        (status = 504, body = ErrorBody, description = "no answer within the request timeout"),
    ))]
pub async fn get(State(core): State<CoreHandle>, uri: Uri, key: KeyPath) -> Response {
    let key = match key_of(key) {
        Ok(key) => key,
        Err(refusal) => return refusal.into_response(),
    };
    let request = Request::Get { key: key.clone() };
    match core.request::<_, Reply>(&request).await {
        Ok(Reply::Value {
            value: Some(value),
            revision,
        }) => with_etag(
            Json(ValueBody {
                key,
                value,
                revision,
            })
            .into_response(),
            revision,
        ),
        Ok(Reply::Value { value: None, .. }) => error_response(
            StatusCode::NOT_FOUND,
            "key_not_found",
            format!("no key {key:?}"),
        ),
        Ok(other) => refusal(&core, &uri, other),
        Err(error) => error.into_response(),
    }
}

/// Writes a key; with `If-Match: REVISION`, only if the key's revision is that (compare-and-swap).
#[utoipa::path(put, path = "/api/v1/kv/{key}", tag = "raft",
    params(
        ("key" = String, Path, description = "the key; may contain `/`; at most 4 KiB"),
        ("If-Match" = Option<String>, Header, description = "compare-and-swap: write only if the key's revision is this (`0`: only if absent); quotes allowed"),
    ),
    request_body(content = PutBody, description = "`{\"value\": \"...\"}` as application/json, or the raw UTF-8 value with any other content type; at most 64 KiB"),
    responses(
        (status = 200, body = WrittenBody, description = "committed and applied; `ETag` is the new revision"),
        (status = 307, body = super::raft_http::NotLeaderBody, description = "not the leader: `Location` names the same path on the leader"),
        (status = 400, body = ErrorBody, description = "malformed JSON, non-UTF-8 value or bad If-Match; nothing written"),
        (status = 412, body = CasFailedBody, description = "If-Match did not match the key's revision; nothing written"),
        (status = 413, body = ErrorBody, description = "key over 4 KiB or value over 64 KiB; nothing written"),
        (status = 503, body = ErrorBody, description = "no leader, overloaded, or leadership lost (`leadership_lost`: the write may or may not have taken effect)"),
        (status = 504, body = ErrorBody, description = "no answer within the request timeout; the write may still take effect"),
    ))]
pub async fn put(
    State(core): State<CoreHandle>,
    uri: Uri,
    key: KeyPath,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let key = match key_of(key) {
        Ok(key) => key,
        Err(refusal) => return refusal.into_response(),
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_refused(rejection.status(), rejection).into_response(),
    };
    let value = match value_of(&headers, &body) {
        Ok(value) => value,
        Err(refusal) => return refusal.into_response(),
    };
    let expected = match if_match(&headers) {
        Ok(expected) => expected,
        Err(refusal) => return refusal.into_response(),
    };
    let request = match expected {
        None => Request::Put {
            key: key.clone(),
            value,
        },
        Some(expected_revision) => Request::Cas {
            key: key.clone(),
            expected_revision,
            value,
        },
    };
    match core.request::<_, Reply>(&request).await {
        Ok(Reply::Written { revision })
        | Ok(Reply::Cas {
            succeeded: true,
            revision,
        }) => with_etag(
            Json(WrittenBody { key, revision }).into_response(),
            revision,
        ),
        Ok(Reply::Cas {
            succeeded: false,
            revision,
        }) => {
            let body = CasFailedBody {
                error: format!(
                    "key {key:?} is at revision {revision}, not {}; nothing was written",
                    expected.unwrap_or_default()
                ),
                code: "revision_mismatch".into(),
                revision,
            };
            (StatusCode::PRECONDITION_FAILED, Json(body)).into_response()
        }
        Ok(other) => refusal(&core, &uri, other),
        Err(error) => error.into_response(),
    }
}

/// The value of a PUT body: JSON `{"value": ...}` or raw UTF-8.
fn value_of(headers: &HeaderMap, body: &Bytes) -> Result<String, Refusal> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if json {
        return serde_json::from_slice::<PutBody>(body)
            .map(|b| b.value)
            .map_err(|e| {
                bad_request(
                    "bad_json",
                    format!("the body must be {{\"value\": \"...\"}} ({e}); nothing was written"),
                )
            });
    }
    String::from_utf8(body.to_vec()).map_err(|_| {
        bad_request(
            "bad_value",
            "the value must be UTF-8 text; nothing was written",
        )
    })
}

/// `If-Match: 7` or `If-Match: "7"`; absent means a plain put.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Refusal> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_matches('"'))
        .and_then(|v| v.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            bad_request(
                "bad_if_match",
                "If-Match must be a revision number (0: only if the key is absent); nothing was written",
            )
        })
}

/// Deletes a key.
#[utoipa::path(delete, path = "/api/v1/kv/{key}", tag = "raft",
    params(("key" = String, Path, description = "the key; may contain `/`")),
    responses(
        (status = 200, body = DeletedBody, description = "committed and applied (also when the key did not exist)"),
        (status = 307, body = super::raft_http::NotLeaderBody, description = "not the leader: `Location` names the same path on the leader"),
        (status = 413, body = ErrorBody, description = "key over 4 KiB"),
        (status = 503, body = ErrorBody, description = "no leader, overloaded, or leadership lost"),
        (status = 504, body = ErrorBody, description = "no answer within the request timeout; the delete may still take effect"),
    ))]
pub async fn remove(State(core): State<CoreHandle>, uri: Uri, key: KeyPath) -> Response {
    let key = match key_of(key) {
        Ok(key) => key,
        Err(refusal) => return refusal.into_response(),
    };
    let request = Request::Delete { key: key.clone() };
    match core.request::<_, Reply>(&request).await {
        Ok(Reply::Deleted { existed, revision }) => Json(DeletedBody {
            key,
            existed,
            revision,
        })
        .into_response(),
        Ok(other) => refusal(&core, &uri, other),
        Err(error) => error.into_response(),
    }
}

/// Lists keys in byte order, one bounded page at a time (linearizable).
#[utoipa::path(get, path = "/api/v1/kv", tag = "raft", params(ListQuery),
    responses(
        (status = 200, body = ListBody),
        (status = 307, body = super::raft_http::NotLeaderBody, description = "not the leader: `Location` names the same path on the leader"),
        (status = 400, body = ErrorBody, description = "limit outside 1..=1000 or a malformed query"),
        (status = 503, body = ErrorBody, description = "no leader known yet, or overloaded; retry"),
    ))]
pub async fn list(
    State(core): State<CoreHandle>,
    uri: Uri,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return bad_request("bad_query", rejection.to_string()).into_response(),
    };
    let limit = query.limit.unwrap_or(LIST_LIMIT_DEFAULT);
    if !(1..=LIST_LIMIT_MAX).contains(&limit) {
        return bad_request(
            "bad_limit",
            format!("limit must be from 1 to {LIST_LIMIT_MAX}; page with start_after"),
        )
        .into_response();
    }
    let request = Request::List {
        prefix: query.prefix.unwrap_or_default(),
        start_after: query.start_after,
        limit,
    };
    match core.request::<_, Reply>(&request).await {
        Ok(Reply::List { items, more }) => {
            let next_start_after = more.then(|| items.last().map(|i| i.key.clone())).flatten();
            let items = items
                .into_iter()
                .map(|i| ItemBody {
                    key: i.key,
                    value: i.value,
                    revision: i.revision,
                })
                .collect();
            Json(ListBody {
                items,
                more,
                next_start_after,
            })
            .into_response()
        }
        Ok(other) => refusal(&core, &uri, other),
        Err(CallError::BadRequest(why)) => bad_request("bad_request", why).into_response(),
        Err(error) => error.into_response(),
    }
}
