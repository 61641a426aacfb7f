//! The `Protocol` impl that ties the replica and coordinator halves together.

use super::coordinator::{Kind, PendingOp};
use super::replica::replay;
use super::{
    RegisterConfig, RegisterMessage, RegisterReply, RegisterRequest, RegisterStatus, Ts,
    ACKS_WAITING_MAX, OPS_IN_FLIGHT_MAX,
};
use rand::{Rng, RngCore};
use skein_core::{Boot, Context, Input, NodeId, Protocol};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

pub struct Register {
    pub(super) id: NodeId,
    pub(super) members: Vec<NodeId>,
    pub(super) config: RegisterConfig,
    /// Random per boot, so operation ids and timestamps of two lives never collide.
    pub(super) boot_nonce: u64,
    pub(super) next_op: u64,
    pub(super) counter: u64,
    pub(super) ops: BTreeMap<u64, PendingOp>,
    pub(super) store: BTreeMap<u64, (Ts, Option<u64>)>,
    pub(super) next_token: u64,
    pub(super) durable_token: u64,
    pub(super) acks_waiting: VecDeque<(u64, NodeId, u64)>,
    pub(super) records_since_snapshot: u32,
}

impl Register {
    /// The value this replica holds for `key` (for tests and invariants).
    pub fn stored(&self, key: u64) -> Option<u64> {
        self.store.get(&key).and_then(|(_, v)| *v)
    }
}

impl Protocol for Register {
    type Message = RegisterMessage;
    type Request = RegisterRequest;
    type Reply = RegisterReply;
    type Config = RegisterConfig;
    type Status = RegisterStatus;

    const NAME: &'static str = "register";
    const PROTOCOL_ID: u16 = 0xfe01;
    const VERSION: u16 = 1;

    fn boot(boot: Boot<'_, RegisterConfig>) -> Self {
        Self {
            id: boot.id,
            members: boot.members.to_vec(),
            config: boot.config.clone(),
            boot_nonce: u64::from(boot.rng.next_u32()),
            next_op: 0,
            counter: 0,
            ops: BTreeMap::new(),
            store: replay(boot.persisted),
            next_token: 1,
            durable_token: 0,
            acks_waiting: VecDeque::new(),
            records_since_snapshot: 0,
        }
    }

    fn step(&mut self, ctx: &mut Context<'_, Self>, input: Input<Self>) {
        match input {
            Input::Start | Input::Timer(_) => {}
            Input::Tick => self.on_tick(ctx),
            Input::Persisted { token } => self.on_persisted(ctx, token),
            Input::Request { id, request } => match request {
                RegisterRequest::Get { key } => self.start_op(ctx, id, key, Kind::Get),
                RegisterRequest::Put { key, value } => {
                    self.start_op(ctx, id, key, Kind::Put(value))
                }
            },
            Input::Message { from, message } => match message {
                RegisterMessage::Query { op, key } => {
                    let (ts, value) = self.local_read(key);
                    ctx.send(from, RegisterMessage::QueryReply { op, ts, value });
                }
                RegisterMessage::QueryReply { op, ts, value } => {
                    self.on_query_reply(ctx, from, op, ts, value)
                }
                RegisterMessage::Store { op, key, ts, value } => {
                    self.on_store(ctx, from, op, key, ts, value)
                }
                RegisterMessage::StoreAck { op } => self.on_store_ack(ctx, from, op),
            },
        }
        debug_assert!(self.ops.len() <= OPS_IN_FLIGHT_MAX);
        debug_assert!(self.acks_waiting.len() <= ACKS_WAITING_MAX);
    }

    fn tick_interval(&self) -> Duration {
        Duration::from_millis(self.config.tick_interval_ms.max(1))
    }

    fn status(&self) -> RegisterStatus {
        RegisterStatus {
            keys: self.store.len(),
            ops_in_flight: self.ops.len(),
            acks_waiting: self.acks_waiting.len(),
            durable_token: self.durable_token,
        }
    }

    /// Not self-stabilizing: corruption breaks linearizability, by design of the test.
    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        for (ts, value) in self.store.values_mut() {
            ts.counter = rng.random_range(0..16);
            *value = Some(rng.random());
        }
        true
    }

    fn arbitrary_message(rng: &mut dyn RngCore) -> Option<RegisterMessage> {
        let op = rng.random();
        let key = rng.random_range(0..4);
        let ts = Ts {
            counter: rng.random_range(0..1_000),
            node: rng.random_range(1..8),
            boot: rng.random(),
        };
        let value = Some(rng.random());
        Some(match rng.random_range(0..4) {
            0 => RegisterMessage::Query { op, key },
            1 => RegisterMessage::QueryReply { op, ts, value },
            2 => RegisterMessage::Store { op, key, ts, value },
            _ => RegisterMessage::StoreAck { op },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use skein_core::{Effect, RequestId};

    const MEMBERS: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];

    fn node(id: u16) -> Register {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        Register::boot(Boot {
            id: NodeId(id),
            address: &skein_core::PeerAddress(format!("sim:{id}")),
            members: &MEMBERS,
            config: &RegisterConfig::default(),
            persisted: &[],
            now: Duration::ZERO,
            rng: &mut rng,
        })
    }

    fn step(n: &mut Register, input: Input<Register>) -> Vec<Effect<Register>> {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut effects = Vec::new();
        let mut ctx = Context::new(n.id, Duration::ZERO, &mut rng, &mut effects);
        n.step(&mut ctx, input);
        effects
    }

    #[test]
    fn a_put_queries_then_stores_and_acks_only_after_persisting() {
        let mut n = node(1);
        let fx = step(
            &mut n,
            Input::Request {
                id: RequestId(7),
                request: RegisterRequest::Put { key: 0, value: 5 },
            },
        );
        assert!(matches!(
            fx.as_slice(),
            [Effect::Broadcast {
                message: RegisterMessage::Query { key: 0, .. },
                ..
            }]
        ));
        let op = *n.ops.keys().next().unwrap();
        let fx = step(
            &mut n,
            Input::Message {
                from: NodeId(2),
                message: RegisterMessage::QueryReply {
                    op,
                    ts: Ts::default(),
                    value: None,
                },
            },
        );
        // Majority of 3 reached: Store goes out and is persisted locally; no reply before the acks.
        assert!(matches!(
            fx.as_slice(),
            [
                Effect::Broadcast {
                    message: RegisterMessage::Store { .. },
                    ..
                },
                Effect::Persist { token: 1, .. }
            ]
        ));
        let fx = step(&mut n, Input::Persisted { token: 1 });
        assert!(
            fx.is_empty(),
            "own ack alone is not a majority: {} effects",
            fx.len()
        );
        let fx = step(
            &mut n,
            Input::Message {
                from: NodeId(3),
                message: RegisterMessage::StoreAck { op },
            },
        );
        assert!(matches!(
            fx.as_slice(),
            [Effect::Reply {
                request: RequestId(7),
                reply: RegisterReply::Written
            }]
        ));
        assert_eq!(n.stored(0), Some(5));
    }
}
