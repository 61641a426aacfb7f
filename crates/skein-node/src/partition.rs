//! Cut links on purpose: with `--allow-fault-injection`, `PUT
//! /api/v1/fault/partition {"blocked": [ids]}` makes this node drop every
//! protocol frame to and from those peers (counted in
//! `skein_partition_dropped_total`), as if the network between them were
//! cut; `{"blocked": []}` heals it. Each side of a cut is set on its own
//! node, so a one-way link failure is one call and a full cut is two.
//!
//! Only the protocol's frames are dropped, after they are read: the
//! transports stay connected, so healing takes effect at once.

use crate::api::{error_response, json_rejection, ErrorBody};
use crate::metrics::NodeMetrics;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use skein_core::NodeId;
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use utoipa::{OpenApi, ToSchema};

/// At most this many blocked peers (node ids run from 1 to 999).
pub const BLOCKED_MAX: usize = 999;

/// The peers this node pretends it cannot reach; shared by the API and the core loop.
#[derive(Clone, Debug, Default)]
pub struct Partition {
    blocked: Arc<RwLock<BTreeSet<NodeId>>>,
}

impl Partition {
    pub fn blocks(&self, peer: NodeId) -> bool {
        let blocked = self.blocked.read().expect("partition lock");
        !blocked.is_empty() && blocked.contains(&peer)
    }

    pub fn blocked(&self) -> Vec<u16> {
        let blocked = self.blocked.read().expect("partition lock");
        blocked.iter().map(|id| id.0).collect()
    }

    /// Replaces the blocked set; refuses more than [`BLOCKED_MAX`] ids or id 0.
    pub fn set(&self, ids: &[u16]) -> Result<(), String> {
        if ids.len() > BLOCKED_MAX {
            return Err(format!("at most {BLOCKED_MAX} blocked peers"));
        }
        if ids.contains(&0) {
            return Err("node ids start at 1".into());
        }
        *self.blocked.write().expect("partition lock") = ids.iter().map(|&id| NodeId(id)).collect();
        Ok(())
    }
}

/// What the partition endpoints need from the node.
#[derive(Clone)]
pub struct PartitionApi {
    pub partition: Partition,
    pub allow_fault_injection: bool,
    pub metrics: NodeMetrics,
}

/// `GET/PUT /api/v1/fault/partition`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionBody {
    /// Peers whose frames this node drops, both ways.
    pub blocked: Vec<u16>,
}

/// The peers this node drops frames to and from.
#[utoipa::path(get, path = "/api/v1/fault/partition", tag = "faults",
    responses((status = 200, body = PartitionBody)))]
async fn get_partition(State(api): State<PartitionApi>) -> Json<PartitionBody> {
    Json(PartitionBody {
        blocked: api.partition.blocked(),
    })
}

/// Cuts this node's links to the listed peers (drops frames both ways), or
/// heals them all with `{"blocked": []}`. Needs `--allow-fault-injection`.
#[utoipa::path(put, path = "/api/v1/fault/partition", tag = "faults", request_body = PartitionBody,
    responses(
        (status = 200, body = PartitionBody, description = "the links now cut"),
        (status = 400, body = ErrorBody, description = "bad JSON or ids"),
        (status = 403, body = ErrorBody, description = "the node runs without --allow-fault-injection"),
    ))]
async fn put_partition(
    State(api): State<PartitionApi>,
    body: Result<Json<PartitionBody>, JsonRejection>,
) -> Response {
    if !api.allow_fault_injection {
        return error_response(
            StatusCode::FORBIDDEN,
            "fault_injection_off",
            "fault injection is off on this node; start it with --allow-fault-injection",
        );
    }
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => return json_rejection(&api.metrics, rejection),
    };
    let partition = &api.partition;
    match partition.set(&body.blocked) {
        Ok(()) => {
            tracing::warn!(blocked = ?body.blocked, "links cut by fault injection");
            Json(PartitionBody {
                blocked: partition.blocked(),
            })
            .into_response()
        }
        Err(why) => error_response(StatusCode::BAD_REQUEST, "bad_partition", why),
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(get_partition, put_partition),
    components(schemas(PartitionBody)),
    tags((name = "faults", description = "Fault injection every node offers with --allow-fault-injection"))
)]
pub struct PartitionDoc;

pub fn routes(api: PartitionApi) -> Router {
    Router::new()
        .route(
            "/api/v1/fault/partition",
            get(get_partition).put(put_partition),
        )
        .with_state(api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_only_the_listed_peers_until_healed() {
        let p = Partition::default();
        assert!(!p.blocks(NodeId(2)));
        p.set(&[2, 3]).unwrap();
        assert!(p.blocks(NodeId(2)) && p.blocks(NodeId(3)) && !p.blocks(NodeId(4)));
        assert_eq!(p.blocked(), [2, 3]);
        p.set(&[]).unwrap();
        assert!(!p.blocks(NodeId(2)));
    }

    #[test]
    fn refuses_id_zero_and_oversized_sets() {
        let p = Partition::default();
        assert!(p.set(&[0]).is_err());
        assert!(p.set(&vec![1; BLOCKED_MAX + 1]).is_err());
        assert!(p.blocked().is_empty());
    }
}
