//! Persistence and garbage collection: exact effects on one node, and the
//! instant-delivery ring of `tests.rs` for restarts and collection.

use crate::persist::{Record, StoreKind};
use crate::request::{Reply, Request};
use crate::tests::{addr, replies, started, step, Ring};
use crate::{Dht, DhtConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skein_core::{Boot, Effect, Input, NodeId, Protocol, RequestId, StorageWrite};
use std::time::Duration;

fn holders(ring: &Ring, key: &str) -> Vec<u16> {
    ring.nodes
        .iter()
        .filter(|(_, n)| n.network_store().get(key).is_some())
        .map(|(id, _)| *id)
        .collect()
}

fn settled_ring(n: u16, base: DhtConfig) -> Ring {
    let mut ring = Ring::new();
    ring.base = base;
    ring.add(1, None);
    for id in 2..=n {
        ring.add(id, Some(1));
        ring.ticks(3);
    }
    ring.ticks(60);
    ring
}

#[test]
fn a_local_put_is_answered_once_its_record_is_durable() {
    let mut one = started(1, None);
    let put = Request::LocalPut {
        key: "a".into(),
        value: b"1".to_vec(),
    };
    let effects = step(
        &mut one,
        1,
        Input::Request {
            id: RequestId(1),
            request: put,
        },
    );
    assert_eq!(replies(&effects), [], "not before the disk has it");
    let [Effect::Persist {
        token,
        write: StorageWrite::Append(bytes),
    }] = effects.as_slice()
    else {
        panic!("one append, got {} effects", effects.len());
    };
    let Some(Record::Put {
        store: StoreKind::Local,
        item,
    }) = Record::decode(bytes)
    else {
        panic!("a local put record");
    };
    assert_eq!(item.value.as_deref(), Some(&b"1"[..]));
    let effects = step(&mut one, 2, Input::Persisted { token: *token });
    assert!(matches!(
        replies(&effects).as_slice(),
        [Reply::Stored { replicas: 1, .. }]
    ));
}

#[test]
fn a_restarted_node_replays_its_log_and_is_a_member_at_once() {
    let mut ring = settled_ring(6, DhtConfig::default());
    for k in 0..30 {
        let put = Request::Put {
            key: format!("k{k}"),
            value: vec![k],
        };
        assert!(matches!(ring.request(1, put), Reply::Stored { .. }));
    }
    let id = ring.ring_order()[2];
    let before = &ring.nodes[&id];
    let keys: Vec<String> = before
        .network_store()
        .iter()
        .map(|(_, i)| i.key.clone())
        .collect();
    let successors = before.routing().successors.clone();
    assert!(!keys.is_empty());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut back = Dht::boot(Boot {
        id: NodeId(id),
        address: &addr(id),
        members: &[NodeId(id)],
        config: &DhtConfig {
            join: Some(addr(1)),
            ..DhtConfig::default()
        },
        persisted: &ring.disks[&id],
        now: Duration::ZERO,
        rng: &mut rng,
    });
    step(&mut back, ring.now_ms, Input::Start);
    assert!(
        back.is_member(),
        "restored routing: a member without a join"
    );
    assert_eq!(back.routing().successors, successors);
    for key in &keys {
        assert!(back.network_store().get(key).is_some(), "{key} lost");
    }
    ring.nodes.insert(id, back);
    ring.ticks(20);
    let Reply::Value { value, .. } = ring.request(id, Request::Get { key: "k7".into() }) else {
        panic!("k7 after the restart")
    };
    assert_eq!(value, [7]);
}

#[test]
fn a_stale_copy_is_dropped_once_the_replicas_hold_it() {
    let mut ring = settled_ring(8, DhtConfig::default());
    let put = Request::Put {
        key: "k".into(),
        value: b"v".to_vec(),
    };
    assert!(matches!(ring.request(1, put), Reply::Stored { .. }));
    let replicas = holders(&ring, "k");
    assert_eq!(replicas.len(), 3);
    let stale = *ring
        .ring_order()
        .iter()
        .find(|id| !replicas.contains(id))
        .unwrap();
    let item = ring.nodes[&replicas[0]]
        .network_store()
        .get("k")
        .unwrap()
        .clone();
    let body = crate::Body::Replicate {
        items: vec![item],
        ack: None,
    };
    let now = ring.now_ms;
    let effects = step(
        ring.nodes.get_mut(&stale).unwrap(),
        now,
        crate::tests::msg(replicas[0], body),
    );
    ring.deliver(stale, effects);
    assert_eq!(holders(&ring, "k").len(), 4, "the stale copy landed");
    ring.ticks(60);
    assert_eq!(
        holders(&ring, "k"),
        replicas,
        "back to exactly the replicas"
    );
    assert!(ring.nodes[&stale].status_now().counters.copies_dropped >= 1);
}

#[test]
fn old_tombstones_are_dropped_everywhere_and_the_key_stays_deleted() {
    let base = DhtConfig {
        tombstone_ttl_ms: 2_000,
        ..DhtConfig::default()
    };
    let mut ring = settled_ring(8, base);
    let put = Request::Put {
        key: "k".into(),
        value: b"v".to_vec(),
    };
    assert!(matches!(ring.request(2, put), Reply::Stored { .. }));
    let delete = Request::Delete { key: "k".into() };
    assert!(matches!(
        ring.request(3, delete),
        Reply::Deleted { existed: true, .. }
    ));
    assert_eq!(holders(&ring, "k").len(), 3, "three tombstones");
    ring.ticks(10);
    assert_eq!(holders(&ring, "k").len(), 3, "kept until the TTL");
    ring.ticks(60);
    assert_eq!(holders(&ring, "k"), Vec::<u16>::new(), "all dropped");
    assert_eq!(
        ring.request(5, Request::Get { key: "k".into() }),
        Reply::NotFound
    );
}
