//! A replicated counter in one file: the "build a distributed system within
//! minutes" promise of skein's framework.
//!
//! Each node counts its own increments in one slot of a grow-only counter
//! (a G-Counter CRDT) and broadcasts its slots; receivers keep the maximum
//! of each slot, so every node converges on the same total, whatever the
//! order, loss or duplication of messages.
//!
//! The protocol below is all there is to write. `skein_cli::main_with` gives
//! it every `skein` command: a node, the local cluster launcher, the REST
//! API with status and OpenAPI docs, and Prometheus metrics; `skein_sim`
//! runs the very same code under simulated faults (see the tests below).
//!
//! ```text
//! cargo run --example counter -- cluster up --service counter
//! cargo run --example counter -- request --api http://127.0.0.1:4001 '{"Add":{"by":5}}'
//! cargo run --example counter -- request --api http://127.0.0.1:4003 '"Total"'
//! curl http://127.0.0.1:4002/api/v1/counter
//! ```

use serde::{Deserialize, Serialize};
use skein_core::{Boot, Context, Input, NodeId, Protocol};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CounterConfig {
    /// How often each node re-broadcasts its slots, so lost messages heal.
    pub gossip_interval_ms: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum CounterMessage {
    Slots(BTreeMap<NodeId, u64>),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum CounterRequest {
    Add { by: u64 },
    Total,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum CounterReply {
    Total(u64),
}

pub struct Counter {
    id: NodeId,
    slots: BTreeMap<NodeId, u64>,
    gossip_interval: Duration,
}

impl Counter {
    pub fn total(&self) -> u64 {
        self.slots.values().sum()
    }

    fn merge(&mut self, slots: BTreeMap<NodeId, u64>) {
        for (node, count) in slots {
            let mine = self.slots.entry(node).or_default();
            *mine = (*mine).max(count);
        }
    }
}

impl Protocol for Counter {
    type Message = CounterMessage;
    type Request = CounterRequest;
    type Reply = CounterReply;
    type Config = CounterConfig;
    type Status = BTreeMap<NodeId, u64>;

    const NAME: &'static str = "counter";
    const PROTOCOL_ID: u16 = 100;
    const VERSION: u16 = 1;

    fn boot(boot: Boot<'_, CounterConfig>) -> Self {
        Self {
            id: boot.id,
            slots: BTreeMap::new(),
            gossip_interval: Duration::from_millis(boot.config.gossip_interval_ms.unwrap_or(500)),
        }
    }

    fn step(&mut self, ctx: &mut Context<'_, Self>, input: Input<Self>) {
        match input {
            Input::Tick => ctx.broadcast(CounterMessage::Slots(self.slots.clone())),
            Input::Message {
                message: CounterMessage::Slots(slots),
                ..
            } => self.merge(slots),
            Input::Request { id, request } => {
                if let CounterRequest::Add { by } = request {
                    *self.slots.entry(self.id).or_default() += by;
                    ctx.broadcast(CounterMessage::Slots(self.slots.clone()));
                }
                ctx.reply(id, CounterReply::Total(self.total()));
            }
            Input::Start | Input::Timer(_) | Input::Persisted { .. } => {}
        }
    }

    fn tick_interval(&self) -> Duration {
        self.gossip_interval
    }

    fn status(&self) -> BTreeMap<NodeId, u64> {
        self.slots.clone()
    }
}

/// The service's own REST endpoint, `GET /api/v1/counter`, beside the
/// generic ones every node has. Handlers reach the protocol only through
/// the `CoreHandle`, as typed requests.
mod http {
    use super::{CounterReply, CounterRequest};
    use axum::{extract::State, routing::get, Json, Router};
    use skein_node::{CallError, CoreHandle, ServiceApi};
    use utoipa::OpenApi;

    #[derive(serde::Serialize, utoipa::ToSchema)]
    pub struct TotalBody {
        /// The sum of every node's increments this node has heard of.
        pub total: u64,
    }

    /// The counter's total as this node sees it.
    #[utoipa::path(get, path = "/api/v1/counter", tag = "counter", responses((status = 200, body = TotalBody)))]
    async fn total(State(core): State<CoreHandle>) -> Result<Json<TotalBody>, CallError> {
        let CounterReply::Total(total) = core.request(&CounterRequest::Total).await?;
        Ok(Json(TotalBody { total }))
    }

    #[derive(OpenApi)]
    #[openapi(paths(total), components(schemas(TotalBody)))]
    struct CounterDoc;

    pub fn api() -> ServiceApi {
        ServiceApi {
            routes: |core| {
                Router::new()
                    .route("/api/v1/counter", get(total))
                    .with_state(core)
            },
            openapi: CounterDoc::openapi,
        }
    }
}

fn service() -> skein_node::Service {
    skein_node::Service::of::<Counter>("a grow-only counter replicated by broadcast")
        .with_api(http::api())
}

fn main() -> std::process::ExitCode {
    skein_cli::main_with(vec![service()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use skein_node::{CancellationToken, NodeOverrides, NodeSettings, PortBases};

    /// Three real nodes in this process, on their own ports: an increment at
    /// one node shows up in every node's total via the REST API.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_nodes_agree_on_the_total() {
        let bases = PortBases::shifted(21_000).unwrap();
        let data = tempfile::tempdir().unwrap();
        let shutdown = CancellationToken::new();
        for id in 1..=3u16 {
            let overrides = NodeOverrides {
                id: Some(id),
                peers: Some(vec!["1".into(), "2".into(), "3".into()]),
                data_dir: Some(data.path().join(id.to_string())),
                ..NodeOverrides::on_ports(bases)
            };
            let settings = NodeSettings::resolve(overrides, Default::default()).unwrap();
            tokio::spawn(super::service().run(settings, shutdown.clone()));
        }
        let http = reqwest::Client::new();
        let api = |id: u16| format!("http://127.0.0.1:{}/api/v1", bases.api + id);
        let mut added = None;
        for _ in 0..100 {
            let sent = http
                .post(format!("{}/request", api(1)))
                .json(&serde_json::json!({"Add": {"by": 5}}))
                .send()
                .await;
            if let Ok(response) = sent {
                added = Some(response.status());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(added, Some(reqwest::StatusCode::OK));
        let mut totals = Vec::new();
        for _ in 0..100 {
            totals.clear();
            for id in 1..=3 {
                let reply: serde_json::Value = http
                    .post(format!("{}/request", api(id)))
                    .json(&"Total")
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                totals.push(reply["reply"]["Total"].as_u64());
            }
            if totals.iter().all(|t| *t == Some(5)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let own: serde_json::Value = http
            .get(format!("{}/counter", api(2)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let openapi: serde_json::Value = http
            .get(format!("http://127.0.0.1:{}/openapi.json", bases.api + 1))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        shutdown.cancel();
        assert_eq!(totals, vec![Some(5); 3], "nodes did not converge");
        assert_eq!(own["total"], 5, "the service's own route");
        assert!(
            openapi["paths"]["/api/v1/counter"].is_object(),
            "the service's route is not in /openapi.json"
        );
        assert!(
            openapi["paths"]["/api/v1/status"].is_object(),
            "the node's routes left /openapi.json"
        );
    }

    /// The same protocol, unchanged, in the deterministic simulator:
    /// partitions, pauses and a lossy, duplicating, reordering network.
    /// After every event no node believes another counted more than that
    /// node did itself; once faults stop, every node reaches the same total.
    #[test]
    fn converges_in_the_simulator_under_faults() {
        use skein_sim::check::check_fn;
        use skein_sim::lin::EchoModel;
        use skein_sim::workload::{Outcome, ReplyFrom, Workload};
        use skein_sim::{FaultKind, FaultSet, SimConfig, Simulation};

        struct Adds;
        impl Workload<Counter> for Adds {
            type Model = EchoModel;
            fn model(&self) -> EchoModel {
                EchoModel
            }
            fn next_op(
                &mut self,
                _: &mut dyn rand::RngCore,
                _: u32,
            ) -> Option<(CounterRequest, u64)> {
                Some((CounterRequest::Add { by: 1 }, 1))
            }
            fn outcome(&mut self, _: ReplyFrom, _: &u64, reply: &CounterReply) -> Outcome<u64> {
                let CounterReply::Total(total) = reply;
                Outcome::Ok(*total)
            }
            fn check_linearizability(&self) -> bool {
                false // a G-counter is eventually consistent, not linearizable
            }
        }

        for seed in 0..8 {
            let mut config = SimConfig::new(seed, 4);
            config.steps_max = 30_000;
            config.faults =
                FaultSet::of(&[FaultKind::Partitions, FaultKind::Pauses, FaultKind::Network]);
            let never_ahead = check_fn(
                "no node is ahead of a node's own count",
                |view: &skein_sim::check::ClusterView<'_, Counter>| {
                    for a in view.honest() {
                        let own = a.core.slots.get(&a.id).copied().unwrap_or(0);
                        for b in view.honest() {
                            let seen = b.core.slots.get(&a.id).copied().unwrap_or(0);
                            if seen > own {
                                return Err(format!(
                                    "node {} believes node {} counted {seen}, but it counted {own}",
                                    b.id, a.id
                                ));
                            }
                        }
                    }
                    Ok(())
                },
            );
            let converged = check_fn(
                "every node reaches the same total",
                |view: &skein_sim::check::ClusterView<'_, Counter>| {
                    let totals: Vec<u64> = view.honest().map(|n| n.core.total()).collect();
                    match totals.windows(2).all(|w| w[0] == w[1]) {
                        true => Ok(()),
                        false => Err(format!("totals differ: {totals:?}")),
                    }
                },
            );
            let outcome = Simulation::new(config, CounterConfig::default(), Adds)
                .unwrap()
                .invariant(never_ahead)
                .liveness(converged)
                .run()
                .unwrap();
            let failed: Vec<String> = outcome
                .checks
                .iter()
                .filter(|c| c.failed())
                .map(|c| c.to_string())
                .collect();
            assert!(
                failed.is_empty(),
                "seed {seed} failed (rerun this test; the seed replays exactly): {failed:?}"
            );
        }
    }

    #[test]
    fn merging_is_idempotent_and_order_free() {
        let mut a = Counter {
            id: NodeId(1),
            slots: BTreeMap::new(),
            gossip_interval: Duration::from_millis(1),
        };
        let one = BTreeMap::from([(NodeId(1), 3), (NodeId(2), 1)]);
        let two = BTreeMap::from([(NodeId(2), 4)]);
        a.merge(two.clone());
        a.merge(one.clone());
        a.merge(one);
        assert_eq!(a.total(), 7);
    }
}
