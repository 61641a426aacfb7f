//! `heartbeat`: the built-in protocol that exercises every driver feature.
//!
//! Each node broadcasts a heartbeat on every tick and keeps, per peer, when it
//! last heard one; a peer is up while heard within `peer_timeout_ms`. On
//! every boot it persists an incremented incarnation number, so a restart is
//! visible to peers and to tests of the drivers' storage. Clients may send
//! `Echo`, answered at once, and `Gossip`, whose text is broadcast and
//! remembered by every node that hears it.
//!
//! Every datagram-channel heartbeat doubles as a probe of the
//! self-stabilizing link: odd ticks go over `Channel::Datagram`.

use crate::codec;
use crate::id::NodeId;
use crate::protocol::{Boot, Channel, Context, Input, Protocol, StorageWrite};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The most gossip texts a node remembers; older ones are forgotten first.
pub const GOSSIP_REMEMBERED_MAX: usize = 64;
/// The longest gossip or echo text accepted, in bytes.
pub const TEXT_BYTES_MAX: usize = 1024;

/// Keys left out of the config file keep their defaults; unknown keys are refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeartbeatConfig {
    pub tick_interval_ms: u64,
    pub peer_timeout_ms: u64,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            tick_interval_ms: 200,
            peer_timeout_ms: 1500,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeartbeatMessage {
    Beat { incarnation: u64, seq: u64 },
    Gossip { text: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeartbeatRequest {
    Echo { text: String },
    Gossip { text: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeartbeatReply {
    Echo { text: String, node: NodeId },
    Gossiped,
    Refused { reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerView {
    pub id: NodeId,
    pub up: bool,
    pub incarnation: u64,
    pub last_seq: u64,
    /// Milliseconds since this node last heard the peer; absent if never.
    pub last_heard_ms_ago: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeartbeatStatus {
    pub incarnation: u64,
    pub seq: u64,
    pub peers: Vec<PeerView>,
    pub gossip: Vec<String>,
    /// How many times corrupted state was detected and repaired.
    pub repairs: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Heard {
    at: Duration,
    incarnation: u64,
    seq: u64,
}

pub struct Heartbeat {
    id: NodeId,
    config: HeartbeatConfig,
    incarnation: u64,
    seq: u64,
    now: Duration,
    peers: BTreeMap<NodeId, Option<Heard>>,
    gossip: Vec<String>,
    repairs: u64,
}

impl Heartbeat {
    fn peer_timeout(&self) -> Duration {
        Duration::from_millis(self.config.peer_timeout_ms)
    }

    /// Peers this node currently believes are up.
    pub fn up_peers(&self) -> Vec<NodeId> {
        self.status()
            .peers
            .into_iter()
            .filter(|p| p.up)
            .map(|p| p.id)
            .collect()
    }

    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Self-stabilization: a heard time in the future can only come from
    /// corruption; clamp it so the peer times out normally.
    fn repair(&mut self) {
        let now = self.now;
        let mut repaired = 0;
        for heard in self.peers.values_mut().flatten() {
            if heard.at > now {
                heard.at = now;
                repaired += 1;
            }
        }
        if self.gossip.len() > GOSSIP_REMEMBERED_MAX {
            let excess = self.gossip.len() - GOSSIP_REMEMBERED_MAX;
            self.gossip.drain(..excess);
            repaired += 1;
        }
        self.repairs += repaired;
    }

    fn remember(&mut self, text: String) {
        if self.gossip.contains(&text) {
            return;
        }
        if self.gossip.len() == GOSSIP_REMEMBERED_MAX {
            self.gossip.remove(0);
        }
        self.gossip.push(text);
    }
}

impl Protocol for Heartbeat {
    type Message = HeartbeatMessage;
    type Request = HeartbeatRequest;
    type Reply = HeartbeatReply;
    type Config = HeartbeatConfig;
    type Status = HeartbeatStatus;

    const NAME: &'static str = "heartbeat";
    const PROTOCOL_ID: u16 = 1;
    const VERSION: u16 = 1;

    fn boot(boot: Boot<'_, HeartbeatConfig>) -> Self {
        // The last record is the latest incarnation; an unreadable one counts as 0.
        let previous = boot
            .persisted
            .last()
            .and_then(|r| codec::decode::<u64>(r, 16).ok())
            .unwrap_or(0);
        let peers = boot
            .members
            .iter()
            .filter(|&&m| m != boot.id)
            .map(|&m| (m, None))
            .collect();
        Self {
            id: boot.id,
            config: boot.config.clone(),
            incarnation: previous.saturating_add(1),
            seq: 0,
            now: boot.now,
            peers,
            gossip: Vec::new(),
            repairs: 0,
        }
    }

    fn step(&mut self, ctx: &mut Context<'_, Self>, input: Input<Self>) {
        self.now = ctx.now();
        self.repair();
        match input {
            Input::Start => {
                let record = codec::encode(&self.incarnation, 16).expect("u64 always fits");
                ctx.persist(self.incarnation, StorageWrite::Replace(record));
            }
            Input::Tick => {
                self.seq += 1;
                let channel = if self.seq % 2 == 0 {
                    Channel::Stream
                } else {
                    Channel::Datagram
                };
                ctx.broadcast_via(
                    channel,
                    HeartbeatMessage::Beat {
                        incarnation: self.incarnation,
                        seq: self.seq,
                    },
                );
            }
            Input::Message { from, message } => match message {
                HeartbeatMessage::Beat { incarnation, seq } => {
                    // Only members are tracked: memory stays bounded by cluster size.
                    if let Some(slot) = self.peers.get_mut(&from) {
                        *slot = Some(Heard {
                            at: self.now,
                            incarnation,
                            seq,
                        });
                    }
                }
                HeartbeatMessage::Gossip { text } => {
                    if text.len() <= TEXT_BYTES_MAX {
                        self.remember(text);
                    }
                }
            },
            Input::Request { id, request } => {
                let reply = match request {
                    HeartbeatRequest::Echo { text } if text.len() <= TEXT_BYTES_MAX => {
                        HeartbeatReply::Echo {
                            text,
                            node: self.id,
                        }
                    }
                    HeartbeatRequest::Gossip { text } if text.len() <= TEXT_BYTES_MAX => {
                        self.remember(text.clone());
                        ctx.broadcast(HeartbeatMessage::Gossip { text });
                        HeartbeatReply::Gossiped
                    }
                    _ => HeartbeatReply::Refused {
                        reason: format!("text longer than {TEXT_BYTES_MAX} bytes"),
                    },
                };
                ctx.reply(id, reply);
            }
            Input::Timer(_) | Input::Persisted { .. } => {}
        }
    }

    fn tick_interval(&self) -> Duration {
        Duration::from_millis(self.config.tick_interval_ms.max(1))
    }

    fn status(&self) -> HeartbeatStatus {
        let timeout = self.peer_timeout();
        let peers = self
            .peers
            .iter()
            .map(|(&id, heard)| {
                let ago = heard.map(|h| self.now.saturating_sub(h.at));
                PeerView {
                    id,
                    up: ago.is_some_and(|a| a <= timeout),
                    incarnation: heard.map_or(0, |h| h.incarnation),
                    last_seq: heard.map_or(0, |h| h.seq),
                    last_heard_ms_ago: ago.map(|a| a.as_millis() as u64),
                }
            })
            .collect();
        HeartbeatStatus {
            incarnation: self.incarnation,
            seq: self.seq,
            peers,
            gossip: self.gossip.clone(),
            repairs: self.repairs,
        }
    }

    fn corrupt(&mut self, rng: &mut dyn RngCore) -> bool {
        self.seq = rng.random();
        for heard in self.peers.values_mut() {
            *heard = Some(Heard {
                at: Duration::from_millis(rng.random_range(0..u32::MAX as u64)),
                incarnation: rng.random(),
                seq: rng.random(),
            });
        }
        let junk = rng.random_range(0..3 * GOSSIP_REMEMBERED_MAX);
        self.gossip = (0..junk).map(|i| format!("junk-{i}")).collect();
        true
    }

    fn arbitrary_message(rng: &mut dyn RngCore) -> Option<HeartbeatMessage> {
        Some(if rng.random_bool(0.5) {
            HeartbeatMessage::Beat {
                incarnation: rng.random(),
                seq: rng.random(),
            }
        } else {
            HeartbeatMessage::Gossip {
                text: format!("random-{}", rng.random::<u32>()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Effect;
    use crate::RequestId;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const MEMBERS: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];

    fn boot(persisted: &[Vec<u8>]) -> Heartbeat {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        Heartbeat::boot(Boot {
            id: NodeId(1),
            address: &crate::PeerAddress("sim:1".into()),
            members: &MEMBERS,
            config: &HeartbeatConfig::default(),
            persisted,
            now: Duration::ZERO,
            rng: &mut rng,
        })
    }

    fn step(node: &mut Heartbeat, now_ms: u64, input: Input<Heartbeat>) -> Vec<Effect<Heartbeat>> {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut effects = Vec::new();
        let mut ctx = Context::new(
            NodeId(1),
            Duration::from_millis(now_ms),
            &mut rng,
            &mut effects,
        );
        node.step(&mut ctx, input);
        effects
    }

    #[test]
    fn start_persists_the_next_incarnation() {
        let mut node = boot(&[codec::encode(&41u64, 16).unwrap()]);
        let effects = step(&mut node, 0, Input::Start);
        assert_eq!(node.incarnation(), 42);
        assert!(matches!(
            effects.as_slice(),
            [Effect::Persist { token: 42, write: StorageWrite::Replace(r) }]
                if codec::decode::<u64>(r, 16).unwrap() == 42
        ));
    }

    #[test]
    fn ticks_alternate_channels_and_count_up() {
        let mut node = boot(&[]);
        let first = step(&mut node, 200, Input::Tick);
        let second = step(&mut node, 400, Input::Tick);
        assert!(matches!(
            first.as_slice(),
            [Effect::Broadcast {
                channel: Channel::Datagram,
                message: HeartbeatMessage::Beat {
                    incarnation: 1,
                    seq: 1
                }
            }]
        ));
        assert!(matches!(
            second.as_slice(),
            [Effect::Broadcast {
                channel: Channel::Stream,
                message: HeartbeatMessage::Beat {
                    incarnation: 1,
                    seq: 2
                }
            }]
        ));
    }

    #[test]
    fn a_peer_is_up_until_its_timeout_passes() {
        let mut node = boot(&[]);
        let beat = HeartbeatMessage::Beat {
            incarnation: 3,
            seq: 9,
        };
        step(
            &mut node,
            1000,
            Input::Message {
                from: NodeId(2),
                message: beat,
            },
        );
        step(&mut node, 2500, Input::Tick);
        assert_eq!(node.up_peers(), vec![NodeId(2)]);
        step(&mut node, 2501, Input::Tick);
        assert!(node.up_peers().is_empty());
    }

    #[test]
    fn beats_from_strangers_are_ignored() {
        let mut node = boot(&[]);
        let beat = HeartbeatMessage::Beat {
            incarnation: 1,
            seq: 1,
        };
        step(
            &mut node,
            10,
            Input::Message {
                from: NodeId(99),
                message: beat,
            },
        );
        assert_eq!(node.status().peers.len(), 2);
        assert!(node.up_peers().is_empty());
    }

    #[test]
    fn echo_and_oversized_requests_get_replies() {
        let mut node = boot(&[]);
        let effects = step(
            &mut node,
            0,
            Input::Request {
                id: RequestId(5),
                request: HeartbeatRequest::Echo { text: "hi".into() },
            },
        );
        assert!(matches!(
            effects.as_slice(),
            [Effect::Reply { request: RequestId(5), reply: HeartbeatReply::Echo { text, node: NodeId(1) } }] if text == "hi"
        ));
        let long = "x".repeat(TEXT_BYTES_MAX + 1);
        let effects = step(
            &mut node,
            0,
            Input::Request {
                id: RequestId(6),
                request: HeartbeatRequest::Gossip { text: long },
            },
        );
        assert!(matches!(
            effects.as_slice(),
            [Effect::Reply {
                reply: HeartbeatReply::Refused { .. },
                ..
            }]
        ));
    }

    #[test]
    fn recovers_from_corruption_within_one_timeout() {
        let mut node = boot(&[]);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        assert!(node.corrupt(&mut rng));
        step(&mut node, 10, Input::Tick);
        assert!(node.status().gossip.len() <= GOSSIP_REMEMBERED_MAX);
        // No peer beats any more: after one timeout every peer must read down.
        step(
            &mut node,
            10 + HeartbeatConfig::default().peer_timeout_ms + 1,
            Input::Tick,
        );
        assert!(
            node.up_peers().is_empty(),
            "corrupted liveness survived: {:?}",
            node.status()
        );
    }
}
