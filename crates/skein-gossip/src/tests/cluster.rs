use super::*;
use crate::MemberState;

fn joined_cluster(n: u16) -> (Cluster, GossipConfig) {
    let config = test_config(&[1]);
    let ids: Vec<u16> = (1..=n).collect();
    let mut cluster = Cluster::new(&ids, &config);
    cluster.run_for(Duration::from_secs(6));
    (cluster, config)
}

#[test]
fn nodes_join_through_the_boot_node_and_converge() {
    let (cluster, _) = joined_cluster(12);
    for at in 1..=12 {
        for of in (1..=12).filter(|of| *of != at) {
            assert_eq!(
                cluster.state(at, of),
                Some(MemberState::Alive),
                "node {at} about {of}"
            );
        }
    }
}

#[test]
fn a_broadcast_reaches_every_node_exactly_once_with_few_copies() {
    let (mut cluster, _) = joined_cluster(12);
    for round in 0..3 {
        let before = cluster.delivered_copies;
        let id = cluster.broadcast(3, &format!("hello {round}"));
        cluster.run_for(Duration::from_secs(1));
        for (nid, node) in &cluster.nodes {
            let GossipReply::Messages { messages, .. } = node.messages_page(0, 256) else {
                unreachable!()
            };
            let copies = messages.iter().filter(|m| m.id == id).count();
            assert_eq!(copies, 1, "node {nid} delivered {id} {copies} times");
        }
        let copies = cluster.delivered_copies - before;
        assert!(
            copies < 12 * 8,
            "round {round}: {copies} payload copies for 11 receivers"
        );
    }
}

#[test]
fn a_crashed_node_is_suspected_then_declared_dead_then_forgotten() {
    let (mut cluster, _) = joined_cluster(8);
    cluster.crash(5);
    cluster.run_for(Duration::from_secs(3));
    for at in (1..=8).filter(|at| *at != 5) {
        assert_eq!(cluster.state(at, 5), Some(MemberState::Dead), "node {at}");
    }
    cluster.run_for(Duration::from_secs(6));
    assert_eq!(cluster.state(1, 5), None, "expired after dead_expiry");
    let id = cluster.broadcast(2, "after");
    cluster.run_for(Duration::from_secs(1));
    for at in (1..=8).filter(|at| *at != 5) {
        let GossipReply::Messages { messages, .. } = cluster.nodes[&at].messages_page(0, 10) else {
            unreachable!()
        };
        assert!(
            messages.iter().any(|m| m.id == id),
            "node {at} missed the broadcast after the crash"
        );
    }
}

#[test]
fn a_restarted_node_rejoins_with_its_key_and_a_higher_incarnation() {
    let (mut cluster, config) = joined_cluster(6);
    let key = cluster.nodes[&4].public_key();
    cluster.crash(4);
    cluster.run_for(Duration::from_secs(3));
    assert_eq!(cluster.state(1, 4), Some(MemberState::Dead));
    cluster.start(4, &config);
    cluster.run_for(Duration::from_secs(3));
    assert_eq!(
        cluster.nodes[&4].public_key(),
        key,
        "identity reloaded from disk"
    );
    assert!(cluster.nodes[&4].incarnation() >= 1);
    for at in [1, 2, 3, 5, 6] {
        assert_eq!(cluster.state(at, 4), Some(MemberState::Alive), "node {at}");
    }
}

#[test]
fn the_boot_node_remembers_the_overlay_across_a_restart() {
    let (mut cluster, config) = joined_cluster(5);
    cluster.crash(1);
    cluster.start(1, &config);
    for of in 2..=5 {
        assert_eq!(
            cluster.state(1, of),
            Some(MemberState::Alive),
            "restored {of} from disk"
        );
    }
}

#[test]
fn a_leave_is_broadcast_and_the_leaver_goes_quiet() {
    let (mut cluster, _) = joined_cluster(6);
    let GossipReply::Left { told } = cluster.request(6, GossipRequest::Leave) else {
        panic!()
    };
    assert_eq!(told, 5);
    cluster.run_for(Duration::from_millis(100));
    for at in 1..=5 {
        assert_eq!(cluster.state(at, 6), Some(MemberState::Left), "node {at}");
    }
}

#[test]
fn a_node_with_a_forged_id_is_refused() {
    let (mut cluster, config) = joined_cluster(4);
    // Another process claims id 3 with a fresh key (its own empty data dir).
    cluster.disks.remove(&3);
    cluster.nodes.remove(&3);
    cluster.start(3, &config);
    cluster.run_for(Duration::from_secs(1));
    let impostor = &cluster.nodes[&3];
    let refusal = impostor.status().last_refusal.expect("refused");
    assert!(refusal.contains("belongs to key"), "{refusal}");
    assert!(cluster.nodes[&1].counters().joins_refused >= 1);
}

#[test]
fn a_beacon_traces_every_delivery() {
    let mut config = test_config(&[1]);
    let ids: Vec<u16> = (1..=8).collect();
    let mut cluster = Cluster::new(&ids[..7], &config);
    config.beacon = true;
    cluster.start(8, &config);
    cluster.run_for(Duration::from_secs(6));
    let id = cluster.broadcast(2, "traced");
    cluster.run_for(Duration::from_secs(1));
    let GossipReply::Trace(trace) = cluster.request(8, GossipRequest::Trace { id }) else {
        panic!()
    };
    assert_eq!(trace.nodes, 8, "{trace:?}");
}

fn copies_delivered(node: &Gossip, id: &str) -> usize {
    let GossipReply::Messages { messages, .. } = node.messages_page(0, 256) else {
        unreachable!()
    };
    messages.iter().filter(|m| m.id == id).count()
}

/// Issue 7: a node that restarts must not deliver again what it delivered
/// before, whatever late copies, IHAVEs or GRAFT answers reach it.
#[test]
fn a_restarted_node_does_not_deliver_a_message_again() {
    let (mut cluster, config) = joined_cluster(6);
    let id = cluster.broadcast(2, "before the restart");
    cluster.run_for(Duration::from_secs(1));
    assert_eq!(copies_delivered(&cluster.nodes[&4], &id), 1);
    let seq_before = cluster.nodes[&4].plumtree().delivered();
    let message_id: crate::MessageId = id.parse().unwrap();
    let old = cluster.nodes[&2]
        .plumtree()
        .find(message_id)
        .expect("the origin keeps it")
        .message
        .clone();

    cluster.crash(4);
    cluster.start(4, &config);
    cluster.run_for(Duration::from_secs(2));
    let duplicates_before = cluster.nodes[&4].counters().duplicates;
    // A late eager copy, and an IHAVE that would make it GRAFT the message back.
    cluster.inject(
        1,
        4,
        GossipMessage::Gossip {
            message: old,
            hops: 1,
        },
    );
    cluster.inject(
        3,
        4,
        GossipMessage::IHave {
            ids: vec![(message_id, 1)],
        },
    );
    cluster.run_for(Duration::from_secs(1));

    let node = &cluster.nodes[&4];
    assert_eq!(
        copies_delivered(node, &id),
        0,
        "delivered {id} again after the restart"
    );
    assert_eq!(
        node.counters().duplicates,
        duplicates_before + 1,
        "the late copy counts as a duplicate"
    );
    assert_eq!(
        node.counters().grafts_sent,
        0,
        "no GRAFT for a message delivered before"
    );
    assert_eq!(
        node.plumtree().delivered(),
        seq_before,
        "sequence numbers continue"
    );

    // New broadcasts still arrive, numbered after the old ones.
    let new = cluster.broadcast(5, "after the restart");
    cluster.run_for(Duration::from_secs(1));
    let GossipReply::Messages { messages, .. } = cluster.nodes[&4].messages_page(0, 256) else {
        unreachable!()
    };
    assert_eq!(
        messages
            .iter()
            .map(|m| (m.id.as_str(), m.seq))
            .collect::<Vec<_>>(),
        [(new.as_str(), seq_before + 1)]
    );
}

#[test]
fn delivery_records_are_compacted_into_a_snapshot() {
    let (mut cluster, _) = joined_cluster(3);
    let sent = crate::node::APPENDS_BEFORE_SNAPSHOT + 10;
    for i in 0..sent {
        cluster.request(
            1,
            GossipRequest::Broadcast {
                payload: format!("m{i}"),
            },
        );
    }
    cluster.run_for(Duration::from_millis(100));
    let disk = &cluster.disks[&2];
    assert!(
        disk.len() <= 1 + crate::node::APPENDS_BEFORE_SNAPSHOT,
        "{} records on disk after {sent} deliveries",
        disk.len()
    );
    let restored = crate::storage::Snapshot::restore(disk, 16_384).unwrap();
    assert!(
        restored.delivered_ids.len() >= sent,
        "{} ids restored",
        restored.delivered_ids.len()
    );
}

/// Issue 7: a node that joins after a broadcast still delivers it, once:
/// the boot node offers the ids of its newest messages with the welcome
/// (anti-entropy), the joiner grafts what it lacks; later syncs offer them
/// again and change nothing.
#[test]
fn a_late_joiner_delivers_an_earlier_broadcast_exactly_once() {
    let (mut cluster, config) = joined_cluster(5);
    let id = cluster.broadcast(3, "before node 6 joined");
    cluster.run_for(Duration::from_secs(1));
    cluster.start(6, &config);
    // Within a graft timeout and a tick of the join; well before any sync.
    cluster.run_for(Duration::from_millis(500));
    let joiner = &cluster.nodes[&6];
    assert_eq!(copies_delivered(joiner, &id), 1, "the joiner got it");
    assert!(joiner.counters().grafts_sent >= 1, "pulled by a graft");
    cluster.run_for(Duration::from_secs(8));
    assert_eq!(
        copies_delivered(&cluster.nodes[&6], &id),
        1,
        "later syncs offer it again; it is not delivered again"
    );
    assert_eq!(cluster.nodes[&6].plumtree().delivered(), 1);
}

/// Anti-entropy also heals a node that missed a broadcast while cut off:
/// the next peer sync offers it.
#[test]
fn a_node_that_missed_a_broadcast_gets_it_at_the_next_sync() {
    let (mut cluster, _) = joined_cluster(5);
    cluster.crash(4);
    let id = cluster.broadcast(2, "while node 4 was away");
    cluster.run_for(Duration::from_millis(200));
    // Back before anyone declared it dead, its links intact: only a sync
    // (every 2-3 s here) can tell it about the message.
    cluster.crashed.remove(&4);
    assert_eq!(copies_delivered(&cluster.nodes[&4], &id), 0);
    cluster.run_for(Duration::from_secs(4));
    assert_eq!(copies_delivered(&cluster.nodes[&4], &id), 1);
}

/// Issue 7 (long sweep seed 144): the floors that stand in for forgotten
/// ids survive a restart, and so does the origin's stamp sequence. Node 4
/// forgets the first broadcasts of node 2 (seen_max 4), restarts, and
/// still refuses a late copy of the first one; node 2 restarts too, and
/// its next broadcast, stamped above everything of its earlier life,
/// reaches node 4.
#[test]
fn floors_and_stamps_survive_restarts() {
    let config = GossipConfig {
        seen_max: 4,
        messages_max: 2,
        ..test_config(&[1])
    };
    let mut cluster = Cluster::new(&[1, 2, 3, 4, 5], &config);
    cluster.run_for(Duration::from_secs(6));
    let broadcast = |cluster: &mut Cluster, from: u16, payload: &str| {
        let id = cluster.broadcast(from, payload);
        cluster.run_for(Duration::from_millis(200));
        id.parse::<crate::MessageId>().unwrap()
    };
    let first = broadcast(&mut cluster, 2, "first");
    let first_copy = cluster.nodes[&2]
        .plumtree()
        .find(first)
        .unwrap()
        .message
        .clone();
    for k in 0..6 {
        broadcast(&mut cluster, 2, &format!("later {k}"));
    }
    assert!(!cluster.nodes[&4].plumtree().seen(first), "forgotten");

    cluster.crash(4);
    cluster.start(4, &config);
    cluster.run_for(Duration::from_secs(2));
    let delivered = cluster.nodes[&4].plumtree().delivered();
    let message = GossipMessage::Gossip {
        message: first_copy,
        hops: 1,
    };
    cluster.inject(1, 4, message);
    let node = &cluster.nodes[&4];
    assert_eq!(
        node.plumtree().delivered(),
        delivered,
        "not delivered again"
    );
    assert_eq!(node.counters().stale_rejects, 1);

    cluster.crash(2);
    cluster.start(2, &config);
    cluster.run_for(Duration::from_secs(2));
    let after = broadcast(&mut cluster, 2, "after the origin's restart");
    assert!(
        cluster.nodes[&4].plumtree().seen(after),
        "a new life's broadcast is new"
    );
    assert_eq!(cluster.nodes[&4].plumtree().delivered(), delivered + 1);
}
