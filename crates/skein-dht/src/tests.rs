//! Handler tests (exact effects) and a tiny instant-delivery ring harness.

use crate::message::{Body, Message, NodeRef, WriteOutcome};
use crate::node::{Dht, NodeState};
use crate::request::{DhtError, Reply, Request};
use crate::ring::RingId;
use crate::DhtConfig;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skein_core::protocol::apply_write;
use skein_core::{Context, Effect, Input, NodeId, PeerAddress, Protocol, RequestId};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

pub(crate) fn addr(id: u16) -> PeerAddress {
    PeerAddress(format!("sim:{id}"))
}

pub(crate) fn node_ref(id: u16) -> NodeRef {
    NodeRef::new(NodeId(id), addr(id))
}

pub(crate) fn config(join: Option<u16>) -> DhtConfig {
    DhtConfig {
        join: join.map(addr),
        ..DhtConfig::default()
    }
}

pub(crate) fn step(dht: &mut Dht, now_ms: u64, input: Input<Dht>) -> Vec<Effect<Dht>> {
    let mut rng = ChaCha8Rng::seed_from_u64(now_ms);
    let mut effects = Vec::new();
    let mut ctx = Context::new(
        dht.me().id,
        Duration::from_millis(now_ms),
        &mut rng,
        &mut effects,
    );
    dht.step(&mut ctx, input);
    effects
}

pub(crate) fn started(id: u16, join: Option<u16>) -> Dht {
    let mut dht = Dht::new(NodeId(id), addr(id), config(join));
    step(&mut dht, 0, Input::Start);
    dht
}

pub(crate) fn msg(from: u16, body: Body) -> Input<Dht> {
    Input::Message {
        from: NodeId(from),
        message: Message {
            from: node_ref(from),
            body,
        },
    }
}

/// The messages among `effects`, as (to, body); peer changes left out.
pub(crate) fn sends(effects: &[Effect<Dht>]) -> Vec<(u16, Body)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, message, .. } => Some((to.0, message.body.clone())),
            _ => None,
        })
        .collect()
}

pub(crate) fn replies(effects: &[Effect<Dht>]) -> Vec<Reply> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Reply { reply, .. } => Some(reply.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_lone_node_answers_every_lookup_with_itself() {
    let mut one = started(1, None);
    assert!(one.is_member());
    let effects = step(
        &mut one,
        1,
        msg(
            2,
            Body::FindSuccessor {
                lookup: 7,
                key: RingId::of_key("k"),
            },
        ),
    );
    assert!(matches!(effects[0], Effect::AddPeer { id: NodeId(2), .. }));
    assert_eq!(
        sends(&effects),
        [(
            2,
            Body::Found {
                lookup: 7,
                nodes: vec![node_ref(1)]
            }
        )]
    );
}

#[test]
fn a_joining_node_asks_its_join_node_then_notifies_its_successor() {
    let mut two = Dht::new(NodeId(2), addr(2), config(Some(1)));
    let effects = step(&mut two, 0, Input::Start);
    assert!(matches!(two.state(), NodeState::Joining { .. }));
    let key = node_ref(2).ring;
    let asked = sends(&effects);
    let [(1, Body::FindSuccessor { lookup, key: k })] = asked.as_slice() else {
        panic!("{asked:?}");
    };
    assert_eq!(*k, key);
    let effects = step(
        &mut two,
        110,
        msg(
            1,
            Body::Found {
                lookup: *lookup,
                nodes: vec![node_ref(1)],
            },
        ),
    );
    assert!(two.is_member());
    assert_eq!(two.routing().successors, vec![node_ref(1)]);
    assert_eq!(sends(&effects), [(1, Body::Notify)]);
}

#[test]
fn notify_sets_the_predecessor_and_a_lone_node_takes_it_as_successor() {
    let mut one = started(1, None);
    step(&mut one, 1, msg(2, Body::Notify));
    assert_eq!(one.routing().predecessor, Some(node_ref(2)));
    assert_eq!(one.routing().successors, vec![node_ref(2)]);
}

#[test]
fn stabilize_adopts_a_closer_successor_and_notifies_it() {
    // Three nodes in ring order a < b < c (by ring id): a's successor is c,
    // c's predecessor is b, so a moves to b.
    let mut ids: Vec<u16> = (1..=30).collect();
    ids.sort_by_key(|&i| node_ref(i).ring);
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let mut na = started(a, None);
    step(&mut na, 1, msg(c, Body::Notify)); // a: pred = succ = c
    let effects = step(&mut na, 100, Input::Tick);
    assert!(sends(&effects).contains(&(c, Body::GetNeighbours)));
    let effects = step(
        &mut na,
        110,
        msg(
            c,
            Body::Neighbours {
                predecessor: Some(node_ref(b)),
                successors: vec![node_ref(a)],
            },
        ),
    );
    assert_eq!(na.routing().successors, vec![node_ref(b), node_ref(c)]);
    assert_eq!(sends(&effects), [(b, Body::Notify)]);
}

#[test]
fn a_silent_successor_is_forgotten_and_the_next_takes_over() {
    let mut one = started(1, None);
    one.routing.successors = vec![node_ref(2), node_ref(3)];
    step(&mut one, 100, Input::Tick);
    let effects = step(&mut one, 600, Input::Tick); // past rpc_timeout
    assert_eq!(one.routing().successors, vec![node_ref(3)]);
    assert!(sends(&effects).contains(&(3, Body::GetNeighbours)));
}

#[test]
fn the_responsible_node_versions_a_write_and_answers_after_its_replicas() {
    let mut one = started(1, None);
    // Ring order 1 → a → b → 1.
    let me = node_ref(1).ring;
    let (a, b) = if me.fraction_to(node_ref(2).ring) < me.fraction_to(node_ref(3).ring) {
        (2, 3)
    } else {
        (3, 2)
    };
    one.routing.successors = vec![node_ref(a), node_ref(b)];
    one.routing.predecessor = Some(node_ref(b));
    // Find a key node 1 owns: in (b, 1].
    let key = (0..1000)
        .map(|i| format!("k{i}"))
        .find(|k| one.routing().owns(RingId::of_key(k)))
        .unwrap();
    let write = Body::Write {
        op: 9,
        key: key.clone(),
        value: Some(b"v".to_vec()),
    };
    let effects = step(&mut one, 10, msg(b, write));
    let sent = sends(&effects);
    assert_eq!(sent.len(), 2);
    let Body::Replicate {
        items,
        ack: Some(ack),
    } = &sent[0].1
    else {
        panic!("{sent:?}")
    };
    assert_eq!(items[0].version.counter, 1);
    assert_eq!(items[0].version.writer, 1);
    assert_eq!((sent[0].0, sent[1].0), (a, b));
    assert!(step(
        &mut one,
        11,
        msg(
            a,
            Body::ReplicateAck {
                ack: *ack,
                complete: true
            }
        )
    )
    .is_empty());
    let effects = step(
        &mut one,
        12,
        msg(
            b,
            Body::ReplicateAck {
                ack: *ack,
                complete: true,
            },
        ),
    );
    let done = WriteOutcome::Stored {
        version: items[0].version,
        replicas: 3,
        existed: false,
    };
    assert_eq!(
        sends(&effects),
        [(
            b,
            Body::WriteDone {
                op: 9,
                outcome: done
            }
        )]
    );
    // A node that does not own the key says so.
    let not_mine = (0..1000)
        .map(|i| format!("k{i}"))
        .find(|k| !one.routing().owns(RingId::of_key(k)))
        .unwrap();
    let effects = step(
        &mut one,
        13,
        msg(
            b,
            Body::Write {
                op: 10,
                key: not_mine,
                value: None,
            },
        ),
    );
    assert_eq!(
        sends(&effects),
        [(
            b,
            Body::WriteDone {
                op: 10,
                outcome: WriteOutcome::NotResponsible
            }
        )]
    );
}

#[test]
fn hostile_messages_are_dropped_and_counted() {
    let mut one = started(1, None);
    // Claims to be node 2 but arrives from node 3.
    let spoof = Input::Message {
        from: NodeId(3),
        message: Message {
            from: node_ref(2),
            body: Body::Notify,
        },
    };
    assert!(step(&mut one, 1, spoof).is_empty());
    // A ring id that is not the hash of the address.
    let mut liar = node_ref(2);
    liar.ring = RingId::ZERO;
    let lie = Input::Message {
        from: NodeId(2),
        message: Message {
            from: liar,
            body: Body::Notify,
        },
    };
    assert!(step(&mut one, 2, lie).is_empty());
    let huge = vec![0u8; DhtConfig::default().value_bytes_max + 1];
    let big = msg(
        2,
        Body::Write {
            op: 1,
            key: "k".into(),
            value: Some(huge),
        },
    );
    assert!(step(&mut one, 3, big).is_empty());
    assert_eq!(one.status_now().counters.messages_rejected, 3);
    assert_eq!(one.routing().predecessor, None);
}

#[test]
fn oversized_requests_and_unjoined_nodes_get_clear_errors() {
    let mut one = started(1, None);
    let key = "k".repeat(DhtConfig::default().key_bytes_max + 1);
    let effects = step(
        &mut one,
        1,
        Input::Request {
            id: RequestId(1),
            request: Request::Get { key },
        },
    );
    assert!(matches!(
        replies(&effects)[0],
        Reply::Error(DhtError::KeyTooLarge { .. })
    ));
    let mut joining = started(2, Some(1));
    let get = Request::Get { key: "k".into() };
    let effects = step(
        &mut joining,
        1,
        Input::Request {
            id: RequestId(2),
            request: get,
        },
    );
    assert_eq!(replies(&effects), [Reply::Error(DhtError::NotJoined)]);
}

#[test]
fn the_local_store_is_separate_from_the_network_store() {
    let mut one = started(1, None);
    let put = Request::LocalPut {
        key: "a".into(),
        value: b"1".to_vec(),
    };
    step(
        &mut one,
        1,
        Input::Request {
            id: RequestId(1),
            request: put,
        },
    );
    assert_eq!(one.local_store().len(), 1);
    assert_eq!(one.network_store().len(), 0);
    let get = Request::Get { key: "a".into() };
    let effects = step(
        &mut one,
        2,
        Input::Request {
            id: RequestId(2),
            request: get,
        },
    );
    assert_eq!(replies(&effects), [Reply::NotFound]);
    let get = Request::LocalGet { key: "a".into() };
    let effects = step(
        &mut one,
        3,
        Input::Request {
            id: RequestId(3),
            request: get,
        },
    );
    assert!(matches!(&replies(&effects)[0], Reply::Value { value, .. } if value == b"1"));
}

/// Instant delivery, no faults: enough to watch a ring form.
pub(crate) struct Ring {
    pub(crate) nodes: BTreeMap<u16, Dht>,
    pub(crate) now_ms: u64,
    replies: Vec<Reply>,
    /// Every node's durable records (writes are durable at once here).
    pub(crate) disks: BTreeMap<u16, Vec<Vec<u8>>>,
    /// The settings of nodes added from now on (`join` is set per node).
    pub(crate) base: DhtConfig,
}

impl Ring {
    pub(crate) fn new() -> Self {
        Self {
            nodes: BTreeMap::new(),
            now_ms: 0,
            replies: Vec::new(),
            disks: BTreeMap::new(),
            base: DhtConfig::default(),
        }
    }

    pub(crate) fn add(&mut self, id: u16, join: Option<u16>) {
        let cfg = DhtConfig {
            join: join.map(addr),
            ..self.base.clone()
        };
        let mut dht = Dht::new(NodeId(id), addr(id), cfg);
        let effects = step(&mut dht, self.now_ms, Input::Start);
        self.nodes.insert(id, dht);
        self.deliver(id, effects);
    }

    pub(crate) fn deliver(&mut self, from: u16, effects: Vec<Effect<Dht>>) {
        let mut queue: VecDeque<(u16, Vec<Effect<Dht>>)> = VecDeque::from([(from, effects)]);
        while let Some((from, effects)) = queue.pop_front() {
            for e in effects {
                match e {
                    Effect::Send { to, message, .. } => {
                        if let Some(node) = self.nodes.get_mut(&to.0) {
                            let input = Input::Message {
                                from: NodeId(from),
                                message,
                            };
                            queue.push_back((to.0, step(node, self.now_ms, input)));
                        }
                    }
                    Effect::Reply { reply, .. } => self.replies.push(reply),
                    Effect::Persist { write, .. } => {
                        apply_write(self.disks.entry(from).or_default(), &write)
                    }
                    _ => {}
                }
            }
        }
    }

    pub(crate) fn ticks(&mut self, n: u64) {
        for _ in 0..n {
            self.now_ms += 100;
            let ids: Vec<u16> = self.nodes.keys().copied().collect();
            for id in ids {
                let effects = step(self.nodes.get_mut(&id).unwrap(), self.now_ms, Input::Tick);
                self.deliver(id, effects);
            }
        }
    }

    pub(crate) fn request(&mut self, at: u16, request: Request) -> Reply {
        self.replies.clear();
        let effects = step(
            self.nodes.get_mut(&at).unwrap(),
            self.now_ms,
            Input::Request {
                id: RequestId(1),
                request,
            },
        );
        self.deliver(at, effects);
        self.ticks(1);
        self.replies.pop().expect("a reply")
    }

    pub(crate) fn ring_order(&self) -> Vec<u16> {
        let mut ids: Vec<u16> = self.nodes.keys().copied().collect();
        ids.sort_by_key(|&i| node_ref(i).ring);
        ids
    }
}

#[test]
fn twenty_nodes_form_one_ring_and_store_by_key() {
    let mut ring = Ring::new();
    ring.add(1, None);
    for id in 2..=20 {
        ring.add(id, Some(1));
        ring.ticks(3);
    }
    ring.ticks(60);
    let order = ring.ring_order();
    for (i, id) in order.iter().enumerate() {
        let next = order[(i + 1) % order.len()];
        let prev = order[(i + order.len() - 1) % order.len()];
        let node = &ring.nodes[id];
        assert_eq!(node.routing().successor().id.0, next, "successor of {id}");
        assert_eq!(
            node.routing().predecessor.as_ref().unwrap().id.0,
            prev,
            "predecessor of {id}"
        );
        assert_eq!(node.routing().successors.len(), 3);
    }
    let put = Request::Put {
        key: "hello".into(),
        value: b"world".to_vec(),
    };
    let Reply::Stored { replicas, .. } = ring.request(5, put) else {
        panic!()
    };
    assert_eq!(replicas, 3);
    let Reply::Value { value, .. } = ring.request(
        17,
        Request::Get {
            key: "hello".into(),
        },
    ) else {
        panic!()
    };
    assert_eq!(value, b"world");
    let holders = ring
        .nodes
        .values()
        .filter(|n| n.network_store().get("hello").is_some())
        .count();
    assert_eq!(holders, 3);
    let Reply::Lookup(found) = ring.request(
        9,
        Request::Lookup {
            key: "hello".into(),
        },
    ) else {
        panic!()
    };
    let key = RingId::of_key("hello");
    let owner = order
        .iter()
        .copied()
        .find(|&i| node_ref(i).ring >= key)
        .unwrap_or(order[0]);
    assert_eq!(found.node.id.0, owner);
    assert!(matches!(
        ring.request(
            3,
            Request::Delete {
                key: "hello".into()
            }
        ),
        Reply::Deleted { existed: true, .. }
    ));
    assert_eq!(
        ring.request(
            12,
            Request::Get {
                key: "hello".into()
            }
        ),
        Reply::NotFound
    );
    let Reply::Size(size) = ring.request(1, Request::Size) else {
        panic!()
    };
    assert!(size.nodes > 5.0 && size.nodes < 80.0, "{size:?}");
}

#[test]
fn a_graceful_leave_hands_keys_to_the_successor() {
    let mut ring = Ring::new();
    ring.add(1, None);
    for id in 2..=8 {
        ring.add(id, Some(1));
        ring.ticks(3);
    }
    ring.ticks(40);
    for k in 0..40 {
        let put = Request::Put {
            key: format!("k{k}"),
            value: vec![k],
        };
        assert!(matches!(ring.request(1, put), Reply::Stored { .. }));
    }
    let leaver = ring.ring_order()[3];
    assert!(matches!(
        ring.request(leaver, Request::Leave),
        Reply::Left { .. }
    ));
    ring.nodes.remove(&leaver);
    ring.ticks(40);
    for k in 0..40u8 {
        let reply = ring.request(
            2,
            Request::Get {
                key: format!("k{k}"),
            },
        );
        assert!(
            matches!(&reply, Reply::Value { value, .. } if value == &[k]),
            "k{k}: {reply:?}"
        );
        let holders = ring
            .nodes
            .values()
            .filter(|n| n.network_store().get(&format!("k{k}")).is_some())
            .count();
        assert!(holders >= 3, "k{k} on {holders} nodes");
    }
}
